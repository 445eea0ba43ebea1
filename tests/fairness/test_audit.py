"""End to end against a scripted upstream with known injected bias: the audit must find what was
injected, and nothing when nothing was."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hegui.assessment.runner import Endpoint
from hegui.fairness.audit import AuditError, analyse, execute, prepare, run_audit
from hegui.fairness.report import make_report

from .fake_model import FakeModel, ThreadServer

EP = Endpoint(url="http://fake.test/v1", model="fake", retries=0)


def _audit(tmp_path, fake, **kw):
    return run_audit(
        tmp_path / "run", "hiring", EP, progress=False, client_factory=fake.client_factory(), **kw
    )


def _sig(res, **match):
    return [
        c for c in res["comparisons"] if c.get("significant") and all(c[k] == v for k, v in match.items())
    ]


def test_plus_one_for_men_is_detected(tmp_path):
    fake = FakeModel(seed=1, score_bonus={"性别：男": 1.0})
    res = _audit(tmp_path, fake, templates=["resume_score"], attributes=["gender"], units=60)
    hits = _sig(res, metric="score")
    assert [(c["group"], c["value"]) for c in hits] == [("sex", "female")]
    c = hits[0]
    assert c["gap"] < 0 and c["ci_high"] < 0 and c["disadvantaged"] == "variant"
    assert -1.5 < c["gap"] < -0.5  # the injected gap is -1 (rounding and clipping blur it a little)
    assert res["attributes"]["gender"]["verdict"] == "significant gap"
    assert res["verdict"] == "significant gaps found"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unbiased_model_shows_no_significant_gap(tmp_path, seed):
    fake = FakeModel(seed=seed)
    res = _audit(tmp_path, fake, attributes=["gender", "age", "other"], units=60)
    assert res["outcomes"].get("ok", 0) > 0.9 * res["cases"]
    assert _sig(res) == []
    assert res["verdict"] == "no significant gap"
    # the null is not trivial: the answers of a pair do differ
    assert any(c["gap"] not in (0, None) for c in res["comparisons"] if c["metric"] == "score")


def test_a_model_that_echoes_its_prompt_is_inconclusive_not_fair(tmp_path):
    # echoed résumés contain "1分", "5年", "“是”或“否”": none of it may be read as a decision
    fake = FakeModel(seed=3, echo_rate=0.5)
    res = _audit(tmp_path, fake, templates=["resume_score", "shortlist"], attributes=["gender"], units=20)
    from hegui.assessment.runner import read_responses

    run = tmp_path / "run"
    prompts = {c["id"]: c["prompt"] for c in map(json.loads, (run / "cases.jsonl").read_text().splitlines())}
    answers = {k: r.answer for k, r in read_responses(run).items()}
    rows = [json.loads(x) for x in (run / "decisions.jsonl").read_text().splitlines()]
    echoed = [r for r in rows if len(answers[r["id"]]) >= 20 and answers[r["id"]] in prompts[r["id"]]]
    assert len(echoed) > 0.3 * len(rows)
    assert all(r["outcome"] == "unparseable" for r in echoed)
    assert res["decided_share"] < 0.8
    assert res["verdict"] == "inconclusive" and res["attributes"]["gender"]["verdict"] == "inconclusive"
    fair = FakeModel(seed=3)
    res = _audit(tmp_path / "b", fair, templates=["resume_score"], attributes=["gender"], units=20)
    assert res["decided_share"] > 0.9 and res["verdict"] == "no significant gap"


def test_one_region_refused_twenty_points_more_is_detected(tmp_path):
    fake = FakeModel(seed=3, refuse_extra={"籍贯：河南省": 0.2})
    res = _audit(tmp_path, fake, templates=["shortlist"], attributes=["region"], units=108)
    hits = _sig(res)
    assert [(c["metric"], c["value"]) for c in hits] == [("refusal", "henan")]
    assert hits[0]["mean_var"] - hits[0]["mean_ref"] > 0.1


def test_yes_rate_gap_is_detected_with_the_four_fifths_rule(tmp_path):
    fake = FakeModel(seed=4, yes_rate=0.7, no_extra={"年龄：57岁": 0.35})
    res = _audit(tmp_path, fake, templates=["shortlist"], attributes=["age"], units=108)
    hits = _sig(res, metric="selection")
    assert [c["value"] for c in hits] == ["a55_64"]
    assert hits[0]["four_fifths_violated"] and hits[0]["impact_ratio"] < 0.8


def test_resume_asks_nothing_twice(tmp_path):
    fake = FakeModel(seed=5)
    out = tmp_path / "run"
    prepare(out, "hiring", templates=["shortlist"], attributes=["gender"], units=10)
    first = execute(out, EP, progress=False, client_factory=fake.client_factory())
    calls = fake.calls
    assert first["called"] == 40 and calls == 40
    again = execute(out, EP, progress=False, client_factory=fake.client_factory())
    assert again["called"] == 0 and again["cached"] == 40 and fake.calls == calls
    # another pack in the same folder is refused
    with pytest.raises(AuditError, match="holds a run of pack 'hiring'"):
        prepare(out, "lending")


def test_open_ended_findings_and_lexicon(tmp_path):
    # no refusals here: a refused answer has no text, so no finding (it counts as 0)
    fake = FakeModel(seed=6, base_refusal=0.0, text_for={"河南人": "河南人都是骗子，又懒惰又狡猾。"})
    out = tmp_path / "run"
    prepare(out, "describe", attributes=["region"])
    execute(out, EP, progress=False, client_factory=fake.client_factory())
    res = analyse(out)
    henan = [c for c in res["comparisons"] if c["value"] == "henan"]
    by_metric = {c["metric"]: c for c in henan}
    assert by_metric["a2_findings"]["mean_var"] == 1.0 and by_metric["a2_findings"]["mean_ref"] == 0.0
    assert by_metric["stereotype"]["gap"] < 0
    others = [c for c in res["comparisons"] if c["value"] != "henan" and c["metric"] == "stereotype"]
    assert others and all(c["gap"] == 0 for c in others)
    rows = [json.loads(x) for x in (out / "decisions.jsonl").read_text(encoding="utf-8").splitlines()]
    flagged = [r for r in rows if r["extra"].get("a2_findings")]
    assert flagged and all("/henan" in r["id"] for r in flagged)
    assert flagged[0]["extra"]["a2_findings"][0]["risk"] == "A2.d"


def test_report_files(tmp_path):
    fake = FakeModel(seed=7, score_bonus={"性别：男": 1.0})
    _audit(tmp_path, fake, attributes=["gender"], units=40)
    files = make_report(tmp_path / "run", n_boot=500)
    page = files.html.read_text(encoding="utf-8")
    assert "<svg" in page and "http" not in page.split("<body>", 1)[1].split("<svg", 1)[0]
    assert "<script" not in page
    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    assert summary["attributes"]["gender"]["risk"] == "A2.e"
    assert summary["attributes"]["gender"]["verdict"] == "significant gap"


def test_cli_run_report_and_errors(tmp_path):
    from hegui.cli import app

    runner = CliRunner()
    fake = FakeModel(seed=8)
    out = tmp_path / "cli"
    with ThreadServer(fake) as srv:
        r = runner.invoke(
            app,
            [
                "fairness",
                "run",
                "--endpoint",
                srv.url,
                "--pack",
                "hiring",
                "--out",
                str(out),
                "--model",
                "m",
                "--templates",
                "shortlist",
                "--attributes",
                "gender",
                "--limit",
                "40",
                "--no-progress",
            ],
        )
        assert r.exit_code == 0, r.output
        assert "40 prompts" in r.output and "no significant gap" in r.output
    assert (out / "report.html").exists() and (out / "fairness_summary.json").exists()
    r = runner.invoke(app, ["fairness", "report", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["fairness", "run", "--endpoint", "http://x/v1", "--pack", "nope", "--out", str(tmp_path / "x")]
    )
    assert r.exit_code == 2 and "no pack named" in r.output
    r = runner.invoke(
        app, ["fairness", "run", "--endpoint", "x", "--pack", "hiring", "--out", str(tmp_path / "x")]
    )
    assert r.exit_code == 2
    r = runner.invoke(app, ["fairness", "report", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "not a fairness run folder" in r.output


def _simulate(fake, cases, metas, family="audit"):
    """The audit's decision and statistics steps on answers taken straight from the fake (no HTTP),
    so many seeds are affordable."""
    from hegui.fairness.audit import Row, compare_rows, decide_one

    rows = []
    for c in cases:
        ans = fake.answer(c.prompt)
        rows.append(Row(c, decide_one(c, metas[c.template], ans), ans, {}))
    return compare_rows(rows, metas, n_boot=200, family=family)


def _cases(attributes, units):
    from hegui.fairness.audit import _template_meta
    from hegui.fairness.packs import expand_pack, load_pack

    pack = load_pack("hiring")
    cases = expand_pack(pack, units=units, attributes=attributes)
    return cases, {t.id: _template_meta(t) for t in pack.templates}


def test_audit_level_false_positive_rate_is_near_alpha_over_many_seeds():
    # an unbiased model, both hiring templates, three attributes (16 comparisons x 2-3 metrics):
    # with the whole audit as the Holm family, P(any significant finding) <= alpha
    cases, metas = _cases(["gender", "age", "other"], 30)
    n_seeds = 80
    flagged = sum(
        any(c["significant"] for c in _simulate(FakeModel(seed=1000 + s), cases, metas))
        for s in range(n_seeds)
    )
    # alpha = 0.05; measured 0/120 (Holm over discrete tests is conservative), per-test rates are
    # checked to be near alpha in test_stats.py
    assert flagged / n_seeds <= 0.08, flagged / n_seeds
    # per-attribute families are more liberal at the audit level: the reason "audit" is the default
    per_family = sum(
        any(c["significant"] for c in _simulate(FakeModel(seed=1000 + s), cases, metas, "attribute"))
        for s in range(20)
    )
    assert per_family >= flagged * 20 / n_seeds


def test_audit_level_power_for_plus_one_to_men():
    # 51 tests in the whole-audit family: 100 units find the -1 gap in 20/20 seeds (60 units: 14/20)
    cases, metas = _cases(["gender", "age", "other"], 100)
    n_seeds = 20
    found = 0
    for s in range(n_seeds):
        comps = _simulate(FakeModel(seed=2000 + s, score_bonus={"性别：男": 1.0}), cases, metas)
        found += any(c["significant"] and c["value"] == "female" and c["metric"] == "score" for c in comps)
    assert found / n_seeds >= 0.85, found / n_seeds
