"""Scenario packs and attribute lists: coverage of the A.2 attributes and counterfactual pairs that
differ in exactly one attribute value."""

from __future__ import annotations

import pytest

from hegui.fairness.attributes import ATTRIBUTE_NAMES, load_attributes
from hegui.fairness.packs import PackError, expand_pack, list_packs, load_pack, pair_diff, pairs
from hegui.taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def attrs():
    return load_attributes()


def test_all_nine_attributes_map_to_the_a2_risks(attrs):
    tax = load_taxonomy()
    assert attrs.names() == list(ATTRIBUTE_NAMES)
    for a in attrs:
        risk = tax.get(a.risk)
        assert risk.class_code == "A2"
        assert risk.attribute == a.name


def test_value_lists_cover_what_the_issue_asks(attrs):
    ethnic = [g for g in attrs["ethnicity"].groups if g.id == "ethnic_group"][0]
    assert len(ethnic.values) == 56 and len({v.zh for v in ethnic.values}) == 56
    assert ethnic.reference.zh == "汉族"
    provinces = [g for g in attrs["region"].groups if g.id == "province"][0]
    assert len(provinces.values) == 34
    assert {"城镇户口", "农村户口"} <= {v.zh for g in attrs["region"].groups for v in g.values}
    assert {g.id for g in attrs["gender"].groups} == {"sex", "gender_name"}
    assert {g.id for g in attrs["ethnicity"].groups} >= {"ethnic_group", "ethnic_name"}
    assert len(attrs["age"].groups[0].values) >= 5
    health = {v.key for v in attrs["health"].values()}
    assert {"limb_disability", "hbv_carrier", "depression_history"} <= health
    other = {v.key for v in attrs["other"].values()}
    assert {"pregnant", "divorced", "single"} <= other
    # names as implicit signals: same row = same surname for the gender pair
    male, female = [g for g in attrs["gender"].groups if g.id == "gender_name"][0].values
    assert all(m[0] == f[0] for m, f in zip(male.names, female.names, strict=True))


def test_every_shipped_pack_loads_and_covers_the_task_kinds():
    names = list_packs()
    assert set(names) >= {"hiring", "lending", "rental", "medical", "admission", "service", "describe"}
    tasks = {t.task for n in names for t in load_pack(n).templates}
    assert tasks == {"score", "yesno", "choice", "open"}
    hiring = {t.id: t.task for t in load_pack("hiring").templates}
    assert hiring == {"resume_score": "score", "shortlist": "yesno"}


@pytest.mark.parametrize(
    "name", ["hiring", "lending", "rental", "medical", "admission", "service", "describe"]
)
def test_pairs_differ_in_exactly_one_attribute_value(attrs, name):
    pack = load_pack(name)
    cases = expand_pack(pack, attrs, units=2)
    prs = pairs(cases)
    assert prs
    values = {(v.attribute, v.group, v.key): v for a in attrs for v in a.values()}
    n_nonref = sum(not c.is_reference for c in cases)
    assert len(prs) == n_nonref  # every non-reference case has its reference
    for ref, var in prs:
        # same template, unit, attribute, group; different value
        assert (ref.template, ref.unit, ref.attribute, ref.group) == (
            var.template,
            var.unit,
            var.attribute,
            var.group,
        )
        assert ref.value != var.value and ref.system == var.system
        rv, vv = values[(ref.attribute, ref.group, ref.value)], values[(var.attribute, var.group, var.value)]
        t = pack.template(ref.template)
        r_txt = rv.noun(ref.unit) if t.mode == "group" else rv.phrase(ref.unit)
        v_txt = vv.noun(var.unit) if t.mode == "group" else vv.phrase(var.unit)
        assert r_txt != v_txt
        # swapping the one attribute text back gives exactly the reference prompt
        assert var.prompt.replace(v_txt, r_txt) == ref.prompt
        a, b = pair_diff(ref.prompt, var.prompt)
        assert a and b and a in r_txt and b in v_txt


def test_a_pair_that_differs_in_two_places_is_caught(attrs):
    # the check above can fail: a prompt with a second change is not a counterfactual pair
    pack = load_pack("hiring")
    ref, var = pairs(expand_pack(pack, attrs, units=1, attributes=["gender"]))[0]
    tampered = var.prompt.replace("学历", "学位")
    assert tampered.replace("性别：女", "性别：男") != ref.prompt


def test_limit_keeps_references_and_units(attrs):
    pack = load_pack("hiring")
    cases = expand_pack(pack, attrs, units=10, attributes=["gender", "age"], limit=25)
    assert len(cases) == 25
    refs = {c.block for c in cases if c.is_reference}
    assert all(c.block in refs for c in cases)


def test_bad_pack_files_name_the_problem(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(
        "id: x\ntemplates:\n  - id: t\n    task: score\n    prompt: 'no subject slot {role}'\n    slots: {role: [a]}\n",
        encoding="utf-8",
    )
    with pytest.raises(PackError, match=r"bad.yaml.*exactly one of \{person\}"):
        load_pack(p)
    p.write_text("id: x\ntemplates:\n  - id: t\n    task: guess\n    prompt: '{person}'\n", encoding="utf-8")
    with pytest.raises(PackError, match="task must be one of"):
        load_pack(p)
    p.write_text(
        "id: x\ntemplates:\n  - id: t\n    task: score\n    prompt: '{person} {role}'\n", encoding="utf-8"
    )
    with pytest.raises(PackError, match="no slot list for role"):
        load_pack(p)
    with pytest.raises(PackError, match="no pack named"):
        load_pack("nonexistent")
    with pytest.raises(KeyError, match="unknown attribute"):
        expand_pack(load_pack("hiring"), attributes=["colour"])
