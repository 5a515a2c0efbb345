"""A team that only wants to compare models on its own test set: no logs landed, only golden
cases and models behind the local OpenAI-compatible server; one candidate breaks mid-run. The
team also judges its cases with a jury of three judge models: the agreement between the jurors
(Fleiss' kappa) stands beside each verdict in the written reports and in `assay judge
calibration` (issue 19, item 3)."""

from __future__ import annotations

import json

import pytest
import yaml

from assay.testing.llm_server import LLMTestServer
from tests.integration import user_world
from tests.integration.user_world import FAKE_KEY, lake_rows
from tests.support import launcher
from tests.support.cli import user_env

pytestmark = pytest.mark.integration


def test_a_golden_set_alone_compares_models_and_a_broken_candidate_stops_nothing(tmp_path, monkeypatch, capsys):
    """"Compare these models on our test set": no logs landed, only golden cases. One candidate's
    outputs file vanishes after the config was checked: its replay fails, the others are
    decided, and it gets its own decision naming the cause."""
    from assay.orchestration import preflight
    from assay.orchestration.cli import main

    with LLMTestServer(answers={**user_world.SCRIPTED_MODELS, "juror-strict": STRICT}) as server:
        project = tmp_path / "travel-bot"
        config = user_world.write_project(project, server.api_base,
                                          [{"candidate_id": "offline", "recorded": "offline-outputs.jsonl"}])
        with_jury = yaml.safe_load(config.read_text())
        with_jury["evaluators"].append({"name": "agreed", "type": "answers_query", "params": {"jury": JURY},
                                        "applies_to": {"subjects": ["cases"]}})
        config.write_text(yaml.safe_dump(with_jury, sort_keys=False))
        outputs = project / "offline-outputs.jsonl"
        outputs.write_text("".join(json.dumps({"case_id": c["id"], "output": "See My Trips.", "latency_ms": 800,
                                               "cost_usd": 0.0001}) + "\n" for c in user_world.golden_cases()))
        home = tmp_path / "assay-home"
        for key, value in user_env(home, config, OPENAI_API_KEY=FAKE_KEY).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))  # restored after: ensure_home sets it
        monkeypatch.setenv(launcher.DBT_EXECUTABLE_ENV, launcher.dbt_executable())
        checked = preflight.check_config

        def check_then_lose_the_file(*args, **kwargs):
            found = checked(*args, **kwargs)
            outputs.unlink()  # gone after it was checked: the replay step finds nothing
            return found

        monkeypatch.setattr(preflight, "check_config", check_then_lose_the_file)
        monkeypatch.chdir(project)
        assert main(["run"]) == 0
        err = capsys.readouterr().err
        assert "no production logs landed: comparing the candidates on 12 golden" in err
        (failure,) = [line for line in err.splitlines() if "FAIL candidate_job" in line]
        assert "failed at candidate_outputs:" in failure and "recorded-outputs file not found" in failure
        assert "(run " in failure and "full log: " in failure
        assert main(["report", "--format", "json"]) == 0
        decisions = {d["candidate_id"]: d for d in json.loads(capsys.readouterr().out)}
        assert {c: d["verdict"] for c, d in decisions.items()} == {
            "challenger": "approved", "refuser": "rejected", "offline": "insufficient_evidence"}
        reasons = " ".join(decisions["offline"]["reasons"])
        assert "candidate_job run " in reasons and "failed at candidate_outputs:" in reasons, reasons
        assert "recorded-outputs file not found" in reasons, reasons
        assert not lake_rows(home, "raw_calls")
        assert main(["judge", "calibration", "--format", "json"]) == 0
        calibration = json.loads(capsys.readouterr().out)
        assert main(["judge", "calibration", "--scorer", "agreed"]) == 0
        calibration_text = capsys.readouterr().out
    _jury_agreement_beside_the_verdict(home, calibration, calibration_text)


JURY = ["openai/juror-a", "openai/juror-b", "openai/juror-strict"]
STRICT = '{"passed": false, "score": 0.0, "label": "fail", "reason": "never satisfied"}'


def _fleiss_by_hand(ratings: list[list[bool]]) -> float:
    raters, subjects = len(ratings[0]), len(ratings)
    p_pass = sum(map(sum, ratings)) / (subjects * raters)
    agreement = [(sum(r) * (sum(r) - 1) + (raters - sum(r)) * (raters - sum(r) - 1)) / (raters * (raters - 1))
                 for r in ratings]
    p_e = p_pass**2 + (1 - p_pass) ** 2
    if p_e == 1:  # every juror gave one and the same verdict throughout: full agreement
        return 1.0
    return (sum(agreement) / subjects - p_e) / (1 - p_e)


def _jury_agreement_beside_the_verdict(home, calibration: list[dict], calibration_text: str) -> None:
    """juror-a and juror-b read the same prompts from the same server and agree; juror-strict
    fails everything. The figures equal a computation over the jurors' verdicts in the lake."""
    scores = [r for r in lake_rows(home, "candidate_scores") if r["evaluator"] == "agreed"]
    ratings = {cid: [[json.loads(r["details"])["jurors"][m]["passed"] for m in JURY]
                     for r in scores if r["candidate_id"] == cid] for cid in ("current", "challenger", "refuser")}
    assert {cid: len(r) for cid, r in ratings.items()} == {"current": 12, "challenger": 12, "refuser": 12}
    assert all(r[0] == r[1] and r[2] is False for rows in ratings.values() for r in rows)
    reports = {p.stem: p for p in (home / "reports").glob("*/*") if p.suffix in (".md", ".html", ".json")}
    for cid in ("challenger", "refuser"):
        report = json.loads(reports[cid].with_suffix(".json").read_text())
        [jury] = report["jury_agreement"]
        assert (jury["evaluator"], jury["jurors"], jury["jury_reducer"]) == ("agreed", JURY, "majority")
        for side, whose in (("candidate", cid), ("baseline", "current")):
            unanimous = sum(len(set(r)) == 1 for r in ratings[whose]) / 12
            assert (jury[side]["outputs"], jury[side]["unanimous_share"]) == (12, pytest.approx(unanimous))
            assert jury[side]["fleiss_kappa"] == pytest.approx(_fleiss_by_hand(ratings[whose]))
        shown = [f"{jury[side]['fleiss_kappa']:.2f} on the {side}'s 12 outputs (all jurors agree on "
                 f"{jury[side]['unanimous_share']:.0%})" for side in ("candidate", "baseline")]
        sentence = (f"agreed: a jury of 3 ({', '.join(JURY)}; majority); Fleiss' kappa between the jurors "
                    f"{shown[0]}, {shown[1]}")
        markdown = reports[cid].with_suffix(".md").read_text()
        assert f"- {sentence}" in markdown
        assert markdown.index("## Why") < markdown.index("## Jury agreement") < markdown.index("## Gates")
        html = reports[cid].with_suffix(".html").read_text()
        assert sentence.replace("'", "&#x27;") in html
        assert html.index("<h2>Why</h2>") < html.index("<h2>Jury agreement</h2>") < html.index("<h2>Gates</h2>")
    offline = json.loads(reports["offline"].with_suffix(".json").read_text())["jury_agreement"]
    assert offline[0]["candidate"]["outputs"] == 0  # its replay failed: nothing judged, said so
    # `assay judge calibration`: the jury's series carries the jurors' agreement on every output.
    [row] = [r for r in calibration if r["judge_model"] == "jury:" + "+".join(JURY) and r["period"] == "all"]
    everything = [r for rows in ratings.values() for r in rows]
    assert (row["jurors"], row["jury_subjects"]) == (3, 36)
    assert row["jury_fleiss_kappa"] == pytest.approx(_fleiss_by_hand(everything))
    assert f"jury of 3: Fleiss' kappa between jurors {row['jury_fleiss_kappa']:.3f} on 36 subjects" in calibration_text
