"""Chinese text normalization for matching, with exact offsets back to the original text.

``normalize(text)`` folds every character through one precomputed code-point table (numpy
gather, C speed): traditional -> simplified (OpenCC), full-width/styled/circled -> plain (NFKC),
case, Cyrillic/Greek look-alikes -> Latin, financial numerals (壹) -> 一; and DELETES invisible
characters, spaces, punctuation, symbols and emoji, so ``诈@骗``, ``诈 骗``, ``诈😀骗`` all read
``诈骗``. The fold is 1:1-or-delete, so normalized index ``i`` maps to exactly one original index;
that map is only computed when someone asks for a span (i.e. when a detector found something).

``NormalizedText.phonetic`` is a second view of the same length as ``normalized`` in which every
CJK character is replaced by a code point standing for its toneless pinyin syllable (see _tables):
homophones of a lexicon term become exact matches there (``炸骗`` and ``诈骗`` read the same).

Pinyin, split characters (``氵去`` -> 法) and exceptions are the lexicon's business
(``hegui.moderation.lexicon``), built from the helpers in ``hegui.text.forms``.
"""

from __future__ import annotations

from codecs import utf_16_le_decode, utf_16_le_encode
from typing import Any

import numpy as np

from hegui.text._tables import DELETE, fold_table, fold_table16, is_cjk, phonetics, toneless
from hegui.text.forms import (
    fold,
    phonetic_keys,
    pinyin_forms,
    split_forms,
    variants,
)

__all__ = [
    "NormalizedText",
    "fold",
    "is_cjk",
    "normalize",
    "phonetic_keys",
    "pinyin_forms",
    "split_forms",
    "toneless",
    "variants",
]


_DELETED = chr(DELETE)  # what a deleted character reads as right after the gather


def _codepoints(text: str) -> np.ndarray:
    # surrogatepass: a lone surrogate ("\ud800") becomes a code point like any other (then deleted)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _decode(cps: np.ndarray) -> str:
    return cps.tobytes().decode("utf-32-le")


class NormalizedText:
    """``original`` and its ``normalized`` form; ``span`` maps normalized offsets back.

    Construct it with ``normalize``. ``NormalizedText(s, s)`` (identity) is accepted for tests and
    for detectors that want to run on raw text.
    """

    __slots__ = ("_cps", "_folded", "_identity", "_phonetic", "_positions", "normalized", "original")

    def __init__(
        self,
        original: str,
        normalized: str,
        *,
        _cps: np.ndarray | None = None,
    ) -> None:
        if _cps is None and len(original) != len(normalized):
            raise ValueError("an offset map is needed when normalized and original differ in length")
        self.original = original
        self.normalized = normalized
        # folded code point of every ORIGINAL character, DELETE where it was dropped (uint16 for
        # BMP-only text, else uint32); None = identity (nothing folded away). The offset map and
        # the per-character views are derived from it only when a caller asks.
        self._cps = _cps
        self._identity = len(original) == len(normalized)  # nothing deleted: offsets are equal
        self._folded: np.ndarray | None = None
        self._positions: np.ndarray | None = None
        self._phonetic: str | None = None

    def __repr__(self) -> str:
        return f"NormalizedText({self.original[:40]!r} -> {self.normalized[:40]!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NormalizedText):
            return NotImplemented
        return self.original == other.original and self.normalized == other.normalized

    def __hash__(self) -> int:
        return hash((self.original, self.normalized))

    def __len__(self) -> int:
        return len(self.normalized)

    @property
    def positions(self) -> np.ndarray:
        """Original index of every normalized character (int64 array, computed once, lazily)."""
        if self._positions is None:
            if self._cps is None or self._identity:
                self._positions = np.arange(len(self.normalized), dtype=np.int64)
            else:
                # DELETE == 0; ``ndarray.nonzero`` is 4x faster than ``np.flatnonzero`` here
                self._positions = self._cps.nonzero()[0]
        return self._positions

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map ``[start, end)`` of ``normalized`` to ``original``. The original span runs from the
        first to the last kept character, so deleted characters *inside* a match are included
        (``诈@骗``) and those around it are not."""
        n = len(self.normalized)
        if not 0 <= start <= end <= n:
            raise IndexError(f"span [{start}, {end}) outside normalized text of length {n}")
        if self._identity:
            return start, end
        pos = self.positions
        if start == end:  # empty span: the position before which normalized[start] sits
            o = pos.item(start) if start < n else len(self.original)
            return o, o
        return pos.item(start), pos.item(end - 1) + 1

    def spans(self, starts: Any, ends: Any) -> tuple[list[int], list[int]]:
        """``span`` for many non-empty spans at once, as two lists of original offsets."""
        s = list(starts)
        e = list(ends)
        if self._identity:
            return s, e
        pos = self.positions
        if len(s) <= 8:  # the usual handful of findings: scalar lookups beat building an index
            item = pos.item
            return [item(x) for x in s], [item(x - 1) + 1 for x in e]
        k = len(s)
        idx = pos[s + [x - 1 for x in e]].tolist()
        return idx[:k], [x + 1 for x in idx[k:]]

    @property
    def folded(self) -> np.ndarray:
        """Code points of ``normalized`` (uint16 when it is BMP-only, else uint32)."""
        if self._folded is None:
            if self._cps is not None and self._cps.dtype == np.uint16:
                self._folded = np.frombuffer(utf_16_le_encode(self.normalized)[0], dtype=np.uint16)
            else:
                self._folded = _codepoints(self.normalized)
        return self._folded

    def view8(self, table: np.ndarray) -> bytes:
        """One byte per character of ``normalized``: ``table[cp]`` (a uint8 table indexed by
        folded code point). ``table[DELETE]`` must be 0xFF and no other entry 0xFF: the table is
        then applied to the ORIGINAL's folded code points in one gather and the deleted
        characters are cut out of the bytes, which is cheaper than building ``folded`` first."""
        if self._cps is None:
            return table.take(self.folded).tobytes()
        out = table.take(self._cps).tobytes()
        return out if self._identity else out.replace(b"\xff", b"")

    @property
    def phonetic(self) -> str:
        """Same length as ``normalized``; each CJK char replaced by its syllable's code point."""
        if self._phonetic is None:
            self._phonetic = _decode(phonetics().phon[self.folded])
        return self._phonetic


def normalize(text: str) -> NormalizedText:
    """Normalize ``text`` for matching. Deterministic, never raises on any ``str`` (NUL, lone
    surrogates, RTL marks, 10 MB strings), linear time, no Python loop over characters.

    Per message this is one encode, one table gather and one decode: the deleted characters come
    out of the gather as U+0000 (``DELETE``), which ``str.replace`` cuts (NUL itself folds to
    DELETE, so no kept character is U+0000). The offset map waits until a span is asked for."""
    if not isinstance(text, str):
        raise TypeError(f"normalize() needs str, not {type(text).__name__}")
    if not text:
        return NormalizedText("", "")
    # BMP-only text (the usual case): UTF-16 units are code points; 2-byte table.
    # the codec functions themselves: ``str.encode``/``bytes.decode`` look the codec up by name
    # on every call, which cost as much as the conversion for a 1 KB message (measured)
    raw = utf_16_le_encode(text, "surrogatepass")[0]
    if len(raw) == 2 * len(text):
        cps = fold_table16().take(np.frombuffer(raw, dtype=np.uint16))
        # FOLD16 never yields a surrogate (they are deleted), so this decode cannot fail
        out = utf_16_le_decode(cps.tobytes(), None, True)[0]
    else:
        cps = fold_table().take(_codepoints(text))
        out = _decode(cps)
    if _DELETED in out:
        out = out.replace(_DELETED, "")
    return NormalizedText(text, out, _cps=cps)
