"""A tiny synthetic corpus (written for these tests) and a model trained on it once per session."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from hegui.classify.data import Example

# groups and phrasings invented for the tests: attacks carry the risk, neutral talk does not
GROUPS = {"A2.e": ["女生", "男生", "妇女"], "A2.d": ["东北人", "上海人", "河南人"]}
ATTACKS = ["都是废物，滚远点", "就是蠢，脑子有病", "全是骗子，恶心死了", "低等货色不配活着"]
NEUTRAL = ["今天在图书馆看书", "参加了社区的志愿活动", "喜欢周末去爬山", "在研究新的菜谱", "准备考研究生"]


def synthetic_examples() -> list[Example]:
    out: list[Example] = []
    for risk, groups in GROUPS.items():
        for g, a in itertools.product(groups, ATTACKS):
            out.append(Example(f"{g}{a}", frozenset([risk]), topic=risk))
        for g, n in itertools.product(groups, NEUTRAL):
            out.append(Example(f"有些{g}{n}", frozenset(), topic=risk))
    for n in NEUTRAL:
        out.append(Example(f"我{n}", frozenset()))
    # enough rows for the held-out calibration split
    return out * 12


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hegui.classify.train import TrainConfig, train

    ex = synthetic_examples()
    model = train(ex, TrainConfig(n_buckets=1 << 14, C=4.0), command="test")
    return model.save(tmp_path_factory.mktemp("model") / "tiny.npz")
