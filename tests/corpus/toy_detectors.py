"""A tiny detector list for the corpus tests, so they do not depend on the shipped lexicons.

It only feeds the shared ``Moderator`` (``Moderator(policy, detectors=...)``); the scan itself
always goes through the engine. Terms are invented for the tests.
"""

from __future__ import annotations

import re

from hegui.moderation.types import Finding
from hegui.text import NormalizedText

TERMS = {"毒药配方": "A4.a", "打倒某某": "A1.h", "地域黑词": "A2.d", "炸弹教程": "A1.d"}
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


class ToyLexicon:
    name = "lexicon"
    max_lookback = 8

    def scan(self, text: NormalizedText) -> list[Finding]:
        out = []
        for term, risk in TERMS.items():
            start = text.normalized.find(term)
            while start >= 0:
                s, e = text.span(start, start + len(term))
                out.append(Finding(risk, "lexicon", s, e, text.original[s:e], 3, 1.0, term, "exact"))
                start = text.normalized.find(term, start + 1)
        return out


class ToyPII:
    name = "pii"
    max_lookback = 40

    def scan(self, text: NormalizedText) -> list[Finding]:
        out = []
        for rx, rule in ((PHONE, "phone"), (EMAIL, "email")):
            for m in rx.finditer(text.original):
                out.append(Finding("A4.f", "pii", m.start(), m.end(), m.group(), 2, 1.0, rule, "exact"))
        return out


def detectors() -> list:
    return [ToyLexicon(), ToyPII()]


class Slow:
    """Adds a fixed cost per record so a test can kill a scan half-way through."""

    name = "slow"
    max_lookback = 0

    def scan(self, text: NormalizedText) -> list[Finding]:
        import time

        time.sleep(0.0005)
        return []


def slow_detectors() -> list:
    return [ToyLexicon(), ToyPII(), Slow()]
