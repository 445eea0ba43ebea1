"""Step 3: per-key rate limit (requests per minute), counted across replicas; lower when restricted."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from hegui.gateway.counters import lease_for
from hegui.gateway.errors import GatewayError

if TYPE_CHECKING:
    from starlette.responses import Response

    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway


def effective_rpm(gw: Gateway, ctx: RequestContext) -> int:
    assert ctx.principal is not None
    key, user = ctx.principal.key, ctx.principal.user
    rpm = key.rpm if key.rpm is not None else gw.settings.default_rpm
    if user.status == "restricted":
        restricted = gw.policy.enforcement.restricted_rpm
        rpm = restricted if rpm == 0 else min(rpm, restricted)
    return rpm


async def check(gw: Gateway, ctx: RequestContext) -> Response | None:
    rpm = effective_rpm(gw, ctx)
    ctx.rpm = rpm
    if rpm <= 0:
        return None  # unlimited
    now = time.time()
    minute = int(now // 60)
    count = await gw.counters.incr(f"rl:key:{ctx.key_id}", f"m{minute}", 120, lease=lease_for(rpm))
    if count > rpm:
        retry = max(1, int((minute + 1) * 60 - now))
        raise GatewayError(
            429,
            f"rate limit reached: {rpm} requests per minute for this key",
            "rate_limit_error",
            "rate_limit_exceeded",
            headers={"Retry-After": str(retry)},
            outcome="rate_limited",
        )
    return None
