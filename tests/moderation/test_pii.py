"""PII recognizers: validation (so random digits do not fire), masking, locality, policy wiring."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hegui.moderation import Moderator
from hegui.moderation.pii import (
    PROVINCE_CODES,
    REGISTRY,
    PIIDetector,
    RegexRecognizer,
    mask,
    recognizers,
    register,
)
from hegui.policy import PolicyError, default_policy, parse_policy
from hegui.text import normalize

DET = PIIDetector(recognizers())


def scan(text: str) -> list[tuple[str, str]]:
    return [(f.rule, f.matched) for f in DET.scan(normalize(text))]


def rules(text: str) -> set[str]:
    return {r for r, _ in scan(text)}


# --- independent reference implementations (not the module's own helpers) ------------------------
def ref_id_ok(s: str) -> bool:
    """GB 11643: weights 7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2; check table 1 0 X 9 8 7 6 5 4 3 2."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    if len(s) != 18 or not s[:17].isdigit():
        return False
    check = "10X98765432"[sum(int(c) * w for c, w in zip(s, weights, strict=False)) % 11]
    if s[17].upper() != check:
        return False
    provinces = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    provinces |= {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82}
    if int(s[:2]) not in provinces:
        return False
    try:
        born = dt.date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    return dt.date(1900, 1, 1) <= born <= dt.date.today()


def make_id(prefix17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return prefix17 + "10X98765432"[sum(int(c) * w for c, w in zip(prefix17, weights, strict=True)) % 11]


def luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        s = prefix + d
        total = 0
        for i, c in enumerate(reversed(s)):
            v = int(c) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return s
    raise AssertionError


ID = make_id("11010519491231002")
CARD = luhn_complete("622202100112345678")  # 19-digit UnionPay
VISA = luhn_complete("411111111111111")


def test_province_codes_are_the_34_province_level_divisions() -> None:
    assert len(PROVINCE_CODES) == 34
    assert {"11", "50", "65", "71", "81", "82"} <= PROVINCE_CODES
    assert not {"10", "16", "24", "38", "47", "55", "66", "70", "83", "99"} & PROVINCE_CODES


# --- ID numbers ------------------------------------------------------------------------------------
def test_cn_id_valid_and_separated_and_fullwidth() -> None:
    assert scan(f"身份证号{ID}。") == [("cn_id", ID)]
    spaced = f"{ID[:6]} {ID[6:14]} {ID[14:]}"
    assert ("cn_id", spaced) in scan(f"号码：{spaced}")
    full = ID.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert ("cn_id", full) in scan(f"证件{full}")


def test_cn_id_rejects_bad_checksum_date_region_and_embedded() -> None:
    bad_check = ID[:17] + ("0" if ID[17] != "0" else "1")
    assert "cn_id" not in rules(bad_check)
    assert "cn_id" not in rules(make_id("11010519491331002"))  # month 13
    assert "cn_id" not in rules(make_id("11010519490230002"))  # 30 February
    assert "cn_id" not in rules(make_id("99010519491231002"))  # no province 99
    assert "cn_id" not in rules(make_id("11010521991231002"))  # born in 2199
    assert "cn_id" not in rules("9" + ID)  # part of a longer number


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789", min_size=18, max_size=18))
def test_random_18_digits_fire_only_when_valid(s: str) -> None:
    assert ("cn_id" in rules(s)) == ref_id_ok(s)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.integers(0, 9999),
    st.dates(dt.date(1900, 1, 1), dt.date.today()),
    st.integers(0, 999),
)
def test_generated_valid_ids_always_fire(prov: str, county: int, born: dt.date, seq: int) -> None:
    s = make_id(f"{prov}{county:04d}{born:%Y%m%d}{seq:03d}")
    assert ("cn_id", s) in scan(f"身份证：{s}")


# --- phones ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "phone",
    [
        "13812345678",
        "138-1234-5678",
        "138 1234 5678",
        "+86 13812345678",
        "+8613812345678",
        "0086-138-1234-5678",
        "(+86)13912345678",
        "１３８１２３４５６７８",
    ],
)
def test_mobile_forms(phone: str) -> None:
    assert scan(f"电话{phone}，谢谢") == [("cn_mobile", phone)]


@pytest.mark.parametrize(
    "text", ["12812345678", "138123456789", "订单号213812345678", "138-1234 5678", "1381234567"]
)
def test_mobile_negatives(text: str) -> None:
    assert "cn_mobile" not in rules(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_random_11_digits_fire_only_with_a_mobile_prefix(s: str) -> None:
    assert ("cn_mobile" in rules(s)) == (s[0] == "1" and s[1] in "3456789")


@pytest.mark.parametrize(
    "phone", ["010-62345678", "(021)62345678", "0755-2345678", "0571 87654321", "（010）62345678"]
)
def test_landline_forms(phone: str) -> None:
    assert ("cn_landline", phone) in scan(f"座机{phone}")


@pytest.mark.parametrize("text", ["011-62345678", "0755-1234567", "010-0234567", "0210-62345678"])
def test_landline_negatives(text: str) -> None:
    assert "cn_landline" not in rules(text)


# --- bank cards ------------------------------------------------------------------------------------
def test_bank_cards() -> None:
    assert ("bank_card", CARD) in scan(f"卡号{CARD}")
    grouped = " ".join(VISA[i : i + 4] for i in range(0, 16, 4))
    assert ("bank_card", grouped) in scan(f"card {grouped} ok")
    assert ("bank_card", VISA) in scan(VISA)


def test_bank_card_negatives() -> None:
    wrong = CARD[:-1] + str((int(CARD[-1]) + 1) % 10)
    assert "bank_card" not in rules(wrong)  # Luhn
    assert "bank_card" not in rules(luhn_complete("999999999999999"))  # no known IIN
    odd_groups = f"{VISA[:3]} {VISA[3:9]} {VISA[9:]}"
    assert "bank_card" not in rules(odd_groups)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=14, max_size=14))
def test_random_unionpay_fires_only_with_luhn(tail: str) -> None:
    s = "62" + tail
    total = sum((v - 9 if (v := int(c) * (2 if i % 2 else 1)) > 9 else v) for i, c in enumerate(reversed(s)))
    assert ("bank_card" in rules(s)) == (total % 10 == 0)


# --- e-mail, passport, plates, IPs, addresses ------------------------------------------------------
def test_email() -> None:
    assert scan("联系 zhang.san+work@mail.example.com.cn 吧") == [
        ("email", "zhang.san+work@mail.example.com.cn")
    ]
    assert "email" not in rules("a..b@example.com")
    assert "email" not in rules("name@localhost")


def test_passport_scores_with_context() -> None:
    found = DET.scan(normalize("我的护照号码是E12345678。"))
    assert [(f.rule, f.matched, f.score) for f in found] == [("passport", "E12345678", 0.95)]
    bare = DET.scan(normalize("型号 G12345678 已售罄"))
    assert [(f.rule, f.score) for f in bare] == [("passport", 0.6)]
    assert "passport" not in rules("E1234567890")
    assert "passport" not in rules("ABE12345678")


@pytest.mark.parametrize(
    "plate", ["京A12345", "沪B·D1234F"[:-1], "粤BD12345", "苏E12345D", "浙A1234学", "滬A12345", "川a 8b888"]
)
def test_plates(plate: str) -> None:
    assert ("cn_plate", plate) in scan(f"车牌{plate}停在楼下")


@pytest.mark.parametrize("text", ["苏ABCDE", "京A123456789", "京I12345"])
def test_plate_negatives(text: str) -> None:
    assert "cn_plate" not in rules(text)


def test_ips() -> None:
    assert ("ipv4", "203.0.113.7") in scan("服务器IP是203.0.113.7。")
    assert "ipv4" not in rules("版本 1.2.3.4 已发布")
    assert "ipv4" not in rules("v1.2.3.4")
    assert "ipv4" not in rules("127.0.0.1 与 0.0.0.0")
    assert "ipv4" not in rules("256.1.1.1")
    assert "ipv4" not in rules("1.2.3.4.5")
    assert ("ipv6", "2001:db8:85a3::8a2e:370:7334") in scan("地址 2001:db8:85a3::8a2e:370:7334 可达")
    assert "ipv6" not in rules("时间12:30:45 和 ::1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我住在北京市朝阳区建国路88号3栋1201室，欢迎来玩", "北京市朝阳区建国路88号3栋1201室"),
        ("寄到浙江省杭州市西湖区文三路 90 号", "浙江省杭州市西湖区文三路 90 号"),
        ("她家在阳光花园5栋2单元302室", "阳光花园5栋2单元302室"),
    ],
)
def test_addresses(text: str, expected: str) -> None:
    assert ("cn_address", expected) in scan(text)


@pytest.mark.parametrize(
    "text", ["我住在北京市朝阳区", "3月5号我们去南京路逛街", "一路走来不容易", "知道3号线怎么走吗"]
)
def test_address_negatives(text: str) -> None:
    assert "cn_address" not in rules(text)


# --- masking -------------------------------------------------------------------------------------
def test_mask_styles() -> None:
    text = f"ID {ID} 手机 +86 138-1234-5678 卡 {CARD} 邮箱 lisi@example.com IP 203.0.113.7 住建国路88号3栋"
    out = mask(text, DET.scan(normalize(text)))
    assert f"ID {ID[:6]}********{ID[-4:]}" in out
    assert "+86 138-****-5678" in out
    assert f"{CARD[:4]}{'*' * (len(CARD) - 8)}{CARD[-4:]}" in out
    assert "l***@example.com" in out
    assert "203.0.***.*" in out
    assert "建国路**号*栋" in out
    assert len(out) == len(text)
    assert DET.mask(text, DET.scan(normalize(text)), "#").count("#") == out.count("*")


def test_mask_ignores_other_detectors_and_overlaps_combine() -> None:
    from hegui.moderation.types import Finding

    text = "abc13812345678"
    fs = DET.scan(normalize(text)) + [Finding("A1.h", "lexicon", 0, 3, "abc")]
    assert mask(text, fs) == "abc138****5678"
    whole = Finding("A4.f", "pii", 3, 14, text[3:], rule="unknown")
    assert mask(text, [*fs, whole]) == "abc" + "*" * 11


# --- locality, registry, policy -------------------------------------------------------------------
SAMPLE = (
    f"张三，身份证{ID}，手机13912345678，家住上海市浦东新区世纪大道100号8楼801室，"
    f"卡号{CARD}，邮箱zs@example.org，车牌沪A12345，IP 198.51.100.23，护照E87654321。"
)


def test_every_match_fits_max_lookback_and_windows_find_it() -> None:
    found = DET.scan(normalize(SAMPLE))
    assert len({f.rule for f in found}) >= 8
    rnd = random.Random(7)
    for f in found:
        assert f.end - f.start <= DET.max_lookback
        for _ in range(5):
            # any window that holds the match plus one character of context finds it again
            a = max(0, f.start - 1 - rnd.randint(0, 10))
            b = min(len(SAMPLE), f.end + 1 + rnd.randint(0, 10))
            sub = [(g.rule, g.start + a, g.end + a) for g in DET.scan(normalize(SAMPLE[a:b]))]
            assert (f.rule, f.start, f.end) in sub, (f, SAMPLE[a:b])


def test_stream_finds_the_same_pii_as_check() -> None:
    policy = default_policy()
    mod = Moderator(policy, detectors=[DET])
    whole = {(f.rule, f.start, f.end) for f in mod.check(SAMPLE).findings}
    sm = mod.stream()
    got = []
    for i in range(0, len(SAMPLE), 5):
        got += sm.feed(SAMPLE[i : i + 5]).findings
    got += sm.close().findings
    assert {(f.rule, f.start, f.end) for f in got} == whole


def test_policy_types_select_recognizers_and_unknown_types_fail() -> None:
    policy = default_policy()
    assert {r.name for r in PIIDetector.from_policy(policy).recognizers} == set(REGISTRY)
    policy.detectors.pii.types = ["cn_mobile", "email"]
    det = PIIDetector.from_policy(policy)
    assert [r.name for r in det.recognizers] == ["cn_mobile", "email"]
    policy.detectors.pii.types = ["cn_mobile", "ssn"]
    with pytest.raises(PolicyError, match="ssn"):
        PIIDetector.from_policy(policy)


def test_register_a_custom_recognizer() -> None:
    import re

    class EmployeeId(RegexRecognizer):
        name = "employee_id_test"
        pattern = re.compile(r"(?<![A-Z0-9])EMP-[0-9]{6}(?![0-9])")
        keep = (3, 0)

    register(EmployeeId)
    try:
        det = PIIDetector(recognizers(["employee_id_test"]))
        assert det.max_lookback == 11
        fs = det.scan(normalize("工号EMP-123456"))
        assert [(f.rule, f.risk) for f in fs] == [("employee_id_test", "A4.f")]
        assert det.mask("工号EMP-123456", fs) == "工号EMP-******"
        with pytest.raises(ValueError, match="already registered"):
            register(EmployeeId)
    finally:
        REGISTRY.pop("employee_id_test", None)


def test_findings_are_personal_information_with_severity() -> None:
    for f in DET.scan(normalize(SAMPLE)):
        assert f.risk == "A4.f" and f.detector == "pii" and f.severity in (2, 3)
        assert SAMPLE[f.start : f.end] == f.matched


_PIECES = [
    ID,
    CARD,
    "13912345678",
    "138-1234-5678",
    "010-62345678",
    "zs@example.org",
    "沪A12345",
    "198.51.100.23",
    "2001:db8::1",
    "护照E87654321",
    "建国路88号3栋1201室",
    "1.2.3",
    "12345678901234567890",
    "-",
    " ",
    "号",
    "今天天气不错，",
    "我们在讨论一些普通的话题。",
    "0",
    "9",
]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=150, max_size=400))
def test_windowed_find_equals_whole_text_scan(pieces: list[str]) -> None:
    # long texts take the windowed path (gate hits + padded windows): it must equal a whole scan
    text = "".join(pieces)
    assume(len(text) >= RegexRecognizer.WHOLE_TEXT_BELOW)
    nt = normalize(text)
    for rec in recognizers():
        src = nt.normalized if rec.source == "normalized" else text
        assert isinstance(rec, RegexRecognizer)
        assert list(rec.find(src)) == list(rec.scan_all(src)), rec.name


def test_the_union_prefilter_needs_a_character_every_gate_match_has() -> None:
    pre = DET._prefilter["original"]
    assert pre is not None and pre.needed is not None
    # Chinese text with no digit, "@", ":" or Latin letter skips every recognizer at once
    assert not pre.search("今天天气很好，我们去新疆和云南旅游。")
    assert pre.search("联系 13812345678") and pre.search("京A12345") and pre.search("a@b.cn")


PII_ALPHABET = st.sampled_from(list("0123456789０１２３ -@.:京沪云新ABXabx号栋室路市区我的是，"))


@settings(max_examples=400, deadline=None)
@given(st.text(PII_ALPHABET, max_size=60))
def test_prefilter_never_changes_what_the_recognizers_find(text: str) -> None:
    plain = PIIDetector(recognizers())
    plain._prefilter = {"original": None, "normalized": None}
    nt = normalize(text)
    assert DET.scan(nt) == plain.scan(nt)


PII_PIECES = st.sampled_from(
    [
        "我住在",
        "北京市",
        "朝阳区",
        "建国路",
        "88号",
        "3栋",
        "502室",
        "阳光花园",
        "的",
        "了",
        "。",
        "，",
        " ",
        "联系",
        "13812345678",
        "138 1234 5678",
        "+86",
        "010-",
        "62345678",
        "abc.def",
        "@",
        "example",
        ".com",
        "110105199001010021",
        "6222",
        "0212",
        "3456",
        "7890",
        "京A",
        "12345",
        "E12345678",
        "护照",
        "192.168",
        ".1.1",
        "fe80::1",
        "１３８",
        "公园散步",
        "很好",
        "x",
        "-",
        "\u3000",
    ]
)


@settings(max_examples=250, deadline=None)
@given(st.lists(PII_PIECES, max_size=24), st.lists(st.integers(0, 200), max_size=20))
def test_stream_settling_early_never_changes_the_pii_found(pieces: list[str], cuts: list[int]) -> None:
    # settle_from lets the stream release text long before max_lookback; scanning at every chunk
    # (max_wait=0) uses it as often as possible, and the findings must still be the whole text's
    text = "".join(pieces)
    mod = Moderator(parse_policy("default_action: flag\n"), detectors=[DET])
    whole = sorted((f.rule, f.start, f.end) for f in mod.check(text).findings)
    sm = mod.stream(batch=10_000, max_wait=0)
    released, prev = [], 0
    for c in sorted({c for c in cuts if c < len(text)}) + [len(text)]:
        u = sm.feed(text[prev:c])
        released.append(u.release)
        prev = c
    released.append(sm.close().release)
    assert "".join(released) == text
    assert sorted((f.rule, f.start, f.end) for f in sm.findings) == whole


def test_alphabet_counts_look_aheads_that_read_past_the_match() -> None:
    import re

    from hegui.moderation.pii import pattern_alphabet

    # "abc" followed by "x" at the end may still be cancelled by a "y": x must keep it open
    assert pattern_alphabet(re.compile(r"abc(?!xy)")) == frozenset("abcxy")
    # a look-behind reads only what was seen
    assert pattern_alphabet(re.compile(r"(?<![0-9])12")) == frozenset("12")
    # (?!X)[C] restricts the one character it stands before (the address's place-name character);
    # before a repeat it restricts only the first, so X stays in the alphabet
    han = frozenset(chr(c) for c in range(ord("一"), ord("龥") + 1))
    assert pattern_alphabet(re.compile(r"(?:(?![的了])[一-龥]){2}")) == han - {"的", "了"}
    assert pattern_alphabet(re.compile(r"(?![的了])[一-龥]{2}")) == han
    assert pattern_alphabet(re.compile(r"a.b")) is None
