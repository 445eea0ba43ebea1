"""Gateway overhead against calling the upstream directly, measured in the same run.

Starts a fast scripted OpenAI-compatible upstream and the gateway (real uvicorn processes on
loopback, SQLite storage, audit log on, rate limiting on), then drives both with an async load
generator at N concurrent clients: non-streaming and streaming, full input+output moderation.
The load generator shares the 2 cores with what it measures, so by default it is a light one
(pre-built requests on keep-alive sockets, responses parsed by httptools); ``--client httpx``
uses ``httpx.AsyncClient``, which costs ~1 ms of CPU per request and adds its contention to
both sides' latency.
Reports added latency p50/p99 (gateway minus direct), throughput ratio, and gateway memory per
1,000 open streams.

    .venv/bin/python benchmarks/bench_gateway.py                    # default policy, real detectors
    .venv/bin/python benchmarks/bench_gateway.py --moderation terms # a trivial detector: proxy cost only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT / "tests" / "gateway" / "scripted_upstream.py"
TERM_GATEWAY = ROOT / "tests" / "gateway" / "run_gateway.py"

PROMPT = "请帮我写一段关于春天的短文，描述公园里的花草树木、游人和天气，语言要生动自然。"
ANSWER = ("春天来了，公园里的桃花和樱花竞相开放，柳树抽出嫩绿的新芽。" * 4)[:200]
CONTENT = re.compile(r'"(?:content|text)":\s*"[^"]')  # the first non-empty piece of answer text
CONTENT_B = re.compile(rb'"(?:content|text)":\s*"[^"]')
CHUNKS = [ANSWER[i : i + 8] for i in range(0, len(ANSWER), 8)]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"process for {url} exited: {err[-2000:]}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


UPSTREAM_DELAY_S = 0.0  # --upstream-delay-ms: the scripted model's generation time per answer


def body(stream: bool, chat: bool = True) -> dict:
    b: dict = {"model": "m", "stream": stream, "scripted": {"chunks": CHUNKS}}
    if UPSTREAM_DELAY_S:  # streamed: spread over the chunks, as a model generates them
        b["scripted"].update(
            {"delay": UPSTREAM_DELAY_S / len(CHUNKS)}
            if stream
            else {"mode": "slow", "delay": UPSTREAM_DELAY_S}
        )
    if chat:
        b["messages"] = [
            {"role": "system", "content": "你是一个有帮助的助手。"},
            {"role": "user", "content": PROMPT},
        ]
    return b


class RawConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection of the light load generator: pre-built request bytes out,
    responses parsed by httptools (uvicorn's C parser). A Python client with a full HTTP stack
    (httpx) spends ~1 ms of CPU per request on the same 2 cores as the gateway and the upstream;
    that contention, not the gateway, then shows up in the "added" latency."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] | None = None
        self.closed = False
        self.status = 0
        self.first: float | None = None
        self.tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.done is not None and not self.done.done():
            self.done.set_exception(ConnectionError("connection closed mid-response"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:  # a malformed response fails the request, not the run
            if self.done is not None and not self.done.done():
                self.done.set_exception(exc)

    # httptools callbacks
    def on_status(self, _status: bytes) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if self.first is None:
            if CONTENT_B.search(self.tail + body):
                self.first = time.perf_counter()
            self.tail = body[-32:]

    def on_message_complete(self) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result(None)

    async def request(self, raw: bytes) -> tuple[int, float | None]:
        """Send one request; (status, time of the first answer text or None) once it is complete."""
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.status, self.first, self.tail = 0, None, b""
        self.transport.write(raw)
        await self.done
        return self.status, self.first


def raw_request(base: str, key: str | None, stream: bool) -> bytes:
    host = base.split("://", 1)[1]
    payload = json.dumps(body(stream), ensure_ascii=False).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n" + (f"authorization: Bearer {key}\r\n" if key else "") + "\r\n"
    )
    return head.encode() + payload


async def run_load_raw(
    base: str, key: str | None, stream: bool, n: int, conc: int, rate: float | None = None
) -> dict[str, float | list[float]]:
    """``run_load`` with the light client (``RawConnection``): same schedule, same figures."""
    host, port = base.split("://", 1)[1].split(":")
    raw = raw_request(base, key, stream)
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    ttft: list[float] = []
    statuses: dict[str, int] = {}

    def failed(what: str) -> None:
        statuses[what] = statuses.get(what, 0) + 1

    todo = iter(range(n))
    start = time.perf_counter()

    async def worker() -> None:
        conn: RawConnection | None = None
        for i in todo:
            if rate:
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            t0 = time.perf_counter()
            try:
                if conn is None or conn.closed:
                    _, conn = await loop.create_connection(RawConnection, host, int(port))
                status, first = await asyncio.wait_for(conn.request(raw), 60)
            except (OSError, TimeoutError, ValueError) as exc:
                failed(type(exc).__name__)
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
                conn = None
                continue
            end = time.perf_counter()
            if status != 200:
                failed(str(status))
            lat.append(end - t0)
            if stream:
                ttft.append((first if first is not None else end) - t0)
        if conn is not None and conn.transport is not None:
            conn.transport.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    wall = time.perf_counter() - t0
    return {"lat": lat, "ttft": ttft, "rps": n / wall, "errors": sum(statuses.values()), "statuses": statuses}


async def run_load(
    base: str, key: str | None, stream: bool, n: int, conc: int, rate: float | None = None
) -> dict[str, float | list[float]]:
    """``conc`` clients send ``n`` requests: back to back (closed loop, saturating), or, with
    ``rate``, open loop at that many requests per second (request i leaves at t0 + i / rate)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    lat: list[float] = []
    ttft: list[float] = []
    statuses: dict[str, int] = {}  # HTTP status or exception name -> count

    def failed(what: str) -> None:
        statuses[what] = statuses.get(what, 0) + 1

    todo = iter(range(n))
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as c:
        start = time.perf_counter()

        async def one() -> None:
            t0 = time.perf_counter()
            if not stream:
                r = await c.post("/v1/chat/completions", json=body(False))
                if r.status_code != 200:
                    failed(str(r.status_code))
                lat.append(time.perf_counter() - t0)
                return
            first = None
            async with c.stream("POST", "/v1/chat/completions", json=body(True)) as r:
                if r.status_code != 200:
                    failed(str(r.status_code))
                async for line in r.aiter_lines():
                    if first is None and CONTENT.search(line):
                        first = time.perf_counter() - t0
            lat.append(time.perf_counter() - t0)
            ttft.append(first if first is not None else lat[-1])

        async def worker() -> None:
            for i in todo:
                if rate:
                    await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                try:
                    await one()
                except httpx.TransportError as exc:  # counted and named, the run goes on
                    failed(type(exc).__name__)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conc)))
        wall = time.perf_counter() - t0
    return {"lat": lat, "ttft": ttft, "rps": n / wall, "errors": sum(statuses.values()), "statuses": statuses}


async def open_streams(base: str, key: str, k: int, pid: int) -> tuple[int, int]:
    """Open k slow streams through the gateway; RSS (KiB) before and while they are all open."""
    limits = httpx.Limits(max_connections=k + 10, max_keepalive_connections=k + 10)
    before = rss_kib(pid)
    started = 0
    all_open = asyncio.Event()
    release = asyncio.Event()
    slow = {
        "model": "m",
        "stream": True,
        "messages": [{"role": "user", "content": "你好"}],
        "scripted": {"chunks": ["慢慢地说。"] * 600, "delay": 0.1},
    }
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=httpx.Timeout(120, pool=120),
    ) as c:

        async def one() -> None:
            nonlocal started
            async with c.stream("POST", "/v1/chat/completions", json=slow) as r:
                async for _line in r.aiter_lines():
                    if _line.startswith("data:"):
                        break
                started += 1
                if started == k:
                    all_open.set()
                await release.wait()

        tasks = [asyncio.create_task(one()) for _ in range(k)]
        await asyncio.wait_for(all_open.wait(), 300)
        await asyncio.sleep(2.0)  # let the relays settle into steady state
        during = rss_kib(pid)
        release.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return before, during


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1500, help="requests per measured phase")
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--streams", type=int, default=1000, help="open streams for the memory figure (0 = skip)")
    ap.add_argument("--moderation", choices=["full", "terms"], default="full")
    ap.add_argument("--rounds", type=int, default=2, help="alternating direct/gateway rounds")
    ap.add_argument(
        "--transport",
        choices=["aiohttp", "httpx"],
        default="aiohttp",
        help="the gateway's upstream transport (HEGUI_UPSTREAM_TRANSPORT)",
    )
    ap.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator: raw = keep-alive sockets + httptools (light); httpx = httpx.AsyncClient",
    )
    ap.add_argument(
        "--upstream-delay-ms",
        type=float,
        default=0.0,
        help="the scripted upstream takes this long per answer, like a (very fast) model; default 0",
    )
    ap.add_argument(
        "--paced-load",
        type=float,
        default=0.3,
        help="the paced phase's request rate, as a share of the lower of the two throughputs just measured",
    )
    args = ap.parse_args()
    global UPSTREAM_DELAY_S
    UPSTREAM_DELAY_S = args.upstream_delay_ms / 1000

    tmp = Path(tempfile.mkdtemp(prefix="hegui-bench-"))
    up_port, gw_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    py = sys.executable
    try:
        up = subprocess.Popen(
            [py, str(UPSTREAM), str(up_port)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        procs.append(up)
        up_url = f"http://127.0.0.1:{up_port}"
        wait_ready(up_url + "/v1/models", up)

        import hegui.moderation  # noqa: F401  (import order)
        from hegui.store import NewUser, Store

        db = f"sqlite:///{tmp}/bench.db"
        store = Store(db, auto_migrate=True)
        uid = store.users.add(NewUser(name="bench", verified=True, age_band="adult")).id
        key = store.keys.issue(
            uid, rpm=10**9
        ).secret  # rate limiting stays on (one counter write per request)
        store.close()
        env = {
            **os.environ,
            "HEGUI_DATABASE_URL": db,
            "HEGUI_UPSTREAM_URL": up_url + "/v1",
            "HEGUI_UPSTREAM_MAX_CONNECTIONS": str(max(200, args.streams + 50)),
            "HEGUI_PORT": str(gw_port),
            "HEGUI_CONFIG": "",
            "HEGUI_UPSTREAM_TRANSPORT": args.transport,
        }
        if args.moderation == "full":
            cmd = [py, "-m", "hegui.cli", "serve", "--log-level", "warning"]
        else:
            cmd = [py, str(TERM_GATEWAY), str(gw_port)]
        # the gateway's log goes to a file: an unread pipe would block it once full
        gw_log = open(tmp / "gateway.log", "wb")  # noqa: SIM115 (closed with the process)
        gw = subprocess.Popen(cmd, env=env, stderr=gw_log, stdout=subprocess.DEVNULL)
        procs.append(gw)
        gw_url = f"http://127.0.0.1:{gw_port}"
        wait_ready(gw_url + "/healthz", gw)

        load = run_load_raw if args.client == "raw" else run_load

        async def bench() -> None:
            print(
                f"hegui gateway benchmark: {args.requests} requests x {args.rounds} rounds, "
                f"{args.concurrency} concurrent clients, moderation={args.moderation}, "
                f"upstream transport={args.transport}, load generator={args.client}, "
                f"upstream delay={args.upstream_delay_ms:g} ms, cores={os.cpu_count()}"
            )
            for stream in (False, True):
                await load(up_url, None, stream, 100, args.concurrency)  # warm-up
                await load(gw_url, key, stream, 100, args.concurrency)
                res: dict[str, dict[str, list]] = {"direct": {}, "gateway": {}}
                statuses: dict[str, dict[str, int]] = {"direct": {}, "gateway": {}}
                for _ in range(args.rounds):
                    for name, base, k in (("direct", up_url, None), ("gateway", gw_url, key)):
                        c0 = cpu_s(gw.pid)
                        r = await load(base, k, stream, args.requests, args.concurrency)
                        if name == "gateway":
                            res[name].setdefault("cpu", []).append((cpu_s(gw.pid) - c0) / args.requests)
                        for f in ("lat", "ttft"):
                            res[name].setdefault(f, []).extend(r[f])  # type: ignore[arg-type]
                        res[name].setdefault("rps", []).append(r["rps"])
                        res[name].setdefault("errors", []).append(r["errors"])
                        for code, k_ in r["statuses"].items():  # type: ignore[union-attr]
                            statuses[name][code] = statuses[name].get(code, 0) + k_
                label = "streaming" if stream else "non-streaming"
                d, g = res["direct"], res["gateway"]
                print(
                    f"\n== {label} (chat completions, {len(ANSWER)}-char answer"
                    + (f" in {len(CHUNKS)} chunks)" if stream else ")")
                )
                print(f"{'':22}{'direct':>12}{'gateway':>12}{'added':>12}")
                fields = [("latency", "lat")] + ([("time to 1st token", "ttft")] if stream else [])
                for title, f in fields:
                    for q, qn in ((0.5, "p50"), (0.99, "p99")):
                        dv, gv = pct(d[f], q) * 1000, pct(g[f], q) * 1000
                        print(f"{title + ' ' + qn + ' ms':22}{dv:12.2f}{gv:12.2f}{gv - dv:12.2f}")
                drps, grps = statistics.mean(d["rps"]), statistics.mean(g["rps"])
                print(f"{'throughput req/s':22}{drps:12.1f}{grps:12.1f}   ratio {grps / drps:.2f} of direct")
                print(f"{'errors':22}{sum(d['errors']):12d}{sum(g['errors']):12d}")
                print(f"{'gateway CPU ms/req':22}{'':12}{statistics.mean(g['cpu']) * 1000:12.2f}")
                for name in ("direct", "gateway"):
                    if statuses[name]:
                        codes = ", ".join(f"{k_} x{v}" for k_, v in sorted(statuses[name].items()))
                        print(f"  {name} errors: {codes}")
                # Saturated, latency is mostly queueing behind the 2 shared cores (50 clients /
                # throughput): the paced phase measures what the gateway adds to one request, at a
                # share of the slower side's capacity so that neither side is queueing
                rate = args.paced_load * min(drps, grps)
                paced: dict[str, list[float]] = {"direct": [], "gateway": []}
                for _ in range(args.rounds):
                    for name, base, k in (("direct", up_url, None), ("gateway", gw_url, key)):
                        r = await load(base, k, stream, args.requests // 2, args.concurrency, rate)
                        paced[name].extend(r["ttft" if stream else "lat"])  # type: ignore[arg-type]
                what = "time to 1st token" if stream else "latency"
                slower = "direct" if drps <= grps else "gateway"
                print(
                    f"paced at {rate:.0f} req/s ({args.paced_load:.0%} of the {slower} throughput), {what}:"
                )
                for q, qn in ((0.5, "p50"), (0.99, "p99")):
                    dv, gv = pct(paced["direct"], q) * 1000, pct(paced["gateway"], q) * 1000
                    print(f"{'  ' + qn + ' ms':22}{dv:12.2f}{gv:12.2f}{gv - dv:12.2f}")
            if args.streams:
                before, during = await open_streams(gw_url, key, args.streams, gw.pid)
                per = (during - before) / args.streams * 1000 / 1024
                print(
                    f"\n== memory: gateway RSS {before / 1024:.1f} MiB idle, {during / 1024:.1f} MiB with "
                    f"{args.streams} open streams -> {per:.1f} MiB per 1,000 open streams"
                )

        asyncio.run(bench())
        print(f"\ngateway log: {tmp / 'gateway.log'}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
