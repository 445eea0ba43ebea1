"""Code-point lookup tables behind ``hegui.text.normalize``.

Everything here is built once per process (lazily, ~0.5 s) from installed sources, never typed
by hand except the small Cyrillic/Greek look-alike list and the financial numerals:

* Unicode data (``unicodedata``): NFKC folding (full-width, circled, styled letters), case, and
  the categories that are deleted (invisible, spaces, punctuation, symbols, emoji, marks).
* OpenCC ``t2s``: traditional -> simplified, character by character.
* pypinyin's character dictionary: the toneless pinyin of every character (for homophones and
  pinyin spellings).

Building ``FOLD`` and ``PHON`` walks every code point in Python (~0.6 s, half of building a
moderator), and every process pays it: each corpus worker, each Ray task process, each CLI call.
So both are kept in a disk cache (``cache_dir()``), under a key that changes with this file,
Python, the Unicode version and the versions of OpenCC, pypinyin and numpy; a missing, stale or
unreadable entry is simply rebuilt (``HEGUI_TABLE_CACHE=0`` turns the cache off).

The tables are numpy arrays indexed by code point so that normalization is a gather in C, not a
Python loop: ``FOLD[cp]`` is the folded code point or 0 (= delete; U+0000 itself is deleted), and
``PHON[cp]`` maps a folded CJK character to the code point standing for its syllable, so that two characters with the same toneless pinyin become the same code point.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from hegui.config import cache_home

N_CODEPOINTS = 0x110000
DELETE = 0  # FOLD value meaning "drop this character"
# Syllable ids are written as code points spread over the CJK block (0x4E00 + 48 * id) rather than
# as consecutive private-use code points: the phonetic view then has the byte statistics of
# ordinary Chinese and the automaton's prefilter stays effective (with all-PUA text every char
# starts with byte 0xEE and matching was 5x slower, measured). The view is separate from the
# text, so a representative never means its own character there: CJK chars without a reading
# become U+25A1 (a symbol, which never survives FOLD).
SYL_BASE = 0x4E00
SYL_STEP = 48
NO_READING = 0x25A1


def syllable_char(sid: int) -> str:
    return chr(SYL_BASE + SYL_STEP * sid)


# Unicode categories removed before matching: invisible/format/control, surrogates, private use,
# separators, non-spacing/enclosing marks, all punctuation and symbols (emoji are So/Sk).
_DELETED_CATEGORIES = frozenset(
    {"Cc", "Cf", "Cs", "Co", "Zs", "Zl", "Zp", "Mn", "Me", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"}
    | {"Sm", "Sc", "Sk", "So"}
)

# Invisible letters that the categories above miss (Hangul fillers are "Lo" but render blank).
_EXTRA_DELETED = (0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800)

# Cyrillic and Greek letters that look like Latin ones (lower case; upper case is lowered first).
_CONFUSABLES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ɡ": "g", "ɑ": "a", "ı": "i",
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
    "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "ϲ": "c", "μ": "u",
}  # fmt: skip

# Financial ("capital") numerals written to dodge filters -> ordinary numerals.
_NUMERALS = dict(zip("壹贰貳叁參肆伍陆陸柒捌玖拾佰仟", "一二二三三四五六六七八九十百千", strict=True))

# CJK blocks handed to OpenCC (unified, extensions A-F, compatibility ideographs).
_CJK_RANGES = ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00), (0x20000, 0x2FA20))


def is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp < hi for lo, hi in _CJK_RANGES)


@cache
def _t2s() -> dict[int, int]:
    """Traditional -> simplified per character, from OpenCC (one conversion call, ~0.1 s)."""
    import opencc

    chars = [chr(c) for lo, hi in _CJK_RANGES for c in range(lo, hi)]
    out = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    if len(out) != len(chars):  # a phrase rule crossed a newline: fall back to one call per char
        cc = opencc.OpenCC("t2s")
        out = [cc.convert(c) for c in chars]
    return {ord(a): ord(b) for a, b in zip(chars, out, strict=True) if a != b and len(b) == 1}


def _deleted(ch: str) -> bool:
    cp = ord(ch)
    if cp in _EXTRA_DELETED or 0xE0000 <= cp <= 0xE0FFF:  # tags, variation selectors supplement
        return True
    cat = unicodedata.category(ch)
    if cat == "Cn":  # unassigned here, but likely a newer emoji: drop in the emoji planes only
        return 0x1F000 <= cp <= 0x1FFFF
    return cat in _DELETED_CATEGORIES


def _fold_char(ch: str, t2s: dict[int, int]) -> str:
    """One folding step; returns "" for deletion. Multi-character results keep the input char
    (the table is 1:1-or-delete so offsets stay a simple index map)."""
    f = ch
    if unicodedata.decomposition(ch):  # only these can change under NFKC
        n = unicodedata.normalize("NFKC", ch)
        if len(n) == 1:
            f = n  # before the deletion test: Kangxi radical ⽔ (So) is the letter 水
    if _deleted(f):
        return ""
    low = f.lower()
    if len(low) == 1:
        f = low
    f = _CONFUSABLES.get(f, f)
    f = chr(t2s.get(ord(f), ord(f)))
    f = _NUMERALS.get(f, f)
    if _deleted(f):
        return ""
    if ord(ch) <= 0xFFFF < ord(f):
        # keep BMP text in the BMP (a few t2s targets and compatibility ideographs are not), so
        # that BMP-only input is folded entirely with the 16-bit table
        return ch
    return f


# --------------------------------------------------------------------------------------------
# the disk cache


def cache_dir() -> Path:
    return cache_home("tables")


@cache
def _cache_key() -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    versions = [sys.version, unicodedata.unidata_version]
    for dist in ("opencc", "OpenCC", "pypinyin", "numpy"):
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist}=-")
    h.update("\0".join(versions).encode())
    return h.hexdigest()[:16]


def _disk_cached(name: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``build()``'s arrays, from ``cache_dir()`` when an entry for this key is there."""
    if os.environ.get("HEGUI_TABLE_CACHE", "1") == "0":
        return build()
    path = cache_dir() / f"{name}-{_cache_key()}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError):
        pass  # absent, truncated or not an npz: rebuild
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return arrays  # read-only home, a file in the way: work without the cache
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # stub types allow_pickle only
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old state or the whole file
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)  # a full disk: leave no partial file behind
    return arrays


# --------------------------------------------------------------------------------------------
# FOLD


@cache
def fold_table() -> np.ndarray:
    """``FOLD[cp]`` -> folded code point, or 0 to delete. Idempotent: folding twice = once."""
    changed = _disk_cached("fold", _fold_changes)
    table = np.arange(N_CODEPOINTS, dtype=np.uint32)
    table[changed["cps"]] = changed["to"]
    table.setflags(write=False)
    return table


def _fold_changes() -> dict[str, np.ndarray]:
    """Where ``FOLD`` differs from the identity: ``{"cps": code points, "to": their values}``."""
    table = _build_fold_table()
    cps = np.flatnonzero(table != np.arange(N_CODEPOINTS, dtype=np.uint32)).astype(np.uint32)
    return {"cps": cps, "to": table[cps]}


def _build_fold_table() -> np.ndarray:
    t2s = _t2s()
    keys: list[int] = []
    vals: list[int] = []
    for cp in (*range(0x30000), *range(0xE0000, 0xE1000)):
        ch = chr(cp)
        f = _fold_char(ch, t2s)
        if f == ch:
            continue
        if f:
            f = _fold_char(f, t2s) or f  # reach a fixed point (an NFKC result that is traditional)
        keys.append(cp)
        vals.append(ord(f) if f else DELETE)
    table = np.arange(N_CODEPOINTS, dtype=np.uint32)
    table[np.array(keys, dtype=np.int64)] = np.array(vals, dtype=np.uint32)
    table[0xF0000:] = DELETE  # supplementary private-use planes
    table[0] = DELETE
    # chains (a -> b -> c) collapse so that folding is idempotent
    return np.where(table != DELETE, table[table], DELETE).astype(np.uint32)


@dataclass(frozen=True)
class Phonetics:
    syllables: tuple[str, ...]  # syllable id -> toneless pinyin ("zha", "lv")
    syllable_id: dict[str, int]
    char_syllable: dict[str, str]  # folded CJK char -> its default toneless syllable
    phon: np.ndarray  # PHON[cp] -> the syllable's code point (``syllable_char``), identity elsewhere


def toneless(pinyin: str) -> str:
    """``"lǘ"`` -> ``"lv"``, ``"zhà"`` -> ``"zha"`` (ü is written v as pypinyin's NORMAL style does)."""
    d = unicodedata.normalize("NFD", pinyin).replace("u\u0308", "v")
    return "".join(c for c in d if not unicodedata.combining(c)).lower()


@cache
def phonetics() -> Phonetics:
    arrays = _disk_cached("phonetics", _phonetic_readings)
    syllables = tuple(str(x) for x in arrays["syllables"])
    cps, sids = arrays["cps"], arrays["sids"]
    phon = np.arange(N_CODEPOINTS, dtype=np.uint32)
    for lo, hi in _CJK_RANGES:
        phon[lo:hi] = NO_READING
    phon[cps] = SYL_BASE + SYL_STEP * sids.astype(np.uint32)
    phon.setflags(write=False)
    char_syl = {chr(cp): syllables[sid] for cp, sid in zip(cps.tolist(), sids.tolist(), strict=True)}
    return Phonetics(syllables, {s: i for i, s in enumerate(syllables)}, char_syl, phon)


def _phonetic_readings() -> dict[str, np.ndarray]:
    """Each normalized CJK character with a reading: ``cps`` and its syllable id ``sids``, and
    ``syllables`` (id -> toneless pinyin), from pypinyin's dictionary."""
    from pypinyin.pinyin_dict import pinyin_dict

    fold = fold_table()
    syls: dict[str, int] = {}
    cps: list[int] = []
    sids: list[int] = []
    for cp, readings in pinyin_dict.items():
        if cp >= N_CODEPOINTS or int(fold[cp]) != cp:
            continue  # only normalized characters need a key (FOLD runs first)
        s = toneless(readings.split(",")[0])
        if not s.isascii() or not s.isalpha():
            continue
        cps.append(cp)
        sids.append(syls.setdefault(s, len(syls)))
    if len(syls) * SYL_STEP > 0xA000 - SYL_BASE:
        raise RuntimeError("too many syllables for the CJK block")
    return {
        "syllables": np.array(list(syls), dtype=str),
        "cps": np.array(cps, dtype=np.uint32),
        "sids": np.array(sids, dtype=np.uint16),
    }


@cache
def syllable_index() -> np.ndarray:
    """``SID[cp]`` = 1 + syllable id of a folded CJK char, 0 for everything else (uint16)."""
    ph = phonetics()
    sid = np.zeros(N_CODEPOINTS, dtype=np.uint16)
    cps = np.fromiter((ord(c) for c in ph.char_syllable), dtype=np.int64)
    ids = np.fromiter((ph.syllable_id[s] + 1 for s in ph.char_syllable.values()), dtype=np.uint16)
    sid[cps] = ids
    sid.setflags(write=False)
    return sid


@cache
def char_syllable_ids() -> dict[str, int]:
    """Folded CJK char -> 1 + its syllable id (the values of ``syllable_index`` as a dict, for
    looking up a few characters without touching numpy)."""
    ph = phonetics()
    return {ch: ph.syllable_id[s] + 1 for ch, s in ph.char_syllable.items()}


BUCKETS = 254  # syllable buckets are bytes 1..254; 0 = not a syllable; 0xFF = deleted char
BUCKET_DELETED = 0xFF


@cache
def syllable_bucket() -> np.ndarray:
    """``BUCKET[cp]``: the syllable folded into one byte (1..254; 0 = not a syllable; and 0xFF at
    ``DELETE`` so that ``NormalizedText.view8`` can apply it to the original's folded code points
    and cut the deleted ones out). Homophone search runs on these bytes, one byte per character,
    and verifies candidates on the exact ids (``syllable_index``): 3x fewer automaton steps than
    UTF-8 (measured)."""
    sid = syllable_index().astype(np.int64)
    b = np.where(sid > 0, (sid - 1) % BUCKETS + 1, 0).astype(np.uint8)
    b[DELETE] = BUCKET_DELETED
    b.setflags(write=False)
    return b


@cache
def fold_table16() -> np.ndarray:
    """``FOLD`` restricted to the BMP as uint16 (128 KB, stays in cache; the 4.4 MB uint32 table
    does not). ``FOLD`` never maps a BMP character outside the BMP, so BMP-only text (nearly all
    text) is folded entirely in 16 bits."""
    full = fold_table()[:0x10000]
    if int(full.max()) > 0xFFFF:
        raise RuntimeError("FOLD maps a BMP character outside the BMP")
    t = full.astype(np.uint16)
    t.setflags(write=False)
    return t
