"""StreamModerator must give the same findings as a whole-text check, however the text is cut,
and never release refused text."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hegui.moderation import Action, Moderator
from hegui.policy import parse_policy

from .helpers import TermDetector, WholeTextDetector

TERMS = {"诈骗": ("A1.h", 2), "炸弹制作": ("A1.d", 3), "手机号码": ("A4.f", 2), "骗子": ("A4.c", 2)}
FLAG_ALL = parse_policy("default_action: flag\nrisks: {A4.f: {action: mask}}\nmask_message: '#'\n")
REFUSE = parse_policy("default_action: refuse\n")

alphabet = st.sampled_from(list("诈骗炸弹制作手机号码子的了是我你。！ ab,"))


def run_stream(mod: Moderator, text: str, cuts: list[int]) -> tuple[str, list, object]:
    sm = mod.stream()
    out = []
    prev = 0
    for c in sorted(set(cuts)) + [len(text)]:
        u = sm.feed(text[prev:c])
        out.append(u.release)
        prev = c
        if u.stopped:
            return "".join(out), sm.findings, u
    u = sm.close()
    out.append(u.release)
    return "".join(out), sm.findings, u


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet, max_size=80), st.lists(st.integers(0, 80), max_size=30), st.integers(1, 40))
def test_stream_equals_whole_text(text, cuts, batch):
    mod = Moderator(FLAG_ALL, detectors=[TermDetector(TERMS)])
    whole = mod.check(text)
    sm_text, findings, _ = run_stream_batch(mod, text, [c for c in cuts if c <= len(text)], batch)
    assert sorted(findings, key=lambda f: (f.start, f.risk)) == sorted(
        whole.findings, key=lambda f: (f.start, f.risk)
    )
    assert sm_text == (whole.masked_text if whole.masked_text is not None else text)


def run_stream_batch(mod, text, cuts, batch):
    sm = mod.stream(batch=batch)
    out, prev = [], 0
    for c in sorted(set(cuts)) + [len(text)]:
        out.append(sm.feed(text[prev:c]).release)
        prev = c
    out.append(sm.close().release)
    return "".join(out), sm.findings, None


def test_every_single_cut_point_catches_split_term_once():
    mod = Moderator(FLAG_ALL, detectors=[TermDetector(TERMS)])
    text = "这是一个关于诈骗的故事，结尾。"
    for i in range(len(text) + 1):
        _, findings, _ = run_stream(mod, text, [i])
        assert [f.rule for f in findings] == ["诈骗"], i


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet, max_size=60), st.lists(st.integers(0, 60), max_size=20))
def test_refused_text_never_released(text, cuts):
    mod = Moderator(REFUSE, detectors=[TermDetector(TERMS)])
    released, _, last = run_stream(mod, text, [c for c in cuts if c <= len(text)])
    whole = mod.check(text)
    if whole.action >= Action.REFUSE:
        first = min(f.start for f in whole.findings)
        assert released == text[:first]
        assert last.stopped and last.message
    else:
        assert released == text


def test_release_lags_by_at_most_lookback_plus_batch():
    mod = Moderator(FLAG_ALL, detectors=[TermDetector(TERMS)])
    sm = mod.stream(batch=4)
    got = ""
    text = "今天天气很好我们去公园散步然后回家吃饭睡觉" * 3
    for ch in text:
        got += sm.feed(ch).release
        assert sm.received - sm.released <= sm.lookback + sm.batch
    got += sm.close().release
    assert got == text


def test_whole_text_detector_runs_per_sentence():
    mod = Moderator(FLAG_ALL, detectors=[TermDetector(TERMS), WholeTextDetector("女人")])
    sm = mod.stream(batch=2)
    text = "第一句话很正常。女人都不行！最后一句"
    rel = "".join(sm.feed(c).release for c in text) + sm.close().release
    assert rel == text
    clf = [f for f in sm.findings if f.detector == "classifier"]
    assert [(f.start, f.end) for f in clf] == [(8, 14)]


def test_feed_after_stop_releases_nothing():
    mod = Moderator(REFUSE, detectors=[TermDetector(TERMS)])
    sm = mod.stream(batch=1)
    out = "".join(sm.feed(c).release for c in "你好诈骗后面的话")
    assert out == "你好" and sm.stopped
    assert sm.feed("更多").release == "" and sm.close().stopped


def test_bad_chunks_and_misuse_fail_clearly() -> None:
    sm = Moderator().stream(batch=4)
    sm.feed("你好")
    sm.feed(b"\xe4\xbd\xa0".decode() + "啊")  # str from bytes is fine
    with pytest.raises(TypeError, match="chunks must be str, not bytes"):
        sm.feed(b"abc")  # type: ignore[arg-type]
        sm.close()
    sm = Moderator().stream()
    sm.feed("好的")
    sm.close()
    with pytest.raises(RuntimeError, match=r"feed\(\) after close\(\)"):
        sm.feed("再来")


def test_lone_surrogates_are_released_as_replacement_characters() -> None:
    sm = Moderator().stream(batch=2)
    out = sm.feed("ab\ud800cd").release + sm.close().release
    assert out == "ab\ufffdcd"


def test_time_trigger_scans_a_slow_stream_at_every_chunk() -> None:
    # max_wait=0: every chunk finds the oldest pending one "old enough", as a token arriving every
    # 50 ms would with the default 20 ms; release then lags by the lookback only, not the batch
    mod = Moderator(FLAG_ALL, detectors=[TermDetector(TERMS)])
    text = "今天天气很好我们去公园散步然后回家吃饭睡觉" * 3
    slow = mod.stream(batch=10_000, max_wait=0)
    got = ""
    for i, ch in enumerate(text, 1):
        got += slow.feed(ch).release
        assert slow.released == max(0, i - slow.lookback)
    assert got + slow.close().release == text
    # with the time trigger off, a batch this large holds everything until close
    held = mod.stream(batch=10_000, max_wait=float("inf"))
    assert "".join(held.feed(ch).release for ch in text) == ""
    assert held.close().release == text


def test_flush_releases_all_but_the_lookback() -> None:
    mod = Moderator(FLAG_ALL, detectors=[TermDetector(TERMS)])
    sm = mod.stream(batch=10_000, max_wait=float("inf"))
    assert sm.feed("一二三四五六七八九十").release == ""
    assert sm.flush().release == "一二三四五六七八九十"[: 10 - sm.lookback]
    assert sm.flush().release == ""  # nothing new pending
    assert sm.close().release == "一二三四五六七八九十"[10 - sm.lookback :]


def test_a_long_stream_keeps_only_its_window_in_memory() -> None:
    # regression: without whole-text detectors the buffer was never trimmed, so a long stream
    # kept (and re-copied at every scan) everything it had seen
    sm = Moderator().stream(batch=64, max_wait=float("inf"))
    released = 0
    for _ in range(20_000):
        released += len(sm.feed("正常的文字，").release)
    assert len(sm._buf) <= sm.lookback + sm.batch + sm.context + 8
    assert released + len(sm.close().release) == 6 * 20_000
