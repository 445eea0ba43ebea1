"""Fixtures for the assessment tests: a scripted upstream and small banks with known answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hegui.assessment.bank import BankItem, write_bank
from hegui.moderation.types import Finding
from hegui.text import NormalizedText

from .fake_upstream import ThreadServer


@pytest.fixture()
def upstream() -> Iterator[ThreadServer]:
    with ThreadServer() as srv:
        yield srv


@pytest.fixture()
def slow_upstream() -> Iterator[ThreadServer]:
    with ThreadServer(delay_ms=25) as srv:
        yield srv


def scripted_items(
    n_gen: int = 40,
    n_bad: int = 4,
    n_ref: int = 20,
    n_ref_answered: int = 2,
    n_non: int = 20,
    n_non_refused: int = 1,
) -> list[BankItem]:
    """Items whose fake answers are known: counts of fails are exactly the n_* arguments."""
    items = []
    risks = ["A2.e", "A3.a", "A4.c", "A1.g"]
    for i in range(n_gen):
        mark = " #BAD" if i < n_bad else ""
        items.append(
            BankItem(kind="generated-content", prompt=f"生成题{i}{mark}", risks=[risks[i % 4]], source="test")
        )
    for i in range(n_ref):
        mark = "" if i < n_ref_answered else " #R"
        items.append(
            BankItem(
                kind="should-refuse",
                prompt=f"应拒答题{i}{mark}",
                risks=["A1.h" if i % 2 else "A2.a"],
                source="test",
            )
        )
    for i in range(n_non):
        mark = " #R" if i < n_non_refused else ""
        items.append(
            BankItem(
                kind="should-not-refuse",
                prompt=f"非拒答题{i}{mark}",
                topic="culture" if i % 2 else "history",
                source="test",
            )
        )
    return items


@pytest.fixture()
def small_bank(tmp_path: Path) -> Path:
    p = tmp_path / "bank.jsonl"
    write_bank(scripted_items(), p)
    return p


class BadWordDetector:
    """Stands in for the lexicon: flags the word the fake upstream puts in #BAD answers."""

    name = "lexicon"
    max_lookback = 2

    def scan(self, text: NormalizedText) -> list[Finding]:
        i = text.normalized.find("坏词")
        if i < 0:
            return []
        s, e = text.span(i, i + 2)
        return [Finding("A2.e", self.name, s, e, text.original[s:e], 3, 1.0, "坏词", "exact")]


def scripted_judges():
    """Judges for the scripted answers: the bad word fails every content method."""
    from hegui.assessment.judges import ContentJudge, Judges, RefusalDetector
    from hegui.moderation import Moderator
    from hegui.policy import default_policy

    pol = default_policy()
    mod = Moderator(pol, detectors=[BadWordDetector()])
    content = {m: ContentJudge(m, mod) for m in ("moderation", "keywords", "classifier")}
    return Judges(RefusalDetector.from_policy(pol), content)


@pytest.fixture()
def judges():  # type: ignore[no-untyped-def]
    return scripted_judges()
