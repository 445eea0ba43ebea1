"""Gateway overhead against calling the upstream directly, measured in the same run.

Starts a fast scripted OpenAI-compatible upstream and the gateway (real uvicorn processes on
loopback, SQLite storage, audit log on, rate limiting on), then drives both with an async httpx load
generator at N concurrent clients: non-streaming and streaming, full input+output moderation.
Reports added latency p50/p99 (gateway minus direct), throughput ratio, and gateway memory per
1,000 open streams.

    .venv/bin/python benchmarks/bench_gateway.py                    # default policy, real detectors
    .venv/bin/python benchmarks/bench_gateway.py --moderation terms # a trivial detector: proxy cost only
"""

from __future__ import annotations

import argparse
import asyncio
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


def body(stream: bool, chat: bool = True) -> dict:
    b: dict = {"model": "m", "stream": stream, "scripted": {"chunks": CHUNKS}}
    if chat:
        b["messages"] = [
            {"role": "system", "content": "你是一个有帮助的助手。"},
            {"role": "user", "content": PROMPT},
        ]
    return b


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
        "--paced-load",
        type=float,
        default=0.3,
        help="the paced phase's request rate, as a share of the direct throughput just measured",
    )
    args = ap.parse_args()

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

        async def bench() -> None:
            print(
                f"hegui gateway benchmark: {args.requests} requests x {args.rounds} rounds, "
                f"{args.concurrency} concurrent clients, moderation={args.moderation}, "
                f"upstream transport={args.transport}, cores={os.cpu_count()}"
            )
            for stream in (False, True):
                await run_load(up_url, None, stream, 100, args.concurrency)  # warm-up
                await run_load(gw_url, key, stream, 100, args.concurrency)
                res: dict[str, dict[str, list]] = {"direct": {}, "gateway": {}}
                statuses: dict[str, dict[str, int]] = {"direct": {}, "gateway": {}}
                for _ in range(args.rounds):
                    for name, base, k in (("direct", up_url, None), ("gateway", gw_url, key)):
                        c0 = cpu_s(gw.pid)
                        r = await run_load(base, k, stream, args.requests, args.concurrency)
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
                # throughput): the paced phase measures what the gateway adds to one request.
                rate = args.paced_load * drps
                paced: dict[str, list[float]] = {"direct": [], "gateway": []}
                for _ in range(args.rounds):
                    for name, base, k in (("direct", up_url, None), ("gateway", gw_url, key)):
                        r = await run_load(base, k, stream, args.requests // 2, args.concurrency, rate)
                        paced[name].extend(r["ttft" if stream else "lat"])  # type: ignore[arg-type]
                what = "time to 1st token" if stream else "latency"
                print(f"paced at {rate:.0f} req/s ({args.paced_load:.0%} of direct), {what}:")
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
