"""What goes upstream: the client's body (after input masking) with the upstream model name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hegui.gateway.context import RequestContext

PATHS = {"chat": "chat/completions", "completions": "completions"}


def build(ctx: RequestContext, stream_usage: bool = False) -> dict[str, Any]:
    payload = dict(ctx.body)
    if ctx.upstream_model is not None:
        payload["model"] = ctx.upstream_model
    if ctx.stream and stream_usage:
        opts = dict(payload.get("stream_options") or {})
        opts["include_usage"] = True
        payload["stream_options"] = opts
    return payload
