"""Call an OpenAI-compatible chat endpoint for many items, concurrently, with a crash-safe cache.

Public API (the fairness module reuses it)::

    summary = run_items(items, "http://host:8000/v1", "model-name", out_dir, concurrency=16)

Every answer is appended to ``out_dir/responses.jsonl`` (one JSON object per line, keyed by
the item id and a hash of the request) and fsync'd before the item counts as done, so a run
killed at any moment (even ``kill -9``) resumes without calling the endpoint again for what is
already there, and re-judging a run needs no calls at all. Writes are group-committed: one
writer task flushes and fsyncs whatever has queued up, so 64 workers do not pay 64 fsyncs.

Items are anything with an ``id`` and ``chat_messages()`` (``BankItem``) or ``RunRequest``.
A multi-turn item whose messages are only user turns is played as a conversation: each user
turn is sent with the model's own previous answers in the history; the last answer is judged.
An item that already contains assistant turns is sent once, as given.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

RESPONSES_FILE = "responses.jsonl"
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class HasMessages(Protocol):
    id: str

    def chat_messages(self) -> list[dict[str, str]]: ...


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A plain request: an id and the chat messages."""

    id: str
    messages: tuple[dict[str, str], ...]

    def chat_messages(self) -> list[dict[str, str]]:
        return [dict(m) for m in self.messages]


@dataclass(slots=True)
class Endpoint:
    """Where and how to call. ``url`` is the API base (``.../v1``); ``/chat/completions`` is appended
    unless the URL already ends with it."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    retries: int = 3
    backoff: float = 0.5  # first retry delay (s); doubles each attempt, with jitter
    max_backoff: float = 30.0
    params: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.0, "max_tokens": 512})
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def chat_url(self) -> str:
        u = self.url.rstrip("/")
        return u if u.endswith("/chat/completions") else u + "/chat/completions"

    def describe(self) -> dict[str, Any]:
        """For run manifests: everything but the key."""
        return {
            "url": self.url,
            "model": self.model,
            "timeout": self.timeout,
            "retries": self.retries,
            "params": self.params,
            "api_key": "set" if self.api_key else "none",
        }


@dataclass(slots=True)
class Response:
    """One cached answer (one line of responses.jsonl)."""

    id: str
    req_hash: str
    status: str  # "ok" or "error"
    answer: str = ""
    turns: list[str] = field(default_factory=list)  # every model answer, for conversations
    finish_reason: str | None = None
    error: str | None = None
    attempts: int = 0
    latency_ms: float = 0.0
    usage: dict[str, Any] | None = None
    ts: float = 0.0
    cached: bool = False  # set when read back from the cache (never written)

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("cached")
        return json.dumps(d, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Response:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d and k != "cached"}
        return cls(**known)


@dataclass(slots=True)
class RunSummary:
    total: int
    cached: int  # answered from the cache, no call
    called: int  # items sent to the endpoint in this run
    ok: int
    errors: int
    http_calls: int  # HTTP requests made (retries and conversation turns included)
    seconds: float
    responses: dict[str, Response] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.called / self.seconds if self.seconds > 0 else 0.0


def request_hash(model: str, messages: Sequence[dict[str, str]], params: dict[str, Any]) -> str:
    blob = json.dumps(
        {"model": model, "messages": list(messages), "params": params}, ensure_ascii=False, sort_keys=True
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]


def is_conversation(messages: Sequence[dict[str, str]]) -> bool:
    roles = [m["role"] for m in messages if m["role"] != "system"]
    return roles.count("user") > 1 and "assistant" not in roles


# ---------------------------------------------------------------- cache


def load_cache(path: Path) -> dict[tuple[str, str], Response]:
    """The good answers in a responses file; errors are not cached (they are retried)."""
    out: dict[tuple[str, str], Response] = {}
    if not path.exists():
        return out
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash; it is truncated away on the next append
            r = Response.from_dict(d)
            if r.status == "ok":
                r.cached = True
                out[(r.id, r.req_hash)] = r
    return out


def _repair_tail(path: Path) -> None:
    """Cut a partial last line (the process died mid-write) so the next append starts clean."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)
        fh.flush()
        os.fsync(fh.fileno())


class _Writer:
    """Group commit: workers enqueue, one task writes + fsyncs whatever is pending."""

    def __init__(self, path: Path):
        _repair_tail(path)
        self.fh = path.open("a", encoding="utf-8")
        self.queue: asyncio.Queue[tuple[str, asyncio.Future[None]] | None] = asyncio.Queue()

    async def put(self, line: str) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.queue.put((line, fut))
        await fut  # done only once the line is on disk

    async def loop(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            stop = any(b is None for b in batch)
            entries = [b for b in batch if b is not None]
            if entries:
                self.fh.write("".join(line + "\n" for line, _ in entries))
                self.fh.flush()
                await asyncio.to_thread(os.fsync, self.fh.fileno())
                for _, fut in entries:
                    if not fut.done():
                        fut.set_result(None)
            if stop:
                self.fh.close()
                return


# ---------------------------------------------------------------- calls


class _Fatal(Exception):
    """A non-retryable failure (e.g. HTTP 400/401/404)."""


async def _post(
    client: Any, ep: Endpoint, messages: list[dict[str, str]], counter: list[int]
) -> tuple[dict[str, Any], int]:
    import httpx

    payload = {"model": ep.model, "messages": messages, **ep.params}
    headers = dict(ep.headers)
    if ep.api_key:
        headers["Authorization"] = f"Bearer {ep.api_key}"
    attempt = 0
    while True:
        attempt += 1
        counter[0] += 1
        delay: float | None = None
        try:
            resp = await client.post(ep.chat_url, json=payload, headers=headers, timeout=ep.timeout)
            if resp.status_code == 200:
                try:
                    return resp.json(), attempt
                except ValueError:
                    err = "response is not JSON"
            elif resp.status_code in RETRY_STATUS:
                err = f"HTTP {resp.status_code}"
                ra = resp.headers.get("retry-after")
                if ra:
                    with contextlib.suppress(ValueError):
                        delay = min(float(ra), ep.max_backoff)
            else:
                raise _Fatal(f"HTTP {resp.status_code}: {resp.text[:300]}")
        except httpx.TimeoutException:
            err = f"timeout after {ep.timeout:g}s"
        except httpx.TransportError as exc:
            err = f"{type(exc).__name__}: {exc}"
        if attempt > ep.retries:
            raise _Fatal(f"{err} (gave up after {attempt} attempts)")
        if delay is None:
            delay = min(ep.backoff * 2 ** (attempt - 1), ep.max_backoff) * (0.5 + random.random())
        await asyncio.sleep(delay)


def _content(data: dict[str, Any]) -> tuple[str, str | None, dict[str, Any] | None]:
    try:
        choice = data["choices"][0]
        msg = choice.get("message") or {}
        text = msg.get("content") or msg.get("refusal") or ""
        return str(text), choice.get("finish_reason"), data.get("usage")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise _Fatal(f"unexpected response shape: {json.dumps(data, ensure_ascii=False)[:300]}") from None


async def _answer(
    client: Any, ep: Endpoint, messages: list[dict[str, str]], counter: list[int]
) -> tuple[list[str], str | None, int, dict[str, Any] | None]:
    attempts = 0
    if not is_conversation(messages):
        data, attempts = await _post(client, ep, messages, counter)
        text, fin, usage = _content(data)
        return [text], fin, attempts, usage
    history: list[dict[str, str]] = []
    turns: list[str] = []
    fin = None
    usage = None
    for m in messages:
        history.append(m)
        if m["role"] != "user":
            continue
        data, a = await _post(client, ep, history, counter)
        attempts += a
        text, fin, usage = _content(data)
        turns.append(text)
        history.append({"role": "assistant", "content": text})
    return turns, fin, attempts, usage


async def run_items_async(
    items: Iterable[HasMessages],
    endpoint: Endpoint,
    out_dir: str | Path,
    concurrency: int = 8,
    on_result: Callable[[HasMessages, Response], None] | None = None,
    progress: bool = True,
    client: Any = None,
) -> RunSummary:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESPONSES_FILE
    cache = load_cache(path)
    items = list(items)
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    t0 = time.perf_counter()
    todo: list[tuple[HasMessages, list[dict[str, str]], str]] = []
    results: dict[str, Response] = {}
    cached = 0
    for it in items:
        msgs = it.chat_messages()
        h = request_hash(endpoint.model, msgs, endpoint.params)
        hit = cache.get((it.id, h))
        if hit is not None:
            cached += 1
            results[it.id] = hit
            if on_result is not None:
                on_result(it, hit)
        else:
            todo.append((it, msgs, h))

    counter = [0]
    stats = {"ok": 0, "err": 0}
    writer = _Writer(path)
    writer_task = asyncio.create_task(writer.loop())
    queue: asyncio.Queue[tuple[HasMessages, list[dict[str, str]], str] | None] = asyncio.Queue()
    for job in todo:
        queue.put_nowait(job)

    prog = None
    task_id = None
    if progress and todo:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        prog = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[errors]} errors"),
            TimeRemainingColumn(),
        )
        prog.start()
        task_id = prog.add_task(f"{endpoint.model}", total=len(todo), errors=0)

    import httpx

    own_client = client is None
    if own_client:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        client = httpx.AsyncClient(limits=limits, timeout=endpoint.timeout)

    async def worker() -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            assert job is not None
            it, msgs, h = job
            start = time.perf_counter()
            try:
                turns, fin, attempts, usage = await _answer(client, endpoint, msgs, counter)
                resp = Response(
                    id=it.id,
                    req_hash=h,
                    status="ok",
                    answer=turns[-1] if turns else "",
                    turns=turns if len(turns) > 1 else [],
                    finish_reason=fin,
                    attempts=attempts,
                    usage=usage,
                    latency_ms=(time.perf_counter() - start) * 1000,
                    ts=time.time(),
                )
                stats["ok"] += 1
            except _Fatal as exc:
                resp = Response(
                    id=it.id,
                    req_hash=h,
                    status="error",
                    error=str(exc),
                    latency_ms=(time.perf_counter() - start) * 1000,
                    ts=time.time(),
                )
                stats["err"] += 1
            await writer.put(resp.to_json())
            results[it.id] = resp
            if on_result is not None:
                on_result(it, resp)
            if prog is not None and task_id is not None:
                prog.update(task_id, advance=1, errors=stats["err"])

    try:
        await asyncio.gather(*(worker() for _ in range(min(concurrency, max(1, len(todo))))))
    finally:
        await writer.queue.put(None)
        await writer_task
        if own_client:
            await client.aclose()
        if prog is not None:
            prog.stop()
    return RunSummary(
        total=len(items),
        cached=cached,
        called=len(todo),
        ok=stats["ok"] + cached,
        errors=stats["err"],
        http_calls=counter[0],
        seconds=time.perf_counter() - t0,
        responses=results,
    )


def run_items(
    items: Iterable[HasMessages],
    endpoint: str | Endpoint,
    model: str | None = None,
    out_dir: str | Path = "run",
    concurrency: int = 8,
    *,
    api_key: str | None = None,
    timeout: float = 60.0,
    retries: int = 3,
    params: dict[str, Any] | None = None,
    on_result: Callable[[HasMessages, Response], None] | None = None,
    progress: bool = True,
) -> RunSummary:
    """Synchronous entry point: answer every item (from the cache when possible)."""
    if isinstance(endpoint, str):
        if not model:
            raise ValueError("model is required when endpoint is a URL")
        ep = Endpoint(url=endpoint, model=model, api_key=api_key, timeout=timeout, retries=retries)
        if params is not None:
            ep.params = dict(params)
    else:
        ep = endpoint
    return asyncio.run(
        run_items_async(items, ep, out_dir, concurrency, on_result=on_result, progress=progress)
    )


def read_responses(out_dir: str | Path) -> dict[str, Response]:
    """The latest good answer per item id in a run folder (what judging reads)."""
    by_id: dict[str, Response] = {}
    for (iid, _), r in load_cache(Path(out_dir) / RESPONSES_FILE).items():
        cur = by_id.get(iid)
        if cur is None or r.ts >= cur.ts:
            by_id[iid] = r
    return by_id
