"""Chinese text normalization for matching, with exact offsets back to the original text.

``normalize(text)`` folds every character through one precomputed code-point table (numpy
gather, C speed): traditional -> simplified (OpenCC), full-width/styled/circled -> plain (NFKC),
case, Cyrillic/Greek look-alikes -> Latin, financial numerals (壹) -> 一; and DELETES invisible
characters, spaces, punctuation, symbols and emoji, so ``诈@骗``, ``诈 骗``, ``诈😀骗`` all read
``诈骗``. The fold is 1:1-or-delete, so normalized index ``i`` maps to exactly one original index;
that map is only computed when someone asks for a span (i.e. when a detector found something).

``NormalizedText.phonetic`` is a second view of the same length as ``normalized`` in which every
CJK character is replaced by a private-use code point standing for its toneless pinyin syllable:
homophones of a lexicon term become exact matches there (``炸骗`` and ``诈骗`` read the same).

Pinyin, split characters (``氵去`` -> 法) and exceptions are the lexicon's business
(``hegui.moderation.lexicon``), built from the helpers in ``hegui.text.forms``.
"""

from __future__ import annotations

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

    __slots__ = ("_folded", "_keep", "_phonetic", "_positions", "normalized", "original")

    def __init__(
        self,
        original: str,
        normalized: str,
        *,
        _folded: np.ndarray | None = None,
        _keep: np.ndarray | None = None,
    ) -> None:
        if _keep is None and len(original) != len(normalized):
            raise ValueError("an offset map is needed when normalized and original differ in length")
        self.original = original
        self.normalized = normalized
        self._folded = _folded  # uint32 code points of ``normalized`` (None: compute on demand)
        self._keep = _keep  # bool mask over original chars; None = nothing was deleted
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
            if self._keep is None:
                self._positions = np.arange(len(self.normalized), dtype=np.int64)
            else:
                self._positions = np.flatnonzero(self._keep)
        return self._positions

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map ``[start, end)`` of ``normalized`` to ``original``. The original span runs from the
        first to the last kept character, so deleted characters *inside* a match are included
        (``诈@骗``) and those around it are not."""
        n = len(self.normalized)
        if not 0 <= start <= end <= n:
            raise IndexError(f"span [{start}, {end}) outside normalized text of length {n}")
        if self._keep is None:
            return start, end
        pos = self.positions
        if start == end:  # empty span: the position before which normalized[start] sits
            o = int(pos[start]) if start < n else len(self.original)
            return o, o
        return int(pos[start]), int(pos[end - 1]) + 1

    def spans(self, starts: Any, ends: Any) -> tuple[np.ndarray, np.ndarray]:
        """Vectorized ``span`` for many non-empty spans at once."""
        s = np.asarray(starts, dtype=np.int64)
        e = np.asarray(ends, dtype=np.int64)
        if self._keep is None:
            return s, e
        pos = self.positions
        return pos[s], pos[e - 1] + 1

    @property
    def folded(self) -> np.ndarray:
        if self._folded is None:
            self._folded = _codepoints(self.normalized)
        return self._folded

    @property
    def phonetic(self) -> str:
        """Same length as ``normalized``; each CJK char replaced by its syllable's code point."""
        if self._phonetic is None:
            self._phonetic = _decode(phonetics().phon[self.folded])
        return self._phonetic


def normalize(text: str) -> NormalizedText:
    """Normalize ``text`` for matching. Deterministic, never raises on any ``str`` (NUL, lone
    surrogates, RTL marks, 10 MB strings), linear time, no Python loop over characters."""
    if not isinstance(text, str):
        raise TypeError(f"normalize() needs str, not {type(text).__name__}")
    if not text:
        return NormalizedText("", "")
    # BMP-only text (the usual case): UTF-16 units are code points; 2-byte table.
    raw = text.encode("utf-16-le", "surrogatepass")
    if len(raw) == 2 * len(text):
        folded16 = fold_table16()[np.frombuffer(raw, dtype=np.uint16)]
        keep = folded16 != DELETE
        if keep.all():
            return NormalizedText(text, folded16.tobytes().decode("utf-16-le"), _folded=folded16)
        kept16 = folded16[keep]
        return NormalizedText(text, kept16.tobytes().decode("utf-16-le"), _folded=kept16, _keep=keep)
    cps = _codepoints(text)
    folded = fold_table()[cps]
    keep = folded != DELETE
    if keep.all():
        return NormalizedText(text, _decode(folded), _folded=folded)
    kept = folded[keep]
    return NormalizedText(text, _decode(kept), _folded=kept, _keep=keep)
