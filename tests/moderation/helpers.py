"""A tiny term detector for engine tests that must not depend on the shipped lexicon."""

from __future__ import annotations

from dataclasses import dataclass

from hegui.moderation.types import Finding
from hegui.text import NormalizedText


@dataclass
class TermDetector:
    terms: dict[str, tuple[str, int]]  # term -> (risk, severity)
    name: str = "lexicon"

    @property
    def max_lookback(self) -> int:
        return max(len(t) for t in self.terms)

    def scan(self, text: NormalizedText) -> list[Finding]:
        out = []
        norm = text.normalized
        for term, (risk, sev) in self.terms.items():
            i = norm.find(term)
            while i >= 0:
                s, e = text.span(i, i + len(term))
                out.append(Finding(risk, self.name, s, e, text.original[s:e], sev, 1.0, term, "exact"))
                i = norm.find(term, i + 1)
        return out


@dataclass
class WholeTextDetector:
    """Flags any whole text containing a word: stands in for a classifier."""

    word: str
    risk: str = "A2.e"
    name: str = "classifier"
    max_lookback: int = 0

    def scan(self, text: NormalizedText) -> list[Finding]:
        if self.word in text.normalized:
            return [Finding(self.risk, self.name, 0, len(text.original), text.original, 2, 0.9, "clf")]
        return []
