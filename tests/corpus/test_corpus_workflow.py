"""The steps after the scan: near duplicates, verdicts, sample/review round trip, clean, ledger,
annotation QA and the report (toy detectors; invented text)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from conftest import TOY, make_jsonl, sentence
from hegui.corpus.readers import ReadOptions
from hegui.corpus.scan import NearDup, ScanConfig, scan


def cfg(**kw) -> ScanConfig:
    return ScanConfig(detectors=TOY, read=ReadOptions(shard_bytes=4096), checkpoint_every=100, **kw)


def test_near_duplicates_are_found_and_distinct_texts_are_not() -> None:
    rng = random.Random(4)
    nd = NearDup(64, 0.8, 3, 4000)
    base = "".join(sentence(rng, 40) for _ in range(3))
    edited = base[:100] + "改动" + base[102:]
    other = "".join(sentence(random.Random(9), 40) for _ in range(3))
    assert len(set(nd.band_keys(base)) & set(nd.band_keys(edited))) > 0
    assert not set(nd.band_keys(base)) & set(nd.band_keys(other))
    assert nd.band_keys(base) == nd.band_keys(base + "  \n")  # whitespace does not count
    assert len(nd.band_keys("")) == len(nd.band_keys("短")) == nd.bands


def test_near_duplicates_counted_in_the_scan(tmp_path: Path) -> None:
    rng = random.Random(2)
    lines = []
    for i in range(300):
        t = "".join(sentence(rng, 30) for _ in range(2))
        lines.append(t)
        if i % 10 == 0:
            lines.append(t[:-2] + "呀呀")  # one small edit: a near duplicate, not an exact one
    src = tmp_path / "n.jsonl"
    src.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in lines), "utf-8")
    s = scan([str(src)], tmp_path / "run", cfg(), workers=1)["sources"]["n.jsonl"]
    assert s["exact_duplicates"] == 0
    assert 25 <= s["near_duplicates"] <= 40


def test_sample_export_and_review_import_round_trip(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from hegui.corpus.verdicts import ReviewError, draw_sample, export_sample, import_review

    src = tmp_path / "s.jsonl"
    make_jsonl(src, 500)
    scan([str(src)], tmp_path / "run", cfg(), workers=1)
    rows = draw_sample(tmp_path / "run", 200, seed=5)
    assert len(rows) == 200 and len({r["uid"] for r in rows}) == 200
    assert rows == draw_sample(tmp_path / "run", 200, seed=5)
    assert rows != draw_sample(tmp_path / "run", 200, seed=6)
    assert all(r["text"] for r in rows)
    xlsx = export_sample(rows, tmp_path / "sample.xlsx")
    wb = load_workbook(xlsx)
    ws = wb["sample"]
    header = [c.value for c in ws[1]]
    vcol = header.index("verdict") + 1
    for r in range(2, ws.max_row + 1):
        ws.cell(row=r, column=vcol).value = "不合格" if r % 20 == 0 else "合格"
    wb.save(tmp_path / "reviewed.xlsx")
    res = import_review(tmp_path / "reviewed.xlsx", rows, required_size=200)
    assert (res.reviewed, res.passed) == (200, 190) and res.verdict == "fail"  # 95 % < 96 %
    assert import_review(tmp_path / "reviewed.xlsx", rows, required_size=400).verdict == "incomplete"
    ws.cell(row=3, column=vcol).value = "maybe"
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(ReviewError, match="row 3"):
        import_review(tmp_path / "bad.xlsx", rows, required_size=200)


def test_clean_removes_harmful_masks_pii_and_explains(tmp_path: Path) -> None:
    from hegui.corpus.clean import clean

    src = tmp_path / "s.jsonl"
    counts = make_jsonl(src, 300, dup_every=0)
    with src.open("a", encoding="utf-8") as f:
        f.write("{broken\n")
    res = clean([str(src)], tmp_path / "out", cfg(), workers=1)
    assert res.removed == counts["harmful"] + 1
    assert res.removed_by_reason["bad:malformed"] == 1
    assert res.kept == 300 - counts["harmful"]
    # the file was split into byte-range shards: one output part per shard, in order
    parts = sorted((tmp_path / "out" / "s.jsonl").glob("s.part-*.jsonl"))
    assert len(parts) > 1
    out = "".join(p.read_text(encoding="utf-8") for p in parts)
    assert len(out.splitlines()) == res.kept
    assert "毒药配方" not in out and "联系" in out  # PII records kept, masked
    assert not re.search(r"1[3-9]\d{9}", out)  # every phone number masked
    removed = [json.loads(x) for x in (tmp_path / "out" / "removed.jsonl").read_text("utf-8").splitlines()]
    assert len(removed) == res.removed and {r["reason"].split(":")[0] for r in removed} >= {"bad input"}
    # one key per set of risks, whatever order the detectors reported them in
    keys = [k for k in res.removed_by_reason if not k.startswith("bad:")]
    assert all(k.split(": ", 1)[1] == ",".join(sorted(k.split(": ", 1)[1].split(","))) for k in keys)


def test_ledger_errors_per_kind(tmp_path: Path) -> None:
    from hegui.corpus.ledger import load_ledger

    p = tmp_path / "ledger.csv"
    common = "2025-01-01,zh,text,1 GB"
    p.write_text(
        "name,kind,collection_date,language,modality,size,licence,contract_ref,authorisation_record,"
        "opt_out_respected,pi_consent_basis,generating_model,generation_date,robots_respected\n"
        f"a,open-source,{common},,,,,none,,,\n"
        f"b,commercial,{common},,,,,none,,,\n"
        f"c,user-input,{common},,,,no,consent,,,\n"
        f"d,synthetic,{common},,,,,none,m1,,\n"
        f"e,自采,{common},,,,,none,,,否\n"
        f"f,open-source,{common},MIT,,,,none,,,\n",
        encoding="utf-8",
    )
    rep = load_ledger(p)
    errs = {(e.source, e.field) for e in rep.errors}
    assert errs == {
        ("a", "licence"),
        ("b", "contract_ref"),
        ("c", "authorisation_record"),
        ("c", "opt_out_respected"),
        ("d", "generation_date"),
        ("e", "robots_respected"),
    }
    assert not rep.ok


def test_annotation_self_review_and_batch_verdicts(tmp_path: Path) -> None:
    from hegui.corpus.annotation import Label, audit_rules, check_assignment, verify_batches

    assert audit_rules().ok and len(audit_rules().covered) == 31
    labels = [
        Label(item_id=f"b{b}-{i}", batch=f"b{b}", label="safe", annotator="x", reviewer="y")
        for b in (1, 2)
        for i in range(60)
    ]
    labels.append(Label(item_id="b2-x", batch="b2", label="A2.d", annotator="y", reviewer="y"))
    rep = check_assignment(labels)
    assert not rep.ok and any("own label" in p.message for p in rep.problems)
    verified = [{"item_id": f"b1-{i}", "verified_label": "safe"} for i in range(50)]
    verified += [{"item_id": f"b2-{i}", "verified_label": "safe" if i % 5 else "A2.d"} for i in range(50)]
    got = {v.batch: v.verdict for v in verify_batches(labels, verified)}
    assert got == {"b1": "pass", "b2": "fail"}


def test_report_writes_html_and_summary(tmp_path: Path) -> None:
    from hegui.corpus.report import write_report

    src = tmp_path / "s.jsonl"
    make_jsonl(src, 300)
    scan([f"web={src}"], tmp_path / "run", cfg(), workers=1)
    html, summary = write_report(tmp_path / "run")
    page = Path(html).read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 3 and "web" in page
    data = json.loads(Path(summary).read_text(encoding="utf-8"))
    assert data["schema"] == "hegui.corpus/1"
    assert data["totals"]["records"] == 300
    five = next(c for c in data["clauses"] if c["id"] == "training-data.source-harmful-5pct")
    assert five["evidence"]["web"]["rule"] == "fail"  # 10 % toy-harmful
