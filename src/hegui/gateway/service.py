"""The gateway-wide objects one app holds: settings, policy, store, moderators, upstream, counters,
audit writer, metrics. Built once per app; the request pipeline receives it as ``gw``."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from hegui.config import Settings
from hegui.gateway.audit import AuditWriter
from hegui.gateway.counters import Counters, RedisCounters, SQLCounters
from hegui.gateway.metrics import Metrics
from hegui.gateway.upstream import Upstream
from hegui.moderation import Moderator
from hegui.policy import Policy
from hegui.store import Principal, Store

ModeratorFactory = Callable[[Policy], Moderator]


class Gateway:
    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        store: Store | None = None,
        moderator_factory: ModeratorFactory | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        from hegui.gateway.steps.labels import check_producer

        check_producer(policy)  # a malformed provider code fails at start, not on every answer
        self.settings = settings
        self.policy = policy
        self.store = store or Store(settings.database_url, auto_migrate=settings.auto_migrate)
        make = moderator_factory or Moderator
        # the minors profile is a whole policy of its own (stricter actions), with its own moderator
        minors_policy = (
            policy.profile(policy.minors.profile) if policy.minors.profile in policy.profiles else policy
        )
        self.policies = {"default": policy, "minors": minors_policy}
        self.moderators = {"default": make(policy), "minors": make(minors_policy)}
        self.upstream = Upstream(settings, transport=transport)
        self.counters: Counters = (
            RedisCounters(settings.redis_url, settings.redis_prefix)
            if settings.redis_url
            else SQLCounters(self.store)
        )
        self.audit = AuditWriter(self.store, settings.audit_queue_max, linger_s=settings.audit_linger_s)
        self.metrics = Metrics()
        self._key_cache: dict[str, tuple[float, Principal]] = {}
        self.models_cache: tuple[float, list[str]] | None = None

    # a short-lived cache of key lookups: saves a database read per request; revocations and
    # enforcement done by this process invalidate it at once, others within identity_cache_s
    def cached_principal(self, key_hash: str) -> Principal | None:
        hit = self._key_cache.get(key_hash)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def cache_principal(self, key_hash: str, principal: Principal) -> None:
        if self.settings.identity_cache_s > 0:
            if len(self._key_cache) > 50_000:
                self._key_cache.clear()
            self._key_cache[key_hash] = (time.monotonic() + self.settings.identity_cache_s, principal)

    def forget_user(self, user_id: int) -> None:
        for k, (_, p) in list(self._key_cache.items()):
            if p.user.id == user_id:
                self._key_cache.pop(k, None)

    async def aclose(self) -> None:
        await self.upstream.aclose()
        await self.counters.aclose()
        self.audit.close()
