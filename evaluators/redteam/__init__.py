"""Versioned red-team packs: adversarial cases with canaries, loaded as golden-case dicts.

`load_pack("v1")` reads `pack_v1.yaml` next to this module, validates every case (a bad
file fails with one message naming the file, the case and the key), and returns plain dicts
shaped like golden cases: case_id, input_text, messages (system + user), context, tools,
expected_output (the expected safe behaviour, as the reference), assertions (evaluator
types that must pass), tier, critical, tags, and metadata {canary, attack, injection_in,
pack}. `canary_leak` reads the canary from metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assay.case_files import TIERS, CaseFileError, check_case_keys, check_values, read_case_document

PACK_DIR = Path(__file__).parent
ATTACKS = (
    "instruction_override",
    "indirect_injection",
    "system_prompt_extraction",
    "private_data_disclosure",
    "destructive_tool_action",
    "fabricated_citation",
    "disable_safety",
)
REQUIRED = ("id", "attack", "tier", "critical", "canary", "input", "injection_in", "expected_behaviour", "assertions")
OPTIONAL = ("system", "context", "tools", "tags")


class PackError(CaseFileError):
    """A red-team pack file that does not validate."""


def _texts(raw: dict[str, Any]) -> list[str]:
    return [str(raw.get("system") or ""), str(raw["input"]), *map(str, raw.get("context") or []), repr(raw.get("tools") or [])]


def _holds_canary(raw: dict[str, Any], canary: str) -> bool:
    """The canary is written in the case, plainly or inside an encoded payload."""
    from assay.detectors.injection import decoded_views

    return any(
        canary in text or any(canary in decoded for _, decoded, _ in decoded_views(text))
        for text in _texts(raw)
    )


def _validate_case(path: Path, index: int, raw: Any, known_types: set[str]) -> dict[str, Any]:
    label = check_case_keys(path, index, raw, required=REQUIRED, optional=OPTIONAL, error=PackError)
    checks = [
        ("attack", raw["attack"] in ATTACKS, f"must be one of {', '.join(ATTACKS)}"),
        ("tier", raw["tier"] in TIERS, f"must be one of {', '.join(TIERS)}"),
        ("critical", isinstance(raw["critical"], bool), "must be true or false"),
        ("injection_in", raw["injection_in"] in ("input", "context"), "must be input or context"),
        ("canary", isinstance(raw["canary"], str) and len(raw["canary"].strip()) >= 8, "must be a string of 8+ characters"),
        ("assertions", isinstance(raw["assertions"], list) and set(map(str, raw["assertions"])) <= known_types,
         f"must be a list of evaluator types; valid: {', '.join(sorted(known_types))}"),
        ("context", isinstance(raw.get("context") or [], list), "must be a list of documents"),
        ("tools", isinstance(raw.get("tools") or [], list), "must be a list of tool schemas"),
        ("tags", isinstance(raw.get("tags") or [], list), "must be a list"),
    ]  # fmt: skip
    check_values(path, label, raw, checks, PackError)
    if raw["injection_in"] == "context" and not raw.get("context"):
        raise PackError.at(path, label, "context", "is required when injection_in is context")
    if not _holds_canary(raw, raw["canary"]):
        raise PackError.at(path, label, "canary", "does not appear in the case's system prompt, input, context or tools")
    return raw


def _as_case(raw: dict[str, Any], version: str) -> dict[str, Any]:
    messages = [{"role": "system", "content": raw["system"].strip()}] if raw.get("system") else []
    messages.append({"role": "user", "content": raw["input"].strip()})
    return {
        "case_id": raw["id"],
        "input_text": raw["input"].strip(),
        "messages": messages,
        "context": list(raw.get("context") or []),
        "tools": list(raw.get("tools") or []),
        "expected_output": raw["expected_behaviour"].strip(),
        "assertions": list(raw["assertions"]),
        "tier": raw["tier"],
        "critical": raw["critical"],
        "tags": ["redteam", f"redteam_{version}", raw["attack"], *raw.get("tags", [])],
        "metadata": {
            "canary": raw["canary"],
            "attack": raw["attack"],
            "injection_in": raw["injection_in"],
            "pack": f"redteam/{version}",
        },
    }


def load_pack(version: str = "v1") -> list[dict[str, Any]]:
    """The cases of pack `version`, validated; raises PackError naming file, case and key."""
    from assay.evaluators.registry import EVALUATOR_TYPES

    path = PACK_DIR / f"pack_{version}.yaml"
    if not path.exists():
        known = sorted(p.stem.removeprefix("pack_") for p in PACK_DIR.glob("pack_*.yaml"))
        raise PackError(f"unknown red-team pack {version!r}; available: {', '.join(known)}")
    document = read_case_document(path, PackError)
    if str(document.get("version")) != version:
        raise PackError(f"{path}: key 'version' is {document.get('version')!r}, expected {version!r}")
    cases = [_validate_case(path, i, raw, set(EVALUATOR_TYPES)) for i, raw in enumerate(document["cases"])]
    for key in ("id", "canary"):
        seen: set[str] = set()
        for raw in cases:
            if raw[key] in seen:
                raise PackError.at(path, raw["id"], key, f"{raw[key]!r} is used by another case; must be unique")
            seen.add(raw[key])
    return [_as_case(raw, version) for raw in cases]
