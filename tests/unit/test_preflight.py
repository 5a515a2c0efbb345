"""`assay validate-config` checks everything a run will need, and `assay run` refuses a config
it would reject: each problem one line naming the file, line and key, and what is valid."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from assay.orchestration.preflight import check_config

from assay.config import load_config

GOOD = """\
project: {app: travel-bot}
judge: {model: openai/judge-model, params: {api_base: "http://127.0.0.1:9/v1"}}
evaluators:
  - name: no_refusal
    type: refusal
  - name: ref
    type: token_f1
    params: {threshold: 0.3}
candidates:
  - candidate_id: current
    model: openai/model-a
    params: {api_base: "http://127.0.0.1:9/v1"}
    is_baseline: true
  - candidate_id: offline
    recorded: outputs.jsonl
"""


def project(tmp_path: Path, text: str = GOOD, *, recorded: str | None = '{"case_id": "c1", "output": "hi"}\n') -> Path:
    config = tmp_path / "assay.yaml"
    config.write_text(textwrap.dedent(text))
    if recorded is not None:
        (tmp_path / "outputs.jsonl").write_text(recorded)
    return config


def check(config: Path):
    return check_config(load_config(config), config)


def test_a_good_config_passes(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    found = check(project(tmp_path))
    assert (found.errors, found.warnings) == ([], [])


def test_unknown_type_and_param_name_line_key_and_what_is_valid(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    config = project(tmp_path, GOOD.replace("type: refusal", "type: refusl").replace("threshold: 0.3", "threshhold: 0.3"))
    errors = check(config).errors
    assert errors[0].startswith(f"{config}:5: key `evaluators.0.type`: ")
    assert "unknown evaluator type 'refusl'; did you mean 'refusal'?" in errors[0]
    assert errors[1].startswith(f"{config}:8: key `evaluators.1.params.threshhold`: ")
    assert "unknown param(s) threshhold; valid params: threshold" in errors[1]


def test_recorded_files_must_exist_and_parse(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    missing = check(project(tmp_path, recorded=None)).errors
    assert len(missing) == 1 and missing[0].startswith(f"{tmp_path / 'assay.yaml'}:15: key `candidates.1.recorded`:")
    assert "outputs.jsonl: recorded-outputs file not found" in missing[0]
    broken = check(project(tmp_path, recorded='{"case_id": "c1"}\n')).errors
    assert "outputs.jsonl:1: no output" in broken[0]


def test_model_strings_must_name_a_provider_litellm_knows(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    config = project(tmp_path, GOOD.replace("model: openai/model-a", "model: madeup/model-a")
                     .replace("model: openai/judge-model", "model: sim/no-such-judge"))
    errors = check(config).errors
    assert any(e.startswith(f"{config}:2: key `judge.model`: unknown sim model 'sim/no-such-judge'") for e in errors)
    assert any(e.startswith(f"{config}:11: key `candidates.0.model`: litellm does not know the provider of "
                            "'madeup/model-a'") for e in errors)


def test_a_missing_provider_key_is_a_warning_naming_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    found = check(project(tmp_path))
    assert found.errors == []
    (warning,) = found.warnings
    assert warning.startswith("OPENAI_API_KEY is not set: litellm looks for it to call openai/judge-model")
    assert "openai/model-a (candidates.0.model" in warning


def test_golden_files_are_validated(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    config = project(tmp_path, GOOD + "dataset: {golden_dir: golden, redteam_pack: null}\n")
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "a.yaml").write_text("cases:\n- id: g1\n  input: hi\n")
    (error,) = check(config).errors
    assert "a.yaml" in error and "reference_output" in error


@pytest.mark.parametrize("command", ["validate-config", "run"])
def test_the_cli_refuses_with_exit_2_before_any_run(tmp_path, monkeypatch, capsys, command):
    from assay.orchestration.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", "x")
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ASSAY_CONFIG", str(project(tmp_path, GOOD.replace("type: refusal", "type: refusl"))))
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert "key `evaluators.0.type`: unknown evaluator type 'refusl'" in err
    assert not (tmp_path / "home" / "dagster" / "storage").exists()  # no Dagster run was started
