"""Content detectors shared by the evaluators and the sim judge: prompt-injection signals and a
toxicity lexicon. Pattern logic only, no scores: `assay.evaluators.injection` and
`assay.evaluators.toxicity` turn findings into scores (docs/architecture.md, "Layers")."""
