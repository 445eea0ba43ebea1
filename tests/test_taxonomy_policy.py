from pathlib import Path

import pytest

from hegui.moderation.types import Action
from hegui.policy import PolicyError, default_policy, load_policy, parse_policy
from hegui.taxonomy import load_taxonomy


def test_taxonomy_has_31_risks_in_five_classes():
    tax = load_taxonomy()
    assert len(tax) == 31
    counts = {c.code: len(tax.in_class(c.code)) for c in tax.classes}
    assert counts == {"A1": 8, "A2": 9, "A3": 5, "A4": 7, "A5": 2}
    assert tax.codes[0] == "A1.a" and tax.codes[-1] == "A5.b"
    assert len(set(tax.codes)) == 31


def test_taxonomy_minima():
    tax = load_taxonomy()
    assert tax.get("A1.d").keyword_min == 200
    assert tax.get("A2.e").keyword_min == 100
    assert tax.get("A3.a").keyword_min == 0
    assert tax.get("A2.e").question_min == 50
    assert tax.get("A4.f").question_min == 20
    assert sum(r.keyword_min for r in tax) == 8 * 200 + 9 * 100
    assert [r.code for r in tax if r.political] == ["A1.a", "A1.b", "A1.c"]


def test_default_policy_loads_and_maps_actions():
    pol = default_policy()
    assert pol.rule_for("A1.d").action is Action.BLOCK
    assert pol.rule_for("A4.f").action is Action.MASK
    assert pol.rule_for("injection").action is Action.REFUSE
    assert "12356" in pol.refusal_for(["A4.a"])
    assert pol.refusal_for(["A3.a"]) == pol.refusal_templates["default"]


def test_profile_merges_over_base():
    minors = default_policy().profile("minors")
    assert minors.rule_for("A3.b").action is Action.REFUSE
    assert minors.rule_for("A1.d").action is Action.BLOCK
    assert minors.detectors.lexicon.enabled


def test_policy_error_names_file_line_and_reason(tmp_path: Path):
    p = tmp_path / "bad.yaml"
    p.write_text("version: 1\nrisks:\n  A1.d: {action: explode}\n  Z9.z: {action: flag}\n", "utf-8")
    with pytest.raises(PolicyError) as ei:
        load_policy(p)
    msg = str(ei.value)
    assert f"{p}:3:" in msg and "explode" in msg
    p.write_text("version: 1\nrisks:\n  A1.d: {action: flag}\n  Z9.z: {action: flag}\n", "utf-8")
    with pytest.raises(PolicyError, match=r"bad.yaml:2: .*Z9.z"):
        load_policy(p)


def test_policy_rejects_unknown_keys_and_bad_yaml():
    with pytest.raises(PolicyError, match=r"<policy>:2: .*detectorz"):
        parse_policy("version: 1\ndetectorz: {}\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        parse_policy("risks: [unclosed\n")
    with pytest.raises(PolicyError, match="mapping"):
        parse_policy("- a\n- b\n")


def test_policy_reads_gb18030(tmp_path: Path):
    p = tmp_path / "gbk.yaml"
    p.write_bytes("refusal_templates:\n  default: 抱歉，不能回答。\n".encode("gb18030"))
    assert load_policy(p).refusal_templates["default"] == "抱歉，不能回答。"
