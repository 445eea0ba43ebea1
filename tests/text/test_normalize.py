"""hegui.text.normalize: every folding kind, exact offsets back to the original, bad input."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hegui.text import NormalizedText, fold, normalize, variants


def norm(s: str) -> str:
    return normalize(s).normalized


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("詐騙", "诈骗"),  # traditional -> simplified (OpenCC)
        ("ＡＢＣ１２３", "abc123"),  # full width
        ("HeLLo", "hello"),  # case
        ("①②③", "123"),  # circled digits
        ("ⒻⓊ", "fu"),  # circled letters
        ("𝐟𝐮𝐜𝐤", "fuck"),  # mathematical bold
        ("壹贰叁", "一二三"),  # financial numerals
        ("ѕех", "sex"),  # Cyrillic look-alikes
        ("ροrn", "porn"),  # Greek rho + omicron
        ("⽔", "水"),  # Kangxi radical
        ("诈@骗", "诈骗"),
        ("诈 骗", "诈骗"),
        ("诈\u3000骗", "诈骗"),  # ideographic space
        ("诈😀骗", "诈骗"),
        ("诈👍🏽骗", "诈骗"),  # emoji + skin tone modifier
        ("诈，骗！", "诈骗"),
        ("诈\u200b骗", "诈骗"),  # ZWSP
        ("诈\u200d骗", "诈骗"),  # ZWJ
        ("\ufeff诈骗", "诈骗"),  # BOM
        ("诈\u00ad骗", "诈骗"),  # soft hyphen
        ("诈\u200e\u200f骗", "诈骗"),  # LRM, RLM
        ("\u202e诈骗\u202c", "诈骗"),  # RLO ... PDF
        ("诈\ufe0f骗", "诈骗"),  # variation selector 16
        ("诈\U000e0101骗", "诈骗"),  # variation selector supplement
        ("诈\U000e0041骗", "诈骗"),  # tag character
        ("e\u0301", "e"),  # combining mark
        ("⿰氵去", "氵去"),  # ideographic description character
        ("诈\x00骗", "诈骗"),  # NUL is deleted by ``fold`` as by ``normalize``
    ],
)
def test_fold_kinds(raw: str, expected: str) -> None:
    assert norm(raw) == expected
    assert fold(raw) == expected  # the build-time helper agrees with the hot path


def test_offsets_symbol_inside_and_outside() -> None:
    nt = normalize("你好，詐@騙！")
    assert nt.normalized == "你好诈骗"
    # deleted chars inside a span are part of it; the ones around it are not
    assert nt.span(2, 4) == (3, 6)
    assert nt.original[3:6] == "詐@騙"
    assert nt.span(0, 1) == (0, 1)
    assert nt.span(4, 4) == (7, 7)  # empty span at the end
    with pytest.raises(IndexError):
        nt.span(3, 9)


def test_identity_text_keeps_offsets() -> None:
    nt = normalize("诈骗abc")
    assert nt.normalized == "诈骗abc"
    assert [nt.span(i, i + 1) for i in range(5)] == [(i, i + 1) for i in range(5)]


def test_supplementary_plane_offsets() -> None:
    nt = normalize("𝐟x😀𠀀")  # math bold f, emoji (deleted), CJK ext B
    assert nt.normalized == "fx𠀀"
    assert nt.span(2, 3) == (3, 4)


def test_phonetic_view_maps_homophones_together() -> None:
    a, b = normalize("诈骗"), normalize("炸骗")
    assert a.phonetic == b.phonetic
    assert len(a.phonetic) == len(a.normalized)
    assert normalize("诈骗").phonetic != normalize("诈钱").phonetic
    mixed = normalize("ab诈1")
    assert mixed.phonetic[:2] == "ab" and mixed.phonetic[3] == "1"


@pytest.mark.parametrize(
    "text",
    ["诈@骗，詐騙！hello Ｗorld", "诈骗abc", "𝐟x😀𠀀诈，骗", "\x00诈\x00", "，。！", "a"],
)
def test_lazy_views_agree_with_the_normalized_text(text: str) -> None:
    from hegui.text._tables import BUCKET_DELETED, syllable_bucket

    nt = normalize(text)
    n = len(nt.normalized)
    # folded: the code points of ``normalized``
    assert [int(c) for c in nt.folded] == [ord(c) for c in nt.normalized]
    # view8 gathers on the original and cuts the deleted chars: same as a per-char lookup
    table = syllable_bucket()
    assert nt.view8(table) == bytes(int(table[ord(c)]) for c in nt.normalized)
    assert BUCKET_DELETED not in nt.view8(table)
    # spans (short and long batches) == span one by one
    pairs = [(i, j) for i in range(n) for j in range(i + 1, min(n, i + 3) + 1)]
    for batch in (pairs[:3], pairs):
        starts, ends = nt.spans([p[0] for p in batch], [p[1] for p in batch])
        assert list(zip(starts, ends, strict=True)) == [nt.span(s, e) for s, e in batch]


def test_identity_constructor_for_raw_text() -> None:
    nt = NormalizedText("abc", "abc")
    assert nt.span(1, 3) == (1, 3)
    with pytest.raises(ValueError):
        NormalizedText("abcd", "abc")


@pytest.mark.parametrize(
    "bad",
    ["", "\x00", "\ud800", "a\udfffb\ud800", "\u202e\u202d\u2066\u2069", "\x00" * 100, "\ufffe\uffff"],
)
def test_bad_input_never_crashes(bad: str) -> None:
    nt = normalize(bad)
    assert isinstance(nt.normalized, str)
    nt.normalized.encode("utf-8")  # never leaves a surrogate behind
    for i in range(len(nt.normalized)):
        nt.span(i, i + 1)


def test_non_str_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="needs str"):
        normalize(b"abc")  # type: ignore[arg-type]


def test_large_input_is_linear() -> None:
    big = ("诈@骗，hello 世界😀\u200b" * 80_000)[:1_200_000]  # 1.2 M chars, mixed
    t0 = time.perf_counter()
    nt = normalize(big)
    elapsed = time.perf_counter() - t0
    assert len(nt.normalized) < len(big)
    s, e = nt.span(len(nt.normalized) - 2, len(nt.normalized))
    assert fold(big[s:e]) == nt.normalized[-2:]
    assert elapsed < 5.0  # ~0.05 s on a quiet core; generous for a shared machine
    assert len(normalize("a" * 3_000_000).normalized) == 3_000_000


def test_variants_lists_the_covered_forms() -> None:
    kinds = dict(variants("诈骗"))
    assert kinds["exact"] == "诈骗"
    assert ("pinyin", "zhapian") in variants("诈骗")
    assert ("initials", "zp") in variants("诈骗")
    assert ("traditional", "詐騙") in variants("诈骗")
    assert ("split", "讠乍骗") in variants("诈骗")
    assert ("homophone", "zha pian") in variants("诈骗")
    assert ("pinyin", "yinhang") in variants("银行")  # phrase reading, not only per character


# --- properties -------------------------------------------------------------------------------

_ALPHABET = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(list("诈骗詐騙大麻煩氵去女干①Ⓕ𝐟ＡａЅ@ 😀，\u200b\u200d\ufeff\u00ad\u202e\ufe0f\x00")),
    st.sampled_from(["\ud800", "\udc00", "\U000e0101", "\U0001f3fd"]),
)
texts = st.lists(_ALPHABET, max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.data())
def test_every_span_maps_back_exactly(text: str, data: st.DataObject) -> None:
    nt = normalize(text)
    n = len(nt.normalized)
    if n == 0:
        return
    s = data.draw(st.integers(0, n - 1))
    e = data.draw(st.integers(s + 1, n))
    a, b = nt.span(s, e)
    # the original span normalizes to exactly the matched normalized text
    assert normalize(text[a:b]).normalized == nt.normalized[s:e]
    # and it starts and ends on kept characters (nothing deleted is dragged in at the edges)
    assert fold(text[a]) and fold(text[b - 1])


@settings(max_examples=200, deadline=None)
@given(texts)
def test_normalization_is_idempotent_and_deterministic(text: str) -> None:
    once = normalize(text).normalized
    assert normalize(once).normalized == once
    assert normalize(text).normalized == once
    assert len(normalize(text).phonetic) == len(once)
