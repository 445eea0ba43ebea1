"""The pooled HTTP client to the OpenAI-compatible upstream.

Retries only what is safe to retry for a non-idempotent POST: failures where the upstream cannot
have started work (the connection was never made, the pool had no slot) and explicit "not now"
answers (429/503). A read timeout or a dropped connection after the request was sent is NOT retried:
the model may already be generating, and a retry would double the cost and the output.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from hegui.config import Settings
from hegui.gateway.errors import GatewayError, upstream_error
from hegui.gateway.transport import AiohttpSender, HttpxSender, Sender, UpstreamResponse

RETRY_STATUS = frozenset({429, 503})


class Upstream:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        if not settings.upstream_url:
            raise ValueError("upstream_url is not set")
        self.base_url = settings.upstream_url
        self.retries = settings.upstream_retries
        self.backoff = settings.upstream_backoff_s
        headers = {"User-Agent": "hegui-gateway"}
        if settings.upstream_api_key:
            headers["Authorization"] = f"Bearer {settings.upstream_api_key}"
        limits = httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_connections,
            keepalive_expiry=settings.upstream_keepalive_s,
        )
        timeout = httpx.Timeout(
            connect=settings.upstream_connect_timeout_s,
            read=settings.upstream_read_timeout_s,
            write=settings.upstream_connect_timeout_s,
            pool=settings.upstream_connect_timeout_s,
        )
        self.sender: Sender
        if transport is None and settings.upstream_transport == "aiohttp":
            self.sender = AiohttpSender(self.base_url, headers, limits, timeout)
        else:  # httpx by choice, or a custom httpx transport (in-process apps, mocks)
            client = httpx.AsyncClient(
                base_url=self.base_url + "/",
                headers=headers,
                timeout=timeout,
                limits=limits,
                transport=transport,
            )
            self.sender = HttpxSender(client)

    async def aclose(self) -> None:
        await self.sender.aclose()

    async def _send(self, method: str, path: str, payload: Any | None, stream: bool) -> UpstreamResponse:
        # encoded once, as httpx's json= would: UTF-8, compact, no NaN
        body = (
            None
            if payload is None
            else json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        )
        attempt = 0
        while True:
            try:
                resp = await self.sender.send(method, path, body, stream)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if attempt >= self.retries:
                    raise upstream_error(
                        502, f"upstream unreachable: {type(exc).__name__}", "upstream_unavailable"
                    ) from exc
            except httpx.TimeoutException as exc:
                raise upstream_error(504, "upstream timed out", "upstream_timeout") from exc
            except httpx.HTTPError as exc:
                raise upstream_error(502, f"upstream connection failed: {type(exc).__name__}") from exc
            else:
                if resp.status_code not in RETRY_STATUS or attempt >= self.retries:
                    return resp
                await resp.aclose()
            attempt += 1
            # exponential back-off with jitter so replicas do not retry in lockstep
            await asyncio.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))

    @staticmethod
    async def _error_from(resp: UpstreamResponse) -> GatewayError:
        """Map an upstream error status to ours; pass 4xx messages on, hide 5xx details."""
        try:
            raw = await resp.aread()
        except httpx.HTTPError:
            raw = b""
        finally:
            await resp.aclose()
        if 400 <= resp.status_code < 500 and resp.status_code != 429:
            msg = "upstream rejected the request"
            try:
                err = json.loads(raw).get("error")
                if isinstance(err, dict) and isinstance(err.get("message"), str):
                    msg = f"upstream rejected the request: {err['message'][:500]}"
            except (ValueError, AttributeError):
                pass
            return GatewayError(resp.status_code, msg, code="upstream_rejected", outcome="upstream_error")
        if resp.status_code == 429:
            return upstream_error(429, "upstream is rate limiting; retry later", "upstream_rate_limited")
        return upstream_error(502, f"upstream failed with HTTP {resp.status_code}")

    async def post_json(self, path: str, payload: dict[str, Any]) -> tuple[dict[str, Any], float]:
        t0 = time.perf_counter()
        resp = await self._send("POST", path, payload, stream=False)
        if resp.status_code >= 400:
            raise await self._error_from(resp)
        try:
            data = json.loads(resp.content)
        except ValueError as exc:
            raise upstream_error(502, "upstream returned invalid JSON", "upstream_invalid_json") from exc
        if not isinstance(data, dict):
            raise upstream_error(502, "upstream returned JSON that is not an object", "upstream_invalid_json")
        return data, (time.perf_counter() - t0) * 1000.0

    async def open_stream(self, path: str, payload: dict[str, Any]) -> UpstreamResponse:
        """Send the request and return the open response (status checked) for ``sse_events``."""
        resp = await self._send("POST", path, payload, stream=True)
        if resp.status_code >= 400:
            raise await self._error_from(resp)
        return resp

    async def get_json(self, path: str) -> dict[str, Any]:
        resp = await self._send("GET", path, None, stream=False)
        if resp.status_code >= 400:
            raise await self._error_from(resp)
        try:
            return dict(json.loads(resp.content))
        except (ValueError, TypeError) as exc:
            raise upstream_error(502, "upstream returned invalid JSON", "upstream_invalid_json") from exc


async def sse_events(resp: UpstreamResponse) -> AsyncIterator[str]:
    """The ``data:`` payloads of an SSE stream (multi-line data joined with newlines)."""
    data: list[str] = []
    async for line in resp.aiter_lines():
        if line == "":
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue  # comment / keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)
