"""Rate-limit leases (``hegui.gateway.counters.SQLCounters``): replicas sharing one database
claim numbers in blocks and never admit more than the limit together."""

from __future__ import annotations

import random

import anyio
import pytest

from hegui.gateway.counters import SQLCounters, lease_for
from hegui.store import Store


def test_lease_sizes() -> None:
    assert [lease_for(n) for n in (0, 1, 60, 99, 100, 600, 10**9)] == [1, 1, 1, 1, 2, 12, 32]


def test_replicas_with_leases_never_admit_more_than_the_limit(store: Store) -> None:
    limit, lease = 500, 8
    other = Store(store.engine.url.render_as_string(hide_password=False))  # a second replica
    replicas = [SQLCounters(store), SQLCounters(other)]
    rng = random.Random(3)

    async def run() -> list[list[int]]:
        numbers: list[list[int]] = [[], []]
        for _ in range(1200):  # requests land on either replica at random
            i = rng.randrange(2)
            numbers[i].append(await replicas[i].incr("rl:key:1", "m1", 120, lease=lease))
        return numbers

    try:
        numbers = anyio.run(run)
    finally:
        other.close()
    every = numbers[0] + numbers[1]
    assert len(set(every)) == len(every)  # no number handed out twice, across replicas
    admitted = sum(n <= limit for n in every)
    assert admitted <= limit
    # each replica wastes at most the rest of one lease when the other one crosses the limit
    assert admitted >= limit - 2 * (lease - 1)
    # one write per lease: the database counted whole leases only
    assert store.counters.get("rl:key:1", "m1") % lease == 0
    assert store.counters.get("rl:key:1", "m1") <= len(every) + 2 * lease


def test_a_new_window_starts_a_new_lease(store: Store) -> None:
    c = SQLCounters(store)

    async def run() -> list[int]:
        return [await c.incr("k", p, 120, lease=4) for p in ("m1", "m1", "m2", "m1")]

    # m1: numbers 1 and 2 of its lease; m2 starts at 1; back in m1 (an old window) a new claim
    assert anyio.run(run)[:3] == [1, 2, 1]
    assert store.counters.get("k", "m2") == 4


@pytest.mark.parametrize("lease", [1, 5])
def test_concurrent_requests_of_one_replica_get_distinct_numbers(store: Store, lease: int) -> None:
    c = SQLCounters(store)
    got: list[int] = []

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(40):

                async def one() -> None:
                    got.append(await c.incr("k", "p", 120, lease=lease))

                tg.start_soon(one)

    anyio.run(run)
    # one claim at a time: nothing beyond the last lease is wasted
    assert len(set(got)) == 40 and max(got) <= 40 + lease - 1
    assert store.counters.get("k", "p") <= 40 + lease - 1
