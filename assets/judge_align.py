"""`assay judge align EVALUATOR`: a new version of a judge's prompt from the human labels it
got wrong, adopted only when it does better on labels it was not built from.

The judge's verdicts on the labelled calls are compared with the people's; the calls it got
wrong are the material. Graded examples (the evidence the judge reads, the people's verdict)
are chosen from them for coverage — round-robin over the kinds of mistake (the people's verdict
x the call's feature), within a token budget and a count — and put in the prompt (`examples`:
the built-in rubrics of `llm_judge` and its presets, `rag_judge`, `g_eval` and `custom_rubric`
all take them; a new evaluator version, so a new calibration series). A pairwise judge is
refused (`PairwiseJudge.align_refusal` says why). Whether that
helps is measured by k-fold cross-validation: for each fold, examples are chosen from the
other folds' mistakes and the new prompt judges this fold's calls, so every call is judged by
a prompt built without its label. Kappa before and after, each with a bootstrap interval, and
the difference with a paired interval (the same resampled calls for both). The version built
from all mistakes is written into assay.yaml only when the after-interval's lower bound beats
the old kappa, or with `force`.

Every judge call goes through the engine (cache and budget): aligning again costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from assay.assets.judge_compare import (
    JudgeToolError,
    check_judge,
    judge_with_model,
    stored_subjects,
)

from assay.calibration import (
    BINARY_CELLS,
    LABELS_TABLE,
    _binary_figures,
    _resampled,
    binary_series_figures,
    latest_labels,
)
from assay.candidate_config import render_entry
from assay.config import AssayConfig, load_config
from assay.lake import Lake
from assay.llm.engine import LLMEngine

CHARS_PER_TOKEN = 4


@dataclass
class Alignment:
    evaluator: str
    labelled: int
    disagreements: int
    folds: int
    before: dict[str, Any]
    after: dict[str, Any]
    kappa_gain: tuple[float, float, float]
    """(observed, low, high) of kappa after minus before, paired bootstrap over the calls."""
    examples: list[dict[str, Any]]
    example_subjects: list[str]
    old_version: str
    new_version: str
    adopted: bool
    reason: str
    paid_requests: int = 0
    cache_hits: int = 0
    written_to: str | None = None
    fold_examples: list[list[str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _stable(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _tokens(example: dict[str, Any]) -> int:
    return sum(len(str(v)) for v in example.values()) // CHARS_PER_TOKEN + 1


def choose_examples(mistakes: list[tuple[str, dict[str, Any], bool]], judge: Any, *, max_examples: int,
                    token_budget: int) -> list[tuple[str, dict[str, Any]]]:
    """(subject id, example) for a bounded set of the judge's mistakes, chosen for coverage:
    one of each kind (the people's verdict x the feature) in turn, largest kinds first, the
    shortest first within a kind, until the count or the token budget is reached."""
    kinds: dict[tuple[bool, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for sid, subject, human in mistakes:
        kinds[(human, str(subject.get("feature") or ""))].append((sid, judge.example_from(subject, human)))
    queues = [sorted(items, key=lambda item: (_tokens(item[1]), _stable(item[0])))
              for _, items in sorted(kinds.items(), key=lambda kv: (-len(kv[1]), str(kv[0])))]
    chosen, used = [], 0
    while queues and len(chosen) < max_examples:
        for queue in list(queues):
            if len(chosen) >= max_examples:
                break
            sid, example = queue.pop(0)
            if used + _tokens(example) <= token_budget:
                chosen.append((sid, example))
                used += _tokens(example)
            if not queue:
                queues.remove(queue)
    return chosen


def _paired_gain(pairs_before: list[tuple[bool, bool]], pairs_after: list[tuple[bool, bool]], **options: Any):
    per_unit = np.array([[int(b == c) for c in BINARY_CELLS] + [int(a == c) for c in BINARY_CELLS]
                         for b, a in zip(pairs_before, pairs_after, strict=True)], dtype=np.int64)

    def gain(counts: np.ndarray) -> dict[str, np.ndarray]:
        return {"gain": _binary_figures(counts[:, 4:])["cohen_kappa"] - _binary_figures(counts[:, :4])["cohen_kappa"]}

    return _resampled(per_unit, gain, **options)["gain"]


def align_judge(config: AssayConfig, lake: Lake, evaluator: str, engine: LLMEngine, *, folds: int = 5,
                max_examples: int = 4, token_budget: int = 1200, confidence: float = 0.95, resamples: int = 2000,
                seed: int = 20261122) -> Alignment:
    model = check_judge(config, evaluator)
    cfg = next(e for e in config.evaluators if e.name == evaluator)
    from assay.assets.scoring import build_evaluators

    judge = alignable_judge(build_evaluators([cfg], config.judge.model, config.judge.params)[evaluator], cfg.type)
    table = lake.read_table(LABELS_TABLE)
    labels = {sid: v for (sid, name), v in (latest_labels(table.to_pylist()) if table is not None else {}).items()
              if name == evaluator and isinstance(v, bool)}
    subjects = stored_subjects(lake, set(labels))
    ids = sorted(subjects, key=_stable)
    if len(ids) < 2 * folds:
        raise JudgeToolError(f"{len(ids)} labelled calls of {evaluator} in sampled_calls; judge align needs at least "
                             f"{2 * folds} for {folds}-fold validation (`assay labels import`)")
    old = judge_with_model(config, evaluator, model, [subjects[s] for s in ids], engine)
    judged = [s for s in ids if old[s].status == "completed" and old[s].passed is not None]
    mistakes = [s for s in judged if old[s].passed != labels[s]]
    if not mistakes:
        raise JudgeToolError(f"{evaluator} agrees with all {len(judged)} labels it judged: nothing to align")
    existing = list(cfg.params.get("examples") or [])
    options = {"confidence": confidence, "resamples": resamples, "seed": seed}
    fold_of = {s: i % folds for i, s in enumerate(judged)}
    after: dict[str, bool] = {}
    fold_examples = []
    for fold in range(folds):
        train = [(s, subjects[s], labels[s]) for s in mistakes if fold_of[s] != fold]
        chosen = choose_examples(train, judge, max_examples=max_examples, token_budget=token_budget)
        fold_examples.append([sid for sid, _ in chosen])
        held_out = [subjects[s] for s in judged if fold_of[s] == fold]
        params = {"examples": existing + [example for _, example in chosen]}
        for sid, score in judge_with_model(config, evaluator, model, held_out, engine, params=params).items():
            if score.status == "completed" and score.passed is not None:
                after[sid] = bool(score.passed)
    both = [s for s in judged if s in after]
    before_pairs = [(labels[s], bool(old[s].passed)) for s in both]
    after_pairs = [(labels[s], after[s]) for s in both]
    before, after_figures = binary_series_figures(before_pairs, **options), binary_series_figures(after_pairs, **options)
    gain = _paired_gain(before_pairs, after_pairs, **options)
    final = choose_examples([(s, subjects[s], labels[s]) for s in mistakes], judge, max_examples=max_examples,
                            token_budget=token_budget)
    new_params = {**cfg.params, "examples": existing + [example for _, example in final]}
    versions = [build_evaluators([cfg.model_copy(update={"params": p})], config.judge.model)[evaluator].version
                for p in (cfg.params, new_params)]
    low = after_figures["cohen_kappa_low"]
    better = low is not None and before["cohen_kappa"] is not None and low > before["cohen_kappa"]
    reason = (f"held-out kappa interval [{low:.3f}, {after_figures['cohen_kappa_high']:.3f}] lies above the current "
              f"kappa {before['cohen_kappa']:.3f}" if better else
              f"held-out kappa lower bound {low:.3f} does not beat the current kappa {before['cohen_kappa']:.3f}")
    stats = engine.stats
    return Alignment(
        evaluator=evaluator, labelled=len(both), disagreements=len(mistakes), folds=folds, before=before,
        after=after_figures, kappa_gain=gain, examples=new_params["examples"][len(existing):],
        example_subjects=[sid for sid, _ in final], old_version=versions[0], new_version=versions[1], adopted=better,
        reason=reason, paid_requests=stats.completed - stats.cache_hits, cache_hits=stats.cache_hits,
        fold_examples=fold_examples,
    )


def alignable_judge(judge: Any, type_: str) -> Any:
    """The judge, when `judge align` can give it examples; else a JudgeToolError saying why."""
    refusal = getattr(judge, "align_refusal", None)
    if refusal:
        raise JudgeToolError(f"evaluator {judge.name!r} (type {type_}) is not aligned: {refusal}")
    if not callable(getattr(judge, "example_from", None)):
        raise JudgeToolError(f"evaluator {judge.name!r} (type {type_}) takes no graded examples (no `examples` "
                             "param): judge align works on llm_judge (and its presets), rag_judge, g_eval and "
                             "custom_rubric judges")
    return judge


def write_examples(config_file: Path, evaluator: str, examples: list[dict[str, Any]]) -> None:
    """Set the evaluator's `params.examples` in assay.yaml: its list item is rendered again
    (comments inside that item are not kept), every other line stays byte for byte; the new
    file must load as a config that differs from the old in that evaluator's examples only."""
    text = config_file.read_text(encoding="utf-8")
    root = yaml.compose(text)
    node = next((v for k, v in root.value if k.value == "evaluators"), None) if isinstance(root, yaml.MappingNode) else None
    if not isinstance(node, yaml.SequenceNode) or node.flow_style:
        raise JudgeToolError(f"{config_file}: `evaluators` is not a block list; add the examples by hand")
    items = yaml.safe_load(text)["evaluators"]
    index = next(i for i, item in enumerate(items) if item.get("name") == evaluator)
    item_node = node.value[index]
    entry = dict(items[index])
    entry["params"] = {**(entry.get("params") or {}), "examples": examples}
    lines = text.splitlines()
    start = item_node.start_mark.line
    # The item ends where the next token starts: at the start of a line (the next item's dash
    # indented, or the next key), or after the last character on its own line.
    end_line, end_column = item_node.end_mark.line, item_node.end_mark.column
    end = end_line if end_line >= len(lines) or not lines[end_line][:end_column].strip() else end_line + 1
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    new_text = "\n".join([*lines[:start], *render_entry(entry, max(0, item_node.start_mark.column - 2)), *lines[end:]]) + "\n"
    expected = yaml.safe_load(text)
    expected["evaluators"][index] = entry
    if yaml.safe_load(new_text) != expected:
        raise JudgeToolError(f"{config_file}: could not rewrite evaluator {evaluator} safely; add the examples by hand")
    fd, tmp = tempfile.mkstemp(dir=config_file.parent, prefix=".assay-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(new_text)
    try:
        load_config(Path(tmp))
    except Exception:
        os.unlink(tmp)
        raise
    os.replace(tmp, config_file)


def _interval(figures: dict[str, Any]) -> str:
    return f"{figures['cohen_kappa']:.3f} [{figures['cohen_kappa_low']:.3f}, {figures['cohen_kappa_high']:.3f}]"


def alignment_text(a: Alignment, *, confidence: float) -> str:
    gain, low, high = a.kappa_gain
    lines = [
        f"judge align {a.evaluator}: {a.labelled} labelled calls, {a.disagreements} the judge got wrong; "
        f"{a.folds}-fold validation (each call judged by a prompt built without its label)",
        f"  kappa before {_interval(a.before)} ({a.old_version})",
        f"  kappa after  {_interval(a.after)} (held out; examples from the other folds)",
        f"  change {gain:+.3f} [{low:+.3f}, {high:+.3f}] ({confidence:.0%} paired bootstrap)",
        f"  new version {a.new_version} carries {len(a.examples)} example(s):",
    ]
    for sid, example in zip(a.example_subjects, a.examples, strict=True):
        # What was judged: a custom rubric's `output`, else the response (or the last section).
        shown = "output" if "output" in example else "response" if "response" in example else \
            next((k for k in reversed(example) if k not in ("verdict", "reason")), "verdict")
        text = example[shown] if isinstance(example[shown], str) else json.dumps(example[shown], ensure_ascii=False)
        lines.append(f"    - {sid}: {example['verdict']}  {shown}: {text[:70]}{'…' if len(text) > 70 else ''}")
    verdict = "adopted" if a.adopted else "not adopted"
    lines.append(f"  {verdict}: {a.reason}" + (f"; written to {a.written_to}" if a.written_to else ""))
    lines.append(f"  paid requests {a.paid_requests}, cache hits {a.cache_hits}")
    return "\n".join(lines) + "\n"
