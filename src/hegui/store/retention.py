"""Retention and inspection: purge audit records past the retention period, export them for Art. 19.

The purge refuses any retention below 183 days whatever it is given (Cybersecurity Law Art. 21:
network logs kept at least six months), so a typo in a policy can never delete recent records.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Literal

from hegui.store.models import utcnow
from hegui.store.repo import MIN_RETENTION_DAYS, Store
from hegui.store.schemas import AuditRecord


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    audit_records: int
    counters: int
    dry_run: bool


def retention_cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    if retention_days < MIN_RETENTION_DAYS:
        raise ValueError(
            f"retention_days={retention_days} is below the legal minimum of {MIN_RETENTION_DAYS} days"
        )
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now - timedelta(days=retention_days)


def purge(
    store: Store, retention_days: int, now: datetime | None = None, dry_run: bool = False
) -> PurgeResult:
    """Delete audit records older than ``retention_days`` (never newer) and expired usage counters."""
    cutoff = retention_cutoff(retention_days, now)
    if dry_run:
        n = sum(1 for _ in store.audit.iter(until=cutoff))
        return PurgeResult(cutoff, n, 0, True)
    n = store.audit.purge_before(cutoff)
    c = store.counters.purge_expired(now)
    return PurgeResult(cutoff, n, c, False)


ExportFormat = Literal["jsonl", "csv"]
CSV_FIELDS = [f for f in AuditRecord.model_fields]


def _row(rec: AuditRecord) -> dict[str, object]:
    d = rec.model_dump(mode="json")
    return d


def write_records(records: Iterable[AuditRecord], out: IO[str], fmt: ExportFormat) -> int:
    n = 0
    if fmt == "jsonl":
        for rec in records:
            out.write(json.dumps(_row(rec), ensure_ascii=False) + "\n")
            n += 1
    elif fmt == "csv":
        w = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        w.writeheader()
        for rec in records:
            d = _row(rec)
            d["risks"] = ";".join(rec.risks)
            w.writerow(d)
            n += 1
    else:
        raise ValueError(f"export format must be jsonl or csv, not {fmt!r}")
    return n


def export(
    store: Store,
    path: str | Path,
    fmt: ExportFormat | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the audit records in [since, until) to ``path``; the format follows the suffix by default."""
    p = Path(path)
    if fmt is None:
        suffix = p.suffix.lower().lstrip(".")
        if suffix not in ("jsonl", "csv"):
            raise ValueError(f"cannot tell the export format from {p.name!r}; use .jsonl or .csv or pass fmt")
        fmt = suffix  # type: ignore[assignment]
    assert fmt is not None
    p.parent.mkdir(parents=True, exist_ok=True)
    # utf-8-sig for CSV: Excel (what inspectors open it with) needs the BOM to read Chinese correctly
    encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
    with p.open("w", encoding=encoding, newline="") as fh:
        return write_records(store.audit.iter(since=since, until=until), fh, fmt)
