from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from hegui.assessment.bank import read_bank
from hegui.assessment.pipeline import execute_run, judge_run, prepare_run, read_judgements
from hegui.assessment.report import compare_runs, find_chromium, make_report, write_keywords_xlsx
from hegui.assessment.review import agreement, export_review, import_review
from hegui.assessment.runner import Endpoint
from hegui.assessment.summary import Evidence, build_summary
from hegui.policy import default_policy

from .conftest import scripted_judges
from .fake_upstream import ThreadServer


def _run(upstream: ThreadServer, bank: Path, run: Path) -> None:
    prepare_run([bank], run, seed=3, generated_size=30, refuse_size=20, non_refuse_size=20)
    execute_run(
        run, Endpoint(url=upstream.url, model="fake"), concurrency=8, progress=False, label="fake model"
    )
    judge_run(run, judges=scripted_judges())


def test_rates_are_exact(upstream: ThreadServer, small_bank: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _run(upstream, small_bank, run)
    items = {it.id: it for it in read_bank(run / "items.jsonl")}
    s = build_summary(run, Evidence(policy=default_policy()))
    by = {x["name"]: x for x in s["samples"]}
    for name in ("gen-manual", "gen-keywords", "gen-classifier"):
        ids = json.loads((run / "samples.json").read_text())["samples"]
        ids = next(x["ids"] for x in ids if x["name"] == name)
        bad = sum("#BAD" in items[i].text for i in ids)
        r = by[name]["rate"]
        assert (r["k"], r["n"]) == (30 - bad, 30)
    assert (by["should-refuse"]["rate"]["k"], by["should-refuse"]["rate"]["n"]) == (18, 20)
    assert (by["should-not-refuse"]["rate"]["k"], by["should-not-refuse"]["rate"]["n"]) == (1, 20)
    # per-risk breakdown: should-refuse alternates A2.a / A1.h; items 0 and 1 (one of each) were answered
    br = by["should-refuse"]["breakdown"]
    assert (br["A1.h"]["k"], br["A1.h"]["n"], br["A2.a"]["k"], br["A2.a"]["n"]) == (9, 10, 9, 10)
    # samples smaller than the standard asks: the clause is 不符合 whatever the rate
    cl = {c["id"]: c for c in s["clauses"]}
    assert cl["should-not-refuse"]["verdict"] == "不符合"
    assert "20题" in cl["should-not-refuse"]["evidence"]
    assert cl["gen-manual"]["verdict"] == "不符合" and "尚未导入人工审核" in cl["gen-manual"]["evidence"]
    assert cl["logging"]["verdict"] == "符合"
    assert cl["complaints"]["verdict"] == "不符合"
    assert s["overall"]["verdict"] == "不符合"


def test_review_round_trip_and_kappa(upstream: ThreadServer, small_bank: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _run(upstream, small_bank, run)
    x = tmp_path / "review.xlsx"
    n = export_review(run, x)
    assert n == 30
    wb = load_workbook(x)
    ws = wb.active
    header = [c.value for c in ws[1]]
    col_id, col_m, col_h = header.index("id"), header.index("机器判定"), header.index("人工判定")
    rows = list(ws.iter_rows(min_row=2))
    machine = [r[col_m].value for r in rows]
    assert set(machine) <= {"pass", "fail"} and "fail" in machine
    # reviewers agree everywhere except: flip the first pass and the first fail; leave the last row blank
    first_pass = machine.index("pass")
    first_fail = machine.index("fail")
    human = []
    for i, r in enumerate(rows[:-1]):
        v = machine[i]
        if i in (first_pass, first_fail):
            v = "fail" if v == "pass" else "pass"
        r[col_h].value = "通过" if v == "pass" else "不通过"
        human.append(v)
    wb.save(x)
    res = import_review(run, x, reviewer="张三")
    assert (res.imported, res.skipped_blank, res.unknown_ids) == (29, 1, [])
    judge_run(run, judges=scripted_judges())
    a = agreement(run)
    m = machine[:-1]
    n = len(m)
    po = sum(p == q for p, q in zip(m, human, strict=True)) / n
    pe = (m.count("pass") / n) * (human.count("pass") / n) + (m.count("fail") / n) * (human.count("fail") / n)
    assert a.n == 29 and a.agree == 27
    assert a.kappa == pytest.approx((po - pe) / (1 - pe))
    # the manual sample is now decided by people
    man = [r.judgement for r in read_judgements(run) if r.sample == "gen-manual"]
    assert sum(j.judge == "manual" for j in man) == 29
    # bad verdict text is an error naming the row
    ws = load_workbook(x).active
    wb2 = load_workbook(x)
    wb2.active.cell(row=2, column=col_h + 1).value = "也许"
    wb2.save(tmp_path / "bad.xlsx")
    with pytest.raises(ValueError, match="row 2"):
        import_review(run, tmp_path / "bad.xlsx")
    assert ws is not None and col_id == 0


def test_report_pack_and_compare(upstream: ThreadServer, small_bank: Path, tmp_path: Path) -> None:
    run_a = tmp_path / "raw"
    run_b = tmp_path / "gw"
    _run(upstream, small_bank, run_a)
    _run(upstream, small_bank, run_b)
    lex = tmp_path / "lex.tsv"
    lex.write_text(
        "term\trisk\tseverity\tvariants\texceptions\ttags\n# comment\n坏词\tA2.e\t2\t\t\t\n测试词\tA1.h\t3\t\t\t\n",
        encoding="utf-8",
    )
    corpus = tmp_path / "corpus_summary.json"
    corpus.write_text(
        json.dumps({"ok": True, "manual_sample": 4000, "manual_pass_rate": 0.97}), encoding="utf-8"
    )
    ev = Evidence(
        policy=default_policy(),
        lexicons=[lex],
        corpus_summary=corpus,
        measures={"complaints": "https://example.org/complaints"},
    )
    files = make_report(run_a, ev, lang="zh", pdf=find_chromium() is not None)
    html = files.html.read_text(encoding="utf-8")
    for text in (
        "安全评估报告",
        "逐条评估结论",
        "法定代表人",
        "合法性评估负责人",
        "符合",
        "不符合",
        "data:image/png;base64",
    ):
        assert text in html
    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    cl = {c["id"]: c for c in summary["clauses"]}
    assert cl["corpus"]["verdict"] == "符合" and cl["complaints"]["verdict"] == "符合"
    assert cl["keywords"]["verdict"] == "不符合" and "关键词2个" in cl["keywords"]["evidence"]
    assert len(files.charts) == 5
    wb = load_workbook(files.keywords_xlsx)
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0] == ("关键词", "一级分类", "二级分类")
    assert ("坏词", "歧视性内容", "性别歧视内容") in rows
    wb = load_workbook(files.test_items_xlsx)
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0][3:7] == ("测试题", "类别", "模型回答", "判定结果")
    assert len(rows) - 1 == 30 * 3 + 20 + 20
    assert {r[6] for r in rows[1:]} == {"合格", "不合格"}
    if files.pdf is not None:
        assert files.pdf.read_bytes()[:5] == b"%PDF-"
    else:
        assert files.pdf_error and "chromium" in files.pdf_error.lower()
    en = make_report(run_a, ev, out_dir=tmp_path / "en", lang="en", pdf=False)
    assert "Clause-by-clause verdicts" in en.html.read_text(encoding="utf-8")

    c = compare_runs(run_a, run_b, out=tmp_path / "cmp")
    assert [r["sample"] for r in c["rows"]] == [
        "gen-manual",
        "gen-keywords",
        "gen-classifier",
        "should-refuse",
        "should-not-refuse",
    ]
    assert all(r["delta"] == 0 for r in c["rows"])  # same upstream, same answers
    assert (tmp_path / "cmp" / "compare.html").exists()


def test_cli_end_to_end(upstream: ThreadServer, small_bank: Path, tmp_path: Path) -> None:
    from hegui.cli import app

    runner = CliRunner()
    run = tmp_path / "run"
    res = runner.invoke(
        app,
        [
            "assess",
            "run",
            "--endpoint",
            upstream.url,
            "--model",
            "fake",
            "--bank",
            str(small_bank),
            "--out",
            str(run),
            "--no-progress",
            "--generated-size",
            "10",
            "--refuse-size",
            "10",
            "--non-refuse-size",
            "10",
            "--label",
            "raw",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "judged" in res.output
    res = runner.invoke(app, ["assess", "report", str(run), "--no-pdf"])
    assert res.exit_code == 0, res.output
    assert (run / "report" / "summary.json").exists() and "overall: 不符合" in res.output
    res = runner.invoke(app, ["assess", "compare", str(run), str(run)])
    assert res.exit_code == 0 and "+0.0%" in res.output
    res = runner.invoke(app, ["assess", "report", str(tmp_path / "nothing"), "--no-pdf"])
    assert res.exit_code == 2 and "not a run folder" in res.output
    res = runner.invoke(
        app, ["assess", "run", "--endpoint", "ftp://x", "--model", "m", "--out", str(tmp_path / "r2")]
    )
    assert res.exit_code == 2


def test_keywords_xlsx_rejects_unknown_risks(tmp_path: Path) -> None:
    lex = tmp_path / "lex.tsv"
    lex.write_text("词\tZ9.q\t2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lex.tsv:1"):
        write_keywords_xlsx([lex], tmp_path / "k.xlsx")


def test_compare_pairs_items_across_sample_sizes(
    upstream: ThreadServer, small_bank: Path, tmp_path: Path
) -> None:
    # the gateway leg is usually a smaller sample with the same seed: compare item for item
    run_a = tmp_path / "raw"
    run_b = tmp_path / "gw"
    _run(upstream, small_bank, run_a)
    prepare_run([small_bank], run_b, seed=3, generated_size=10, refuse_size=8, non_refuse_size=8)
    execute_run(run_b, Endpoint(url=upstream.url, model="fake"), concurrency=8, progress=False, label="gw")
    judge_run(run_b, judges=scripted_judges())
    # B "blocks" one should-not-refuse item A answered and un-refuses one should-refuse item A refused
    lines = [json.loads(x) for x in (run_b / "judgements.jsonl").read_text(encoding="utf-8").splitlines()]
    flipped: dict[str, str] = {}
    for d in lines:
        if d["sample"] == "should-not-refuse" and d["verdict"] == "pass" and "snr" not in flipped:
            d.update(verdict="fail", refused=True)
            flipped["snr"] = d["item_id"]
        if d["sample"] == "should-refuse" and d["verdict"] == "pass" and "sr" not in flipped:
            d.update(verdict="fail", refused=False)
            flipped["sr"] = d["item_id"]
    (run_b / "judgements.jsonl").write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in lines), encoding="utf-8"
    )
    ids_a = {(r.sample, r.judgement.item_id): r.judgement for r in read_judgements(run_a)}
    ids_b = {(r.sample, r.judgement.item_id): r.judgement for r in read_judgements(run_b)}
    c = compare_runs(run_a, run_b, out=tmp_path / "cmp")
    rows = {r["sample"]: r for r in c["rows"]}
    for name, r in rows.items():
        common = [k for k in ids_b if k[0] == name and k in ids_a]
        assert r["n"] == len(common) and r["a"]["n"] == r["b"]["n"] == len(common)
        assert r["a_all"]["n"] == sum(k[0] == name for k in ids_a)
    snr, sr = rows["should-not-refuse"], rows["should-refuse"]
    assert (snr["worse"], snr["better"]) == (1, 0) and snr["b"]["k"] == snr["a"]["k"] + 1
    assert (sr["worse"], sr["better"]) == (1, 0) and sr["b"]["k"] == sr["a"]["k"] - 1
    assert sr["p_mcnemar"] == 1.0
    assert all(r["delta"] == 0 for n, r in rows.items() if n.startswith("gen-"))
    assert any("compared on the" in w for w in c["warnings"])
    html = (tmp_path / "cmp" / "compare.html").read_text(encoding="utf-8")
    assert "配对题数" in html and "McNemar" in html


def test_report_shows_the_fairness_summary_as_a_table(
    upstream: ThreadServer, small_bank: Path, tmp_path: Path
) -> None:
    run = tmp_path / "raw"
    _run(upstream, small_bank, run)
    fs = tmp_path / "fairness_summary.json"
    fs.write_text(
        json.dumps(
            {
                "kind": "hegui.fairness.summary",
                "pack": "hiring",
                "model": "m",
                "cases": 48,
                "alpha": 0.05,
                "correction": "holm",
                "verdict": "inconclusive",
                "decided_share": 0.25,
                "attributes": {
                    "gender": {
                        "risk": "A2.e",
                        "tests": 2,
                        "significant": 0,
                        "verdict": "inconclusive",
                        "decided_share": 0.25,
                        "min_impact_ratio": None,
                        "flagged": [],
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    files = make_report(run, Evidence(policy=default_policy(), fairness_summary=fs), pdf=False)
    html = files.html.read_text(encoding="utf-8")
    assert "A2.e 性别歧视内容" in html and "25%" in html and "inconclusive" in html
    assert '"kind"' not in html  # a table, not a JSON dump
