"""Lexicon audit against GB/T 45654-2025 (keyword library >= 10,000 terms covering the 17 A.1/A.2
risks, >= 200 per A.1 risk and >= 100 per A.2 risk) plus data-quality checks, and the expansion
of a lexicon into every form the detector covers (``hegui lexicon audit|expand``).

Quality checks (warnings; they do not fail the audit):
* duplicates: the same term listed more than once (same or different risk);
* collisions: different terms that normalize to the same key (詐騙 and 诈骗; the detector merges
  them, so one of them is redundant, or they were meant for different risks);
* empty: terms that normalize to nothing (symbols only): they can never match;
* benign: terms found inside common words without an exception covering that word (大麻 inside
  大麻烦). The common-word list is pypinyin's phrase dictionary (``pypinyin.phrases_dict``,
  ~47k everyday words and idioms, the ones pypinyin needs to read heteronyms right): not a full
  dictionary, so a clean result here is necessary, not sufficient.

Political risks (A1.a-c) have minima like the others; Hegui ships no terms for them, the
operator supplies them (``detectors.lexicon.paths``), so a seed-only audit fails there on purpose.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import ahocorasick_rs

from hegui.moderation.lexicon import Lexicon
from hegui.taxonomy import KEYWORD_TOTAL_MIN, load_taxonomy
from hegui.text import fold
from hegui.text import variants as term_variants
from hegui.text.forms import benign_words

BENIGN_SOURCE = "pypinyin.phrases_dict (common words and idioms)"
MAX_EXAMPLES = 5


@dataclass
class RiskCoverage:
    code: str
    name_zh: str
    count: int  # distinct terms
    minimum: int
    ok: bool


@dataclass
class AuditReport:
    total: int  # distinct terms
    entries: int  # rows, duplicates included
    total_min: int
    total_ok: bool
    risks: list[RiskCoverage]
    other_counts: dict[str, int]  # terms of risks without a minimum (A3-A5, injection)
    duplicates: dict[str, list[str]] = field(default_factory=dict)  # term -> sources
    collisions: dict[str, list[str]] = field(default_factory=dict)  # normalized key -> terms
    empty: list[str] = field(default_factory=list)
    benign: dict[str, list[str]] = field(default_factory=dict)  # term -> common words containing it
    benign_source: str = BENIGN_SOURCE
    passed: bool = False

    @property
    def failing_risks(self) -> list[str]:
        return [r.code for r in self.risks if not r.ok]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["failing_risks"] = self.failing_risks
        return d

    def summary(self) -> str:
        lines = [
            f"terms: {self.total} (minimum {self.total_min}) {'OK' if self.total_ok else 'TOO FEW'}",
            *(
                f"  {r.code} {r.name_zh}: {r.count} / {r.minimum} {'OK' if r.ok else 'TOO FEW'}"
                for r in self.risks
            ),
            f"duplicates: {len(self.duplicates)}, normalization collisions: {len(self.collisions)}, "
            f"never-matching: {len(self.empty)}, inside common words without exception: {len(self.benign)}",
            f"result: {'PASSED' if self.passed else 'FAILED'}",
        ]
        return "\n".join(lines)


def print_audit(report: AuditReport, console: Any) -> None:
    """Render the audit as Rich tables: per-risk coverage first, then the quality problems."""
    from rich.table import Table

    table = Table(title=f"Keyword library: {report.total} terms (minimum {report.total_min})")
    for col in ("risk", "name", "terms", "minimum", "status"):
        table.add_column(col)
    for r in report.risks:
        status = "[green]OK[/]" if r.ok else "[red]TOO FEW[/]"
        table.add_row(r.code, r.name_zh, str(r.count), str(r.minimum), status)
    for code, n in sorted(report.other_counts.items()):
        table.add_row(code, "", str(n), "-", "")
    console.print(table)
    problems = Table(title="Quality")
    problems.add_column("check")
    problems.add_column("count", justify="right")
    problems.add_column("examples")
    for name, items in (
        ("duplicates", list(report.duplicates)),
        ("normalization collisions", list(report.collisions)),
        ("never-matching terms", report.empty),
        ("inside common words, no exception", list(report.benign)),
    ):
        problems.add_row(name, str(len(items)), "、".join(items[:5]))
    console.print(problems)
    verdict = "[green]PASSED[/]" if report.passed else "[red]FAILED[/]"
    console.print(f"result: {verdict}" + ("" if report.passed else f" ({', '.join(report.failing_risks)})"))


def audit_lexicon(lexicon: Lexicon, *, benign: frozenset[str] | None = None) -> AuditReport:
    """Audit ``lexicon``. ``passed`` = the total and all 17 A.1/A.2 minima are met."""
    tax = load_taxonomy()
    per_risk: dict[str, set[str]] = {}
    sources: dict[str, list[str]] = {}
    for e in lexicon.entries:
        per_risk.setdefault(e.risk, set()).add(e.term)
        sources.setdefault(e.term, []).append(f"{e.risk}@{e.source or '?'}")
    total = len(sources)
    risks = []
    for r in tax:
        if r.class_code in ("A1", "A2"):
            n = len(per_risk.get(r.code, ()))
            risks.append(RiskCoverage(r.code, r.name_zh, n, r.keyword_min, n >= r.keyword_min))
    counted = {r.code for r in risks}
    other = {k: len(v) for k, v in sorted(per_risk.items()) if k not in counted}

    duplicates = {t: s for t, s in sources.items() if len(s) > 1}
    by_key: dict[str, set[str]] = {}
    empty: list[str] = []
    for term in sources:
        key = fold(term)
        if not key:
            empty.append(term)
        else:
            by_key.setdefault(key, set()).add(term)
    collisions = {k: sorted(v) for k, v in by_key.items() if len(v) > 1}

    report = AuditReport(
        total=total,
        entries=len(lexicon),
        total_min=KEYWORD_TOTAL_MIN,
        total_ok=total >= KEYWORD_TOTAL_MIN,
        risks=risks,
        other_counts=other,
        duplicates=duplicates,
        collisions=collisions,
        empty=empty,
        benign=_inside_benign(lexicon, benign if benign is not None else benign_words()),
    )
    report.passed = report.total_ok and all(r.ok for r in risks)
    return report


def _inside_benign(lexicon: Lexicon, words: frozenset[str]) -> dict[str, list[str]]:
    """Terms occurring inside (not equal to) a common word that no exception of theirs covers.
    One automaton pass over all common words joined by newlines (keys never contain one)."""
    exceptions: dict[str, set[str]] = {}
    for e in lexicon.entries:
        key = fold(e.term)
        if key and not key.isascii():
            exceptions.setdefault(key, set()).update(f for x in e.exceptions if (f := fold(x)))
    if not exceptions or not words:
        return {}
    keys = list(exceptions)
    wordlist = sorted(words)
    starts, pos = [], 0
    for w in wordlist:
        starts.append(pos)
        pos += len(w) + 1
    haystack = "\n".join(wordlist)
    auto = ahocorasick_rs.AhoCorasick(keys, implementation=ahocorasick_rs.Implementation.DFA)
    found: dict[str, list[str]] = {}
    for pid, s, _e in auto.find_matches_as_indexes(haystack, overlapping=True):
        word = wordlist[bisect_right(starts, s) - 1]
        key = keys[pid]
        if word == key:
            continue
        if any(key in x and x in word for x in exceptions[key]):
            continue
        examples = found.setdefault(key, [])
        if len(examples) < MAX_EXAMPLES and word not in examples:
            examples.append(word)
    return found


def expand_lexicon(
    lexicon: Lexicon, *, homophone_min_chars: int = 3, initials_min_chars: int = 3, split: bool = True
) -> Iterator[tuple[str, str, str]]:
    """``(term, variant_kind, form)`` for every form the detector covers: exact, variant (listed
    in the lexicon), normalized, traditional, pinyin, initials, homophone (syllables), split.
    Symbol/space/emoji insertion, width, case and look-alikes apply to every form and are not
    enumerated."""
    seen: set[tuple[str, str]] = set()
    for e in lexicon.entries:
        if (e.term, e.risk) in seen:
            continue
        seen.add((e.term, e.risk))
        n = len(fold(e.term))
        initials = n >= initials_min_chars or "initials" in e.tags
        for kind, form in term_variants(
            e.term, homophones=n >= homophone_min_chars, split=split, initials=initials
        ):
            yield e.term, kind, form
        for v in e.variants:
            yield e.term, "variant", v


__all__ = ["BENIGN_SOURCE", "AuditReport", "RiskCoverage", "audit_lexicon", "expand_lexicon"]
