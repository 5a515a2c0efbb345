"""The assay evaluator library, usable on its own (`from assay.evaluators import ...` in a notebook).

Deterministic evaluators are importable here; LLM judges are reached through
`build_evaluator(name, "correctness", {...})` (any judged type of `assay evaluators`) or
`from assay.evaluators.llm_judge import LLMJudge`, so importing this package never loads litellm.
`catalogue()` lists every type with its kind, inputs, output and whether it runs offline.

The evaluator API (docs/evaluators.md): the typed `Subject`, the protocols `Evaluator`,
`JudgedEvaluator` and `VectorisableEvaluator`, the `DeterministicEvaluator` and
`DetailedEvaluator` base classes, `@register_evaluator` and `build_evaluator`.
"""

from assay.evaluators.base import (
    DeterministicEvaluator,
    Evaluator,
    JudgedEvaluator,
    Subject,
    VectorisableEvaluator,
)
from assay.evaluators.degenerate import DegenerateOutput
from assay.evaluators.evidence import DetailedEvaluator, Finding
from assay.evaluators.injection import CanaryLeak, PromptInjection
from assay.evaluators.json_checks import (
    ContainsJson,
    IsJson,
    JsonDeepCompare,
    JsonField,
    JsonSchema,
)
from assay.evaluators.performance import (
    CostThreshold,
    FinishReason,
    LatencyThreshold,
    ProviderStatus,
)
from assay.evaluators.rag import ContextOverlap
from assay.evaluators.reference import (
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
from assay.evaluators.registry import (
    EVALUATOR_TYPES,
    UnknownEvaluatorError,
    build_evaluator,
    catalogue,
    register_evaluator,
)
from assay.evaluators.safety import PiiLeak, Refusal, SecretLeak
from assay.evaluators.text import Contains, EndsWith, Equals, StartsWith
from assay.evaluators.text_email import ContainsEmail, IsEmail
from assay.evaluators.text_gibberish import NotGibberish
from assay.evaluators.text_language import Language
from assay.evaluators.text_links import ContainsLink, ValidLinks
from assay.evaluators.text_regex import Regex
from assay.evaluators.text_size import Length, OneLine, ReadingTime, WordCount
from assay.evaluators.tools import ToolCallValid
from assay.evaluators.toxicity import Toxicity

from assay.contracts.score import Score
from assay.privacy import ENTITY_TYPES, PiiMatch, find_pii, redact

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
    "DegenerateOutput",
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
