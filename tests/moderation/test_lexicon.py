"""Lexicon loading (formats, errors, scale) and the lexicon detector (every variant kind)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hegui.moderation.lexicon import (
    Lexicon,
    LexiconDetector,
    LexiconEntry,
    LexiconError,
    LexiconOptions,
    load_lexicon,
)
from hegui.moderation.types import Detector, Finding
from hegui.policy import default_policy
from hegui.text import fold, normalize

FIX = Path(__file__).parent / "fixtures" / "lexicon"


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return load_lexicon([FIX / "basic.tsv", FIX / "extra.csv", FIX / "extra.yaml"])


@pytest.fixture(scope="module")
def det(lexicon: Lexicon) -> LexiconDetector:
    return LexiconDetector(lexicon)


def hits(det: LexiconDetector, text: str) -> list[tuple[str, str, str]]:
    """(matched original text, rule, variant) of every finding, checking the offsets on the way."""
    out = []
    for f in det.scan(normalize(text)):
        assert text[f.start : f.end] == f.matched
        out.append((f.matched, f.rule, f.variant))
    return out


# --- loading ----------------------------------------------------------------------------------


def test_loads_tsv_csv_yaml_and_merges(lexicon: Lexicon) -> None:
    terms = lexicon.terms()
    assert "诈骗" in terms and "赌博网站" in terms and "人肉搜索" in terms
    assert len(lexicon) == 8 + 2 + 2
    e = next(e for e in lexicon if e.term == "大麻")
    assert e.exceptions == ("大麻烦", "大麻花") and e.tags == ("drugs",) and e.severity == 2
    assert e.source.endswith("basic.tsv:5")
    y = next(e for e in lexicon if e.term == "人肉搜索")
    assert y.variants == ("开盒",) and y.risk == "A4.e" and y.severity == 2
    assert next(e for e in lexicon if e.term == "代开发票").tags == ("fraud",)
    assert lexicon.count_by_risk()["A1.h"] == 7
    merged = Lexicon.merge(lexicon, Lexicon([LexiconEntry("新词", "A1.h")]))
    assert len(merged) == len(lexicon) + 1


def test_gb18030_file() -> None:
    raw = (FIX / "gb18030.tsv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert Lexicon.from_file(FIX / "gb18030.tsv").terms() == ["诈骗团伙"]


def test_builtin_seed_loads_even_if_empty() -> None:
    lex = load_lexicon(["builtin:seed"])
    assert isinstance(lex, Lexicon)
    for e in lex:  # whatever the data worker has written so far must be valid
        assert e.term and e.risk


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("term\trisk\n诈骗\tA9.z\n", 2, "unknown risk code 'A9.z'"),
        ("term\trisk\tseverity\n诈骗\tA1.h\t5\n", 2, "bad severity '5'"),
        ("term\trisk\tseverity\n诈骗\tA1.h\thigh\n", 2, "bad severity 'high'"),
        ("# c\nterm\trisk\n\tA1.h\n", 3, "empty term"),
        ("term\trisk\n诈骗\t\n", 2, "has no risk code"),
        ("term\trisk\texceptions\n大麻\tA1.h\t麻烦\n", 2, "does not contain the term"),
        ("term\trisk\tcolour\n", 1, "unknown column"),
        ("term\tseverity\n诈骗\t2\n", 1, "no 'risk' column"),
        ("term\trisk\n诈骗\tA1.h\t2\tx\n", 2, "columns"),
    ],
)
def test_malformed_tsv_names_file_and_line(tmp_path: Path, content: str, line: int, reason: str) -> None:
    p = tmp_path / "bad.tsv"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError) as ei:
        Lexicon.from_file(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}:{line}:"), msg
    assert reason in msg


def test_malformed_yaml_and_csv(tmp_path: Path) -> None:
    y = tmp_path / "bad.yaml"
    y.write_text("- {term: 诈骗, risk: A1.h}\n- {term: 赌博, risk: nope}\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"bad\.yaml:2: unknown risk code"):
        Lexicon.from_file(y)
    y.write_text("- {term: 诈骗, risk: A1.h, colour: red}\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"bad\.yaml:1: unknown key"):
        Lexicon.from_file(y)
    y.write_text("- {term: [unclosed\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"bad\.yaml:\d+: invalid YAML"):
        Lexicon.from_file(y)
    c = tmp_path / "bad.csv"
    c.write_text("term,risk,severity\n诈骗,A1.h,2\n赌博,A1.h,0\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"bad\.csv:3: bad severity"):
        Lexicon.from_file(c)


def test_other_file_errors(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="not found"):
        Lexicon.from_file(tmp_path / "missing.tsv")
    j = tmp_path / "terms.json"
    j.write_text("[]", encoding="utf-8")
    with pytest.raises(LexiconError, match="unknown lexicon file type"):
        Lexicon.from_file(j)
    b = tmp_path / "binary.tsv"
    b.write_bytes(b"term\trisk\n\xff\xff\xff\n")
    with pytest.raises(LexiconError, match=r"binary\.tsv:1: not UTF-8 or GB18030"):
        Lexicon.from_file(b)


def _synthetic_tsv(path: Path, n: int) -> None:
    rng = random.Random(3)
    risks = ["A1.d", "A1.e", "A1.f", "A1.g", "A1.h", "A2.a", "A2.e", "A3.b"]
    seen: set[str] = set()
    lines = ["term\trisk\tseverity\tvariants\texceptions\ttags"]
    while len(seen) < n:
        t = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 5)))
        if t not in seen:
            seen.add(t)
            lines.append(f"{t}\t{rng.choice(risks)}\t{rng.randint(1, 3)}\t\t\t")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_loads_100k_terms_quickly(tmp_path: Path) -> None:
    p = tmp_path / "big.tsv"
    _synthetic_tsv(p, 100_000)
    t0 = time.perf_counter()
    lex = Lexicon.from_file(p)
    elapsed = time.perf_counter() - t0
    assert len(lex) == 100_000
    print(f"loaded 100k terms in {elapsed:.2f} s")
    assert elapsed < 30  # ~1 s on a quiet core


# --- detection --------------------------------------------------------------------------------


def test_detector_protocol(det: LexiconDetector) -> None:
    assert isinstance(det, Detector)
    assert det.name == "lexicon"
    assert det.max_lookback >= len("xiqianfanzui")  # the longest pattern is a pinyin spelling


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("他在诈骗老人", ("诈骗", "诈骗", "exact")),
        ("詐騙", ("詐騙", "诈骗", "normalized")),
        ("诈@骗", ("诈@骗", "诈骗", "normalized")),
        ("诈 骗", ("诈 骗", "诈骗", "normalized")),
        ("诈😀骗", ("诈😀骗", "诈骗", "normalized")),
        ("诈\u200b骗", ("诈\u200b骗", "诈骗", "normalized")),
        ("强\u202e奸", ("强\u202e奸", "强奸", "normalized")),
        ("ＰＯＲＮ", ("ＰＯＲＮ", "porn", "normalized")),
        ("p.o.r.n", ("p.o.r.n", "porn", "normalized")),
        ("ροrn", ("ροrn", "porn", "normalized")),
        ("zhapian", ("zhapian", "诈骗", "pinyin")),
        ("我要 zha pian 你", ("zha pian", "诈骗", "pinyin")),
        ("ZhaPian", ("ZhaPian", "诈骗", "pinyin")),
        ("xi qian fan zui", ("xi qian fan zui", "洗钱犯罪", "pinyin")),
        ("他是zp团伙", ("zp", "诈骗", "initials")),  # tagged initials: any length
        ("这是ffjz", ("ffjz", "非法集资", "initials")),  # >= 3 characters
        ("洗前犯罪", ("洗前犯罪", "洗钱犯罪", "homophone")),
        ("强女干", ("强女干", "强奸", "split")),
        ("非氵去集资", ("非氵去集资", "非法集资", "split")),
        ("地图炮", ("地图炮", "地域黑", "variant")),
        ("菠菜网站", ("菠菜网站", "赌博网站", "variant")),
    ],
)
def test_detects_every_variant_kind(det: LexiconDetector, text: str, expected: tuple[str, str, str]) -> None:
    assert expected in hits(det, text)


def test_scores_and_severity(det: LexiconDetector) -> None:
    by_kind = {f.variant: f for t in ("诈骗", "zhapian", "zp", "洗前犯罪") for f in det.scan(normalize(t))}
    assert by_kind["exact"].score == 1.0 and by_kind["exact"].severity == 3
    assert by_kind["pinyin"].score < 1.0 and by_kind["homophone"].score < 1.0
    assert by_kind["initials"].score < by_kind["pinyin"].score
    assert all(f.detector == "lexicon" and f.risk == "A1.h" for f in by_kind.values())


@pytest.mark.parametrize(
    "text",
    [
        "woyaozhapian",  # pinyin glued into a longer Latin word
        "zhapianist",
        "pornhub",  # a Latin term only counts as a whole word
        "aporn",
        "zpx",
        "fj",  # two-letter initials of an untagged term
        "这个大麻烦事",  # exception
        "吃大麻花",  # exception
        "洗前犯罪学",  # exception shields the homophone too
        "炸骗",  # two-character homophone: below homophone_min_chars (3)
        "加强女干部培训",  # 干部 is a word: no recombination into 奸
        "日月星辰",
        "",
    ],
)
def test_no_false_hits(det: LexiconDetector, text: str) -> None:
    assert hits(det, text) == []


def test_exception_only_covers_its_own_occurrence(det: LexiconDetector) -> None:
    found = hits(det, "大麻烦，但他卖大麻")
    assert found == [("大麻", "大麻", "exact")]
    f = det.scan(normalize("大麻烦，但他卖大麻"))[0]
    assert (f.start, f.end) == (7, 9)


def test_many_findings_with_deleted_chars_map_back(det: LexiconDetector) -> None:
    # more findings than the scalar span path handles: the batched path must agree
    text = "，".join(["诈@骗", "大麻", "zha pian", "洗前犯罪", "强女干"] * 4)
    found = hits(det, text)  # checks text[start:end] == matched for each
    assert len(found) >= 20
    assert found.count(("诈@骗", "诈骗", "normalized")) == 4
    assert found.count(("洗前犯罪", "洗钱犯罪", "homophone")) == 4
    assert found.count(("强女干", "强奸", "split")) == 4


def test_overlapping_terms_are_all_reported(det: LexiconDetector) -> None:
    rules = {r for _, r, _ in hits(det, "电信诈骗")}
    assert rules == {"诈骗", "电信诈骗"}


def test_findings_do_not_depend_on_the_window(det: LexiconDetector) -> None:
    text = "前文电信诈骗后文，zha pian，大麻"
    full = {(f.start, f.end, f.rule, f.variant) for f in det.scan(normalize(text))}
    assert full
    for lo in range(len(text)):
        for hi in range(lo + 1, len(text) + 1):
            win = {(f.start + lo, f.end + lo, f.rule, f.variant) for f in det.scan(normalize(text[lo:hi]))}
            inside = {x for x in full if lo <= x[0] and x[1] <= hi}
            # a window finds exactly the findings that lie inside it (pinyin/initials may also fire
            # on a truncated Latin word at a window edge, which the stream's lookback covers)
            assert inside <= win, (lo, hi)


def test_homophones_for_short_terms_when_configured(lexicon: Lexicon) -> None:
    det2 = LexiconDetector(lexicon, LexiconOptions(homophone_min_chars=2))
    assert ("炸骗", "诈骗", "homophone") in hits(det2, "炸骗")


def test_options_turn_kinds_off(lexicon: Lexicon) -> None:
    plain = LexiconDetector(
        lexicon, LexiconOptions(pinyin=False, initials=False, homophones=False, split_chars=False)
    )
    assert hits(plain, "zhapian 洗前犯罪 强女干 zp") == []
    assert hits(plain, "詐@騙") == [("詐@騙", "诈骗", "normalized")]


def test_from_policy_reads_detectors_lexicon() -> None:
    policy = default_policy().model_copy(deep=True)
    policy.detectors.lexicon.paths = [str(FIX / "basic.tsv")]
    policy.detectors.lexicon.homophones = False
    det = LexiconDetector.from_policy(policy)
    assert len(det) == 8
    assert hits(det, "洗前犯罪") == []
    assert ("诈骗", "诈骗", "exact") in hits(det, "诈骗")


def test_duplicate_rows_merge_in_the_detector() -> None:
    lex = Lexicon(
        [
            LexiconEntry("诈骗", "A1.h", 1),
            LexiconEntry("詐騙", "A1.h", 3, exceptions=("詐騙犯罪學",)),
            LexiconEntry("诈骗", "A4.a", 2),
        ]
    )
    det = LexiconDetector(lex)
    found = det.scan(normalize("诈骗"))
    assert sorted((f.risk, f.severity) for f in found) == [("A1.h", 3), ("A4.a", 2)]


# --- robustness -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "诈\ud800骗", "\u202e\u202d", "\x00诈\x00骗\x00"])
def test_bad_input_never_crashes(det: LexiconDetector, bad: str) -> None:
    for f in det.scan(normalize(bad)):
        assert isinstance(f, Finding)
    assert hits(det, "\x00诈\x00骗\x00") == [("诈\x00骗", "诈骗", "normalized")]


def test_large_input(det: LexiconDetector) -> None:
    text = ("正常的文字，没有问题。" * 100_000) + "诈骗"  # 1.1 M chars
    t0 = time.perf_counter()
    found = det.scan(normalize(text))
    assert [(f.rule, f.start) for f in found] == [("诈骗", len(text) - 2)]
    assert time.perf_counter() - t0 < 10


_PIECES = st.sampled_from(
    ["诈", "骗", "詐", "騙", "@", " ", "😀", "\u200b", "zha", "pian", "z", "p", "大麻", "烦", "女", "干", "强", "氵",
     "去", "非", "集资", "洗", "前", "犯罪", "porn", "Ｐ", "\ud800", "\x00", "学", "的"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=25).map("".join))
def test_property_findings_map_back_exactly(text: str) -> None:
    det = _DET
    nt = normalize(text)
    for f in det.scan(nt):
        assert 0 <= f.start < f.end <= len(text)
        assert text[f.start : f.end] == f.matched
        key = fold(f.matched)
        assert key, f  # a finding never starts or ends on a deleted character
        assert fold(text[f.start]) and fold(text[f.end - 1])
        if f.variant in ("exact", "normalized"):
            assert key == fold(f.rule)  # the original span normalizes to the term itself


_DET = LexiconDetector(load_lexicon([FIX / "basic.tsv", FIX / "extra.csv", FIX / "extra.yaml"]))
