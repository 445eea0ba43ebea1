"""Bank coverage against GB/T 45654-2025: totals, per-risk and per-topic minima, update age.

The minima come from ``hegui.taxonomy`` (``GENERATED_BANK_MIN``, ``Risk.question_min``,
``Risk.refuse_min`` ...), so raising them there raises them here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date

from hegui.assessment.bank import NON_REFUSE_TOPICS, BankItem
from hegui.taxonomy import (
    GENERATED_BANK_MIN,
    NON_REFUSE_BANK_MIN,
    REFUSE_BANK_MIN,
    load_taxonomy,
)

NON_REFUSE_TOPIC_MIN = 20  # 每项不少于 20 题
MAX_AGE_DAYS = 31  # banks are updated monthly


@dataclass(frozen=True, slots=True)
class AuditRow:
    bank: str  # generated-content / should-refuse / should-not-refuse
    scope: str  # "total", a risk code, a topic, or "update age"
    label: str  # human name of the scope (Chinese)
    have: int
    need: int
    ok: bool
    # for the age row: ``have`` is the age in days and ``need`` the maximum; ``ok`` = fresh enough
    note: str = ""


@dataclass(slots=True)
class AuditReport:
    rows: list[AuditRow] = field(default_factory=list)
    today: date = field(default_factory=date.today)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def gaps(self) -> list[AuditRow]:
        return [r for r in self.rows if not r.ok]

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "today": self.today.isoformat(),
            "rows": [asdict(r) for r in self.rows],
            "gaps": len(self.gaps),
        }


def _unique(items: list[BankItem]) -> list[BankItem]:
    # the same question counts once, whatever file it came from
    seen: dict[str, BankItem] = {}
    for it in items:
        seen.setdefault(it.id, it)
    return list(seen.values())


def audit_items(
    items: list[BankItem], today: date | None = None, max_age_days: int = MAX_AGE_DAYS
) -> AuditReport:
    today = today or date.today()
    tax = load_taxonomy()
    items = _unique(items)
    by_kind: dict[str, list[BankItem]] = {
        k: [] for k in ("generated-content", "should-refuse", "should-not-refuse")
    }
    for it in items:
        by_kind[it.kind].append(it)
    rep = AuditReport(today=today)

    gen = by_kind["generated-content"]
    rep.rows.append(
        AuditRow(
            "generated-content",
            "total",
            "生成内容测试题总数",
            len(gen),
            GENERATED_BANK_MIN,
            len(gen) >= GENERATED_BANK_MIN,
        )
    )
    per_risk = Counter(code for it in gen for code in set(it.risks))
    for r in tax.risks:
        have = per_risk.get(r.code, 0)
        note = "operator-supplied (political)" if r.political and have < r.question_min else ""
        rep.rows.append(
            AuditRow(
                "generated-content", r.code, r.name_zh, have, r.question_min, have >= r.question_min, note
            )
        )

    ref = by_kind["should-refuse"]
    rep.rows.append(
        AuditRow(
            "should-refuse",
            "total",
            "应拒答测试题总数",
            len(ref),
            REFUSE_BANK_MIN,
            len(ref) >= REFUSE_BANK_MIN,
        )
    )
    per_risk = Counter(code for it in ref for code in set(it.risks))
    for r in tax.risks:
        if r.refuse_min <= 0:
            continue
        have = per_risk.get(r.code, 0)
        note = "operator-supplied (political)" if r.political and have < r.refuse_min else ""
        rep.rows.append(
            AuditRow("should-refuse", r.code, r.name_zh, have, r.refuse_min, have >= r.refuse_min, note)
        )

    non = by_kind["should-not-refuse"]
    rep.rows.append(
        AuditRow(
            "should-not-refuse",
            "total",
            "非拒答测试题总数",
            len(non),
            NON_REFUSE_BANK_MIN,
            len(non) >= NON_REFUSE_BANK_MIN,
        )
    )
    per_topic = Counter(it.topic for it in non)
    for topic, name in NON_REFUSE_TOPICS.items():
        have = per_topic.get(topic, 0)
        rep.rows.append(
            AuditRow(
                "should-not-refuse", topic, name, have, NON_REFUSE_TOPIC_MIN, have >= NON_REFUSE_TOPIC_MIN
            )
        )

    for kind, group in by_kind.items():
        if not group:
            continue
        newest = max(it.added for it in group)
        age = (today - newest).days
        rep.rows.append(
            AuditRow(
                kind,
                "update age",
                "距最近一次更新天数",
                age,
                max_age_days,
                age <= max_age_days,
                f"newest item added {newest.isoformat()}",
            )
        )
    return rep


def render_audit(rep: AuditReport, console: object | None = None, all_rows: bool = False) -> None:
    """Print the gaps (or every row) as a Rich table."""
    from rich.console import Console
    from rich.table import Table

    con = console if isinstance(console, Console) else Console()
    rows = rep.rows if all_rows else rep.gaps
    title = "题库覆盖审计 / bank coverage audit" + ("" if all_rows else " — gaps")
    table = Table(title=title)
    for col in ("bank", "scope", "name", "have", "need", "status", "note"):
        table.add_column(col)
    for r in rows:
        need = f"≤ {r.need}" if r.scope == "update age" else f"≥ {r.need}"
        status = (
            "[green]OK[/green]"
            if r.ok
            else "[red]SHORT[/red]"
            if r.scope != "update age"
            else "[red]STALE[/red]"
        )
        table.add_row(r.bank, r.scope, r.label, str(r.have), need, status, r.note)
    if rows:
        con.print(table)
    n_gen = next((r.have for r in rep.rows if r.bank == "generated-content" and r.scope == "total"), 0)
    con.print(
        f"{'[green]bank meets the standard' if rep.ok else f'[red]{len(rep.gaps)} gap(s)'}[/] "
        f"(generated-content {n_gen} items; checked {rep.today.isoformat()})"
    )
