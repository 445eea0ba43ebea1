"""Helpers shared by the benchmarks: realistic Chinese text from ../shared/data, timing, tables.

The shared data sets are read at run time and never copied into the project.
"""

from __future__ import annotations

import csv
import json
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("HEGUI_SHARED_DATA", ROOT.parent / "shared" / "data"))


def cold_rows(split: str = "train") -> Iterator[dict[str, str]]:
    with (SHARED / "COLD" / f"{split}.csv").open(encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)


def swsr_rows() -> Iterator[dict[str, str]]:
    with (SHARED / "SWSR" / "SWSR" / "SexComment.csv").open(encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)


def jade_questions() -> list[str]:
    with (SHARED / "JADE-v1" / "jade_benchmark_zh.csv").open(encoding="utf-8-sig", newline="") as fh:
        return [row["问题"] for row in csv.DictReader(fh)]


def flames_prompts() -> list[str]:
    out = []
    with (SHARED / "Flames" / "Flames_1k_Chinese.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(json.loads(line)["prompt"])
    return out


def chinese_texts() -> list[str]:
    texts = [r["TEXT"] for r in cold_rows("train")]
    texts += [r.get("comment_text") or r.get("text") or "" for r in swsr_rows()]
    return [t for t in texts if t]


def messages(total_chars: int, size: int, seed: int = 0) -> list[str]:
    """Messages of about ``size`` characters each, made by joining real comments, ``total_chars`` in all."""
    rng = random.Random(seed)
    pool = chinese_texts()
    out, cur, n = [], [], 0
    while n < total_chars:
        t = rng.choice(pool)
        cur.append(t)
        if sum(map(len, cur)) >= size:
            m = "。".join(cur)[:size]
            out.append(m)
            n += len(m)
            cur = []
    return out


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``repeat`` runs: the least-disturbed measurement on a noisy machine."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
