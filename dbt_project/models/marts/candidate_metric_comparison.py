"""One row per candidate (not the baseline) and metric of the current dataset version.

A Python model: the paired bootstrap, McNemar's exact test and Holm's adjustment are
assay.metric_comparison's, the one computation the decision, the reports and `assay report
--pair` use. Its inputs are the case and evaluation rows of the two marts it refs.
"""


def model(dbt, session):
    dbt.config(materialized="table")
    cases = dbt.ref("candidate_case_scores")
    evaluations = dbt.ref("candidate_case_metrics")

    import pyarrow as pa

    from assay.contracts.metric_comparison import METRIC_COMPARISON_ARROW_SCHEMA
    from assay.metric_comparison import Statistics, by_candidate, compare_with_baseline

    version = dbt.config.get("dataset_version") or ""
    baseline_id = dbt.config.get("baseline_id") or ""
    # dbt reads these calls' arguments statically: literal strings only.
    settings = {
        "gate_confidence": dbt.config.get("gate_confidence"),
        "gate_bootstrap_resamples": dbt.config.get("gate_bootstrap_resamples"),
        "gate_seed": dbt.config.get("gate_seed"),
    }

    def current(relation):
        rows = relation.to_arrow_table().to_pylist()
        return by_candidate(sorted((r for r in rows if r["dataset_version"] == version),
                                   key=lambda r: (r["candidate_id"], r["case_id"], r.get("evaluator") or "")))

    rows = compare_with_baseline(current(cases), current(evaluations), baseline_id=baseline_id,
                                 dataset_version=version, stats=Statistics.from_settings(settings))
    return pa.Table.from_pylist([r.model_dump() for r in rows], schema=METRIC_COMPARISON_ARROW_SCHEMA)
