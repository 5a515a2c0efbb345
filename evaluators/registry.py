"""From config to evaluator: type names, lazy class lookup, parameter validation.

Types map to "module:Class" strings, imported only when built, so `import assay.evaluators` never
pulls in the LLM judge (and litellm behind it). A config may also name its own class as
"package.module:Class"; it is built the same way and must satisfy the `Evaluator` protocol.
`@register_evaluator("type_name")` adds a class of your own under a type name once its module
is imported (checked against the protocols there and then). What an evaluator can do (judged,
vectorisable) is read from the protocols of `assay.evaluators.base`, never from probed attributes.

Parameters are checked against the class's typed fields before construction, so a typo in a
YAML file ends in one message naming the evaluator, the parameter and what is valid.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, overload

from assay.evaluators.base import Evaluator, EvaluatorClass, VectorisableEvaluator

from assay.contracts.taxonomy import FAILURE_CATEGORIES


@dataclasses.dataclass(frozen=True)
class Preset:
    """A catalogue type that is another type with some params fixed: `contains_any` is
    `contains` with mode any, `correctness` is `llm_judge` with rubric correctness. Fixed
    params cannot be overridden by config (that would be another type)."""

    base: str
    fixed: Mapping[str, Any]
    description: str = ""
    """Catalogue text; empty = the base class's docstring."""
    example: Mapping[str, Any] | None = None
    """Params for the catalogue's example config; None = the base class's `example` less the
    fixed params."""


# Grouped by module so each catalogue area adds its types in its own block.
EVALUATOR_TYPES: dict[str, str | Preset] = {
    # text
    "contains": "assay.evaluators.text:Contains",
    "contains_any": Preset("contains", {"mode": "any"}, "The output contains at least one of `value`."),
    "contains_all": Preset("contains", {"mode": "all"}, "The output contains every one of `value`."),
    "contains_none": Preset(
        "contains", {"mode": "none"}, "The output contains none of `value` (forbidden words)."
    ),
    "equals": "assay.evaluators.text:Equals",
    "starts_with": "assay.evaluators.text:StartsWith",
    "ends_with": "assay.evaluators.text:EndsWith",
    "regex": "assay.evaluators.text_regex:Regex",
    "length": "assay.evaluators.text_size:Length",
    "word_count": "assay.evaluators.text_size:WordCount",
    "reading_time": "assay.evaluators.text_size:ReadingTime",
    "one_line": "assay.evaluators.text_size:OneLine",
    "language": "assay.evaluators.text_language:Language",
    "not_gibberish": "assay.evaluators.text_gibberish:NotGibberish",
    "degenerate_output": "assay.evaluators.degenerate:DegenerateOutput",
    "is_email": "assay.evaluators.text_email:IsEmail",
    "contains_email": "assay.evaluators.text_email:ContainsEmail",
    "contains_link": "assay.evaluators.text_links:ContainsLink",
    "valid_links": "assay.evaluators.text_links:ValidLinks",
    # json
    "is_json": "assay.evaluators.json_checks:IsJson",
    "contains_json": "assay.evaluators.json_checks:ContainsJson",
    "json_schema": "assay.evaluators.json_checks:JsonSchema",
    "json_field": "assay.evaluators.json_checks:JsonField",
    "json_deep_compare": "assay.evaluators.json_checks:JsonDeepCompare",
    # reference
    "exact_match": "assay.evaluators.reference:ExactMatch",
    "token_f1": "assay.evaluators.reference:TokenF1",
    "rouge_l": "assay.evaluators.reference:RougeL",
    "bleu": "assay.evaluators.reference:Bleu",
    "levenshtein": "assay.evaluators.reference:Levenshtein",
    "jaro_winkler": "assay.evaluators.reference:JaroWinkler",
    "jaccard": "assay.evaluators.reference:Jaccard",
    "sorensen_dice": "assay.evaluators.reference:SorensenDice",
    "cosine": "assay.evaluators.reference:Cosine",
    "embedding_similarity": "assay.evaluators.reference:EmbeddingSimilarity",
    # safety
    "pii": "assay.evaluators.safety:PiiLeak",
    "refusal": "assay.evaluators.safety:Refusal",
    "secrets": "assay.evaluators.safety:SecretLeak",
    "prompt_injection": "assay.evaluators.injection:PromptInjection",
    "canary_leak": "assay.evaluators.injection:CanaryLeak",
    "toxicity": "assay.evaluators.toxicity:Toxicity",
    # operational
    "latency": "assay.evaluators.performance:LatencyThreshold",
    "cost": "assay.evaluators.performance:CostThreshold",
    "provider_status": "assay.evaluators.performance:ProviderStatus",
    "finish_reason": "assay.evaluators.performance:FinishReason",
    # tools
    "tool_call_valid": "assay.evaluators.tools:ToolCallValid",
    # agent runs (trace subjects; also calls and replayed cases that carry tool calls)
    "tool_trajectory": "assay.evaluators.trajectory:ToolTrajectory",
    "tool_loops": "assay.evaluators.trajectory:ToolLoops",
    "tool_errors_handled": "assay.evaluators.trajectory:ToolErrorsHandled",
    "steps_to_finish": "assay.evaluators.trajectory:StepsToFinish",
    # conversations (session subjects, or any subject with messages)
    "turn_count": "assay.evaluators.session_signals:TurnCount",
    "repeated_user_questions": "assay.evaluators.session_signals:RepeatedUserQuestions",
    "escalation": "assay.evaluators.session_signals:Escalation",
    # judges
    "llm_judge": "assay.evaluators.llm_judge:LLMJudge",
    "pairwise_judge": "assay.evaluators.llm_judge:PairwiseJudge",
    "custom_rubric": "assay.evaluators.judge_rubrics:CustomRubricJudge",
    "g_eval": "assay.evaluators.judge_rubrics:GEvalJudge",
    "correctness": Preset(
        "llm_judge", {"rubric": "correctness"},
        description="Whether the response states the same facts as the reference answer, judged by an LLM.",
    ),
    "answer_relevance": Preset(
        "llm_judge", {"rubric": "answer_relevance"},
        description="How directly the response addresses the user's question, judged by an LLM.",
    ),
    "answers_query": Preset(
        "llm_judge", {"rubric": "answers_query"},
        description="Whether the response actually answers what was asked (not just the same subject), judged by an LLM.",
    ),
    "context_sufficiency": Preset(
        "llm_judge", {"rubric": "context_sufficiency"},
        description="Whether the retrieved context holds enough to answer the question, judged by an LLM.",
    ),
    "faithfulness": Preset(
        "llm_judge", {"rubric": "faithfulness"},
        description="Share of the response's sentences supported by the retrieved context, judged by an LLM.",
    ),
    "hallucination": Preset(
        "llm_judge", {"rubric": "hallucination"},
        description="Whether the response invents or contradicts specifics relative to the context, judged by an LLM.",
    ),
    "summary_accuracy": Preset(
        "llm_judge", {"rubric": "summary_accuracy"},
        description="Share of a summary's statements supported by its source document (the input), judged by an LLM.",
    ),
    "conciseness": Preset(
        "llm_judge", {"rubric": "conciseness"},
        description="Whether the response answers without padding, repetition or filler, judged by an LLM.",
    ),
    "coherence": Preset(
        "llm_judge", {"rubric": "coherence"},
        description="Whether the response reads as one consistent, well-ordered text, judged by an LLM.",
    ),
    "harmfulness": Preset(
        "llm_judge", {"rubric": "harmfulness"},
        description="Whether the response could cause harm (violence, self-harm, crime, dangerous advice), judged by an LLM.",
    ),
    "maliciousness": Preset(
        "llm_judge", {"rubric": "maliciousness"},
        description="Whether the response tries to deceive or exploit the user (phishing, scams, pressure), judged by an LLM.",
    ),
    "politeness": Preset(
        "llm_judge", {"rubric": "politeness"},
        description="Whether the response's tone towards the user is courteous rather than rude or dismissive, judged by an LLM.",
    ),
    "restrict_to_topic": Preset(
        "llm_judge", {"rubric": "restrict_to_topic"},
        description="Whether the response stays within the allowed topics (rubric_params.topics), judged by an LLM.",
        example={"rubric_params": {"topics": ["orders and shipping", "returns and refunds", "account access"]}},
    ),
    "sensitive_topics": Preset(
        "llm_judge", {"rubric": "sensitive_topics"},
        description="Whether the response avoids the listed sensitive topics (rubric_params.topics), judged by an LLM.",
        example={"rubric_params": {"topics": ["politics", "religion", "medical diagnosis"]}},
    ),
    "refusal_quality": Preset(
        "llm_judge", {"rubric": "refusal_quality"},
        description="Whether the response refuses exactly the requests it should, penalising unsafe compliance and over-refusal, judged by an LLM.",
    ),
    "tool_correctness": Preset(
        "llm_judge", {"rubric": "tool_correctness"},
        description="Whether the assistant called the right tool with valid arguments for the request, judged by an LLM.",
    ),
    "conversation_resolution": Preset(
        "llm_judge", {"rubric": "conversation_resolution"},
        description="Whether a multi-turn conversation ends with the user's need met, judged by an LLM over the messages.",
    ),
    "conversation_coherence": Preset(
        "llm_judge", {"rubric": "conversation_coherence"},
        description="Whether the assistant's turns stay consistent with the conversation so far, judged by an LLM over the messages.",
    ),
    "user_frustration": Preset(
        "llm_judge", {"rubric": "user_frustration"},
        description="Whether the user becomes frustrated with the assistant during a conversation, judged by an LLM over the messages.",
    ),
    "knowledge_retention": Preset(
        "llm_judge", {"rubric": "knowledge_retention"},
        description="Whether the assistant keeps what the user said earlier (no asking again, no contradiction), judged by an LLM over the messages.",
    ),
    "task_completion": Preset(
        "llm_judge", {"rubric": "task_completion"},
        description="Whether an agent run accomplished the user's task, judged by an LLM over the whole trace (steps, tools, results).",
    ),
    "plan_quality": Preset(
        "llm_judge", {"rubric": "plan_quality"},
        description="Whether an agent's steps show a sound plan (order, use of results, no loops), judged by an LLM over the whole trace.",
    ),
    "pairwise": Preset(
        "pairwise_judge", {"rubric": "pairwise"},
        description="Whether the candidate's response is at least as good as the baseline's, judged in both orders by an LLM.",
    ),
    # rag
    "rag_judge": "assay.evaluators.llm_judge:RagJudge",
    "context_precision": Preset(
        "rag_judge", {"rubric": "context_precision"},
        description="Whether the retrieved chunks that serve the reference answer are ranked first (average precision), judged by an LLM.",
    ),
    "context_recall": Preset(
        "rag_judge", {"rubric": "context_recall"},
        description="Share of the reference answer's sentences found in the retrieved context, judged by an LLM.",
    ),
    "context_relevance": Preset(
        "rag_judge", {"rubric": "context_relevance"},
        description="Share of the retrieved chunks that are about the question, judged by an LLM.",
    ),
    "context_overlap": "assay.evaluators.rag:ContextOverlap",
}

RESERVED_FIELDS = frozenset(
    {"name", "failure_category", "version", "metric", "required_fields", "params"}
)
"""Constructor arguments that are not user parameters: the name and category come from
their own config keys, the rest is fixed by the class (the version above all: it is bumped
with the logic, never by config)."""


class UnknownEvaluatorError(ValueError):
    """The config names an evaluator type that does not exist or cannot be imported."""


_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
E = TypeVar("E", bound=type)


@overload
def register_evaluator(type_name: E, /) -> E: ...
@overload
def register_evaluator(
    type_name: str | None = None, /, *, kind: str | None = None, output: str | None = None,
    offline: bool | None = None, example: dict[str, Any] | None = None,
) -> Callable[[E], E]: ...
def register_evaluator(
    type_name: Any = None, /, *, kind: str | None = None, output: str | None = None,
    offline: bool | None = None, example: dict[str, Any] | None = None,
) -> Any:
    """Class decorator: register an evaluator class under a type name (default: the class
    name in snake_case), as `@scorer` does in inspect_ai.

    The class is checked against the `Evaluator` protocol now (an `evaluate` method; the data
    members are checked on each built instance), and must be importable by its module path so
    the registry can find it again. `kind`, `output`, `offline` and `example` set the catalogue
    metadata (`assay evaluators`). A name taken by another class raises `ValueError`; the
    type then builds with `build_evaluator(name, type_name, params)` like a built-in one.
    """
    if isinstance(type_name, type):  # bare `@register_evaluator`
        return register_evaluator()(type_name)

    def register(cls: E) -> E:
        name = type_name or re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
        where = f"@register_evaluator({name!r}) on {cls.__module__}.{cls.__qualname__}"
        if not isinstance(name, str) or not _TYPE_NAME.match(name):
            raise ValueError(f"{where}: a type name is lowercase letters, digits and '_', starting with a letter")
        if not isinstance(cls, type) or not issubclass(cls, EvaluatorClass):
            raise ValueError(f"{where}: not an evaluator class (it needs an `evaluate(subject) -> list[Score]` method)")
        if "." in cls.__qualname__:
            raise ValueError(f"{where}: register a module-level class (the registry imports it by path)")
        target = f"{cls.__module__}:{cls.__qualname__}"
        existing = EVALUATOR_TYPES.get(name)
        if existing is not None and existing != target:
            shown = existing if isinstance(existing, str) else f"a preset of {existing.base!r}"
            raise ValueError(f"{where}: type {name!r} is already registered ({shown}); choose another name")
        for attr, value in (("kind", kind), ("output", output), ("offline", offline), ("example", example)):
            if value is not None:
                setattr(cls, attr, value)
        EVALUATOR_TYPES[name] = target
        return cls

    return register


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    name: str
    annotation: Any
    required: bool
    default: Any = None


def _valid_types_hint(type_: str = "") -> str:
    import difflib

    close = difflib.get_close_matches(type_, EVALUATOR_TYPES, n=1, cutoff=0.75)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"{guess}valid types: {', '.join(sorted(EVALUATOR_TYPES))}, or a custom 'package.module:Class'"


def resolve_type(type_: str) -> tuple[str, dict[str, Any]]:
    """(class target or custom path, params the type fixes) for a type name."""
    entry = EVALUATOR_TYPES.get(type_)
    if isinstance(entry, Preset):
        base, fixed = resolve_type(entry.base)
        return base, {**fixed, **entry.fixed}
    return (entry if entry is not None else type_), {}


def evaluator_class(type_: str) -> type:
    """The class a type name (or "package.module:Class" path) stands for, imported now."""
    target = EVALUATOR_TYPES.get(type_)
    if isinstance(target, Preset):
        return evaluator_class(resolve_type(type_)[0])
    custom = target is None
    if custom:
        module_name, sep, attr = type_.partition(":")
        if not sep or not module_name or not attr.isidentifier():
            raise UnknownEvaluatorError(f"unknown evaluator type {type_!r}; {_valid_types_hint(type_)}")
        target = type_
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if not custom:
            raise
        raise UnknownEvaluatorError(
            f"evaluator type {type_!r}: cannot import module {module_name!r} ({exc})"
        ) from exc
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise UnknownEvaluatorError(
            f"evaluator type {type_!r}: module {module_name!r} has no class {attr!r}"
        )
    return cls


def param_specs(cls: type) -> dict[str, ParamSpec]:
    """The user parameters a class accepts, with their annotations and defaults."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # unresolvable annotations in a custom class: skip type checks
        hints = {}
    specs: dict[str, ParamSpec] = {}
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if not f.init or f.name in RESERVED_FIELDS or f.name.startswith("_"):
                continue
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            default = None if f.default is dataclasses.MISSING else f.default
            specs[f.name] = ParamSpec(f.name, hints.get(f.name, Any), required, default)
        return specs
    try:
        init_hints = typing.get_type_hints(cls.__init__)
    except Exception:
        init_hints = {}
    for p in inspect.signature(cls).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in RESERVED_FIELDS:
            continue
        required = p.default is inspect.Parameter.empty
        specs[p.name] = ParamSpec(
            p.name, init_hints.get(p.name, Any), required, None if required else p.default
        )
    return specs


def type_name(annotation: Any) -> str:
    """A readable rendering of a parameter annotation for error messages."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is Any:
        return "any value"
    if annotation is type(None):
        return "null"
    if annotation is float:
        return "number"
    if annotation is bool:
        return "true/false"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is list:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "mapping"
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer"}.get(annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def conforms(value: Any, annotation: Any) -> bool:
    """Whether a config value fits a parameter annotation (YAML types: no coercion, except an
    integer where a number is expected). Constructs it does not know are accepted and left to
    the class's own validation."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is Any or annotation is object:
        return True
    if annotation is type(None) or annotation is None:
        return value is None
    if origin in (Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if origin is Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and (not args or all(conforms(v, args[0]) for v in value))
    if origin is tuple:
        return isinstance(value, list | tuple)
    if origin is dict:
        return isinstance(value, dict) and (
            not args or all(conforms(k, args[0]) and conforms(v, args[1]) for k, v in value.items())
        )
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def _param_help(specs: dict[str, ParamSpec]) -> str:
    if not specs:
        return "it takes no params"
    described = [
        f"{s.name} ({type_name(s.annotation)}{', required' if s.required else ''})"
        for s in specs.values()
    ]
    return "valid params: " + "; ".join(described)


def validate_params(label: str, cls: type, params: dict[str, Any]) -> None:
    """Raise a ValueError naming the evaluator and the parameter when `params` does not fit."""
    specs = param_specs(cls)
    unknown = sorted(k for k in params if k not in specs)
    if unknown:
        reserved = [k for k in unknown if k in RESERVED_FIELDS]
        note = (
            f" ({', '.join(reserved)} is set by the evaluator config or the class, not params)"
            if reserved
            else ""
        )
        raise ValueError(
            f"{label}: unknown param(s) {', '.join(unknown)}{note}; {_param_help(specs)}"
        )
    missing = [s.name for s in specs.values() if s.required and s.name not in params]
    if missing:
        raise ValueError(
            f"{label}: missing required param(s) {', '.join(missing)}; {_param_help(specs)}"
        )
    for key, value in params.items():
        annotation = specs[key].annotation
        if not conforms(value, annotation):
            raise ValueError(
                f"{label}: param {key!r} must be {type_name(annotation)}, got {value!r}"
            )


def build_evaluator(
    name: str,
    type: str,
    params: dict[str, Any] | None = None,
    failure_category: str | None = None,
) -> Evaluator:
    """An evaluator instance from one config entry.

    `failure_category` overrides the class's default category when given. Raises
    `UnknownEvaluatorError` for an unknown type and `ValueError` for bad params, each naming
    the evaluator and what would be valid.
    """
    label = f"evaluator {name!r} (type {type!r})"
    if not isinstance(name, str) or not name:
        raise ValueError(f"{label}: name must be a non-empty string")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(f"{label}: params must be a mapping, got {params!r}")
    if failure_category is not None and failure_category not in FAILURE_CATEGORIES:
        raise ValueError(
            f"{label}: unknown failure_category {failure_category!r}; "
            f"valid: {', '.join(FAILURE_CATEGORIES)}"
        )
    try:
        cls = evaluator_class(type)
    except UnknownEvaluatorError as exc:
        raise UnknownEvaluatorError(f"evaluator {name!r}: {exc}") from None
    fixed = resolve_type(type)[1]
    overridden = sorted(k for k in params if k in fixed)
    if overridden:
        raise ValueError(
            f"{label}: param(s) {', '.join(overridden)} are fixed by the type "
            f"({', '.join(f'{k}={fixed[k]!r}' for k in overridden)}); use the base type to change them"
        )
    params = {**fixed, **params}
    validate_params(label, cls, params)

    # A class built for assay takes `name` (and `failure_category`) in its constructor; a
    # plain class that only has them as class attributes, as the protocol allows, is built
    # with its params alone and given the config's name afterwards.
    accepted = _init_names(cls)
    takes_any = _takes_var_keywords(cls)
    kwargs: dict[str, Any] = dict(params)
    late: dict[str, Any] = {"name": name}
    if failure_category is not None:
        late["failure_category"] = failure_category
    for key in list(late):
        if key in accepted or takes_any:
            kwargs[key] = late.pop(key)
    if "params" in accepted:
        kwargs["params"] = dict(params)
    try:
        evaluator = cls(**kwargs)
        for key, value in late.items():
            setattr(evaluator, key, value)
    except (ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{label}: {exc}") from exc

    if not isinstance(evaluator, Evaluator):
        missing = [m for m in ("name", "version", "required_fields", "failure_category", "evaluate") if m not in dir(evaluator)]
        raise ValueError(
            f"{label}: class {cls.__module__}.{cls.__qualname__} does not implement the "
            f"Evaluator protocol (name, version, required_fields, failure_category, evaluate): "
            f"missing {', '.join(missing)}"
        )
    return evaluator


def _init_names(cls: type) -> set[str]:
    if dataclasses.is_dataclass(cls):
        return {f.name for f in dataclasses.fields(cls) if f.init}
    return {p.name for p in inspect.signature(cls).parameters.values() if p.kind is not p.VAR_KEYWORD}


def _takes_var_keywords(cls: type) -> bool:
    if dataclasses.is_dataclass(cls):
        return False
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())


# ---------------------------------------------------------------------------- catalogue


@dataclasses.dataclass(frozen=True)
class CatalogueEntry:
    """One row of `assay evaluators` and of the docs' catalogue table."""

    type: str
    kind: str
    inputs: tuple[str, ...]
    output: str
    offline: bool
    vectorised: bool
    description: str
    example: dict[str, Any]
    """Params that build a working instance (shown in the docs, built by the tests)."""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"inputs": list(self.inputs)}


def _first_sentence(doc: str | None) -> str:
    text = " ".join((doc or "").split())
    head = re.split(r"(?<!e\.g)(?<!i\.e)\.\s+", text, maxsplit=1)[0]
    return head if head.endswith(".") or not head else head + "."


def _default_inputs(cls: type, fixed: Mapping[str, Any]) -> tuple[str, ...]:
    hook = getattr(cls, "catalogue_inputs", None)
    if callable(hook):
        return tuple(hook(dict(fixed)))
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if f.name == "required_fields" and f.default is not dataclasses.MISSING:
                return tuple(f.default)
    return tuple(getattr(cls, "required_fields", ()))


def describe_type(type_: str) -> CatalogueEntry:
    """Catalogue metadata of a registered type, read off its class (imported now)."""
    entry = EVALUATOR_TYPES[type_]
    cls = evaluator_class(type_)
    fixed = resolve_type(type_)[1]
    description = entry.description if isinstance(entry, Preset) and entry.description else ""
    if isinstance(entry, Preset) and entry.example is not None:
        example = dict(entry.example)
    else:
        example = {k: v for k, v in getattr(cls, "example", {}).items() if k not in fixed}
    return CatalogueEntry(
        type=type_,
        kind=getattr(cls, "kind", "custom"),
        inputs=_default_inputs(cls, fixed),
        output=getattr(cls, "output", "pass/fail"),
        offline=bool(getattr(cls, "offline", True)),
        vectorised=issubclass(cls, VectorisableEvaluator),
        description=description or _first_sentence(cls.__doc__),
        example=example,
    )


def catalogue() -> list[CatalogueEntry]:
    """Every registered evaluator type, in registry order."""
    return [describe_type(t) for t in EVALUATOR_TYPES]
