"""Corpus-test helpers: small generated corpora (invented text, no shared-data sentences)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # toy_detectors for spawned workers (they inherit sys.path)

TOY = "toy_detectors:detectors"

_WORDS = [
    "今天",
    "天气",
    "不错",
    "我们",
    "一起",
    "去",
    "公园",
    "散步",
    "讨论",
    "项目",
    "进度",
    "晚饭",
    "吃",
    "面条",
    "学习",
    "数学",
    "英语",
    "hello",
    "world",
    "会议",
    "安排",
    "在",
    "下午",
    "三点",
]


def sentence(rng: random.Random, n: int = 12) -> str:
    return "".join(rng.choice(_WORDS) for _ in range(n))


def make_jsonl(
    path: Path, n: int, seed: int = 0, harmful_every: int = 10, pii_every: int = 7, dup_every: int = 25
) -> dict[str, int]:
    """Records with known counts of toy-harmful, PII and duplicate lines."""
    rng = random.Random(seed)
    counts = {"harmful": 0, "pii": 0, "records": n}
    with open(path, "w", encoding="utf-8") as f:
        last = ""
        for i in range(n):
            text = f"{i}号{sentence(rng)}"
            if i % harmful_every == 0:
                text += "毒药配方"
                counts["harmful"] += 1
            if i % pii_every == 0:
                text += f"联系13{rng.randrange(10**8, 10**9)}"
                counts["pii"] += 1
            if dup_every and i % dup_every == 1 and last:
                text = last
            last = text
            f.write(json.dumps({"id": i, "text": text}, ensure_ascii=False) + "\n")
    return counts


@pytest.fixture
def toy() -> str:
    return TOY
