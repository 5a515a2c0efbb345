"""The gate's settings in assay.yaml: the error ceiling (and its old name, still read), a
gate's own limit or `null` to turn it off, confirm_regressions; a bad value names its line."""

from __future__ import annotations

import pytest

from assay.config import ConfigError, SloConfig, load_config


def _gate(tmp_path, text: str):
    path = tmp_path / "assay.yaml"
    path.write_text(f"slos:\n  latency_p95_ms: 2000\n  cost_per_request_usd: 0.003\ngate:\n{text}", encoding="utf-8")
    return load_config(path).gate


def test_a_users_old_max_judge_error_share_is_still_read(tmp_path):
    assert _gate(tmp_path, "  max_judge_error_share: 0.2\n").max_error_share == 0.2
    # The new name wins where both are given.
    assert _gate(tmp_path, "  max_judge_error_share: 0.2\n  max_error_share: 0.05\n").max_error_share == 0.05
    assert _gate(tmp_path, "  min_cases: 30\n").max_error_share == 0.1


def test_gate_limits_default_to_the_slos_and_null_turns_a_gate_off(tmp_path):
    slos = SloConfig(latency_p95_ms=2000, cost_per_request_usd=0.003)
    gate = _gate(tmp_path, "  confirm_regressions: 2\n")
    assert (gate.limit("latency_p95_ms", slos), gate.limit("cost_per_request_usd", slos)) == (2000, 0.003)
    assert gate.confirm_regressions == 2
    gate = _gate(tmp_path, "  cost_per_request_usd: null\n  latency_p95_ms: 1500\n")
    assert gate.limit("cost_per_request_usd", slos) is None and gate.limit("latency_p95_ms", slos) == 1500


@pytest.mark.parametrize(("text", "key"), [
    ("  cost_per_request_usd: free\n", "gate.cost_per_request_usd"),
    ("  latency_p95_ms: -5\n", "gate.latency_p95_ms"),
    ("  max_error_share: 2\n", "gate.max_error_share"),
    ("  confirm_regressions: -1\n", "gate.confirm_regressions"),
])
def test_a_bad_gate_value_names_its_line_and_what_is_valid(tmp_path, text, key):
    with pytest.raises(ConfigError) as raised:
        _gate(tmp_path, text)
    message = str(raised.value)
    assert f"assay.yaml:5: key `{key}`" in message
    if "usd" in key or "ms" in key:
        assert "a number > 0, `slo` (the slos section's value) or null (gate off)" in message
