"""TEMPORARY identity normalizer; replaced by the real one (issue 2, text normalization)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NormalizedText:
    original: str
    normalized: str

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of ``normalized`` to the original text."""
        return start, end


def normalize(text: str) -> NormalizedText:
    return NormalizedText(text, text)
