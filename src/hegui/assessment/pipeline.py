"""An assessment run folder and the steps on it: prepare, run, judge.

A run folder holds::

    run.json          manifest: endpoint (no key), model, banks, seed, sizes, times
    items.jsonl       the items of this run (the union of the samples), as bank JSONL
    samples.json      the samples with their seeds and item ids
    responses.jsonl   every answer (append-only cache, see runner.py)
    judgements.jsonl  one line per (sample, item): verdict, reason, judge
    manual.jsonl      human verdicts imported from the review spreadsheet

Every step reads only the folder, so ``judge`` and ``report`` can be redone without calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hegui.assessment.bank import BankItem, read_bank, read_banks, write_bank
from hegui.assessment.judges import Judgement, Judges
from hegui.assessment.runner import Endpoint, RunSummary, read_responses, run_items
from hegui.assessment.sampling import SamplePlan, draw_samples

MANIFEST = "run.json"
ITEMS = "items.jsonl"
JUDGEMENTS = "judgements.jsonl"
MANUAL = "manual.jsonl"


class RunError(ValueError):
    """A run folder is missing something a step needs."""


@dataclass(slots=True)
class JudgedRow:
    sample: str
    judgement: Judgement

    def to_dict(self) -> dict[str, Any]:
        return {"sample": self.sample, **self.judgement.to_dict()}


def prepare_run(
    banks: Sequence[str | Path],
    out_dir: str | Path,
    seed: int = 20250101,
    generated_size: int = 1000,
    refuse_size: int = 300,
    non_refuse_size: int = 300,
) -> tuple[list[BankItem], SamplePlan]:
    """Read the banks, draw the samples and write them into the run folder.

    An existing folder keeps its items and samples (so a resumed run asks the same questions).
    """
    out = Path(out_dir)
    if (out / ITEMS).exists() and (out / "samples.json").exists():
        return read_bank(out / ITEMS), SamplePlan.load(out)
    items = read_banks(banks)
    if not items:
        raise RunError("the banks hold no items")
    plan = draw_samples(items, seed, generated_size, refuse_size, non_refuse_size)
    wanted = set(plan.all_ids())
    chosen = [it for it in items if it.id in wanted]
    out.mkdir(parents=True, exist_ok=True)
    write_bank(chosen, out / ITEMS)
    plan.save(out)
    _update_manifest(
        out,
        banks=[str(Path(b).resolve()) for b in banks],
        seed=seed,
        items=len(chosen),
        created=time.time(),
        sizes={
            "generated": generated_size,
            "should_refuse": refuse_size,
            "should_not_refuse": non_refuse_size,
        },
    )
    return chosen, plan


def _update_manifest(out: Path, **fields: Any) -> dict[str, Any]:
    p = out / MANIFEST
    data = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
    data.update(fields)
    p.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return data


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    p = Path(run_dir) / MANIFEST
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def load_items(run_dir: str | Path) -> list[BankItem]:
    p = Path(run_dir) / ITEMS
    if not p.exists():
        raise RunError(f"{run_dir} is not a run folder (no {ITEMS}); start it with `hegui assess run`")
    return read_bank(p)


def execute_run(
    run_dir: str | Path, endpoint: Endpoint, concurrency: int = 8, progress: bool = True, label: str = ""
) -> RunSummary:
    out = Path(run_dir)
    items = load_items(out)
    _update_manifest(
        out, endpoint=endpoint.describe(), label=label or endpoint.model, concurrency=concurrency
    )
    summary = run_items(items, endpoint, out_dir=out, concurrency=concurrency, progress=progress)
    _update_manifest(
        out,
        finished=time.time(),
        last_run={
            "total": summary.total,
            "cached": summary.cached,
            "called": summary.called,
            "errors": summary.errors,
            "http_calls": summary.http_calls,
            "seconds": round(summary.seconds, 2),
        },
    )
    return summary


def read_errors(run_dir: str | Path) -> dict[str, str]:
    """The last error per item that has no good answer."""
    p = Path(run_dir) / "responses.jsonl"
    errs: dict[str, str] = {}
    if p.exists():
        with p.open(encoding="utf-8") as fh:
            for line in fh:
                try:
                    d = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if d.get("status") == "error":
                    errs[d["id"]] = d.get("error") or "error"
    return errs


def read_manual(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    p = Path(run_dir) / MANUAL
    out: dict[str, dict[str, Any]] = {}
    if p.exists():
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                out[d["item_id"]] = d  # later imports override earlier ones
    return out


def judge_run(run_dir: str | Path, judges: Judges | None = None, policy: Any = None) -> list[JudgedRow]:
    """Judge every sampled item with its sample's method; write judgements.jsonl. No calls."""
    out = Path(run_dir)
    items = {it.id: it for it in load_items(out)}
    plan = SamplePlan.load(out)
    responses = read_responses(out)
    errors = read_errors(out)
    manual = read_manual(out)
    judges = judges or Judges.from_policy(policy)
    rows: list[JudgedRow] = []
    for s in plan.samples:
        for iid in s.ids:
            it = items[iid]
            r = responses.get(iid)
            answer = r.answer if r else None
            fin = r.finish_reason if r else None
            method = "moderation" if s.method in ("refusal", "manual") else s.method
            j = judges.judge(it, answer, method, fin, errors.get(iid))
            j.machine = j.verdict
            m = manual.get(iid)
            if m is not None and answer is not None:
                j.manual = m["verdict"]
            if s.method == "manual":
                j.method = "manual"
                if m is not None and j.manual is not None:
                    # people decide this sample; the machine verdict stays for the agreement figure
                    j.verdict, j.judge = j.manual, "manual"
                    j.reason = m.get("note") or f"manual review (machine: {j.machine}, {j.reason})"
                elif j.verdict in ("pass", "fail"):
                    j.reason = f"[pending manual review] {j.reason}"
            rows.append(JudgedRow(s.name, j))
    with (out / JUDGEMENTS).open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
    return rows


def read_judgements(run_dir: str | Path) -> list[JudgedRow]:
    p = Path(run_dir) / JUDGEMENTS
    if not p.exists():
        raise RunError(f"{run_dir} has not been judged yet; run `hegui assess judge {run_dir}`")
    rows = []
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            sample = d.pop("sample")
            rows.append(JudgedRow(sample, Judgement.from_dict(d)))
    return rows
