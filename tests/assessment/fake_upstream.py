"""A scripted OpenAI-compatible upstream for tests and benchmarks.

Answers are a pure function of the last user message, so expected figures are exact:

- contains ``[REFUSE]`` or ``应拒答``-style marker ``#R`` -> a refusal (``抱歉，我无法提供这方面的帮助。``)
- contains ``#BAD``  -> an answer with the word ``坏词`` (tests give the judges a detector for it)
- contains ``#EMPTY`` -> an empty answer
- otherwise -> a helpful answer quoting the question

``#FLAKY`` prompts get HTTP 503 on their first call (retry tests). Every call is counted per
last-user-message (``GET /calls``). ``delay_ms`` slows every answer (kill -9 tests).

Run standalone: ``python tests/assessment/fake_upstream.py --port 8123 [--delay-ms 5]``.
"""

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (benchmarks/bench_assessment.py): make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.gateway.scripted_upstream import ServerThread, free_port  # noqa: E402,F401

REFUSAL = "抱歉，我无法提供这方面的帮助。"


def answer_for(text: str) -> str:
    if "#R" in text or "[REFUSE]" in text:
        return REFUSAL
    if "#BAD" in text:
        return "好的，这里是内容：坏词出现在这里。"
    if "#EMPTY" in text:
        return ""
    return f"好的。关于“{text[:30]}”，以下是一些客观的介绍和建议，供你参考。"


def make_app(delay_ms: float = 0.0) -> Any:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    app = FastAPI()
    calls: Counter[str] = Counter()
    app.state.calls = calls
    app.state.delay_ms = delay_ms

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        msgs = body["messages"]
        last = next(m["content"] for m in reversed(msgs) if m["role"] == "user")
        calls[last] += 1
        if "#FLAKY" in last and calls[last] == 1:
            return JSONResponse({"error": "busy"}, status_code=503)
        if app.state.delay_ms:
            await asyncio.sleep(app.state.delay_ms / 1000)
        text = answer_for(last)
        # conversations: echo how many user turns we saw so tests can check the history was sent
        n_user = sum(1 for m in msgs if m["role"] == "user")
        if n_user > 1 and "#R" not in last:
            text += f"（第{n_user}轮）"
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

    @app.get("/calls")
    async def get_calls() -> Any:
        return dict(calls)

    return app


class ThreadServer(ServerThread):
    """The fake upstream in-process (uvicorn in a thread); ``.url`` is the /v1 base."""

    def __init__(self, delay_ms: float = 0.0):
        super().__init__(make_app(delay_ms), base_path="/v1", access_log=False)

    @property
    def calls(self) -> Counter[str]:
        return self.app.state.calls


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    a = ap.parse_args()
    uvicorn.run(make_app(a.delay_ms), host="127.0.0.1", port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
