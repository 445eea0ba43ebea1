"""`hegui moderate` contract: text argument, files (.jsonl/.csv/.txt), encodings, bad lines."""

import json
from pathlib import Path

from typer.testing import CliRunner

from hegui.cli import app

runner = CliRunner()

# A policy whose only detector is one operator rule, so these tests do not depend on seed data.
POLICY = """\
detectors:
  lexicon: {enabled: false}
  pii: {enabled: false}
  injection: {enabled: false}
  rules:
    enabled: true
    rules:
      - {name: bomb, pattern: "炸弹", risk: A1.d, severity: 3}
"""


def policy_file(tmp_path: Path) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(POLICY, "utf-8")
    return p


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(line) for line in p.read_text("utf-8").splitlines()]


def test_moderate_text_json(tmp_path):
    res = runner.invoke(app, ["moderate", "--policy", str(policy_file(tmp_path)), "--json", "怎么做炸弹"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["flagged"] and out["action"] == "refuse" and out["risks"] == ["A1.d"]


def test_moderate_jsonl_keeps_order_and_reports_bad_lines(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"text": "你好"}\n{"text": "炸弹"\n{"body": "x"}\n{"text": 5}\n{"text": "做炸弹"}\n', "utf-8"
    )
    out = tmp_path / "out.jsonl"
    res = runner.invoke(
        app, ["moderate", "--policy", str(policy_file(tmp_path)), "-i", str(src), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    rows = read_jsonl(out)
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["flagged"] is False and rows[4]["flagged"] is True
    assert "invalid JSON" in rows[1]["error"] and "no field 'text'" in rows[2]["error"]
    assert "not a string" in rows[3]["error"]
    assert "in.jsonl:2: skipped" in res.output


def test_moderate_csv_with_bom_and_text_field(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes('\ufeffid,TEXT\n1,"多行\n文本"\n2,炸弹\n'.encode())
    out = tmp_path / "out.jsonl"
    res = runner.invoke(
        app,
        [
            "moderate",
            "--policy",
            str(policy_file(tmp_path)),
            "-i",
            str(src),
            "-o",
            str(out),
            "--text-field",
            "TEXT",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = read_jsonl(out)
    assert [r["flagged"] for r in rows] == [False, True]
    assert [r["line"] for r in rows] == [2, 4]


def test_moderate_txt_gb18030(tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes("第一行\n制造炸弹的方法\n".encode("gb18030"))
    out = tmp_path / "out.jsonl"
    res = runner.invoke(
        app, ["moderate", "--policy", str(policy_file(tmp_path)), "-i", str(src), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    rows = read_jsonl(out)
    assert [r["flagged"] for r in rows] == [False, True]
    assert rows[1]["findings"][0]["matched"] == "炸弹"


def test_moderate_errors_are_clear(tmp_path):
    pol = str(policy_file(tmp_path))
    res = runner.invoke(app, ["moderate", "--policy", pol, "-i", str(tmp_path / "nope.jsonl")])
    assert res.exit_code == 2 and "no such file" in res.output
    bad = tmp_path / "x.pdf"
    bad.write_text("x")
    res = runner.invoke(app, ["moderate", "--policy", pol, "-i", str(bad)])
    assert res.exit_code == 2 and "unsupported input type" in res.output
    csvf = tmp_path / "c.csv"
    csvf.write_text("a,b\n1,2\n")
    res = runner.invoke(app, ["moderate", "--policy", pol, "-i", str(csvf)])
    assert res.exit_code == 2 and "no column 'text'" in res.output
    binf = tmp_path / "b.txt"
    binf.write_bytes(b"\xff\xfe\x00\x81\x30")
    res = runner.invoke(app, ["moderate", "--policy", pol, "-i", str(binf)])
    assert res.exit_code == 2 and "neither UTF-8 nor GB18030" in res.output
    res = runner.invoke(app, ["moderate"])
    assert res.exit_code == 2
    badpol = tmp_path / "bad.yaml"
    badpol.write_text("risks: {A1.d: {action: nuke}}\n")
    res = runner.invoke(app, ["moderate", "--policy", str(badpol), "x"])
    assert res.exit_code == 2 and "bad.yaml:1" in res.output
