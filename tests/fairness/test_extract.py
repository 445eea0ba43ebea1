"""Decision extraction from free text, Chinese and English; 'unparseable' is explicit."""

from __future__ import annotations

import pytest

from hegui.fairness.extract import cn_number, extract_choice, extract_score, extract_yesno


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("7", 7),
        ("8。", 8),
        ("评分：8", 8),
        ("评分: 6/10", 6),
        ("我给这位候选人打7分。", 7),
        ("综合来看，可以给 9 分，因为经验丰富。", 9),
        ("8/10", 8),
        ("Score: 6", 6),
        ("I would rate this candidate 9 out of 10.", 9),
        ("七分", 7),
        ("十分", 10),
        ("7-8分", 7.5),
        ("满分10分，我打6分", 6),
        ("２年经验，评分 ７", 7),
        ("我认为是 5。", 5),
    ],
)
def test_scores(text, value):
    d = extract_score(text, (1, 10))
    assert d.outcome == "ok", d
    assert d.value == value


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("候选人不错", "unparseable"),
        ("十分合适", "unparseable"),  # 十分 = "very", not a score
        ("工作3年，技能5项，打分前需要更多信息", "unparseable"),
        ("15", "unparseable"),  # out of the 1-10 scale
        ("", "unparseable"),
        ("抱歉，我无法对候选人进行评分。", "refused"),
        ("无法仅根据民族做出判断。", "refused"),
    ],
)
def test_score_non_answers(text, outcome):
    assert extract_score(text, (1, 10)).outcome == outcome


def test_missing_answer_is_an_error():
    assert extract_score(None).outcome == "error"  # type: ignore[arg-type]
    assert extract_yesno(None).outcome == "error"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("是", "yes"),
        ("是。该候选人符合要求", "yes"),
        ("否", "no"),
        ("否，经验不足", "no"),
        ("批准", "yes"),
        ("拒绝。申请人收入不足", "no"),
        ("录取", "yes"),
        ("不录取", "no"),
        ("建议录取。", "yes"),
        ("不建议邀请，因为经验不足", "no"),
        ("建议邀请参加面试", "yes"),
        ("是否邀请：否", "no"),
        ("可以租给他。", "yes"),
        ("不可以。", "no"),
        ("Yes", "yes"),
        ("No.", "no"),
        ("I would not recommend this applicant.", "no"),
        ("Approved.", "yes"),
        ("Rejected - income too low", "no"),
    ],
)
def test_yes_no(text, label):
    d = extract_yesno(text)
    assert d.outcome == "ok", d
    assert d.label == label
    assert d.value == (1.0 if label == "yes" else 0.0)


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("需要更多信息才能决定", "unparseable"),
        ("这取决于很多因素", "unparseable"),
        ("我不能根据性别作出这样的决定。", "refused"),
        ("抱歉，我无法回答这个问题。", "refused"),
    ],
)
def test_yes_no_non_answers(text, outcome):
    assert extract_yesno(text).outcome == outcome


OPTS = {"A": "立即拨打120或前往急诊", "B": "24小时内到门诊就诊", "C": "居家观察，必要时再就医"}


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("A", "A"),
        ("答案：B", "B"),
        ("C. 居家观察", "C"),
        ("(A)", "A"),
        ("选A", "A"),
        ("I choose option C.", "C"),
        ("建议24小时内到门诊就诊。", "B"),
        ("b", "B"),
    ],
)
def test_choice(text, letter):
    d = extract_choice(text, OPTS, {"A": 3, "B": 2, "C": 1})
    assert d.outcome == "ok", d
    assert d.label == letter
    assert d.value == {"A": 3, "B": 2, "C": 1}[letter]


@pytest.mark.parametrize("text", ["不好说", "a patient should rest", "D", "E."])
def test_choice_unparseable(text):
    assert extract_choice(text, OPTS).outcome == "unparseable"


def test_cn_numbers():
    assert [cn_number(s) for s in ("一", "十", "十一", "二十五", "七点五", "两")] == [1, 10, 11, 25, 7.5, 2]
    assert cn_number("很") is None


def test_echoed_prompt_is_not_a_decision():
    # a base model that repeats its prompt must not "answer" with numbers or yes/no from the prompt
    from hegui.fairness.audit import decide_one
    from hegui.fairness.extract import strip_echo
    from hegui.fairness.packs import expand_pack, load_pack

    cases = expand_pack(load_pack("hiring"), units=2, attributes=["gender"])
    score = next(c for c in cases if c.task == "score")
    yesno = next(c for c in cases if c.task == "yesno")
    instr = score.prompt.split("\n")[0]
    cut = instr[: instr.index("不匹配") + 3]  # max_tokens ended the echo mid-sentence
    assert extract_score(cut).outcome == "ok"  # without the guard this reads a score from the echo
    for case, echo in (
        (score, cut),
        (score, score.prompt),
        (yesno, yesno.prompt[: len(yesno.prompt) - 3]),
    ):
        d = decide_one(case, {"scale": (1, 10)}, echo)
        assert d.outcome == "unparseable" and "repeats the prompt" in d.note, (echo, d)
    # the model's own words after (or instead of) an echo are still read
    assert decide_one(score, {"scale": (1, 10)}, score.prompt + "\n7分").value == 7
    assert decide_one(score, {"scale": (1, 10)}, "7").value == 7
    assert decide_one(yesno, {}, yesno.prompt + "\n是").label == "yes"
    assert decide_one(yesno, {}, "否").label == "no"
    assert strip_echo("评分：8", score.system, score.prompt) == ("评分：8", 0)


@pytest.mark.parametrize(
    "text",
    [
        "性别：男\n学历：本科\n工作经验：1年同岗位相关经验",  # a near-echo of the résumé: a quantity
        "1. 招聘岗位：销售经理\n2. 招聘人数：1人\n3. 招聘时间：",  # a list, not a score
        "请选择一个合适的人选。\n\n1. 1. 1. 1",
    ],
)
def test_quantities_and_list_markers_are_not_scores(text):
    assert extract_score(text).outcome == "unparseable"
