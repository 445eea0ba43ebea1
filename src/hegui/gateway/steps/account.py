"""Step 2: account status (enforcement ladder results) and real-name verification (policy choice)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio

from hegui.gateway.errors import GatewayError

if TYPE_CHECKING:
    from starlette.responses import Response

    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway


async def check_status(gw: Gateway, ctx: RequestContext) -> Response | None:
    assert ctx.principal is not None
    user = ctx.principal.user
    if user.status == "terminated":
        raise GatewayError(
            403,
            "this account has been terminated for repeated violations",
            "permission_error",
            "account_terminated",
            outcome="denied",
        )
    if user.status == "suspended":
        now = datetime.now(UTC)
        if user.status_until is not None and user.status_until <= now:
            # the time box is over: lift it (recorded as a system reinstatement) and go on
            user = await anyio.to_thread.run_sync(gw.store.enforcement.lift_expired_suspension, user.id, now)
            gw.forget_user(user.id)
            ctx.principal = ctx.principal.model_copy(update={"user": user})
        else:
            until = f" until {user.status_until.isoformat()}" if user.status_until else ""
            raise GatewayError(
                403,
                f"this account is suspended{until}",
                "permission_error",
                "account_suspended",
                outcome="denied",
            )
    if gw.policy.require_verified_identity and not user.verified:
        raise GatewayError(
            403,
            "real-name identity verification is required before using this service",
            "permission_error",
            "identity_unverified",
            outcome="denied",
        )
    return None
