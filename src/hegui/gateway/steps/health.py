"""Step 0: fail closed. If the audit log cannot be written, no request is served (503)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hegui.gateway.errors import unavailable

if TYPE_CHECKING:
    from starlette.responses import Response

    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway


async def check_store(gw: Gateway, ctx: RequestContext) -> Response | None:
    if not gw.audit.ok:
        raise unavailable(f"audit log unavailable ({gw.audit.last_error or 'queue full'}); refusing to serve")
    return None
