"""Load: 1,000 complaints submitted concurrently through the ASGI app all get distinct tracking
numbers and all are stored."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from sqlalchemy import func, select

from hegui.console.models import ComplaintRow

from .conftest import Env, form_tokens

N = 1000
TRACK = re.compile(r'id="tracking-no">([A-Z0-9-]+)<')


async def _flood(env: Env, n: int) -> tuple[list[str], float]:
    transport = httpx.ASGITransport(app=env.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=300) as client:
        first = await client.get("/console/complaint")  # sets the CSRF cookie shared by all submissions
        assert first.status_code == 200
        forms = await asyncio.gather(*(client.get("/console/complaint") for _ in range(n)))
        tokens = [form_tokens(f.text) for f in forms]
        t0 = time.perf_counter()

        async def one(i: int) -> str:
            data = {
                **tokens[i],
                "category": "A4.c",
                "description": f"并发投诉第 {i} 号：模型输出了侵害名誉的内容。",
                "contact": f"user{i}@example.cn",
            }
            r = await client.post("/console/complaint", data=data)
            assert r.status_code == 201, r.text[-500:]
            m = TRACK.search(r.text)
            assert m
            return m.group(1)

        numbers = await asyncio.gather(*(one(i) for i in range(n)))
        return list(numbers), time.perf_counter() - t0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_thousand_concurrent_complaints(make_env, backend, request) -> None:  # type: ignore[no-untyped-def]
    # PostgreSQL: a fresh schema, so the console migration (with its append-only triggers) runs too
    url = request.getfixturevalue("fresh_pg") if backend == "postgres" else None
    env = make_env(database_url=url, submissions_per_hour=0)
    numbers, seconds = asyncio.run(_flood(env, N))
    assert len(numbers) == N and len(set(numbers)) == N
    with env.store.sessions() as s:
        stored = s.scalar(select(func.count(ComplaintRow.id)))
        distinct = s.scalar(select(func.count(func.distinct(ComplaintRow.tracking_no))))
        contacts = set(s.scalars(select(ComplaintRow.contact)))
    assert stored == N and distinct == N
    assert contacts == {f"user{i}@example.cn" for i in range(N)}
    assert {c.tracking_no for c in env.service.complaints(limit=N)} == set(numbers)
    print(f"\n{N} concurrent complaints ({backend}, in-process ASGI): {seconds:.2f} s, {N / seconds:.0f}/s")
