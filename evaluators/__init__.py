"""The assay evaluator library, usable on its own (`from evaluators import ...` in a notebook).

Deterministic evaluators are importable here; LLM judges are reached through
`build_evaluator(name, "correctness", {...})` (any judged type of `assay evaluators`) or
`from evaluators.llm_judge import LLMJudge`, so importing this package never loads litellm.
`catalogue()` lists every type with its kind, inputs, output and whether it runs offline.

The evaluator API (docs/evaluators.md): the typed `Subject`, the protocols `Evaluator`,
`JudgedEvaluator` and `VectorisableEvaluator`, the `DeterministicEvaluator` and
`DetailedEvaluator` base classes, `@register_evaluator` and `build_evaluator`.
"""

from assay.contracts.score import Score
from assay.privacy import ENTITY_TYPES, PiiMatch, find_pii, redact
from evaluators.base import (
    DeterministicEvaluator,
    Evaluator,
    JudgedEvaluator,
    Subject,
    VectorisableEvaluator,
)
from evaluators.evidence import DetailedEvaluator, Finding
from evaluators.injection import CanaryLeak, PromptInjection
from evaluators.json_checks import ContainsJson, IsJson, JsonDeepCompare, JsonField, JsonSchema
from evaluators.performance import CostThreshold, FinishReason, LatencyThreshold, ProviderStatus
from evaluators.rag import ContextOverlap
from evaluators.reference import (
    Bleu,
    Cosine,
    EmbeddingSimilarity,
    ExactMatch,
    Jaccard,
    JaroWinkler,
    Levenshtein,
    RougeL,
    SorensenDice,
    TokenF1,
)
from evaluators.registry import (
    EVALUATOR_TYPES,
    UnknownEvaluatorError,
    build_evaluator,
    catalogue,
    register_evaluator,
)
from evaluators.safety import PiiLeak, Refusal, SecretLeak
from evaluators.text import Contains, EndsWith, Equals, StartsWith
from evaluators.text_email import ContainsEmail, IsEmail
from evaluators.text_gibberish import NotGibberish
from evaluators.text_language import Language
from evaluators.text_links import ContainsLink, ValidLinks
from evaluators.text_regex import Regex
from evaluators.text_size import Length, OneLine, ReadingTime, WordCount
from evaluators.tools import ToolCallValid
from evaluators.toxicity import Toxicity

__all__ = [
    "ENTITY_TYPES",
    "EVALUATOR_TYPES",
    "Bleu",
    "CanaryLeak",
    "Contains",
    "ContainsEmail",
    "ContainsJson",
    "ContainsLink",
    "ContextOverlap",
    "Cosine",
    "CostThreshold",
    "DetailedEvaluator",
    "DeterministicEvaluator",
    "EmbeddingSimilarity",
    "EndsWith",
    "Equals",
    "Evaluator",
    "ExactMatch",
    "Finding",
    "FinishReason",
    "IsEmail",
    "IsJson",
    "Jaccard",
    "JaroWinkler",
    "JsonDeepCompare",
    "JsonField",
    "JsonSchema",
    "JudgedEvaluator",
    "Language",
    "LatencyThreshold",
    "Length",
    "Levenshtein",
    "NotGibberish",
    "OneLine",
    "PiiLeak",
    "PiiMatch",
    "PromptInjection",
    "ProviderStatus",
    "ReadingTime",
    "Refusal",
    "Regex",
    "RougeL",
    "Score",
    "SecretLeak",
    "SorensenDice",
    "StartsWith",
    "Subject",
    "TokenF1",
    "ToolCallValid",
    "Toxicity",
    "UnknownEvaluatorError",
    "ValidLinks",
    "VectorisableEvaluator",
    "WordCount",
    "build_evaluator",
    "catalogue",
    "find_pii",
    "redact",
    "register_evaluator",
]
