"""An httpx transport that sends requests with aiohttp's HTTP/1.1 client.

Why: the gateway keeps httpx as its upstream client (one API for pooling, time-outs, retries and
the in-process test transports), but httpx's default transport (httpcore + h11, pure Python)
was the largest single cost of a proxied request: measured on loopback against the scripted
upstream, about 1.0 ms of CPU per request (1.4 ms streamed) against 0.5-0.7 ms with aiohttp's
C-accelerated parser (``benchmarks/bench_gateway.py --transport httpx`` runs the other one). Only the
transport changes: requests are built, and responses read, through httpx as before.

Errors are mapped to the httpx exceptions the gateway already handles, by what happened:
could not connect (``ConnectError``), connect or pool time-out (``ConnectTimeout``), no bytes
within the read time-out (``ReadTimeout``), connection dropped or body cut short
(``ReadError`` / ``RemoteProtocolError``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx


def _mapped(exc: BaseException) -> httpx.TransportError:
    import aiohttp

    msg = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(msg)
    if isinstance(exc, aiohttp.SocketTimeoutError | aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(msg)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(msg)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        return httpx.RemoteProtocolError(msg)
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        return httpx.ReadError(msg)
    return httpx.TransportError(msg)


def _errors() -> tuple[type[BaseException], ...]:
    import aiohttp

    return (aiohttp.ClientError, TimeoutError)


class _Body(httpx.AsyncByteStream):
    def __init__(self, resp: Any):
        self._resp = resp

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except _errors() as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        # release() hands a fully read connection back to the pool and closes one read only in
        # part (the upstream then sees the client go away and stops generating)
        self._resp.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, limits: httpx.Limits | None = None):
        self._limits = limits or httpx.Limits()
        self._session: Any = None

    def _get_session(self) -> Any:
        import aiohttp

        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                limit_per_host=0,
                keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            )
            # httpx has already set every header it means to send; add none of aiohttp's own
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp

        t = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None, connect=t.get("pool"), sock_connect=t.get("connect"), sock_read=t.get("read")
        )
        body = await request.aread()
        try:
            resp = await self._get_session().request(
                request.method,
                str(request.url),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            )
        except _errors() as exc:
            raise _mapped(exc) from exc
        return httpx.Response(
            status_code=resp.status,
            headers=resp.raw_headers,
            stream=_Body(resp),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
