"""``hegui corpus clean``: a filtered copy of the sources, decided by the policy.

Each record goes through the shared Moderator: a verdict at or above ``drop_action`` (default
``refuse``) removes the record, a ``mask`` verdict keeps it with the matched spans (personal
information under the default policy) replaced. Output is JSONL, one file per input shard,
mirroring the input tree; ``removed.jsonl`` lists every removed record with its reason, and
``manifest.json`` sums it up. Bad input records are not copied and are listed as removed with
the reader's reason.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from hegui.corpus.readers import Bad, Record, Shard, read_shard
from hegui.corpus.scan import ScanConfig, default_workers, moderator_for, parse_sources, plan, uid_of


class CleanResult(BaseModel):
    out_dir: str
    kept: int
    masked: int
    removed: int
    removed_by_reason: dict[str, int]
    files: list[str]


def _out_name(shard: Shard, multi: bool) -> str:
    rel = shard.rel
    for suffix in (".gz", ".gzip", ".zst", ".zstd"):
        if rel.endswith(suffix):
            rel = rel[: -len(suffix)]
    stem = rel.rsplit(".", 1)[0] if "." in Path(rel).name else rel
    return f"{stem}.part-{shard.id:05d}.jsonl" if multi else f"{stem}.jsonl"


def _clean_obj(rec: Record, masked: str) -> Any:
    obj = rec.obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            if v == rec.text:
                return {**obj, k: masked}
        return {**{k: v for k, v in obj.items() if not isinstance(v, str)}, "text": masked}
    return {"text": masked}


def clean_shard(shard: Shard, cfg: ScanConfig, out_dir: str, name: str, drop_action: str) -> dict[str, Any]:
    from hegui.moderation.types import Action

    mod = moderator_for(cfg)
    drop_at = Action.parse(drop_action)
    out_path = Path(out_dir) / shard.source / name
    out_path.parent.mkdir(parents=True, exist_ok=True)
    removed_path = Path(out_dir) / ".removed" / f"{shard.id:06d}.jsonl"
    removed_path.parent.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    tmp_out = out_path.with_suffix(".tmp")
    tmp_rm = removed_path.with_suffix(".tmp")
    with open(tmp_out, "w", encoding="utf-8") as out, open(tmp_rm, "w", encoding="utf-8") as rm:
        for item in read_shard(shard, cfg.read):
            if isinstance(item, Bad):
                if item.kind == "empty":
                    continue
                if item.recovered:
                    continue
                counts["removed"] += 1
                counts[f"bad:{item.kind}"] += 1
                rm.write(
                    json.dumps(
                        {
                            "source": shard.source,
                            "file": shard.rel,
                            "line": item.line,
                            "reason": f"bad input: {item.kind}",
                            "detail": item.message,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                continue
            rec: Record = item
            verdict = mod.check(rec.text, role=cfg.role)
            if verdict.action >= drop_at:
                counts["removed"] += 1
                # sorted: the same risks in another finding order are the same reason
                reason = f"{verdict.action}: {','.join(sorted(set(verdict.risks)))}"
                counts[reason] += 1
                rm.write(
                    json.dumps(
                        {
                            "source": shard.source,
                            "file": shard.rel,
                            "line": rec.key,
                            "uid": uid_of(shard, rec),
                            "reason": reason,
                            "rules": sorted({f.rule for f in verdict.findings if f.rule}),
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                continue
            text = rec.text
            if verdict.masked_text is not None:
                text = verdict.masked_text
                counts["masked"] += 1
            counts["kept"] += 1
            out.write(json.dumps(_clean_obj(rec, text), ensure_ascii=False) + "\n")
    os.replace(tmp_out, out_path)
    os.replace(tmp_rm, removed_path)
    return {"file": str(out_path), "counts": dict(counts)}


def _worker(args: tuple[str, str, str, str, str]) -> dict[str, Any]:
    shard_json, cfg_json, out_dir, name, drop = args
    return clean_shard(
        Shard.model_validate_json(shard_json), ScanConfig.model_validate_json(cfg_json), out_dir, name, drop
    )


def clean(
    sources: list[str],
    out_dir: str | Path,
    cfg: ScanConfig | None = None,
    *,
    workers: int = 0,
    drop_action: str = "refuse",
    on_tick: Callable[[int, int], None] | None = None,
) -> CleanResult:
    cfg = cfg or ScanConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards, _ = plan(parse_sources(sources), cfg)
    per_file = Counter((s.source, s.rel) for s in shards)
    jobs = [(s, _out_name(s, per_file[(s.source, s.rel)] > 1)) for s in shards]
    workers = workers or default_workers()
    results: list[dict[str, Any]] = []
    if workers <= 1 or len(jobs) <= 1:
        for i, (s, name) in enumerate(jobs, 1):
            results.append(clean_shard(s, cfg, str(out), name, drop_action))
            if on_tick:
                on_tick(i, len(jobs))
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        cfg_json = cfg.model_dump_json()
        with ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=mp.get_context("spawn")
        ) as pool:
            futs = [
                pool.submit(_worker, (s.model_dump_json(), cfg_json, str(out), name, drop_action))
                for s, name in jobs
            ]
            for i, f in enumerate(as_completed(futs), 1):
                results.append(f.result())
                if on_tick:
                    on_tick(i, len(jobs))
    # one removal list in shard order, then the per-shard pieces go
    total: Counter[str] = Counter()
    with open(out / "removed.jsonl", "w", encoding="utf-8") as rm:
        for s in shards:
            piece = out / ".removed" / f"{s.id:06d}.jsonl"
            with open(piece, encoding="utf-8") as fh:
                for line in fh:
                    rm.write(line)
            piece.unlink()
    (out / ".removed").rmdir()
    for r in results:
        total.update(r["counts"])
    by_reason = {k: v for k, v in sorted(total.items()) if k not in ("kept", "masked", "removed")}
    res = CleanResult(
        out_dir=str(out),
        kept=total["kept"],
        masked=total["masked"],
        removed=total["removed"],
        removed_by_reason=by_reason,
        files=sorted(r["file"] for r in results),
    )
    (out / "manifest.json").write_text(res.model_dump_json(indent=1), encoding="utf-8")
    return res
