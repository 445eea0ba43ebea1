"""Loading labelled data: layouts, column options, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hegui.classify.data import (
    DataError,
    DatasetSpec,
    hash_fold,
    load_examples,
    parse_data_arg,
    parse_topic_map,
)


def _write(p: Path, text: str, bom: bool = False) -> Path:
    p.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return p


def test_cold_layout_with_bom_maps_topics(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "c.csv",
        ",split,topic,label,TEXT\n1,train,race,1,甲句\n2,train,region,1,乙句\n3,dev,gender,1,丙句\n4,train,gender,0,丁句\n",
        bom=True,
    )
    ex = load_examples(f)
    assert [sorted(e.risks) for e in ex] == [["A2.a"], ["A2.d"], ["A2.e"], []]
    assert ex[3].topic == "gender"  # kept for the group-discussion metric
    only_dev = load_examples(f, DatasetSpec(split_col="split", split="dev"))
    assert [e.text for e in only_dev] == ["丙句"]


def test_swsr_layout_and_fixed_hash_split(tmp_path: Path) -> None:
    rows = ["index,weibo_id,comment_text,label,category"]
    for i in range(40):
        rows.append(f"{i},w{i % 13},评论{i},{i % 2},SA")
    f = _write(tmp_path / "s.csv", "\n".join(rows) + "\n", bom=True)
    all_ex = load_examples(f)
    assert {r for e in all_ex for r in e.risks} == {"A2.e"}
    train = load_examples(f, DatasetSpec(hash_split="train"))
    dev = load_examples(f, DatasetSpec(hash_split="dev"))
    assert len(train) + len(dev) == 40 and dev and train
    # grouped by post: no weibo_id on both sides
    dev_groups = {f"w{int(e.text[2:]) % 13}" for e in dev}
    assert all(hash_fold(g) == 0 for g in dev_groups)
    assert not dev_groups & {f"w{int(e.text[2:]) % 13}" for e in train}


def test_jsonl_with_risk_codes_and_named_columns(tmp_path: Path) -> None:
    f = tmp_path / "d.jsonl"
    f.write_text(
        "\n".join(json.dumps(o, ensure_ascii=False) for o in [
            {"content": "一", "y": 1, "code": "A2.f"},
            {"content": "二", "y": 0, "code": "A2.f"},
            {"content": "三", "y": "A2.g"},
        ]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    ex = load_examples(f, DatasetSpec(text_col="content", label_col="y", risk_col="code"))
    assert [sorted(e.risks) for e in ex] == [["A2.f"], [], ["A2.g"]]


def test_default_risk_and_topic_map_options(tmp_path: Path) -> None:
    f = _write(tmp_path / "x.csv", "text,label,grp\n甲,1,old\n乙,1,job\n丙,0,old\n")
    spec = DatasetSpec(topic_col="grp", topic_map=parse_topic_map(["old=A2.f"]), default_risk="A2.i")
    assert [sorted(e.risks) for e in load_examples(f, spec)] == [["A2.f"], ["A2.i"], []]


@pytest.mark.parametrize(
    ("content", "spec", "needle"),
    [
        ("text,label\n甲,maybe\n", None, "cannot read label 'maybe'"),
        ("text,label\n甲,1\n", None, "positive label but no risk code"),
        ("foo,label\n甲,1\n", None, "no text column"),
        ("text,risk\n甲,Z9.z\n", None, "unknown risk code 'Z9.z'"),
        ("text,label\n甲,1\n", DatasetSpec(text_col="nope"), "no text column"),
    ],
)
def test_bad_input_names_the_problem(
    tmp_path: Path, content: str, spec: DatasetSpec | None, needle: str
) -> None:
    f = _write(tmp_path / "bad.csv", content)
    with pytest.raises(DataError, match=needle.replace("(", r"\(")):
        load_examples(f, spec)


def test_missing_file_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_examples(tmp_path / "none.csv")
    f = tmp_path / "b.jsonl"
    f.write_text('{"text": "a", "label": 0}\n{oops\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"b.jsonl:2: invalid JSON"):
        load_examples(f)


def test_parse_data_arg() -> None:
    p, spec = parse_data_arg("a/b.csv::hash_split=dev,text_col=t,risk=A2.e")
    assert (
        p == Path("a/b.csv")
        and spec.hash_split == "dev"
        and spec.text_col == "t"
        and spec.default_risk == "A2.e"
    )
    with pytest.raises(DataError, match="bad option"):
        parse_data_arg("a.csv::colour=red")
    with pytest.raises(DataError, match="unknown risk code"):
        parse_topic_map(["x=A9.q"])
