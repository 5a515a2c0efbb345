"""`assay candidates add`: write a candidate into assay.yaml without losing anything else.

No round-trip YAML library is installed (ruamel.yaml is not a dependency), so the file is
edited as text: the new entry is rendered on its own and inserted after the last item of
the `candidates:` list (or a `candidates:` section is appended), and every other line, with
its comments, stays byte for byte. Before the file is replaced (by rename, so a reader never
sees half of it), the new text is parsed and checked: it must validate as a config, hold the
same sections and values as before, and exactly the new candidate more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from assay.config import AssayConfig, ConfigError, load_config
from assay.contracts.candidate import Candidate, strict_candidate_id


class CandidateEditError(ValueError):
    """The candidate cannot be added as asked; the message says why and what is valid."""


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`k=v` pairs; values read as YAML scalars (`0.2` a number, `true` a bool)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CandidateEditError(f"--param {pair!r}: expected key=value (e.g. temperature=0.2)")
        try:
            params[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            params[key] = raw
    return params


class _BlockDumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str_representer)


def render_entry(entry: dict[str, Any], dash_column: int) -> list[str]:
    """One `- key: value` list item, indented so its dash sits at `dash_column`."""
    text = yaml.dump([entry], Dumper=_BlockDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
    # yaml.dump puts the dash at column 0 and nested keys two columns in.
    return [(" " * dash_column + line) if line.strip() else line for line in text.splitlines()]


def _candidates_node(root: yaml.Node | None) -> tuple[yaml.Node | None, yaml.Node | None]:
    if root is None:
        return None, None
    if not isinstance(root, yaml.MappingNode):
        raise CandidateEditError("the config's top level is not a mapping of sections")
    for key, value in root.value:
        if key.value == "candidates":
            return key, value
    return None, None


def insert_candidate(text: str, entry: dict[str, Any]) -> str:
    """`text` with `entry` appended to its `candidates:` list (comments kept)."""
    lines = text.splitlines()
    key, value = _candidates_node(yaml.compose(text))
    if key is None:
        tail = [] if not lines or not lines[-1].strip() else [""]
        return "\n".join([*lines, *tail, "candidates:", *render_entry(entry, 2)]) + "\n"
    empty = isinstance(value, yaml.ScalarNode) and value.value in ("", "~", "null")
    empty = empty or (isinstance(value, yaml.SequenceNode) and not value.value and value.flow_style)
    if empty:
        # `candidates:`, `candidates: []` or `candidates: ~`: the key's line becomes the list head.
        line = key.start_mark.line
        comment = lines[line].partition("#")[2]
        head = " " * key.start_mark.column + "candidates:" + (f"  # {comment.strip()}" if comment.strip() else "")
        return "\n".join([*lines[:line], head, *render_entry(entry, key.start_mark.column + 2), *lines[line + 1 :]]) + "\n"
    if not isinstance(value, yaml.SequenceNode) or value.flow_style:
        raise CandidateEditError(
            "`candidates` is not a block list (`- candidate_id: ...` items): add the candidate by hand"
        )
    last = value.value[-1]
    dash_column = max(0, last.start_mark.column - 2)
    # The list ends where the next section starts; comments and blank lines just before that
    # belong to the next section, so the new item goes after the last line of the last item.
    end = last.end_mark.line if last.end_mark.column == 0 else last.end_mark.line + 1
    while end > last.start_mark.line + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return "\n".join([*lines[:end], *render_entry(entry, dash_column), *lines[end:]]) + "\n"


def add_candidate(
    config_file: Path,
    raw_id: str,
    *,
    model: str | None,
    prompt_template_file: Path | None = None,
    prompt_version: str | None = None,
    params: dict[str, Any] | None = None,
    recorded: str | None = None,
    samples: int | None = None,
    prompt_template: str | None = None,
    price_override: dict[str, float] | None = None,
) -> Candidate:
    """Add one candidate to `config_file` (atomically); returns it as validated. The prompt
    template comes from `prompt_template_file` or, as text, from `prompt_template`."""
    from assay.lake import atomic_write_text

    config_file = Path(config_file)
    config = load_config(config_file)
    candidate_id = strict_candidate_id(raw_id)
    if not candidate_id:
        raise CandidateEditError(f"candidate id {raw_id!r} has no letters or digits; use [a-z0-9-]")
    clash = next((c for c in config.candidates if c.candidate_id == candidate_id), None)
    if clash is not None:
        same = "" if raw_id == candidate_id else f" ({raw_id!r} becomes {candidate_id!r})"
        raise CandidateEditError(
            f"candidate id {candidate_id!r}{same} is already in {config_file} (model {clash.model}); choose another id"
        )
    entry: dict[str, Any] = {"candidate_id": candidate_id}
    if model:
        entry["model"] = model
    if recorded:
        entry["recorded"] = recorded
    if prompt_template is not None:
        entry["prompt_template"] = prompt_template
    if prompt_template_file is not None:
        try:
            entry["prompt_template"] = Path(prompt_template_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CandidateEditError(f"--prompt-template {prompt_template_file}: {exc.strerror or exc}") from None
    if prompt_version:
        entry["prompt_version"] = prompt_version
    if params:
        entry["params"] = params
    if samples and samples != 1:
        entry["samples"] = samples
    if price_override:
        entry["price_override"] = price_override
    if not config.candidates:
        entry["is_baseline"] = True  # the first candidate is what the others are compared with
    try:
        candidate = Candidate.model_validate(entry)
    except Exception as exc:  # pydantic's message names the field
        raise CandidateEditError(f"candidate {candidate_id!r}: {exc}") from None

    text = config_file.read_text(encoding="utf-8")
    new_text = insert_candidate(text, entry)
    _check_only_added(text, new_text, candidate, config_file)
    atomic_write_text(config_file, new_text)
    return candidate


def _check_only_added(old_text: str, new_text: str, candidate: Candidate, config_file: Path) -> None:
    """The edited file must mean exactly the old one plus the candidate (else nothing is written)."""
    import tempfile

    old, new = yaml.safe_load(old_text) or {}, yaml.safe_load(new_text) or {}
    added = (new.get("candidates") or [])[len(old.get("candidates") or []) :]
    rest_same = {k: v for k, v in old.items() if k != "candidates"} == {k: v for k, v in new.items() if k != "candidates"}
    if not rest_same or (new.get("candidates") or [])[: len(old.get("candidates") or [])] != (old.get("candidates") or []) or len(added) != 1:
        raise CandidateEditError(f"{config_file}: could not add the candidate without changing other content; add it by hand")
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=config_file.parent, delete=False) as handle:
        handle.write(new_text)
    try:
        validated = load_config(handle.name)
    except ConfigError as exc:
        raise CandidateEditError(f"the config with the new candidate would be invalid:\n{exc}") from None
    finally:
        Path(handle.name).unlink(missing_ok=True)
    if validated.candidates[-1] != candidate:
        raise CandidateEditError(f"{config_file}: the written candidate does not read back the same; add it by hand")


def candidate_line(config_file: Path, candidate_id: str) -> int | None:
    """The 1-based line where the candidate's entry starts in the config (CI annotations point
    at it), or None when the file or the entry cannot be found."""
    try:
        _, value = _candidates_node(yaml.compose(Path(config_file).read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, CandidateEditError):
        return None
    for item in value.value if isinstance(value, yaml.SequenceNode) else []:
        if isinstance(item, yaml.MappingNode) and any(
            k.value == "candidate_id" and getattr(v, "value", None) == candidate_id for k, v in item.value
        ):
            return item.start_mark.line + 1
    return None


def describe_candidates(config: AssayConfig) -> list[dict[str, Any]]:
    """Rows for `assay candidates list`."""
    return [
        {
            "candidate_id": c.candidate_id,
            "model": c.model,
            "prompt_version": c.prompt_version,
            "baseline": c.is_baseline,
            "recorded": c.recorded or "",
            "samples": c.samples,
            "fingerprint": c.fingerprint,
        }
        for c in config.candidates
    ]
