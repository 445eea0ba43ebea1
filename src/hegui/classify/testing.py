"""A scripted OpenAI-compatible server for tests and benchmarks of the LLM judge.

It is a real HTTP server on a local port (so time-outs, status codes and connection handling are
exercised as in production), answering ``POST /v1/chat/completions`` from a script: each request
takes the next :class:`Reply` (the last one repeats). Requests are recorded.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Reply:
    content: str = ""  # the assistant message
    delay_s: float = 0.0  # wait before answering (time-out tests, latency benchmarks)
    status: int = 200
    raw_body: str | None = None  # send this body verbatim instead of a chat completion


class FakeOpenAIServer:
    def __init__(self, script: list[Reply] | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.script: list[Reply] = list(script or [Reply("Safety: Safe\nCategories: None")])
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # keep test output clean

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = {"_raw": body.decode("utf-8", "replace")}
                with server._lock:
                    server.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "json": payload}
                    )
                    reply = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if not self.path.endswith("/chat/completions"):
                    self._send(404, json.dumps({"error": "not found"}))
                    return
                if reply.raw_body is not None:
                    self._send(reply.status, reply.raw_body)
                    return
                completion = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": payload.get("model", "fake"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": "stop",
                        }
                    ],
                }
                self._send(reply.status, json.dumps(completion, ensure_ascii=False))

            def _send(self, status: int, body: str) -> None:
                data = body.encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (time-out test): nothing to do

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
