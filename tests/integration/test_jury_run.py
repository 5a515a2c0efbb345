"""Issue 19, item 3 on a real run: a team judges its golden set with a jury of three judge
models behind the local OpenAI-compatible server; `assay run` decides, and the agreement between
the jurors (Fleiss' kappa) stands beside the verdict in the written Markdown, HTML and JSON
reports, and in `assay judge calibration`, equal to an independent computation over the
jurors' verdicts the lake kept."""

from __future__ import annotations

import json

import pytest
import yaml

from assay.testing.llm_server import Faults, LLMTestServer
from tests.integration import user_world
from tests.integration.user_world import FAKE_KEY, lake_rows
from tests.support.cli import assay, user_env

pytestmark = pytest.mark.integration

JURY = ["openai/juror-a", "openai/juror-b", "openai/juror-strict"]
FAIL = '{"passed": false, "score": 0.0, "label": "fail", "reason": "does not answer"}'
PASS = '{"passed": true, "score": 1.0, "label": "pass", "reason": "answers the question"}'


def _config(api_base: str) -> str:
    models = {"current": "openai/model-current", "challenger": "openai/model-challenger"}
    return yaml.safe_dump({
        "project": {"app": "travel-bot"},
        "judge": {"model": "openai/judge-model", "params": {"api_base": api_base}, "max_concurrency": 8,
                  "timeout_s": 10, "max_retries": 1, "budget_usd": 1.0},
        "evaluators": [
            {"name": "helpful", "type": "answers_query", "params": {"jury": JURY, "jury_reducer": "majority"}},
        ],
        "dataset": {"golden_dir": "golden", "redteam_pack": None},
        "pricing": {m: user_world.PRICE for m in models.values()},
        "candidates": [{"candidate_id": cid, "model": model, "params": {"api_base": api_base},
                        "is_baseline": cid == "current"} for cid, model in models.items()],
        "gate": {"min_cases": 10, "quality_margin": 0.05, "bootstrap_resamples": 500},
    }, sort_keys=False)


def _fleiss_by_hand(ratings: list[list[bool]]) -> float:
    raters, subjects = len(ratings[0]), len(ratings)
    p_pass = sum(map(sum, ratings)) / (subjects * raters)
    agreement = [(sum(r) * (sum(r) - 1) + (raters - sum(r)) * (raters - sum(r) - 1)) / (raters * (raters - 1))
                 for r in ratings]
    p_e = p_pass**2 + (1 - p_pass) ** 2
    return (sum(agreement) / subjects - p_e) / (1 - p_e)


def test_a_jury_reports_its_jurors_agreement_beside_the_verdict(tmp_path):
    # juror-a and juror-b fail the answers about bags and pass the rest; juror-strict fails all.
    rules = [{"when": r"UNTRUSTED response \w+>>>\n[^\n]*bags", "reply": FAIL},
             {"when": r"UNTRUSTED response \w+>>>", "reply": PASS}]
    with LLMTestServer(Faults(rules=rules), answers={**user_world.SCRIPTED_MODELS, "juror-strict": FAIL},
                       in_subprocess=True) as server:
        project = tmp_path / "travel-bot"
        (project / "golden").mkdir(parents=True)
        (project / "golden" / "travel.yaml").write_text(yaml.safe_dump({"cases": user_world.golden_cases()}))
        config = project / "assay.yaml"
        config.write_text(_config(server.api_base))
        home = tmp_path / "assay-home"
        env = user_env(home, config, OPENAI_API_KEY=FAKE_KEY)
        ran = assay("run", cwd=project, env=env)
        assert ran.returncode == 0, ran.stderr
        calibration = assay("judge", "calibration", "--format", "json", cwd=project, env=env)
        text = assay("judge", "calibration", "--scorer", "helpful", cwd=project, env=env)
    assert calibration.returncode == 0 and text.returncode == 0, calibration.stderr + text.stderr

    scores = [r for r in lake_rows(home, "candidate_scores") if r["evaluator"] == "helpful"]
    ratings = {cid: [[json.loads(r["details"])["jurors"][m]["passed"] for m in JURY]
                     for r in scores if r["candidate_id"] == cid] for cid in ("current", "challenger")}
    assert {cid: len(r) for cid, r in ratings.items()} == {"current": 12, "challenger": 12}
    assert sum(r[0] is False for r in ratings["challenger"]) == 1  # the one question about bags
    kappa = _fleiss_by_hand(ratings["challenger"])
    assert kappa == pytest.approx(_fleiss_by_hand(ratings["current"]))  # the two models answer alike

    [decision] = [d for d in lake_rows(home, "deploy_decisions") if d["candidate_id"] == "challenger"]
    report = json.loads((home / "reports").glob("*/challenger.json").__next__().read_text())
    assert report["decision"]["verdict"] == decision["verdict"]
    [jury] = report["jury_agreement"]
    assert (jury["evaluator"], jury["jurors"], jury["jury_reducer"]) == ("helpful", JURY, "majority")
    for side, cid in (("candidate", "challenger"), ("baseline", "current")):
        assert jury[side]["outputs"] == 12
        assert jury[side]["fleiss_kappa"] == pytest.approx(_fleiss_by_hand(ratings[cid]))
        assert jury[side]["unanimous_share"] == pytest.approx(1 / 12)  # only the bags answer: all fail
    sentence = (f"helpful: a jury of 3 ({', '.join(JURY)}; majority); Fleiss' kappa between the jurors "
                f"{kappa:.2f} on the candidate's 12 outputs (all jurors agree on 8%), {kappa:.2f} on the "
                "baseline's 12 outputs (all jurors agree on 8%)")
    markdown = (home / "reports").glob("*/challenger.md").__next__().read_text()
    verdict_line, why = markdown.index("# Deploy decision: challenger"), markdown.index("## Why")
    assert verdict_line < why < markdown.index("## Jury agreement") < markdown.index("## Gates")
    assert f"- {sentence}" in markdown
    html = (home / "reports").glob("*/challenger.html").__next__().read_text()
    assert "<h2>Jury agreement</h2>" in html and sentence.replace("'", "&#x27;") in html
    assert html.index("<h2>Why</h2>") < html.index("<h2>Jury agreement</h2>") < html.index("<h2>Gates</h2>")

    # `assay judge calibration`: the jury's series carries the same agreement over both sides'
    # 24 outputs; each juror is a series of its own.
    [row] = [r for r in json.loads(calibration.stdout)
             if r["judge_model"] == "jury:" + "+".join(JURY) and r["period"] == "all"]
    assert (row["jurors"], row["jury_subjects"]) == (3, 24)
    assert row["jury_fleiss_kappa"] == pytest.approx(_fleiss_by_hand(ratings["current"] + ratings["challenger"]))
    assert f"jury of 3: Fleiss' kappa between jurors {row['jury_fleiss_kappa']:.3f} on 24 subjects" in text.stdout
