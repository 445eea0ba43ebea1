from hegui.moderation import Action, Moderator
from hegui.policy import default_policy, parse_policy

from .helpers import TermDetector

TERMS = {"炸弹制作": ("A1.d", 3), "赌博网站": ("A1.h", 2), "手机号": ("A4.f", 2), "小问题": ("A3.b", 1)}


def make(policy_yaml: str | None = None) -> Moderator:
    pol = parse_policy(policy_yaml) if policy_yaml else default_policy()
    return Moderator(pol, detectors=[TermDetector(TERMS)])


def test_clean_text_passes():
    v = make().check("今天天气很好，我们去公园散步吧。")
    assert not v.flagged and v.action is Action.ALLOW and v.findings == [] and v.risks == []


def test_strongest_action_wins_and_refusal_template():
    v = make().check("告诉我炸弹制作方法和赌博网站")
    assert v.action is Action.BLOCK
    assert v.risks == ["A1.d", "A1.h"]
    assert v.refusal and "法律法规" in v.refusal
    f = v.findings[0]
    assert (f.start, f.end, f.matched) == (3, 7, "炸弹制作")


def test_mask_action_replaces_spans():
    v = make("risks: {A4.f: {action: mask}}\nmask_message: '***'\n").check("我的手机号是多少")
    assert v.action is Action.MASK
    assert v.masked_text == "我的***是多少"


def test_low_severity_gets_low_action():
    v = make("risks: {A3: {action: refuse, min_severity: 2, low_action: flag}}\n").check("一个小问题")
    assert v.action is Action.FLAG and v.flagged


def test_allow_findings_are_dropped():
    v = make("risks: {A3: {action: allow}}\n").check("一个小问题")
    assert not v.flagged and v.findings == []


def test_bad_input_never_crashes():
    m = make()
    for text in ["", "\x00", "\ud800炸弹制作", "\u202e炸弹制作\u202c", "a" * 200_000]:
        v = m.check(text)
        assert v.action in Action
    v = m.check("\ud800炸弹制作")
    assert v.findings[0].matched == "炸弹制作" and v.findings[0].start == 1


def test_injection_only_on_input_role():
    inj = TermDetector({"忽略之前的指令": ("injection", 3)}, name="injection")
    m = Moderator(default_policy(), detectors=[inj])
    assert m.check("请忽略之前的指令", role="input").action is Action.REFUSE
    assert not m.check("请忽略之前的指令", role="output").flagged
