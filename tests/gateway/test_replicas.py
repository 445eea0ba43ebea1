"""Two gateway processes (real uvicorn subprocesses) sharing PostgreSQL + Redis enforce one user's
daily minors limit and one key's rate limit together, not each on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from hegui.store import NewUser, Store

from .helpers import chat_body
from .scripted_upstream import free_port

HERE = Path(__file__).resolve().parent

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _start(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "run_gateway.py"), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gateway did not start")


def _clear_of_minute_boundary() -> None:
    # the rate limit uses fixed one-minute windows: do not straddle two of them
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def test_two_replicas_share_limits(fresh_pg, redis_url, upstream, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "minors: {daily_requests: 3, curfew_start: '00:00', curfew_end: '00:00'}\n", encoding="utf-8"
    )
    store = Store(fresh_pg, auto_migrate=True)
    kid = store.users.add(NewUser(name="kid", age_band="14_17"))
    kid_key = store.keys.issue(kid.id).secret
    adult = store.users.add(NewUser(name="adult", age_band="adult"))
    adult_key = store.keys.issue(adult.id, rpm=4).secret
    env = {
        **os.environ,
        "HEGUI_DATABASE_URL": fresh_pg,
        "HEGUI_REDIS_URL": redis_url,
        "HEGUI_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}:",
        "HEGUI_UPSTREAM_URL": upstream[0],
        "HEGUI_POLICY": str(policy),
        "HEGUI_AUTO_MIGRATE": "false",
    }
    ports = [free_port(), free_port()]
    procs = [_start(p, env) for p in ports]
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for u, p in zip(urls, procs, strict=True):
            _wait(u, p)
        _clear_of_minute_boundary()

        def call(i: int, key: str) -> int:
            r = httpx.post(
                urls[i % 2] + "/v1/chat/completions",
                json=chat_body("hi"),
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            return r.status_code

        kid_codes = [call(i, kid_key) for i in range(6)]
        assert kid_codes == [200, 200, 200, 429, 429, 429]  # 3 a day, counted across both replicas
        adult_codes = [call(i, adult_key) for i in range(6)]
        assert adult_codes == [200, 200, 200, 200, 429, 429]  # 4 a minute, shared
        # both replicas wrote the audit log to the shared database
        time.sleep(0.5)
        assert {r.source_port is not None for r in store.audit.iter()} == {True}
        assert store.audit.count() == 12
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        store.close()
