"""The assay evaluator library, usable on its own (`from evaluators import ...` in a notebook).

Deterministic evaluators are importable here; the LLM judge is reached through
`build_evaluator(name, "llm_judge", {...})` or `from evaluators.llm_judge import LLMJudge`,
so importing this package never loads litellm.
"""

from assay.contracts.score import Score
from evaluators.base import DeterministicEvaluator, Evaluator, Subject
from evaluators.json_checks import IsJson
from evaluators.performance import CostThreshold, LatencyThreshold, ProviderStatus
from evaluators.registry import EVALUATOR_TYPES, UnknownEvaluatorError, build_evaluator
from evaluators.safety import ENTITY_TYPES, PiiLeak, PiiMatch, Refusal, find_pii, redact
from evaluators.text import Contains, Length, Regex
from evaluators.tools import ToolCallValid

__all__ = [
    "ENTITY_TYPES",
    "EVALUATOR_TYPES",
    "Contains",
    "CostThreshold",
    "DeterministicEvaluator",
    "Evaluator",
    "IsJson",
    "LatencyThreshold",
    "Length",
    "PiiLeak",
    "PiiMatch",
    "ProviderStatus",
    "Refusal",
    "Regex",
    "Score",
    "Subject",
    "ToolCallValid",
    "UnknownEvaluatorError",
    "build_evaluator",
    "find_pii",
    "redact",
]
