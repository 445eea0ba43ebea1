"""``hegui classifier train|eval|predict`` end to end on a small written corpus."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from typer.testing import CliRunner

from hegui.classify.cli import register

from .conftest import synthetic_examples


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def _noop() -> None:  # a second command keeps "classifier" a sub-command group
        pass

    return app


def test_train_eval_predict(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    with data.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["内容", "标签", "风险"])
        for e in synthetic_examples():
            w.writerow([e.text, 1 if e.risks else 0, ",".join(sorted(e.risks))])
    out = tmp_path / "m.npz"
    runner = CliRunner()
    cols = ["--text-col", "内容", "--label-col", "标签", "--risk-col", "风险"]
    r = runner.invoke(
        _app(), ["classifier", "train", "--data", str(data), "--out", str(out), "--buckets-log2", "14", *cols]
    )
    assert r.exit_code == 0, r.output
    assert out.exists() and "A2.d, A2.e" in r.output
    r = runner.invoke(_app(), ["classifier", "eval", "--model", str(out), "--data", str(data), *cols])
    assert r.exit_code == 0, r.output
    assert "accuracy 1.0000" in r.output and "calibration" in r.output
    r = runner.invoke(
        _app(), ["classifier", "eval", "--model", str(out), "--data", str(data), "--json", *cols]
    )
    assert '"macro_f1": 1.0' in r.output
    r = runner.invoke(_app(), ["classifier", "predict", "--model", str(out), "东北人都是废物"])
    assert '"flagged": ["A2.d"]' in r.output


def test_bad_input_exits_2(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(
        _app(), ["classifier", "train", "--data", str(tmp_path / "no.csv"), "--out", str(tmp_path / "m")]
    )
    assert r.exit_code == 2 and "file not found" in r.output
    r = runner.invoke(_app(), ["classifier", "eval", "--model", str(tmp_path / "no.npz"), "--data", "x.csv"])
    assert r.exit_code == 2 and "not found" in r.output
