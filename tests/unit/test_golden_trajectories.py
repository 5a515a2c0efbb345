"""Golden cases with a conversation (`messages`) and an expected tool trajectory with its match
mode (`evaluators/golden.py`), scored on a replay by `tool_trajectory`."""

from __future__ import annotations

from pathlib import Path

import pytest
from assay.assets.candidate_outputs import case_subject
from assay.evaluators import build_evaluator
from assay.evaluators.golden import GoldenError, load_golden_file

GOLDEN = """\
cases:
- id: g-refund-run
  feature: tool_router
  messages:
  - {role: user, content: "My order 551207 arrived broken."}
  - {role: assistant, content: "Sorry to hear that. Do you want a refund or a replacement?"}
  - {role: user, content: "A refund please."}
  reference_output: Refund issued for order 551207.
  expected_trajectory:
    mode: strict
    arguments: subset
    tools:
    - {name: lookup_order, arguments: {order_id: "551207"}}
    - issue_refund
- id: g-any-order
  input: Check order 1 and order 2.
  reference_output: Both shipped.
  expected_trajectory: [lookup_order, lookup_order]
"""


def _cases(tmp_path: Path, text: str = GOLDEN) -> dict[str, dict]:
    path = tmp_path / "golden.yaml"
    path.write_text(text, encoding="utf-8")
    return {c["case_id"]: c for c in load_golden_file(path, known_assertions=[])}


def test_a_multi_turn_golden_case_with_an_expected_trajectory(tmp_path: Path) -> None:
    case = _cases(tmp_path)["g-refund-run"]
    assert [m["role"] for m in case["input"]] == ["user", "assistant", "user"]
    assert case["metadata"]["expected_trajectory"] == {
        "tools": [{"name": "lookup_order", "arguments": {"order_id": "551207"}}, {"name": "issue_refund"}],
        "mode": "strict", "arguments": "subset"}
    trajectory = build_evaluator("trajectory", "tool_trajectory", {})

    def replay(*tool_calls):
        subject = case_subject(case, {"output_text": None, "tool_calls": list(tool_calls), "status": "completed"})
        [score] = trajectory.evaluate(subject)
        return score

    good = replay({"name": "lookup_order", "arguments": '{"order_id": "551207", "verbose": true}'},
                  {"name": "issue_refund", "arguments": {"order_id": "551207", "amount_usd": 40}})
    assert good.passed is True and good.details["mode"] == "strict"
    wrong_order = replay({"name": "issue_refund", "arguments": {}}, {"name": "lookup_order", "arguments": {"order_id": "551207"}})
    assert wrong_order.passed is False and wrong_order.failure_category == "tool_misuse"
    wrong_argument = replay({"name": "lookup_order", "arguments": {"order_id": "1"}}, {"name": "issue_refund", "arguments": {}})
    assert wrong_argument.passed is False


def test_a_bare_list_is_a_strict_trajectory_by_name(tmp_path: Path) -> None:
    case = _cases(tmp_path)["g-any-order"]
    assert case["metadata"]["expected_trajectory"]["mode"] == "strict"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("    mode: strict\n", "    mode: fuzzy\n", "expected_trajectory.mode"),
        ("    arguments: subset\n", "    arguments: loose\n", "expected_trajectory.arguments"),
        ("    - issue_refund\n", "    - 42\n", "expected_trajectory.tools"),
        ("    mode: strict\n", "    order: strict\n", "expected_trajectory.order"),
    ],
)
def test_a_bad_expected_trajectory_names_the_file_case_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    with pytest.raises(GoldenError) as raised:
        _cases(tmp_path, GOLDEN.replace(old, new))
    message = str(raised.value)
    assert "golden.yaml" in message and "case g-refund-run" in message and f"key {key!r}" in message
