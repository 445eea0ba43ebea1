"""Last step, always: metrics and the audit record (Art. 11; Cybersecurity Law Art. 21)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hegui.gateway.audit import build_record

if TYPE_CHECKING:
    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway


def finish(gw: Gateway, ctx: RequestContext) -> None:
    route = "/v1/chat/completions" if ctx.route == "chat" else "/v1/completions"
    gw.metrics.requests.labels(route, str(ctx.status_code), ctx.outcome).inc()
    gw.metrics.latency.labels(route, str(ctx.stream).lower()).observe(ctx.elapsed_ms() / 1000)
    gw.audit.submit(build_record(ctx, ctx.policy or gw.policy, gw.settings.audit_hmac_key, route))
    gw.metrics.audit_queue.set(len(gw.audit))
