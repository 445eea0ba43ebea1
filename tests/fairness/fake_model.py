"""A scripted OpenAI-compatible "model" with known, injectable bias, for validating the audit.

Answers are a deterministic function of (seed, prompt): a base that depends only on the unit's
facts (everything but the attribute line) plus noise that depends on the full prompt, so an
unbiased model still answers the two prompts of a pair differently (the null hypothesis holds but
the differences are not all zero), and a bias is exactly what the configuration injects:

- ``score_bonus``: {substring: points} added to the score when the substring is in the prompt
  (e.g. ``{"性别：男": 1.0}`` = "adds +1 to men's scores");
- ``refuse_extra``: {substring: probability} of refusing to answer on top of ``base_refusal``
  (e.g. ``{"籍贯：河南省": 0.2}`` = "refuses one region 20 % more");
- ``no_extra``: {substring: probability} of turning a yes into a no.

Use ``transport()`` (httpx.MockTransport, in-process) or ``ThreadServer`` (a real HTTP server for
CLI tests).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from tests.gateway.scripted_upstream import ServerThread

REFUSAL = "抱歉，我无法回答这个问题。"
_ATTR_LINE = re.compile(
    r"^(?:性别|姓名|民族|宗教信仰|国籍|籍贯|户籍|年龄|职业|健康状况|婚育状况|备注)：.*$", re.MULTILINE
)


def _u(*parts: Any) -> float:
    """A uniform number in [0, 1) from a hash of the parts (stable across processes)."""
    h = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def _normal(*parts: Any) -> float:
    u1, u2 = max(_u(*parts, "a"), 1e-12), _u(*parts, "b")
    return float(np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2))


@dataclass
class FakeModel:
    seed: int = 0
    noise_sd: float = 1.2
    base_refusal: float = 0.03
    yes_rate: float = 0.65
    score_bonus: dict[str, float] = field(default_factory=dict)
    refuse_extra: dict[str, float] = field(default_factory=dict)
    no_extra: dict[str, float] = field(default_factory=dict)
    text_for: dict[str, str] = field(default_factory=dict)  # open prompts: substring -> answer
    default_text: str = "他们大多勤劳、友善，待人热情，和其他人一样各有个性。"
    echo_rate: float = 0.0  # share of answers that only repeat the prompt, cut short (small base models)
    calls: int = 0

    def answer(self, prompt: str) -> str:
        self.calls += 1
        unit = _ATTR_LINE.sub("", prompt)  # the facts shared by both prompts of a pair
        p_refuse = self.base_refusal + sum(p for s, p in self.refuse_extra.items() if s in prompt)
        if _u(self.seed, prompt, "refuse") < p_refuse:
            return REFUSAL
        if _u(self.seed, prompt, "echo") < self.echo_rate:
            return prompt[: 20 + int(_u(self.seed, prompt, "cut") * (len(prompt) - 20))]
        style = int(_u(self.seed, prompt, "style") * 3)
        if "整数" in prompt or "1到10" in prompt:
            base = 4.0 + 4.0 * _u(self.seed, unit, "base")
            s = base + self.noise_sd * _normal(self.seed, prompt, "noise")
            s += sum(b for sub, b in self.score_bonus.items() if sub in prompt)
            v = int(min(10, max(1, round(s))))
            return [f"{v}", f"评分：{v}", f"我给这位候选人打{v}分。"][style]
        if "“是”或“否”" in prompt or "批准" in prompt or "录取" in prompt:
            p_yes = self.yes_rate - sum(p for s, p in self.no_extra.items() if s in prompt)
            yes = _u(self.seed, prompt, "yes") < p_yes
            if "批准" in prompt:
                return "批准。" if yes else "拒绝。"
            if "录取" in prompt:
                return "建议录取。" if yes else "不录取。"
            return (
                ["是", "是。", "是，符合岗位要求。"][style]
                if yes
                else ["否", "否。", "否，经验不足。"][style]
            )
        return next((t for sub, t in self.text_for.items() if sub in prompt), self.default_text)

    # ------------------------------------------------------------ HTTP

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        text = self.answer(last)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    def transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            if not request.url.path.endswith("/chat/completions"):
                return httpx.Response(404, json={"error": "not found"})
            return httpx.Response(200, json=self._completion(json.loads(request.content)))

        return httpx.MockTransport(handler)

    def client_factory(self) -> Any:
        return lambda: httpx.AsyncClient(transport=self.transport())


class ThreadServer(ServerThread):
    """The fake model behind a real HTTP server (uvicorn in a thread); ``.url`` is the /v1 base."""

    def __init__(self, model: FakeModel):
        from fastapi import FastAPI, Request

        app = FastAPI()

        async def chat(request: Request) -> Any:
            return model._completion(await request.json())

        # this module uses `from __future__ import annotations`: the string "Request" cannot be
        # resolved from the module globals (it is imported here), and FastAPI would take it for a
        # query parameter
        chat.__annotations__["request"] = Request
        app.post("/v1/chat/completions")(chat)
        super().__init__(app, base_path="/v1", access_log=False)
