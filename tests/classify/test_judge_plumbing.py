"""The judge against a scripted OpenAI-compatible server: requests, time-outs, failure policy,
retries of malformed answers, caching, the async path, and (marked) the embedded local model."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Iterator

import pytest

from hegui.classify.judge import JudgeUnavailable, LLMJudgeDetector
from hegui.classify.testing import FakeOpenAIServer, Reply
from hegui.moderation.types import Detector
from hegui.policy import default_policy
from hegui.policy.model import LLMJudgeConfig
from hegui.text import normalize


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    s = FakeOpenAIServer().start()
    yield s
    s.stop()


def _judge(server: FakeOpenAIServer, **kw: object) -> LLMJudgeDetector:
    cfg = LLMJudgeConfig(enabled=True, endpoint=server.url, model="guard", **kw)  # type: ignore[arg-type]
    return LLMJudgeDetector(cfg)


def test_qwen3guard_request_and_findings(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEGUI_JUDGE_API_KEY", "k-123")
    server.script = [Reply("Safety: Unsafe\nCategories: Violent")]
    det = _judge(server, family="qwen3guard")
    assert isinstance(det, Detector) and det.max_lookback == 0
    text = "一段待审核的文字"
    found = det.scan(normalize(text))
    assert [(f.risk, f.severity, f.detector, f.start, f.end) for f in found] == [
        ("A1.f", 3, "llm-judge", 0, len(text))
    ]
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["headers"]["Authorization"] == "Bearer k-123"
    assert req["json"]["model"] == "guard" and req["json"]["messages"] == [{"role": "user", "content": text}]


def test_response_mode_sends_the_prompt_turn(server: FakeOpenAIServer) -> None:
    server.script = [Reply("Safety: Safe\nCategories: None\nRefusal: Yes")]
    det = _judge(server, family="qwen3guard")
    v = det.judge("我不能帮你做这件事。", prompt="怎么做坏事")
    assert v.refusal is True and not v.unsafe
    roles = [m["role"] for m in server.requests[0]["json"]["messages"]]
    assert roles == ["user", "assistant"]


def test_llamaguard_family(server: FakeOpenAIServer) -> None:
    server.script = [Reply("\n\nunsafe\nS7")]
    assert [f.risk for f in _judge(server, family="llamaguard").check("x")] == ["A4.e"]


def test_timeout_fails_closed_or_open(server: FakeOpenAIServer) -> None:
    server.script = [Reply("Safety: Safe", delay_s=1.0)]
    closed = _judge(server, family="qwen3guard", timeout_s=0.2, fail="closed", fail_risk="A1.h")
    t0 = time.perf_counter()
    found = closed.check("慢")
    assert time.perf_counter() - t0 < 0.9  # gave up at the time-out, no retry after a time-out
    assert [(f.risk, f.variant, f.severity) for f in found] == [("A1.h", "fail-closed", 3)]
    assert "ReadTimeout" in found[0].rule and closed.stats.failures == 1
    opened = _judge(server, family="qwen3guard", timeout_s=0.2, fail="open")
    assert opened.check("慢") == []
    with pytest.raises(JudgeUnavailable):
        opened.judge("慢")


def test_http_errors_are_retried_then_fail(server: FakeOpenAIServer) -> None:
    server.script = [Reply(status=500, raw_body='{"error": "boom"}'), Reply("Safety: Safe\nCategories: None")]
    det = _judge(server, family="qwen3guard", retries=1)
    assert det.check("x") == [] and det.stats.requests == 2 and det.stats.failures == 0
    server.script = [Reply(status=503, raw_body="{}")]
    det2 = _judge(server, family="qwen3guard", retries=2, fail="closed")
    assert [f.variant for f in det2.check("y")] == ["fail-closed"] and det2.stats.requests == 3


def test_connection_refused_follows_policy() -> None:
    cfg = LLMJudgeConfig(
        enabled=True, endpoint="http://127.0.0.1:9/v1", model="m", retries=0, timeout_s=1, fail="open"
    )
    assert LLMJudgeDetector(cfg).check("x") == []


def test_general_mode_retries_malformed_json(server: FakeOpenAIServer) -> None:
    server.script = [
        Reply("这段话有性别歧视。"),
        Reply('{"safe": false, "risks": [{"code": "A2.e", "severity": 2, "confidence": 0.8}]}'),
    ]
    det = _judge(server, family="general", retries=2)
    found = det.check("待审核")
    assert [(f.risk, f.score) for f in found] == [("A2.e", 0.8)]
    assert det.stats.requests == 2 and det.stats.retries == 1
    first, second = (r["json"]["messages"] for r in server.requests)
    assert first[0]["role"] == "system" and "A2.e" in first[0]["content"]
    # the retry shows the model its bad answer and the error
    assert second[-2] == {"role": "assistant", "content": "这段话有性别歧视。"}
    assert "JSON" in second[-1]["content"]


def test_general_mode_gives_up_after_retries(server: FakeOpenAIServer) -> None:
    server.script = [Reply("not json")]
    det = _judge(server, family="general", retries=1, fail="closed", fail_risk="A2.i")
    assert [f.risk for f in det.check("z")] == ["A2.i"] and det.stats.requests == 2


def test_non_completion_body_is_retried(server: FakeOpenAIServer) -> None:
    server.script = [Reply(raw_body='{"unexpected": 1}'), Reply("safe")]
    det = _judge(server, family="llamaguard", retries=1)
    assert det.check("x") == [] and det.stats.requests == 2


def test_identical_inputs_are_cached_lru(server: FakeOpenAIServer) -> None:
    server.script = [Reply("unsafe\nS10")]
    det = _judge(server, family="llamaguard", cache_size=2)
    for _ in range(3):
        assert [f.risk for f in det.check("同一句")] == ["A2.i"]
    assert len(server.requests) == 1 and det.stats.cache_hits == 2
    det.check("二")
    det.check("三")  # evicts "同一句"
    det.check("同一句")
    assert len(server.requests) == 4
    # failures are not cached: a recovered judge is asked again
    server.script = [Reply(status=500, raw_body="{}"), Reply("safe")]
    flaky = _judge(server, family="llamaguard", retries=0, fail="open")
    assert flaky.check("新") == [] and flaky.stats.failures == 1
    assert flaky.check("新") == [] and flaky.stats.failures == 1 and flaky.stats.cache_hits == 0


def test_async_variant(server: FakeOpenAIServer) -> None:
    server.script = [Reply("Safety: Controversial\nCategories: Unethical Acts")]

    async def run() -> tuple[list[str], list[str]]:
        strict = _judge(server, family="qwen3guard", strict=True)
        loose = _judge(server, family="qwen3guard", strict=False)
        try:
            a, b = await asyncio.gather(strict.ascan(normalize("文")), loose.acheck("文"))
        finally:
            await strict.aclose()
            await loose.aclose()
        return [f.risk for f in a], [f.risk for f in b]

    assert asyncio.run(run()) == (["A2.i"], [])


def test_async_timeout_fail_closed(server: FakeOpenAIServer) -> None:
    server.script = [Reply("safe", delay_s=1.0)]
    det = _judge(server, family="llamaguard", timeout_s=0.2, fail="closed")
    found = asyncio.run(det.acheck("x"))
    assert [f.variant for f in found] == ["fail-closed"]


def test_from_policy_and_config_errors() -> None:
    pol = default_policy().model_copy(deep=True)
    with pytest.raises(ValueError, match="endpoint is empty"):
        LLMJudgeDetector.from_policy(pol)
    with pytest.raises(ValueError, match="unknown risk code"):
        LLMJudgeConfig(fail_risk="Z1")
    with pytest.raises(ValueError, match="unknown risk code"):
        LLMJudgeConfig(category_map={"S1": ["nope"]})


@pytest.mark.model
def test_general_judge_against_embedded_local_model() -> None:
    if importlib.util.find_spec("hegui.gateway.local_model") is None:
        pytest.skip("hegui.gateway.local_model is not there yet")
    from hegui.config import Settings
    from hegui.gateway.server import local_upstream

    from ..gateway.scripted_upstream import free_port

    port = free_port()
    with local_upstream(Settings(local_model_port=port)) as endpoint:
        cfg = LLMJudgeConfig(enabled=True, endpoint=endpoint, model="local", family="general",
                             retries=1, timeout_s=120, fail="open", max_tokens=128)  # fmt: skip
        det = LLMJudgeDetector(cfg)
        found = det.check("今天天气很好，我们去公园散步吧。")
        # a 270M model may or may not follow the JSON format: the plumbing must either return a
        # validated verdict or fail open, and it must have talked to the model
        assert det.stats.requests >= 1
        assert all(f.detector == "llm-judge" for f in found)
        assert det.stats.failures in (0, 1)
