"""Step 1: identity. The API key maps to a user (Interim Measures Art. 9: the provider knows its users)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from hegui.gateway.errors import GatewayError
from hegui.store import hash_key

if TYPE_CHECKING:
    from starlette.responses import Response

    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway


def _unauthorized(message: str, code: str) -> GatewayError:
    return GatewayError(401, message, type="invalid_request_error", code=code, outcome="unauthorized")


async def authenticate(gw: Gateway, ctx: RequestContext) -> Response | None:
    header = ctx.auth_header or ""
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'", "missing_api_key")
    secret = secret.strip()
    digest = hash_key(secret)
    principal = gw.cached_principal(digest)
    if principal is None:
        principal = await anyio.to_thread.run_sync(gw.store.keys.authenticate, secret)
        if principal is None:
            raise _unauthorized("invalid or revoked API key", "invalid_api_key")
        gw.cache_principal(digest, principal)
    ctx.principal = principal
    return None
