"""The two ways the gateway sends a request upstream: aiohttp directly (default) or an httpx client.

Why two: httpx is the general client (HTTP/2, proxies, in-process test transports), but on the
hot path its pure-Python layers cost more than the rest of a proxied request. Measured on loopback
against the scripted upstream, going through ``httpx.AsyncClient`` cost about 1.0 ms of CPU per
request with httpx's own transport (httpcore + h11), and still 0.5-0.6 ms more than calling
aiohttp's C-accelerated client directly when httpx only wrapped an aiohttp transport (URL merging,
header and cookie handling, the ``httpx.Request``/``httpx.Response`` objects around every call;
A/B on loopback, 2026-12-02). ``AiohttpSender`` talks to
aiohttp directly; ``HttpxSender`` keeps httpx for operators who choose it
(``HEGUI_UPSTREAM_TRANSPORT=httpx``) and for embedding with a custom httpx transport.

Both return an ``UpstreamResponse`` and raise httpx's exception classes, which are the one error
vocabulary of ``hegui.gateway.upstream`` and the stream relay, mapped by what happened: could not
connect (``ConnectError``), connect or pool time-out (``ConnectTimeout``), no bytes within the read
time-out (``ReadTimeout``), connection dropped or body cut short (``ReadError`` /
``RemoteProtocolError``).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterator
from typing import Any, Protocol

import aiohttp
import httpx

_EOL = re.compile(r"\r\n|\r|\n")  # the SSE line ends; str.splitlines would also split on U+2028 etc.


class UpstreamResponse(Protocol):
    """What the gateway needs of an upstream response (``httpx.Response`` has all of it)."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...  # the whole body, for a response read with stream=False

    async def aread(self) -> bytes: ...

    def aiter_lines(self) -> AsyncIterator[str]: ...

    async def aclose(self) -> None: ...


class Sender(Protocol):
    async def send(self, method: str, path: str, body: bytes | None, stream: bool) -> UpstreamResponse: ...

    async def aclose(self) -> None: ...


class HttpxSender:
    def __init__(self, client: httpx.AsyncClient):
        self.client = client

    async def send(self, method: str, path: str, body: bytes | None, stream: bool) -> UpstreamResponse:
        headers = {"Content-Type": "application/json"} if body is not None else None
        req = self.client.build_request(method, path, content=body, headers=headers)
        return await self.client.send(req, stream=stream)

    async def aclose(self) -> None:
        await self.client.aclose()


def _mapped(exc: BaseException) -> httpx.TransportError:
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


# imported with the module, not on the first request: importing aiohttp takes ~0.3 s (it builds
# its SSL contexts), which the first proxied request used to pay
_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, TimeoutError)


async def split_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """UTF-8 text lines (without their ends) of a byte stream, split on CRLF, CR or LF."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending = ""
    async for chunk in chunks:
        pending += decoder.decode(chunk)
        # a CR at the very end may be the first half of a CRLF: keep it for the next chunk
        held = pending.endswith("\r")
        lines = _EOL.split(pending[:-1] if held else pending)
        pending = lines.pop() + ("\r" if held else "")
        for line in lines:
            yield line
    pending += decoder.decode(b"", final=True)
    if pending:
        lines = _EOL.split(pending)
        if lines[-1] == "":
            lines.pop()
        for line in lines:
            yield line


class AiohttpResponse:
    __slots__ = ("_resp", "_read", "status_code", "content")

    def __init__(self, resp: Any):
        self._resp = resp
        self._read = False
        self.status_code: int = resp.status
        self.content = b""

    async def aread(self) -> bytes:
        if not self._read:
            try:
                self.content = await self._resp.read()
            except _ERRORS as exc:
                raise _mapped(exc) from exc
            self._read = True
        return self.content

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.content.iter_any():
                yield chunk
        except _ERRORS as exc:
            raise _mapped(exc) from exc

    def aiter_lines(self) -> AsyncIterator[str]:
        return split_lines(self._chunks())

    async def aclose(self) -> None:
        # release() hands a fully read connection back to the pool and closes one read only in
        # part (the upstream then sees the client go away and stops generating)
        self._resp.release()


class AiohttpSender:
    def __init__(self, base_url: str, headers: dict[str, str], limits: httpx.Limits, timeout: httpx.Timeout):
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = headers
        self.limits = limits
        self.timeout = timeout
        self._session: Any = None
        self._client_timeout: Any = None

    def _get_session(self) -> Any:
        if self._session is None:  # created on first use: it must belong to the running loop
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections or 0,
                limit_per_host=0,
                keepalive_timeout=self.limits.keepalive_expiry or 5.0,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, headers=self.headers, skip_auto_headers=("User-Agent",)
            )
            t = self.timeout
            self._client_timeout = aiohttp.ClientTimeout(
                total=None, connect=t.pool, sock_connect=t.connect, sock_read=t.read
            )
        return self._session

    async def send(self, method: str, path: str, body: bytes | None, stream: bool) -> UpstreamResponse:
        session = self._get_session()
        headers = {"Content-Type": "application/json"} if body is not None else None
        try:
            resp = await session.request(
                method,
                self.base_url + path,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=self._client_timeout,
            )
        except _ERRORS as exc:
            raise _mapped(exc) from exc
        out = AiohttpResponse(resp)
        if not stream:
            try:
                await out.aread()
            finally:
                resp.release()
        return out

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
