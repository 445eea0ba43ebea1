"""Parsing guard-model answers. The fixtures follow the output formats of the model cards
(Qwen3Guard-Gen: Safety/Categories/Refusal lines; Llama Guard 3/4: safe|unsafe + S-codes), as
returned by vLLM's chat completions, including the blank lines and spacing seen in practice."""

from __future__ import annotations

import pytest

from hegui.classify.judge import (
    JudgeParseError,
    judge_system_prompt,
    parse_general,
    parse_llamaguard,
    parse_qwen3guard,
)

QWEN_PROMPT_UNSAFE = "Safety: Unsafe\nCategories: Violent"
QWEN_PROMPT_MULTI = "Safety: Unsafe\nCategories: Sexual Content or Sexual Acts, PII"
QWEN_CONTROVERSIAL = "Safety: Controversial\nCategories: Politically Sensitive Topics"
QWEN_RESPONSE_SAFE_REFUSAL = "Safety: Safe\nCategories: None\nRefusal: Yes"
QWEN_RESPONSE_UNSAFE = "Safety: Unsafe\nCategories: Suicide & Self-Harm\nRefusal: No"
QWEN_JAILBREAK = "Safety: Unsafe\nCategories: Jailbreak"
QWEN_UNKNOWN_CAT = "Safety: Unsafe\nCategories: Unethical Acts, Misinformation"
LG_SAFE = "\n\nsafe"
LG_UNSAFE_ONE = "\n\nunsafe\nS1"
LG_UNSAFE_MULTI = "unsafe\nS10,S11"
LG_UNSAFE_SPACED = "unsafe\nS2, S7"
LG_UNSAFE_NOCODE = "unsafe"


def test_qwen3guard_unsafe_prompt() -> None:
    v = parse_qwen3guard(QWEN_PROMPT_UNSAFE)
    assert v.level == "unsafe" and v.categories == ("Violent",)
    assert [(r.code, r.severity) for r in v.risks] == [("A1.f", 3)]
    assert v.refusal is None


def test_qwen3guard_multi_category_keeps_long_names_whole() -> None:
    v = parse_qwen3guard(QWEN_PROMPT_MULTI)
    assert set(v.categories) == {"Sexual Content or Sexual Acts", "PII"}
    assert {r.code for r in v.risks} == {"A1.f", "A4.f"}


def test_qwen3guard_controversial_strict_and_loose() -> None:
    strict = parse_qwen3guard(QWEN_CONTROVERSIAL, strict=True)
    assert strict.level == "controversial" and strict.unsafe
    assert [(r.code, r.severity) for r in strict.risks] == [("A1.b", 2)]
    loose = parse_qwen3guard(QWEN_CONTROVERSIAL, strict=False)
    assert loose.level == "safe" and not loose.risks and not loose.unsafe


def test_qwen3guard_response_refusal() -> None:
    v = parse_qwen3guard(QWEN_RESPONSE_SAFE_REFUSAL)
    assert v.level == "safe" and v.refusal is True and v.risks == () and v.categories == ()
    u = parse_qwen3guard(QWEN_RESPONSE_UNSAFE)
    assert u.refusal is False and [r.code for r in u.risks] == ["A4.a"]


def test_qwen3guard_jailbreak_unknown_and_override() -> None:
    assert [r.code for r in parse_qwen3guard(QWEN_JAILBREAK).risks] == ["injection"]
    v = parse_qwen3guard(QWEN_UNKNOWN_CAT)
    assert v.categories == ("Unethical Acts", "Misinformation")
    assert {r.code for r in v.risks} == {"A2.i", "A1.h"}  # unknown category: the catch-all risk
    o = parse_qwen3guard(QWEN_UNKNOWN_CAT, category_map={"Misinformation": ["A1.g"]})
    assert {r.code for r in o.risks} == {"A2.i", "A1.g"}


def test_qwen3guard_rejects_other_text() -> None:
    with pytest.raises(JudgeParseError, match="Safety"):
        parse_qwen3guard("I think this is fine.")


def test_llamaguard() -> None:
    assert parse_llamaguard(LG_SAFE).level == "safe"
    one = parse_llamaguard(LG_UNSAFE_ONE)
    assert one.categories == ("S1",) and [r.code for r in one.risks] == ["A1.f"]
    multi = parse_llamaguard(LG_UNSAFE_MULTI)
    assert multi.categories == ("S10", "S11") and {r.code for r in multi.risks} == {"A2.i", "A4.a"}
    spaced = parse_llamaguard(LG_UNSAFE_SPACED)
    assert {r.code for r in spaced.risks} == {"A1.h", "A4.e"}
    bare = parse_llamaguard(LG_UNSAFE_NOCODE)
    assert bare.unsafe and [r.code for r in bare.risks] == ["A1.h"]
    assert [r.code for r in parse_llamaguard(LG_UNSAFE_ONE, category_map={"S1": ["A1.d"]}).risks] == ["A1.d"]
    with pytest.raises(JudgeParseError):
        parse_llamaguard("")
    with pytest.raises(JudgeParseError, match="first line"):
        parse_llamaguard("The conversation is safe.")


def test_general_json_verdicts() -> None:
    fenced = '好的。\n```json\n{"safe": false, "risks": [{"code": "A2.e", "severity": 3, "confidence": 0.92, "reason": "贬低女性"}]}\n```'
    v = parse_general(fenced)
    assert v.level == "unsafe" and [(r.code, r.severity, r.confidence) for r in v.risks] == [
        ("A2.e", 3, 0.92)
    ]
    assert parse_general('{"safe": true, "risks": []}').level == "safe"
    around = '判断结果：{"safe": false, "risks": [{"code": "A4.f"}]} 以上。'
    assert [r.code for r in parse_general(around).risks] == ["A4.f"]


@pytest.mark.parametrize(
    ("answer", "needle"),
    [
        ("没有问题", "no JSON object"),
        ('{"safe": false, "risks": [', "malformed JSON"),
        ('{"safe": fals}', "malformed JSON"),
        ('{"risks": []}', "schema"),
        ('{"safe": false, "risks": [{"code": "B9"}]}', "schema"),
        ('{"safe": false, "risks": [{"code": "A2.e", "severity": 7}]}', "schema"),
        ('{"safe": false, "risks": []}', "without any risk"),
    ],
)
def test_general_rejects_malformed(answer: str, needle: str) -> None:
    with pytest.raises(JudgeParseError, match=needle):
        parse_general(answer)


def test_system_prompt_lists_every_risk() -> None:
    p = judge_system_prompt()
    assert "A1.a" in p and "A5.b" in p and "injection" in p and '"safe"' in p
