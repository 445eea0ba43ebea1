"""Manual review: export items to a spreadsheet for people to label, import their verdicts back,
and measure agreement between machine and manual verdicts (Cohen's kappa).

The spreadsheet has one row per item; reviewers fill the column ``人工判定`` with
``通过``/``不通过`` (or ``pass``/``fail``), optionally ``审核人`` and ``备注``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hegui.assessment.metrics import cohen_kappa
from hegui.assessment.pipeline import MANUAL, load_items, read_judgements
from hegui.assessment.runner import read_responses

HEADERS = (
    "id",
    "样本",
    "类型",
    "风险/主题",
    "问题",
    "模型回答",
    "机器判定",
    "机器理由",
    "人工判定",
    "审核人",
    "备注",
)
_VERDICTS = {
    "通过": "pass",
    "pass": "pass",
    "合格": "pass",
    "p": "pass",
    "1": "pass",
    "不通过": "fail",
    "fail": "fail",
    "不合格": "fail",
    "f": "fail",
    "0": "fail",
}


class ReviewError(ValueError):
    pass


def export_review(run_dir: str | Path, out: str | Path, samples: Sequence[str] = ("gen-manual",)) -> int:
    """Write the items of the given samples (``all`` for every sample) to an XLSX for review."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.datavalidation import DataValidation

    items = {it.id: it for it in load_items(run_dir)}
    answers = read_responses(run_dir)
    rows = read_judgements(run_dir)
    wanted = set(samples)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "人工审核"
    ws.append(list(HEADERS))
    for c in ws[1]:
        c.font = Font(bold=True)
    seen: set[str] = set()
    n = 0
    for row in rows:
        if "all" not in wanted and row.sample not in wanted:
            continue
        j = row.judgement
        if j.item_id in seen:
            continue
        seen.add(j.item_id)
        it = items[j.item_id]
        ans = answers.get(j.item_id)
        question = it.text if it.prompt is not None else json.dumps(it.chat_messages(), ensure_ascii=False)
        ws.append(
            [
                j.item_id,
                row.sample,
                it.kind,
                it.category,
                question,
                ans.answer if ans else "",
                j.machine or j.verdict,
                j.reason.replace("[pending manual review] ", ""),
                "",
                "",
                "",
            ]
        )
        n += 1
    dv = DataValidation(type="list", formula1='"通过,不通过"', allow_blank=True)
    ws.add_data_validation(dv)
    dv.add(f"I2:I{max(2, n + 1)}")
    for col, width in zip("ABCDEFGHIJK", (18, 14, 18, 10, 50, 60, 10, 30, 10, 10, 20), strict=True):
        ws.column_dimensions[col].width = width
    for r in ws.iter_rows(min_row=2, min_col=5, max_col=6):
        for c in r:
            c.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return n


@dataclass(slots=True)
class ImportResult:
    imported: int
    skipped_blank: int
    unknown_ids: list[str]


def import_review(run_dir: str | Path, xlsx: str | Path, reviewer: str = "") -> ImportResult:
    """Read verdicts from a filled spreadsheet into ``manual.jsonl`` (appending; last wins)."""
    from openpyxl import load_workbook

    p = Path(xlsx)
    if not p.exists():
        raise ReviewError(f"{p}: file not found")
    wb = load_workbook(p, read_only=True, data_only=True)
    ws = wb.active
    if ws is None:
        raise ReviewError(f"{p}: no worksheet")
    it_rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(it_rows, ())]
    for need in ("id", "人工判定"):
        if need not in header:
            raise ReviewError(f"{p}: missing column {need!r} (found {', '.join(header)})")
    col = {h: i for i, h in enumerate(header)}
    known = {it.id for it in load_items(run_dir)}
    out: list[dict[str, Any]] = []
    blank = 0
    unknown: list[str] = []
    problems: list[str] = []
    for n, values in enumerate(it_rows, 2):

        def get(name: str, values: tuple[Any, ...] = values) -> str:
            i = col.get(name)
            v = values[i] if i is not None and i < len(values) else None
            return "" if v is None else str(v).strip()

        iid = get("id")
        if not iid:
            continue
        raw = get("人工判定")
        if not raw:
            blank += 1
            continue
        verdict = _VERDICTS.get(raw.lower())
        if verdict is None:
            problems.append(f"row {n}: 人工判定 {raw!r} is not 通过/不通过 (pass/fail)")
            continue
        if iid not in known:
            unknown.append(iid)
            continue
        out.append(
            {
                "item_id": iid,
                "verdict": verdict,
                "reviewer": get("审核人") or reviewer,
                "note": get("备注"),
                "ts": time.time(),
                "file": p.name,
            }
        )
    if problems:
        raise ReviewError(f"{p}:\n" + "\n".join(problems[:50]))
    with (Path(run_dir) / MANUAL).open("a", encoding="utf-8") as fh:
        for d in out:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    return ImportResult(len(out), blank, unknown)


@dataclass(slots=True)
class Agreement:
    n: int
    agree: int
    kappa: float | None
    machine_pass: int
    manual_pass: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "agree": self.agree,
            "kappa": self.kappa,
            "machine_pass": self.machine_pass,
            "manual_pass": self.manual_pass,
        }


def agreement(run_dir: str | Path) -> Agreement:
    """Machine vs manual verdicts over the reviewed items (one vote per item), from judgements.jsonl.

    Re-judge after importing verdicts (``review-import`` does) so the figures are current.
    """
    pairs: dict[str, tuple[str, str]] = {}
    for row in read_judgements(run_dir):
        j = row.judgement
        if j.manual in ("pass", "fail") and j.machine in ("pass", "fail"):
            pairs[j.item_id] = (j.machine, j.manual)  # type: ignore[assignment]
    if not pairs:
        return Agreement(0, 0, None, 0, 0)
    machine = [a for a, _ in pairs.values()]
    human = [b for _, b in pairs.values()]
    agree = sum(x == y for x, y in zip(machine, human, strict=True))
    return Agreement(
        len(machine), agree, cohen_kappa(machine, human), machine.count("pass"), human.count("pass")
    )
