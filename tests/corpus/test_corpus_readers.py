from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from hegui.corpus.readers import (
    Bad,
    ReadOptions,
    Record,
    detect_encoding,
    extract_text,
    iter_records,
    plan_source,
    read_shard,
)

LINES = [{"text": f"第{i}条记录，内容{i * 7}"} for i in range(50)]


def _jsonl_bytes(rows=LINES, enc="utf-8") -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(enc)


def items(path: Path, opts: ReadOptions | None = None) -> tuple[list[Record], list[Bad]]:
    recs, bads = [], []
    for _, it in iter_records(path, opts):
        (recs if isinstance(it, Record) else bads).append(it)
    return recs, bads


def texts(recs: list[Record]) -> list[str]:
    return [r.text for r in recs]


EXPECTED = [r["text"] for r in LINES]


@pytest.mark.parametrize(
    "name,writer",
    [
        ("a.jsonl", lambda p: p.write_bytes(_jsonl_bytes())),
        ("a.jsonl.gz", lambda p: p.write_bytes(gzip.compress(_jsonl_bytes()))),
        ("a.jsonl.zst", lambda p: p.write_bytes(zstandard.ZstdCompressor().compress(_jsonl_bytes()))),
        ("a.json", lambda p: p.write_text(json.dumps(LINES, ensure_ascii=False), encoding="utf-8")),
        (
            "b.json",
            lambda p: p.write_text(
                json.dumps({"meta": {"v": 1}, "data": LINES}, ensure_ascii=False), encoding="utf-8"
            ),
        ),
        ("a.json.gz", lambda p: p.write_bytes(gzip.compress(json.dumps(LINES, ensure_ascii=False).encode()))),
        ("a.txt", lambda p: p.write_text("".join(r["text"] + "\n" for r in LINES), encoding="utf-8")),
        (
            "a.txt.zst",
            lambda p: p.write_bytes(
                zstandard.ZstdCompressor().compress("".join(r["text"] + "\n" for r in LINES).encode())
            ),
        ),
    ],
)
def test_each_format_reads_all_records(tmp_path: Path, name: str, writer) -> None:
    p = tmp_path / name
    writer(p)
    recs, bads = items(p)
    assert bads == []
    assert texts(recs) == EXPECTED


def test_csv_with_bom_multiline_and_tsv(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_bytes(b"\xef\xbb\xbf" + 'id,TEXT\n1,"第一行\n第二行"\n2,普通\n3,"带,逗号"\n'.encode())
    recs, bads = items(p)
    assert bads == []
    assert texts(recs) == ["第一行\n第二行", "普通", "带,逗号"]
    assert [r.key for r in recs] == [2, 4, 5]  # line where each row starts
    t = tmp_path / "a.tsv"
    t.write_text("id\ttext\n1\t甲\n2\t乙\n", encoding="utf-8")
    assert texts(items(t)[0]) == ["甲", "乙"]


def test_parquet_row_groups_are_shards(tmp_path: Path) -> None:
    p = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": list(range(50)), "content": EXPECTED}), p, row_group_size=20)
    shards, _ = plan_source("s", p, ReadOptions())
    assert [s.kind for s in shards] == ["rowgroup"] * 3
    recs, bads = items(p)
    assert bads == [] and texts(recs) == EXPECTED
    assert recs[-1].key == 50


def test_folder_mixes_formats_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.jsonl").write_bytes(_jsonl_bytes(LINES[:2]))
    (tmp_path / "sub" / "c.txt").write_text("丙\n", encoding="utf-8")
    (tmp_path / "a.csv").write_text("text\n甲\n", encoding="utf-8")
    (tmp_path / "notes.docx").write_bytes(b"x")
    shards, skipped = plan_source("s", tmp_path, ReadOptions())
    assert [s.rel for s in shards] == ["a.csv", "b.jsonl", "sub/c.txt"]
    assert skipped[0]["file"] == "notes.docx" and skipped[0]["kind"] == "unsupported"
    recs, _ = items(tmp_path)
    assert texts(recs) == ["甲", EXPECTED[0], EXPECTED[1], "丙"]


def test_encoding_detection() -> None:
    zh = "中文内容测试".encode()
    assert detect_encoding(b"\xef\xbb\xbf" + zh) == "utf-8-sig"
    assert detect_encoding(zh) == "utf-8"
    assert detect_encoding(zh[:-1]) == "utf-8"  # a character cut at the end of the head is fine
    assert detect_encoding("中文内容测试".encode("gb18030")) == "gb18030"


def test_gb18030_and_bom_files(tmp_path: Path) -> None:
    g = tmp_path / "g.jsonl"
    g.write_bytes(_jsonl_bytes(enc="gb18030"))
    recs, bads = items(g)
    assert bads == [] and texts(recs) == EXPECTED
    b = tmp_path / "b.txt"
    b.write_bytes(b"\xef\xbb\xbf" + "甲\n乙\n".encode())
    assert texts(items(b)[0]) == ["甲", "乙"]
    gj = tmp_path / "g.json"
    gj.write_bytes(json.dumps(LINES, ensure_ascii=False).encode("gb18030"))
    assert texts(items(gj)[0]) == EXPECTED


# ------------------------------------------------------------------ bad input


def test_malformed_json_lines_are_counted_with_line_numbers(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "好"}\n{"text": 坏}\n\n{"other": 1}\n[1, 2]\n{"text": "也好"}\n', encoding="utf-8")
    recs, bads = items(p)
    assert texts(recs) == ["好", "也好"]
    real = [(b.line, b.kind) for b in bads if b.kind != "empty"]
    assert real == [(2, "malformed"), (4, "no-text"), (5, "no-text")]


def test_corrupt_gzip_keeps_what_was_read(tmp_path: Path) -> None:
    data = gzip.compress(_jsonl_bytes(LINES * 200))
    p = tmp_path / "a.jsonl.gz"
    p.write_bytes(data[: len(data) // 2])  # truncated stream
    recs, bads = items(p)
    assert 0 < len(recs) < len(LINES) * 200
    assert len(bads) == 1 and bads[0].kind == "corrupt" and bads[0].fatal
    q = tmp_path / "b.jsonl.gz"
    half = len(data) // 2
    q.write_bytes(data[:half] + b"\x00garbage" * 50 + data[half:])  # damaged in the middle
    recs2, bads2 = items(q)
    assert len(recs2) > 0
    assert [b.kind for b in bads2 if b.fatal] == ["corrupt"]


def test_not_gzip_at_all(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl.gz"
    p.write_bytes(b"this is not gzip")
    recs, bads = items(p)
    assert recs == [] and bads[0].kind in ("unreadable", "corrupt")


def test_truncated_zstd(tmp_path: Path) -> None:
    import random

    rng = random.Random(1)
    rows = [{"text": f"记录{rng.random()}"} for _ in range(40000)]  # poorly compressible
    data = zstandard.ZstdCompressor().compress(_jsonl_bytes(rows))
    p = tmp_path / "a.jsonl.zst"
    p.write_bytes(data[: len(data) // 2])
    recs, bads = items(p)
    assert 1000 < len(recs) < len(rows)
    assert [b.kind for b in bads if b.fatal] == ["corrupt"]


def test_truncated_parquet(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": EXPECTED}), good)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(good.read_bytes()[:-40])
    recs, bads = items(bad)
    assert recs == [] and bads[0].kind == "unreadable" and "Parquet" in bads[0].message


def test_mixed_encodings_per_line(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    p.write_bytes(
        _jsonl_bytes(LINES[:3])
        + _jsonl_bytes([{"text": "国标编码的一行"}], "gb18030")
        + b'{"text": "\xff\xfe broken"}\n'
        + _jsonl_bytes(LINES[3:5])
    )
    recs, bads = items(p)
    assert texts(recs)[:4] == [*EXPECTED[:3], "国标编码的一行"]
    notes = {n.line: n for r in recs for n in r.notes}
    assert notes[4].kind == "encoding" and "gb18030" in notes[4].message and notes[4].recovered
    assert notes[5].recovered  # undecodable bytes replaced, record kept and reported
    assert len(recs) == 7 and bads == []


def test_50mb_line_is_skipped_without_stopping(tmp_path: Path) -> None:
    p = tmp_path / "big.jsonl"
    with open(p, "wb") as f:
        f.write(_jsonl_bytes(LINES[:2]))
        f.write(b'{"text": "' + "长".encode() * (50 * 1024 * 1024 // 3) + b'"}\n')
        f.write(_jsonl_bytes(LINES[2:4]))
    recs, bads = items(p, ReadOptions(max_record_bytes=1 << 20))
    assert texts(recs) == EXPECTED[:4]
    assert [(b.line, b.kind) for b in bads] == [(3, "oversized")]
    assert recs[2].key == 4


def test_50mb_string_in_json_array_and_csv(tmp_path: Path) -> None:
    huge = "长" * (50 * 1024 * 1024 // 3)
    p = tmp_path / "a.json"
    p.write_text(
        json.dumps([{"text": "前"}, {"text": huge}, {"text": "后"}], ensure_ascii=False), encoding="utf-8"
    )
    recs, bads = items(p, ReadOptions(max_record_bytes=1 << 20))
    assert texts(recs) == ["前", "后"] and bads[0].kind == "oversized"
    c = tmp_path / "a.csv"
    c.write_text(f"text\n前\n{huge}\n后\n", encoding="utf-8")
    recs, bads = items(c, ReadOptions(max_record_bytes=1 << 20))
    assert texts(recs) == ["前", "后"] and [(b.kind, b.line) for b in bads] == [("oversized", 3)]


def test_malformed_json_array_reports_position(tmp_path: Path) -> None:
    p = tmp_path / "a.json"
    p.write_text('[{"text": "一"}, {"text": "二"}, {"text": 三}]', encoding="utf-8")
    recs, bads = items(p)
    assert texts(recs) == ["一", "二"]
    assert bads[0].kind == "malformed" and "after element 2" in bads[0].message


# ------------------------------------------------------------------ shards and resume


def test_byte_range_shards_match_whole_file(tmp_path: Path) -> None:
    rows = [{"text": f"行{i}" * (i % 7 + 1)} for i in range(2000)]
    p = tmp_path / "a.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + _jsonl_bytes(rows))
    small = ReadOptions(shard_bytes=2048)
    shards, _ = plan_source("s", p, small)
    assert len(shards) > 5 and all(s.kind == "bytes" for s in shards)
    assert shards[0].encoding == "utf-8-sig"
    got = [(it.key, it.text) for s in shards for it in read_shard(s, small)]
    assert got == [(i + 1, r["text"]) for i, r in enumerate(rows)]


def test_resume_from_any_position(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_bytes(_jsonl_bytes())
    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(gzip.compress(_jsonl_bytes()))
    for path in (p, gz):
        (shard,), _ = plan_source("s", path, ReadOptions(shard_bytes=1 << 20))
        all_items = list(read_shard(shard, ReadOptions()))
        cut = all_items[17].pos
        rest = list(read_shard(shard, ReadOptions(), cut))
        assert [(r.key, r.text) for r in rest] == [(r.key, r.text) for r in all_items[18:]]


def test_extract_text_fields() -> None:
    assert extract_text({"prompt": "问", "response": "答"}, ["prompt", "response"]) == "问\n答"
    assert extract_text({"content": "内容", "x": 1}, []) == "内容"
    assert (
        extract_text(
            {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "您好"}]}, []
        )
        == "你好\n您好"
    )
    assert extract_text({"n": 1}, []) is None
