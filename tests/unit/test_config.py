"""assay.yaml loading: the example loads, and every mistake a user can make ends in one message
that names file:line, the dotted key and what would be valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assay.config import AssayConfig, ConfigError, load_config
from assay.contracts.taxonomy import FAILURE_CATEGORIES

ROOT = Path(__file__).resolve().parents[2]

BASELINE = """\
candidates:
  - candidate_id: prod-v1
    model: sim/support-v1
    is_baseline: true
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "assay.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    # One message for the user, never a traceback or a pydantic dump with URLs.
    assert "Traceback" not in message
    assert "errors.pydantic.dev" not in message
    return message


def _located(message: str, path: Path) -> list[tuple[int, str, str]]:
    """(line, dotted key, text) of each error line `<path>:<line>: key `<key>`: <text>`."""
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+): key `([^`]+)`: (.+)$", re.MULTILINE)
    return [(int(line), key, text) for line, key, text in pattern.findall(message)]


def test_example_project_config_loads():
    config = load_config(ROOT / "assay.yaml")
    assert isinstance(config, AssayConfig)
    assert config.baseline is not None and config.baseline.candidate_id == "prod-v1"
    assert [c.candidate_id for c in config.candidates if not c.is_baseline] == [
        "support-v2",
        "support-lite",
        "support-xl",
    ]
    names = [e.name for e in config.evaluators]
    assert len(names) == len(set(names)) and "faithfulness" in names
    assert config.judge.model == "sim/judge"
    assert config.gate.min_cases == 30


def test_empty_file_gives_defaults(tmp_path):
    config = load_config(_write(tmp_path, ""))
    assert config.sampling.rate == 1.0
    assert config.candidates == [] and config.baseline is None


def test_unknown_key_names_line_key_and_valid_keys(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(tmp_path, "sampling:\n  rate: 0.5\n  rat: 1\n")
    assert _located(message, path) == [
        (
            3,
            "sampling.rat",
            "unknown key; valid keys here: always_include_errors, "
            "always_include_negative_feedback, per_feature, rate",
        )
    ]


def test_unknown_key_inside_a_list_entry(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(tmp_path, "evaluators:\n  - name: a\n    type: regex\n    parms: {}\n")
    ((line, key, text),) = _located(message, path)
    assert (line, key) == (4, "evaluators.0.parms")
    assert "valid keys here:" in text and "params" in text and "applies_to" in text


def test_unknown_top_level_section_lists_sections(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(tmp_path, "project:\n  app: x\nsampl: {}\n")
    ((line, key, text),) = _located(message, path)
    assert (line, key) == (3, "sampl")
    for section in ("candidates", "evaluators", "gate", "judge", "sampling", "slos"):
        assert section in text


def test_wrong_type(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(tmp_path, "project:\n  app: x\njudge:\n  max_concurrency: lots\n")
    ((line, key, text),) = _located(message, path)
    assert (line, key) == (4, "judge.max_concurrency")
    assert "integer" in text


def test_out_of_range_sampling_rate(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(tmp_path, "sampling:\n  rate: 2\n")
    ((line, key, text),) = _located(message, path)
    assert (line, key) == (2, "sampling.rate")
    assert "less than or equal to 1" in text


def test_out_of_range_per_feature_rate(tmp_path):
    message = _error(tmp_path, "sampling:\n  per_feature: {rag_answer: 3}\n")
    assert "per_feature.rag_answer must be between 0 and 1" in message


def test_unknown_failure_category_lists_the_taxonomy(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(
        tmp_path,
        "evaluators:\n  - name: faith\n    type: llm_judge\n    failure_category: hallucinate\n",
    )
    ((line, key, text),) = _located(message, path)
    assert (line, key) == (4, "evaluators.0.failure_category")
    assert "'hallucinate'" in text
    for category in FAILURE_CATEGORIES:
        assert f"'{category}'" in text


def test_two_baselines_refused_naming_both(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(
        tmp_path,
        "project:\n  app: x\n"
        + BASELINE
        + "  - candidate_id: other\n    model: sim/support-v2\n    is_baseline: true\n",
    )
    ((line, key, text),) = _located(message, path)
    assert key == "candidates"
    assert line in (3, 4)  # the `candidates:` section, not line 1 / "(top level)"
    assert "exactly one candidate must have is_baseline: true" in text
    assert "found 2: prod-v1, other" in text


def test_no_baseline_refused(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(tmp_path, "candidates:\n  - candidate_id: a\n    model: sim/support-v2\n")
    ((_, key, text),) = _located(message, path)
    assert key == "candidates"
    assert "found 0: none" in text


def test_duplicate_candidate_ids_refused(tmp_path):
    message = _error(tmp_path, BASELINE + "  - candidate_id: prod-v1\n    model: sim/support-v2\n")
    assert "candidate ids must be unique; repeated: prod-v1" in message


def test_duplicate_evaluator_names_refused(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(
        tmp_path,
        "evaluators:\n  - name: check\n    type: regex\n  - name: check\n    type: length\n",
    )
    ((_, key, text),) = _located(message, path)
    assert key == "evaluators"
    assert "evaluator names must be unique; repeated: check" in text


@pytest.mark.parametrize("bad_id", ["a|b", "a[1]", "Prod", "-lead", ""])
def test_candidate_id_must_be_a_safe_partition_key(tmp_path, bad_id):
    path = tmp_path / "assay.yaml"
    message = _error(
        tmp_path,
        f"candidates:\n  - candidate_id: '{bad_id}'\n    model: sim/x\n    is_baseline: true\n",
    )
    ((line, key, text),) = _located(message, path)
    assert (line, key) == (2, "candidates.0.candidate_id")
    assert "pattern" in text and "[a-z0-9._-]" in text


def test_api_key_in_candidate_params_refused(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(
        tmp_path,
        BASELINE + "    params: {api_key: sk-live-123, temperature: 0}\n",
    )
    ((line, key, text),) = _located(message, path)
    assert (line, key) == (5, "candidates.0.params")
    assert "api_key must come from the environment" in text
    assert "sk-live-123" not in message  # the secret is not echoed back


def test_invalid_yaml_names_its_line(tmp_path):
    path = _write(tmp_path, "project:\n  app: x\n  name: y\n bad: z\nsampling: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:4: not valid YAML")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path):
    message = _error(tmp_path, "- sampling\n- judge\n")
    assert "top level must be a mapping" in message


def test_several_errors_are_reported_together(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(tmp_path, "sampling:\n  rate: 2\njudge:\n  timeout_s: -1\n")
    keys = [key for _, key, _ in _located(message, path)]
    assert keys == ["sampling.rate", "judge.timeout_s"]


def test_judge_engine_keys_are_checked_and_named(tmp_path):
    path = tmp_path / "assay.yaml"
    message = _error(
        tmp_path,
        "judge:\n  worker_processes: -1\n  deadline_s: 0\n  per_model:\n    openai/gpt-4o-mini:\n"
        "      requests_per_minut: 60\n",
    )
    keys = [key for _, key, _ in _located(message, path)]
    assert sorted(keys) == [
        "judge.deadline_s",
        "judge.per_model.openai/gpt-4o-mini.requests_per_minut",
        "judge.worker_processes",
    ]
    assert "requests_per_minute" in message  # the valid keys are listed


def test_judge_engine_keys_load(tmp_path):
    config = load_config(
        _write(
            tmp_path,
            "judge:\n  requests_per_minute: 500\n  tokens_per_minute: 200000\n  budget_per_day_usd: 20\n"
            "  deadline_s: 3600\n  worker_processes: 2\n  per_model:\n    openai/gpt-4o:\n      max_concurrency: 4\n",
        )
    )
    assert config.judge.per_model["openai/gpt-4o"].max_concurrency == 4
    assert config.judge.budget_per_day_usd == 20 and config.judge.worker_processes == 2
