from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import HERE, TOY, make_jsonl
from hegui.corpus.readers import ReadOptions
from hegui.corpus.scan import ScanConfig, ScanError, comparable, language_of, scan

ROOT = HERE.parent.parent


def cfg(**kw) -> ScanConfig:
    read = kw.pop("read", ReadOptions(shard_bytes=4096))
    return ScanConfig(detectors=TOY, read=read, checkpoint_every=kw.pop("checkpoint_every", 100), **kw)


def expected(path: Path) -> dict[str, int]:
    lines = [json.loads(x)["text"] for x in path.read_text(encoding="utf-8").splitlines()]
    seen: set[str] = set()
    dups = 0
    for t in lines:
        dups += t in seen
        seen.add(t)
    return {
        "records": len(lines),
        "harmful": sum("毒药配方" in t for t in lines),
        "pii": sum("联系13" in t for t in lines),
        "dups": dups,
    }


def test_scan_counts_match_the_data(tmp_path: Path) -> None:
    src = tmp_path / "s.jsonl"
    make_jsonl(src, 600)
    exp = expected(src)
    stats = scan([f"web={src}"], tmp_path / "run", cfg(), workers=1)
    s = stats["sources"]["web"]
    assert s["records"] == s["scanned"] == exp["records"]
    assert s["harmful"] == s["risk_harmful"]["A4.a"] == exp["harmful"]
    assert s["pii_records"] == exp["pii"] and s["pii"] == {"phone": exp["pii"]}
    assert s["exact_duplicates"] == exp["dups"] > 0
    assert s["lang"]["zh"] + s["lang"].get("mixed", 0) == exp["records"]
    # per-record findings, one row per record, PII masked in the findings file
    rows = pq.read_table(tmp_path / "run" / "parts").to_pylist()
    assert len(rows) == exp["records"]
    with_pii = [r for r in rows if r["pii"]]
    found = json.loads(with_pii[0]["findings"])
    pii = [f for f in found if f["detector"] == "pii"][0]
    assert "*" in pii["matched"] and pii["rule"] == "phone"


def test_workers_and_shard_sizes_do_not_change_results(tmp_path: Path) -> None:
    src = tmp_path / "corpus"
    src.mkdir()
    make_jsonl(src / "a.jsonl", 700, seed=1)
    make_jsonl(src / "b.jsonl", 300, seed=2)
    (src / "b.jsonl.gz").write_bytes(gzip.compress((src / "b.jsonl").read_bytes()))  # exact copies
    one = scan([str(src)], tmp_path / "r1", cfg(read=ReadOptions(shard_bytes=1 << 20)), workers=1)
    two = scan([str(src)], tmp_path / "r2", cfg(read=ReadOptions(shard_bytes=1 << 20)), workers=2)
    assert comparable(one) == comparable(two)
    small = scan([str(src)], tmp_path / "r3", cfg(read=ReadOptions(shard_bytes=2048)), workers=2)
    # the plan differs (more shards), the statistics do not
    assert comparable(small)["sources"] == comparable(one)["sources"]
    assert one["sources"]["corpus"]["exact_duplicates"] >= 300


def test_bad_input_is_counted_per_source_with_lines(tmp_path: Path) -> None:
    d = tmp_path / "src"
    d.mkdir()
    (d / "a.jsonl").write_text('{"text": "正常"}\n{oops\n{"text": "毒药配方"}\n', encoding="utf-8")
    data = gzip.compress(b"".join(b'{"text": "%d"}\n' % i for i in range(5000)))
    (d / "b.jsonl.gz").write_bytes(data[: len(data) // 2])
    (d / "c.parquet").write_bytes(b"PAR1 not really")
    (d / "d.bin").write_bytes(b"\x00")
    stats = scan([str(d)], tmp_path / "run", cfg(), workers=1)
    s = stats["sources"]["src"]
    assert s["bad_kinds"]["malformed"] == 1
    assert s["bad_kinds"]["corrupt"] == 1
    assert s["bad_kinds"]["unreadable"] == 1
    assert s["bad_kinds"]["unsupported"] == 1
    assert {"file": "a.jsonl", "line": 2, "kind": "malformed"}.items() <= s["issues"][0].items()
    assert s["harmful"] == 1


def test_technical_sample_fraction(tmp_path: Path) -> None:
    src = tmp_path / "s.jsonl"
    make_jsonl(src, 2000)
    s = scan([str(src)], tmp_path / "run", cfg(sample_fraction=0.2), workers=1)["sources"]["s.jsonl"]
    assert s["records"] == 2000
    assert 300 < s["scanned"] < 500
    # duplicates and language still cover every record
    assert sum(s["lang"].values()) == 2000


def test_resume_refuses_other_sources_or_config(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    make_jsonl(a, 50)
    make_jsonl(b, 50)
    scan([str(a)], tmp_path / "run", cfg(), workers=1)
    with pytest.raises(ScanError, match="other sources"):
        scan([str(b)], tmp_path / "run", cfg(), workers=1)
    with pytest.raises(ScanError, match="configuration"):
        scan([str(a)], tmp_path / "run", cfg(sample_fraction=0.5), workers=1)
    # a finished run re-opened gives the same answer without rescanning
    again = scan([str(a)], tmp_path / "run", cfg(), workers=1)
    assert again["sources"]["a.jsonl"]["records"] == 50


def test_language_heuristic() -> None:
    assert language_of("今天天气很好，我们去公园。") == "zh"
    assert language_of("The weather is nice today, let us go to the park.") == "en"
    assert language_of("我们用 Python 写 data pipeline 和 unit tests 吧") == "mixed"
    assert language_of("Привет, как дела у тебя сегодня") == "other"
    assert language_of("12345 !!!") == "other"


def _cli(args: list[str], **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=f"{HERE}{os.pathsep}{ROOT / 'src'}")
    return subprocess.Popen(
        [sys.executable, "-m", "hegui.cli", "corpus", "scan", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def test_sigkill_then_resume_gives_identical_statistics(tmp_path: Path) -> None:
    src = tmp_path / "s.jsonl"
    make_jsonl(src, 12000, seed=3)
    args = [
        f"web={src}",
        "--detectors",
        "toy_detectors:slow_detectors",
        "--workers",
        "2",
        "--shard-mb",
        "1",
        "--checkpoint-every",
        "300",
    ]
    # uninterrupted reference
    ref = _cli([*args, "--out", str(tmp_path / "ref")])
    out, err = ref.communicate(timeout=240)
    assert ref.returncode == 0, err.decode()
    # killed run: SIGKILL the whole process group once a checkpoint is on disk
    run = tmp_path / "run"
    p = _cli([*args, "--out", str(run)], start_new_session=True)
    deadline = time.time() + 120
    killed_mid_way = False
    while time.time() < deadline and p.poll() is None:
        states = (
            [json.loads(f.read_text()) for f in (run / "shards").glob("*.json")]
            if (run / "shards").exists()
            else []
        )
        if any(s["pos"] > 0 for s in states) and not all(s["done"] for s in states):
            os.killpg(p.pid, signal.SIGKILL)
            killed_mid_way = True
            break
        time.sleep(0.05)
    p.wait(timeout=30)
    assert killed_mid_way, "the scan finished before it could be killed"
    time.sleep(0.5)
    assert not (run / "stats.json").exists()
    resumed = _cli([*args, "--out", str(run)])
    out, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err.decode()
    a = json.loads((tmp_path / "ref" / "stats.json").read_text())
    b = json.loads((run / "stats.json").read_text())
    assert comparable(a) == comparable(b)
    assert b["sources"]["web"]["records"] == 12000
    assert pq.read_table(run / "parts").num_rows == 12000  # no record written twice


def test_production_path_uses_the_shared_moderator(tmp_path: Path) -> None:
    """No detector override: the policy's own detectors (lexicon, PII ...) through Moderator."""
    from hegui.moderation.engine import Moderator
    from hegui.policy import default_policy

    try:
        Moderator(default_policy())
    except ModuleNotFoundError as exc:  # a detector module of the engine not merged yet
        pytest.skip(f"moderation engine incomplete: {exc}")
    src = tmp_path / "s.jsonl"
    src.write_text(
        json.dumps({"text": "请联系我 13912345678 或 someone@example.com"}, ensure_ascii=False)
        + "\n"
        + json.dumps({"text": "今天天气不错"}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    s = scan([str(src)], tmp_path / "run", ScanConfig(), workers=1)["sources"]["s.jsonl"]
    assert s["records"] == 2 and s["pii_records"] == 1
    assert sum(s["pii"].values()) >= 2
