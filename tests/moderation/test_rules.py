"""Operator regex rules on RE2: linear time on hostile patterns, clear load-time errors."""

from __future__ import annotations

import re
import time

import pytest

from hegui.moderation import Moderator
from hegui.moderation.rules import (
    DEFAULT_MAX_CHARS,
    RuleDetector,
    RuleError,
    RuleSpec,
    compile_rule,
    validate_rules,
)
from hegui.policy import PolicyError, parse_policy
from hegui.text import normalize

POLICY = """
version: 1
name: rules-test
detectors:
  lexicon: {{enabled: false}}
  pii: {{enabled: false}}
  injection: {{enabled: false}}
  rules:
    rules:
{rules}
"""


def policy_with(*rules: str) -> str:
    return POLICY.format(rules="\n".join(f"      - {r}" for r in rules))


def test_catastrophic_pattern_finishes_fast() -> None:
    # (a+)+$ on "aaa…a!" takes exponential time with a backtracking engine (Python's re would not
    # finish in our lifetime for 100k characters); RE2 is linear.
    det = RuleDetector.from_specs(
        [
            RuleSpec("redos_orig", "(a+)+$", "A1.h", normalized=False),
            RuleSpec("redos_norm", "(x+x+)+y", "A1.h"),
            RuleSpec("nested", "(a|aa)+$", "A1.h", normalized=False),
        ]
    )
    text = "a" * 100_000 + "!"
    nt = normalize(text)  # not timed: the normalizer is not under test here
    t0 = time.perf_counter()
    found = det.scan(nt)
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.5, elapsed
    assert [f.rule for f in found if f.rule in ("redos_orig", "nested")] == []  # "!" ends the text
    # and it still matches when it should
    hit = det.scan(normalize("b" + "a" * 50_000))
    assert [(f.rule, f.start, f.end) for f in hit if f.rule == "redos_orig"] == [("redos_orig", 1, 50_001)]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence"),
        (r"foo(?=bar)", "invalid perl operator"),
        (r"(?<!x)y", "invalid perl operator"),
        (r"a++", "bad repetition operator"),
        (r"[abc", "missing ]"),
    ],
)
def test_unsupported_patterns_fail_at_policy_load_with_name_and_reason(pattern: str, reason: str) -> None:
    policy = parse_policy(policy_with(f"{{name: my_rule, pattern: '{pattern}', risk: A3.e}}"))
    with pytest.raises(PolicyError) as e:
        Moderator(policy)
    assert "my_rule" in str(e.value) and reason in str(e.value)
    assert (
        validate_rules(policy.detectors.rules.rules)
        and "my_rule" in validate_rules(policy.detectors.rules.rules)[0]
    )


def test_empty_match_unknown_risk_and_duplicates_are_rejected() -> None:
    with pytest.raises(RuleError, match="empty string"):
        compile_rule(RuleSpec("e", "x*", "A3.e"))
    with pytest.raises(RuleError, match="unknown risk"):
        compile_rule(RuleSpec("r", "abc", "A9.z"))
    with pytest.raises(RuleError, match="duplicate"):
        RuleDetector.from_specs([RuleSpec("d", "abc", "A3.e"), RuleSpec("d", "def", "A3.e")])


def test_rules_from_policy_match_with_original_offsets() -> None:
    policy = parse_policy(
        policy_with(
            "{name: invoice, pattern: '代开(增值税)?发票', risk: A3.e, severity: 3}",
            r"{name: wechat, pattern: '(?i)加v[:：]?\s?[a-z0-9_-]{5,19}', risk: A3.e, normalized: false}",
        )
    )
    mod = Moderator(policy)
    text = "本公司 代 开 发 票，加V：abc_12345 详谈"
    found = mod.scan(text)
    got = {(f.rule, f.matched, f.severity) for f in found}
    # the normalized rule sees "代开发票" although the original has spaces; offsets cover the original
    assert ("invoice", "代 开 发 票", 3) in got
    assert ("wechat", "加V：abc_12345", 2) in got
    assert all(text[f.start : f.end] == f.matched for f in found)
    assert mod.check("今天天气不错").flagged is False


def test_only_matching_rules_run_and_many_rules_scale() -> None:
    specs = [RuleSpec(f"r{i}", f"禁词{i:03d}号", "A3.e") for i in range(300)]
    det = RuleDetector.from_specs(specs)
    text = "普通文本" * 2000 + "禁词042号" + "普通文本" * 2000
    found = det.scan(normalize(text))
    assert [f.rule for f in found] == ["r42"]
    assert det._norm.matching("没有命中") == []


def test_max_lookback_per_rule() -> None:
    det = RuleDetector.from_specs(
        [
            RuleSpec("bounded", "代开(增值税)?发票", "A3.e"),  # computed: 7
            RuleSpec("unbounded", "刷单.*返利", "A1.h"),  # default 64
            RuleSpec("re2_only", r"\p{Han}{2}发票", "A3.e"),  # RE2 syntax: default 64
            RuleSpec("declared", "刷单.*返利", "A1.h", max_chars=200),  # operator's bound
        ]
    )
    widths = {r.spec.name: r.max_chars for r in det.rules}
    assert widths == {
        "bounded": 7,
        "unbounded": DEFAULT_MAX_CHARS,
        "re2_only": DEFAULT_MAX_CHARS,
        "declared": 200,
    }
    assert det.max_lookback == 200
    with pytest.raises(RuleError, match="max_chars"):
        compile_rule(RuleSpec("x", "abc", "A3.e", max_chars=0))


def test_rule_spec_of_dict_and_config() -> None:
    spec = RuleSpec.of({"name": "n", "pattern": "abc", "risk": "A3.e", "max_chars": 10})
    assert spec.max_chars == 10 and spec.normalized is True
    policy = parse_policy(policy_with("{name: n, pattern: abc, risk: A3.e, severity: 1, normalized: false}"))
    spec = RuleSpec.of(policy.detectors.rules.rules[0])
    assert (spec.severity, spec.normalized, spec.max_chars) == (1, False, None)


def test_stream_finds_rule_matches_like_check() -> None:
    policy = parse_policy(policy_with("{name: invoice, pattern: '代开(增值税)?发票', risk: A3.e}"))
    mod = Moderator(policy)
    text = "你好，" * 20 + "我们可以代开增值税发票，" + "谢谢。" * 20
    whole = [(f.rule, f.start, f.end) for f in mod.check(text).findings]
    sm = mod.stream()
    got = []
    for i in range(0, len(text), 3):
        got += sm.feed(text[i : i + 3]).findings
    got += sm.close().findings
    assert [(f.rule, f.start, f.end) for f in got] == whole == [("invoice", 64, 71)]


def test_python_re_would_backtrack_on_the_same_pattern() -> None:
    # a sanity check that the test above is meaningful: Python's re takes visibly longer already
    # at 20 characters (2^20 paths), where RE2 takes microseconds
    text = "a" * 20 + "!"
    t0 = time.perf_counter()
    assert re.search("(a+)+$", text) is None
    slow = time.perf_counter() - t0
    det = RuleDetector.from_specs([RuleSpec("r", "(a+)+$", "A1.h", normalized=False)])
    nt = normalize(text)
    t0 = time.perf_counter()
    det.scan(nt)
    fast = time.perf_counter() - t0
    assert slow > 10 * fast
