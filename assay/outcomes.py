"""How an LLM call or an evaluation ended: one small vocabulary for every stage.

Every replay and every evaluator call ends as `completed`, `error` (tried and failed) or
`skipped` (not tried). A failure carries a stable type from this module, whatever raised it:
litellm's exception class, an HTTP status, a message, an evaluator's own exception. Those
types are what a decision counts (an infrastructure failure is never a quality failure),
what reports group by, and what the fix hints below are keyed on.

The raw detail (exception class, status, provider message) stays in the row's message; the
type is for grouping and for people, so it never changes with a litellm release.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# --- errors: tried and failed ----------------------------------------------------------------

AUTH = "auth"
NOT_FOUND = "not_found"
RATE_LIMITED = "rate_limited"
TIMEOUT = "timeout"
SERVER_ERROR = "server_error"
CONNECTION = "connection"
BAD_REQUEST = "bad_request"
CONTEXT_WINDOW = "context_window"
CONTENT_FILTER = "content_filter"
BAD_RESPONSE = "bad_response"
"""The provider answered, but not with anything usable: a malformed body, an empty reply, a
judge verdict that does not parse."""
EVALUATOR_CRASH = "evaluator_crash"
WORKER_EXITED = "worker_exited"
UNKNOWN_ERROR = "unknown_error"

ERROR_TYPES = (
    AUTH, NOT_FOUND, RATE_LIMITED, TIMEOUT, SERVER_ERROR, CONNECTION, BAD_REQUEST, CONTEXT_WINDOW,
    CONTENT_FILTER, BAD_RESPONSE, EVALUATOR_CRASH, WORKER_EXITED, UNKNOWN_ERROR,
)  # fmt: skip

RETRYABLE_TYPES = frozenset({RATE_LIMITED, TIMEOUT, SERVER_ERROR, CONNECTION, BAD_RESPONSE, WORKER_EXITED})
"""A later attempt can fix these. Auth, a wrong model string, a bad request or a too-long input
fail the same way every time: retrying them only spends time and money."""

# --- skips: not tried, with the reason ----------------------------------------------------------

BUDGET = "budget"
DEADLINE = "deadline"
MISSING_OUTPUT = "missing_output"
"""A recorded candidate's file has no row for the case."""
REPLAY_FAILED = "replay_failed"
"""An evaluator was not run because the replay it would score did not complete: the loss is
the replay's, and is counted (with the replay's own type) once, at the replay."""
MISSING_INPUT = "missing_input"
"""The subject lacks a field the evaluator reads (a tool-call answer has no text to check)."""
NOT_APPLICABLE = "not_applicable"
"""The evaluator cannot apply to this subject at all (a pairwise judge on the baseline itself)."""
SKIPPED = "skipped"
"""A skip whose evaluator gave no recognisable reason."""

SKIP_REASONS = (BUDGET, DEADLINE, MISSING_OUTPUT, REPLAY_FAILED, MISSING_INPUT, NOT_APPLICABLE, SKIPPED)

NOT_EVIDENCE_LOSS = frozenset({MISSING_INPUT, NOT_APPLICABLE})
"""Skips that say the evaluator does not apply, not that evidence was lost. A decision still
counts a `missing_input` skip when the other side of the comparison completed the same
evaluation (the candidate gave no text where the baseline did)."""

# litellm's exception classes (and the openai SDK's) by what they mean.
_CLASS_TYPES = {
    "AuthenticationError": AUTH,
    "PermissionDeniedError": AUTH,
    "NotFoundError": NOT_FOUND,
    "RateLimitError": RATE_LIMITED,
    "Timeout": TIMEOUT,
    "APITimeoutError": TIMEOUT,
    "TimeoutError": TIMEOUT,
    "InternalServerError": SERVER_ERROR,
    "ServiceUnavailableError": SERVER_ERROR,
    "BadGatewayError": SERVER_ERROR,
    "APIError": SERVER_ERROR,
    "APIConnectionError": CONNECTION,
    "BadRequestError": BAD_REQUEST,
    "UnprocessableEntityError": BAD_REQUEST,
    "UnsupportedParamsError": BAD_REQUEST,
    "ContextWindowExceededError": CONTEXT_WINDOW,
    "ContentPolicyViolationError": CONTENT_FILTER,
    "JSONDecodeError": BAD_RESPONSE,
    "WorkerExited": WORKER_EXITED,
}
_STATUS_TYPES = {401: AUTH, 403: AUTH, 404: NOT_FOUND, 408: TIMEOUT, 409: SERVER_ERROR, 413: CONTEXT_WINDOW,
                 425: SERVER_ERROR, 429: RATE_LIMITED, 529: RATE_LIMITED, 400: BAD_REQUEST, 422: BAD_REQUEST}
# Messages that overrule the class: litellm raises a local "Missing credentials" as an
# InternalServerError (status 500) before any request is sent, and a malformed 200 body as one too.
_MESSAGE_TYPES = [
    (re.compile(r"missing credentials|api[_ ]?key (?:is )?(?:missing|not (?:set|found|provided))|no api[_ ]?key|"
                r"(?:incorrect|invalid) api[_ ]?key|didn't provide an api key|unauthori[sz]ed", re.I), AUTH),
    (re.compile(r"empty or invalid response|returned 'choices' that is not a list|invalid json|"
                r"not valid json|could not parse|failed to parse|unable to get json response", re.I), BAD_RESPONSE),
    (re.compile(r"context (?:window|length)|maximum context|too many tokens", re.I), CONTEXT_WINDOW),
    (re.compile(r"model .{0,80}(?:does not exist|not found)|no such model|unknown model", re.I), NOT_FOUND),
]
_KNOWN = frozenset(ERROR_TYPES) | frozenset(SKIP_REASONS)
_LEGACY_LABELS = {"unparseable_reply": BAD_RESPONSE}
_CLASS_IN_TEXT = re.compile(r"\b(" + "|".join(sorted(_CLASS_TYPES, key=len, reverse=True)) + r")\b")


def classify_error(error_class: str | None, status_code: int | None = None, message: str | None = None) -> str:
    """The stable type of a failed call from what is known about it: the message wins where it
    is specific (a local missing key, a malformed body), then the exception class, then the
    HTTP status."""
    text = message or ""
    for pattern, kind in _MESSAGE_TYPES:
        if pattern.search(text):
            return kind
    if error_class in _KNOWN:
        return error_class
    if error_class in _CLASS_TYPES:
        return _CLASS_TYPES[error_class]
    if status_code in _STATUS_TYPES:
        return _STATUS_TYPES[status_code]
    if status_code is not None and 500 <= status_code < 600:
        return SERVER_ERROR
    return UNKNOWN_ERROR


def score_outcome_type(status: str, label: str | None, explanation: str | None) -> str | None:
    """The stable type of a score that did not complete (None for a completed score).

    Evaluators describe their failures in their own words: a judge passes the engine's type
    through, a deterministic check raises, a skip says `missing input: ...`. This is the one
    place they become the vocabulary above."""
    if status == "completed":
        return None
    text = explanation or ""
    label = _LEGACY_LABELS.get(label or "", label)
    if status == "error":
        if label in ERROR_TYPES:
            return label
        found = _CLASS_IN_TEXT.search(f"{label or ''} {text}")
        if found is not None or any(p.search(text) for p, _ in _MESSAGE_TYPES):
            kind = classify_error(found.group(1) if found else None, None, text)
            if kind != UNKNOWN_ERROR:
                return kind
        return EVALUATOR_CRASH
    if label in SKIP_REASONS:
        return label
    if text.startswith("missing input"):
        return MISSING_INPUT
    return SKIPPED


# --- what to do about it ----------------------------------------------------------------------

PROVIDER_KEYS = {
    "openai": "OPENAI_API_KEY",
    "text-completion-openai": "OPENAI_API_KEY",
    "azure": "AZURE_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "vertex_ai": "GOOGLE_APPLICATION_CREDENTIALS",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "cohere": "COHERE_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "bedrock": "AWS_ACCESS_KEY_ID",
    "xai": "XAI_API_KEY",
    "hosted_vllm": "HOSTED_VLLM_API_KEY",
    "perplexity": "PERPLEXITYAI_API_KEY",
}


def provider_of(model: str | None) -> str:
    """The litellm provider prefix of a model string (`openai/gpt-4o-mini` -> openai)."""
    if not model:
        return "the provider"
    if "/" in model:
        return model.split("/", 1)[0]
    if model.startswith(("gpt-", "o1", "o3", "o4")):
        return "openai"
    if model.startswith("claude"):
        return "anthropic"
    return model


def fix_hint(kind: str, *, model: str | None = None, stage: str = "replay", timeout_s: float | None = None) -> str | None:
    """What a person can do about a failure type, in one phrase (None when nothing useful is
    known). `stage`: `replay` (the candidate's own calls) or `evaluator` (judges, checks)."""
    provider = provider_of(model)
    key = PROVIDER_KEYS.get(provider)
    subject = f"`{model}`" if model else "the model"
    hints = {
        AUTH: f"401 from {provider}: is {key or 'its API key'} set?",
        NOT_FOUND: f"model not found: check the model string {subject} (and api_base, if set)",
        RATE_LIMITED: "rate limited after retries: lower judge.max_concurrency or set judge.requests_per_minute",
        TIMEOUT: (f"no answer within judge.timeout_s={timeout_s:g} s: is the provider up and reachable?"
                  if timeout_s else "no answer within judge.timeout_s: is the provider up and reachable?"),
        SERVER_ERROR: f"{provider} answered 5xx after retries: a provider outage, not the model; run again later",
        CONNECTION: f"cannot connect to {provider}: check api_base and the network",
        BAD_REQUEST: f"{provider} refused the request: check the params of {subject}",
        CONTEXT_WINDOW: f"inputs longer than {subject}'s context window",
        CONTENT_FILTER: f"{provider}'s content filter refused the request",
        BAD_RESPONSE: (f"replies from {subject} could not be read: is api_base an OpenAI-compatible endpoint?"
                       if stage == "replay" else
                       f"the judge {subject} gave replies that do not parse: use a stronger judge model"),
        EVALUATOR_CRASH: "an evaluator raised: see `explanation` on its error scores",
        WORKER_EXITED: "an LLM worker process died: lower judge.worker_processes or check memory",
        BUDGET: "the run's judge budget ran out: raise judge.budget_usd or judge fewer cases",
        DEADLINE: "the run's deadline passed: raise judge.deadline_s",
        MISSING_OUTPUT: "the recorded file has no row for these cases",
        MISSING_INPUT: "the output lacks what the evaluator reads (e.g. text where the other side answered)",
    }
    return hints.get(kind)


def top_causes(counts: Mapping[str, int], limit: int = 3) -> list[tuple[str, int]]:
    """The most frequent types first (ties by name), at most `limit`."""
    return sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0]))[:limit]
