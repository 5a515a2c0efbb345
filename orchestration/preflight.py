"""Everything a run will need from the config, checked before it starts.

`load_config` checks the config's shape. A run also builds every evaluator with its params,
reads every `recorded:` file and golden file, and calls every candidate and judge model;
each of those failed only inside a Dagster step, tens of seconds in, buried in a trace.
`assay validate-config` prints what this finds, and `assay run` refuses to start on an error.
Each problem is one line: `file:line: key `...`: what is wrong; what is valid`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.config import AssayConfig, locate


@dataclass
class Preflight:
    errors: list[str] = field(default_factory=list)
    """Problems a run would fail on: `assay run` refuses to start."""
    warnings: list[str] = field(default_factory=list)
    """Problems a run may survive, or that depend on where it runs (a provider key unset here)."""
    golden_cases: int = 0
    """Golden and red-team cases the config brings (a dataset with no production logs)."""


_PARAM_NAMED = re.compile(r"param(?:\(s\))? '?([A-Za-z_][A-Za-z0-9_]*)")


def check_config(config: AssayConfig, config_file: Path | str) -> Preflight:
    from assay.assets.scoring import build_evaluators
    from assay.evaluators.golden import GoldenError, configured_cases
    from assay.evaluators.registry import UnknownEvaluatorError

    from assay.recorded_outputs import (
        RecordedFileError,
        read_recorded_outputs,
        resolve_recorded_path,
    )

    config_file = Path(config_file)
    found = Preflight()

    def at(loc: list[Any], message: str, *, warning: bool = False) -> None:
        key = ".".join(str(part) for part in loc)
        (found.warnings if warning else found.errors).append(f"{locate(config_file, loc)}: key `{key}`: {message}")

    judge_models: dict[str, tuple[list[Any], dict[str, Any]]] = {
        config.judge.model: (["judge", "model"], dict(config.judge.params))
    }
    for index, evaluator in enumerate(config.evaluators):
        try:
            built = build_evaluators([evaluator], config.judge.model, config.judge.params)[evaluator.name]
        except UnknownEvaluatorError as exc:
            at(["evaluators", index, "type"], str(exc))
            continue
        except (ValueError, TypeError) as exc:
            named = _PARAM_NAMED.search(str(exc))
            loc = ["evaluators", index, "params"]
            if named and named.group(1) in evaluator.params:
                loc.append(named.group(1))
            at(loc, str(exc))
            continue
        model = getattr(built, "model", None)
        if isinstance(model, str) and "model" in evaluator.params:
            params = {**config.judge.params, **(getattr(built, "completion_params", None) or {})}
            judge_models.setdefault(model, (["evaluators", index, "params", "model"], params))

    candidate_models: dict[str, tuple[list[Any], dict[str, Any]]] = {}
    for index, candidate in enumerate(config.candidates):
        if candidate.recorded:
            path = resolve_recorded_path(candidate.recorded, config_file)
            try:
                read_recorded_outputs(path)
            except RecordedFileError as exc:
                at(["candidates", index, "recorded"], f"candidate {candidate.candidate_id!r}: {exc}")
            continue
        candidate_models.setdefault(candidate.model, (["candidates", index, "model"], dict(candidate.params)))

    found.warnings.extend(_check_models({**judge_models, **candidate_models}, at, config_file))

    try:
        found.golden_cases = len(configured_cases(config, config_file))
    except GoldenError as exc:
        found.errors.append(str(exc))
    # The default folder may be absent (no golden set); one the user named must exist.
    named = "golden_dir" in config.dataset.model_fields_set
    if named and config.dataset.golden_dir and not (config_file.parent / config.dataset.golden_dir).is_dir():
        at(["dataset", "golden_dir"],
           f"folder {config_file.parent / config.dataset.golden_dir} does not exist: no golden cases", warning=True)
    return found


def _check_models(models: dict[str, tuple[list[Any], dict[str, Any]]], at, config_file: Path) -> list[str]:
    """Unknown providers are errors (via `at`); returns one warning per unset environment
    variable, naming every model that needs it."""
    from assay.llm.model_check import check_model

    needs: dict[str, list[str]] = {}
    for model, (loc, params) in models.items():
        result = check_model(model, params)
        if result.error:
            at(loc, result.error)
        for name in result.missing_env:
            needs.setdefault(name, []).append(f"{model} ({'.'.join(map(str, loc))}, {locate(config_file, loc)})")
    return [
        f"{name} is not set: litellm looks for it to call {', '.join(users)}; set it in the environment "
        "where `assay run` runs (keys never go in assay.yaml)"
        for name, users in needs.items()
    ]
