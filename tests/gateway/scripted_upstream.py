"""A scripted OpenAI-compatible upstream for tests and the benchmark.

Each request may carry a ``scripted`` object (the gateway passes unknown fields upstream):
    {"mode": "normal|slow|500|503_once|invalid_json|drop|error_event|no_done",
     "text": "...", "chunks": ["...", ...], "delay": 0.05, "drop_after": 2}
Without it, the upstream answers a fixed text in a few chunks. ``state`` records what happened
(requests seen, streams cancelled by the client) so tests can assert on it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DEFAULT_TEXT = "你好，这是一个测试回答。今天天气很好！"


@dataclass
class State:
    requests: list[dict[str, Any]] = field(default_factory=list)
    cancelled: int = 0
    completed_streams: int = 0
    once: set[str] = field(default_factory=set)
    client_ports: list[int] = field(default_factory=list)  # per request: which connection it came on
    headers: list[dict[str, str]] = field(default_factory=list)  # per request: the headers received

    def reset(self) -> None:
        self.requests.clear()
        self.client_ports.clear()
        self.headers.clear()
        self.cancelled = 0
        self.completed_streams = 0
        self.once.clear()


def split_default(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def create_upstream(state: State | None = None) -> Starlette:
    state = state or State()

    async def models(_req: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [{"id": "scripted-1", "object": "model", "owned_by": "t"}]}
        )

    async def handle(req: Request, chat: bool) -> Response:
        body = await req.json()
        state.requests.append(body)
        state.client_ports.append(req.client.port if req.client else 0)
        state.headers.append(dict(req.headers))
        sc = body.get("scripted") or {}
        mode = sc.get("mode", "normal")
        text = sc.get("text", DEFAULT_TEXT)
        chunks = sc.get("chunks") or split_default(text)
        delay = float(sc.get("delay", 0.0))
        key = sc.get("key", "")
        if mode == "500":
            return JSONResponse({"error": {"message": "boom"}}, status_code=500)
        if mode == "503_once" and key not in state.once:
            state.once.add(key)
            return JSONResponse({"error": {"message": "busy"}}, status_code=503)
        if mode == "400":
            return JSONResponse(
                {"error": {"message": "bad model", "type": "invalid_request_error"}}, status_code=400
            )
        if mode == "slow" and not body.get("stream"):
            await asyncio.sleep(delay)
        if mode == "invalid_json" and not body.get("stream"):
            return Response(b"{not json", media_type="application/json")
        created = int(time.time())
        rid = "up-" + str(len(state.requests))
        model = body.get("model")
        usage = {"prompt_tokens": 7, "completion_tokens": len(chunks), "total_tokens": 7 + len(chunks)}
        if not body.get("stream"):
            full = "".join(chunks)
            if chat:
                msg: dict[str, Any] = {"role": "assistant", "content": full}
                if sc.get("tool_args") is not None:
                    msg["tool_calls"] = [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": sc["tool_args"]},
                        }
                    ]
                choice: dict[str, Any] = {"index": 0, "message": msg, "finish_reason": "stop"}
            else:
                choice = {"index": 0, "text": full, "finish_reason": "stop"}
            return JSONResponse(
                {
                    "id": rid,
                    "object": "chat.completion" if chat else "text_completion",
                    "created": created,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                }
            )

        def ev(delta_or_text: Any, finish: str | None = None) -> str:
            if chat:
                ch = {"index": 0, "delta": delta_or_text, "finish_reason": finish}
            else:
                ch = {"index": 0, "text": delta_or_text, "finish_reason": finish}
            obj = {
                "id": rid,
                "object": "chat.completion.chunk" if chat else "text_completion",
                "created": created,
                "model": model,
                "choices": [ch],
            }
            return "data: " + json.dumps(obj, ensure_ascii=False) + "\n\n"

        async def gen():  # type: ignore[no-untyped-def]
            try:
                if chat:
                    yield ev({"role": "assistant", "content": ""})
                for i, c in enumerate(chunks):
                    if mode == "drop" and i >= int(sc.get("drop_after", 2)):
                        raise ConnectionResetError("scripted drop")  # uvicorn closes the connection
                    if mode == "invalid_json" and i == int(sc.get("drop_after", 2)):
                        yield "data: {broken\n\n"
                    if mode == "error_event" and i == int(sc.get("drop_after", 2)):
                        yield 'data: {"error": {"message": "overloaded"}}\n\n'
                        return
                    if delay:
                        await asyncio.sleep(delay)
                    yield ev({"content": c} if chat else c)
                yield ev({} if chat else "", "stop")
                opts = body.get("stream_options") or {}
                if opts.get("include_usage"):
                    yield (
                        "data: "
                        + json.dumps(
                            {
                                "id": rid,
                                "object": "chat.completion.chunk",
                                "created": created,
                                "model": model,
                                "choices": [],
                                "usage": usage,
                            }
                        )
                        + "\n\n"
                    )
                if mode != "no_done":
                    yield "data: [DONE]\n\n"
                state.completed_streams += 1
            except (asyncio.CancelledError, GeneratorExit):
                state.cancelled += 1
                raise

        return StreamingResponse(gen(), media_type="text/event-stream")

    async def chat(req: Request) -> Response:
        return await handle(req, True)

    async def completions(req: Request) -> Response:
        return await handle(req, False)

    app = Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/completions", completions, methods=["POST"]),
        ]
    )
    app.state.scripted = state
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn in a background thread with its own event loop (a real HTTP server on loopback).
    The one way tests run a fake server in-process: ``.start()/.stop()`` or ``with``; ``base_path``
    (e.g. ``/v1``) is appended to ``.url``."""

    def __init__(self, app: Any, port: int | None = None, base_path: str = "", **kw: Any):
        self.app = app
        self.base_path = base_path
        self.port = port or free_port()
        self.config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", **kw
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_path}"

    def start(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # run standalone: python scripted_upstream.py PORT
    import sys

    uvicorn.run(create_upstream(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
