"""The detectors inside the moderation engine (``hegui.moderation.Moderator``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hegui.classify.testing import FakeOpenAIServer, Reply
from hegui.policy import default_policy


def test_moderator_runs_the_classifier_from_policy(tiny_model_path: Path) -> None:
    moderation = pytest.importorskip("hegui.moderation")
    pol = default_policy().model_copy(deep=True)
    pol.detectors.classifier.enabled = True
    pol.detectors.classifier.model = str(tiny_model_path)
    mod = moderation.Moderator(pol)
    v = mod.check("妇女都是废物，滚远点", role="output")
    assert "A2.e" in v.risks and v.flagged
    assert any(f.detector == "classifier" for f in v.findings)
    assert not mod.check("我准备考研究生", role="output").flagged


def test_moderator_runs_the_judge_from_policy() -> None:
    moderation = pytest.importorskip("hegui.moderation")
    with FakeOpenAIServer([Reply("unsafe\nS10")]) as srv:
        pol = default_policy().model_copy(deep=True)
        pol.detectors.llm_judge.enabled = True
        pol.detectors.llm_judge.endpoint = srv.url
        pol.detectors.llm_judge.family = "llamaguard"
        v = moderation.Moderator(pol).check("随便一句话", role="input")
        assert "A2.i" in v.risks and any(f.detector == "llm-judge" for f in v.findings)
