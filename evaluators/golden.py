"""Golden cases: hand-written scenarios (`golden/*.yaml`) and red-team packs, as dataset cases.

Production failures only cover what already went wrong. Golden scenarios are what the team
knows must keep working (with a reference answer, so reference-based evaluators can score
them); a red-team pack adds adversarial cases. Both join every dataset version beside the
promoted failures, with `source` saying where each case came from.

A golden file is a mapping with a `cases` list; each case:

    id: golden-refund-timing        # unique across all golden files; becomes the case_id
    feature: rag_answer             # optional: selects the evaluators that apply
    input: How long do refunds take?  # the user's message ... or `messages: [{role, content}]`
    system: ...                     # optional system prompt (with `input`)
    context: [...]                  # optional retrieved documents
    tools: [...]                    # optional tool schemas
    reference_output: ...           # required: the answer a good model gives
    assertions: [faithfulness]      # optional: evaluator names (assay.yaml) or types
    rubric: ...                     # optional: what a judge should look for
    tier: smoke | core | edge       # default core
    critical: true | false          # default false
    tags: [...]                     # optional
    expected_trajectory:            # optional: the tools a good run calls (tool_trajectory)
      mode: strict                  # strict | unordered | subset | superset (default strict)
      arguments: subset             # ignore | exact | subset (default ignore)
      tools: [lookup_order, {name: issue_refund, arguments: {order_id: "551207"}}]

`messages` may hold a whole conversation (user, assistant and tool turns): a multi-turn case,
whose last user message is the turn the candidate answers with the history before it.
`expected_trajectory` may also be just the list of tools. A bad file fails with one message naming the file, the case and the key.

In the evaluator layer, not the core: assertions are checked against the evaluator registry
and the red-team pack is `assay.evaluators.redteam` (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from assay.evaluators.redteam import load_pack
from assay.evaluators.registry import EVALUATOR_TYPES
from assay.evaluators.trajectory import ARGUMENT_MATCHES, MODES, reference_entries

from assay.case_files import TIERS, CaseFileError, check_case_keys, check_values, read_case_document
from assay.contracts.case import new_case

ROLES = ("system", "user", "assistant", "tool")
REQUIRED = ("id", "reference_output")
OPTIONAL = ("feature", "input", "messages", "system", "context", "tools", "assertions", "rubric", "tier", "critical", "tags",
            "expected_trajectory")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class GoldenError(CaseFileError):
    """A golden scenario file that does not validate: names the file, case and key."""


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _validate(path: Path, index: int, raw: Any, known_assertions: set[str] | None) -> dict[str, Any]:
    label = check_case_keys(path, index, raw, required=REQUIRED, optional=OPTIONAL, error=GoldenError)
    if not isinstance(raw["id"], str) or not _ID.match(raw["id"]):
        raise GoldenError.at(path, label, "id", "must be 1-80 letters, digits, '-', '_' or '.', starting with a letter or digit")
    if ("input" in raw) == ("messages" in raw):
        raise GoldenError.at(path, label, "input", "give exactly one of `input` (the user's text) or `messages`")
    if "input" in raw and not _is_text(raw["input"]):
        raise GoldenError.at(path, label, "input", f"must be non-empty text, got {raw['input']!r}")
    if "messages" in raw:
        messages = raw["messages"]
        if not isinstance(messages, list) or not messages:
            raise GoldenError.at(path, label, "messages", "must be a non-empty list of {role, content}")
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise GoldenError.at(path, label, "messages", f"each must be {{role: {'|'.join(ROLES)}, content: text}}, got {m!r}")
        if "system" in raw:
            raise GoldenError.at(path, label, "system", "only with `input`; with `messages`, put the system message in the list")
    checks = [
        ("reference_output", _is_text(raw["reference_output"]), "must be non-empty text"),
        ("system", raw.get("system") is None or _is_text(raw.get("system")), "must be text"),
        ("feature", raw.get("feature") is None or _is_text(raw.get("feature")), "must be text"),
        ("rubric", raw.get("rubric") is None or _is_text(raw.get("rubric")), "must be text"),
        ("tier", raw.get("tier", "core") in TIERS, f"must be one of {', '.join(TIERS)}"),
        ("critical", isinstance(raw.get("critical", False), bool), "must be true or false"),
        ("context", isinstance(raw.get("context") or [], list) and all(isinstance(d, str) for d in raw.get("context") or []),
         "must be a list of documents (text)"),
        ("tools", isinstance(raw.get("tools") or [], list) and all(isinstance(t, dict) for t in raw.get("tools") or []),
         "must be a list of tool schemas (mappings)"),
        ("tags", isinstance(raw.get("tags") or [], list), "must be a list"),
        ("assertions", isinstance(raw.get("assertions") or [], list), "must be a list of evaluator names or types"),
    ]  # fmt: skip
    check_values(path, label, raw, checks, GoldenError)
    if "expected_trajectory" in raw:
        raw["expected_trajectory"] = _trajectory(path, label, raw["expected_trajectory"])
    if known_assertions is not None:
        for name in raw.get("assertions") or []:
            if str(name) not in known_assertions:
                raise GoldenError.at(path, label, "assertions", f"{name!r} is not an evaluator; valid: {', '.join(sorted(known_assertions))}")
    return raw


def _trajectory(path: Path, label: str, given: Any) -> dict[str, Any]:
    """A golden case's expected trajectory as {tools, mode, arguments}, or a GoldenError."""
    where = "expected_trajectory"
    if isinstance(given, list):
        given = {"tools": given}
    if not isinstance(given, dict):
        raise GoldenError.at(path, label, where, "must be a list of tools or a mapping {tools, mode, arguments}")
    unknown = sorted(set(given) - {"tools", "mode", "arguments"})
    if unknown:
        raise GoldenError.at(path, label, f"{where}.{unknown[0]}", "unknown key; valid: tools, mode, arguments")
    mode, arguments = given.get("mode", "strict"), given.get("arguments", "ignore")
    if mode not in MODES:
        raise GoldenError.at(path, label, f"{where}.mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    if arguments not in ARGUMENT_MATCHES:
        raise GoldenError.at(path, label, f"{where}.arguments", f"must be one of {', '.join(ARGUMENT_MATCHES)}, got {arguments!r}")
    try:
        tools = reference_entries(given.get("tools"), "tools")
    except ValueError as exc:
        raise GoldenError.at(path, label, f"{where}.tools", str(exc).removeprefix("tools: ")) from None
    return {"tools": tools, "mode": mode, "arguments": arguments}


def _as_case(raw: dict[str, Any], source_file: str) -> dict[str, Any]:
    if "messages" in raw:
        messages = [{"role": m["role"], "content": m["content"].strip()} for m in raw["messages"]]
    else:
        messages = [{"role": "system", "content": raw["system"].strip()}] if raw.get("system") else []
        messages.append({"role": "user", "content": raw["input"].strip()})
    return new_case(
        case_id=raw["id"],
        source="golden",
        input=messages,
        context=list(raw.get("context") or []) or None,
        tools=list(raw.get("tools") or []) or None,
        reference_output=raw["reference_output"].strip(),
        assertions=[str(a) for a in raw.get("assertions") or []],
        rubric=raw["rubric"].strip() if raw.get("rubric") else None,
        tier=raw.get("tier", "core"),
        critical=raw.get("critical", False),
        feature=raw.get("feature"),
        tags=["golden", *map(str, raw.get("tags") or [])],
        metadata={"file": source_file,
                  **({"expected_trajectory": raw["expected_trajectory"]} if "expected_trajectory" in raw else {})},
    )


def load_golden_file(path: Path | str, *, known_assertions: Iterable[str] | None = None) -> list[dict[str, Any]]:
    path = Path(path)
    document = read_case_document(path, GoldenError)
    extra = sorted(set(document) - {"cases", "description"})
    if extra:
        raise GoldenError(f"{path}: unknown top-level key {extra[0]!r}; valid: cases, description")
    known = set(known_assertions) if known_assertions is not None else None
    return [_as_case(_validate(path, i, raw, known), path.name) for i, raw in enumerate(document["cases"])]


def load_golden_dir(directory: Path | str | None, *, known_assertions: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every case of `directory/*.yaml` (sorted by file name); none when the folder is absent."""
    if directory is None:
        return []
    directory = Path(directory)
    if not directory.is_dir():
        return []
    known = list(known_assertions) if known_assertions is not None else None
    cases: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        for case in load_golden_file(path, known_assertions=known):
            if case["case_id"] in seen:
                raise GoldenError.at(path, case["case_id"], "id", f"also used in {seen[case['case_id']]}; must be unique")
            seen[case["case_id"]] = path.name
            cases.append(case)
    return cases


def redteam_cases(version: str | None) -> list[dict[str, Any]]:
    """The red-team pack's cases (`assay.evaluators.redteam.load_pack`) as dataset cases."""
    if not version:
        return []
    return [
        new_case(
            case_id=raw["case_id"],
            source="redteam",
            input=raw["messages"],
            context=raw["context"] or None,
            tools=raw["tools"] or None,
            reference_output=raw["expected_output"],
            assertions=raw["assertions"],
            tier=raw["tier"],
            critical=raw["critical"],
            failure_category=None,
            tags=raw["tags"],
            metadata=raw["metadata"],
        )
        for raw in load_pack(version)
    ]


def configured_cases(config, config_file: Path | str) -> list[dict[str, Any]]:
    """The golden cases (`dataset.golden_dir`, relative to assay.yaml) and red-team pack
    (`dataset.redteam_pack`) that `config` asks for. Assertions may name an evaluator of
    assay.yaml or an evaluator type."""
    known = {e.name for e in config.evaluators} | set(EVALUATOR_TYPES)
    folder = Path(config_file).parent / config.dataset.golden_dir if config.dataset.golden_dir else None
    return load_golden_dir(folder, known_assertions=known) + redteam_cases(config.dataset.redteam_pack)
