"""Step 4: minors mode (Interim Measures Art. 10). Users under 18 get the stricter policy profile,
a curfew window and a daily request limit counted per user per local day across replicas."""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from hegui.gateway.errors import GatewayError

if TYPE_CHECKING:
    from starlette.responses import Response

    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway
    from hegui.policy import MinorsPolicy


def _hhmm(s: str) -> time:
    h, m = s.split(":")
    return time(int(h), int(m))


def in_curfew(minors: MinorsPolicy, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(minors.timezone)).time()
    start, end = _hhmm(minors.curfew_start), _hhmm(minors.curfew_end)
    if start == end:
        return False  # no curfew
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window crosses midnight (22:00-06:00)


async def check(gw: Gateway, ctx: RequestContext, now: datetime | None = None) -> Response | None:
    assert ctx.principal is not None
    user = ctx.principal.user
    if not user.is_minor:
        ctx.policy, ctx.moderator = gw.policies["default"], gw.moderators["default"]
        return None
    ctx.policy, ctx.moderator = gw.policies["minors"], gw.moderators["minors"]
    minors = gw.policy.minors
    now = now or datetime.now(ZoneInfo(minors.timezone))
    if in_curfew(minors, now):
        raise GatewayError(
            403, minors.curfew_message, "permission_error", "minors_curfew", outcome="minors_curfew"
        )
    day = now.astimezone(ZoneInfo(minors.timezone)).date().isoformat()
    count = await gw.counters.incr(f"minors:user:{user.id}", day, 2 * 86400)
    if count > minors.daily_requests:
        raise GatewayError(
            429, minors.limit_message, "rate_limit_error", "minors_daily_limit", outcome="minors_limit"
        )
    return None
