"""Incidents and the enforcement ladder (Interim Measures Art. 14).

Every refusal or cut becomes an incident (user, time, risks, offending text as the audit policy allows,
action). Incidents whose policy action is ``block`` count against the user: when their number in a
step's window reaches the step's threshold, the step (warn / restrict / suspend / terminate) is
recorded and applied. Operators reverse steps through ``store.enforcement.reverse`` (recorded too);
incidents from before a reinstatement no longer count.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio

from hegui.gateway.audit import content_digest
from hegui.moderation import Action, Finding
from hegui.store import EnforcementEvent, NewIncident, Store

if TYPE_CHECKING:
    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway
    from hegui.policy import Policy


def apply_ladder(
    store: Store, policy: Policy, user_id: int, now: datetime | None = None
) -> EnforcementEvent | None:
    enf = policy.enforcement
    if not enf.enabled:
        return None
    now = now or datetime.now(UTC)
    user = store.users.get(user_id)
    if user.status == "terminated":
        return None
    reinstated = store.enforcement.last_reinstated_at(user_id)
    chosen = None
    for i, step in enumerate(enf.ladder):
        since = now - timedelta(hours=step.window_hours)
        if reinstated is not None and reinstated > since:
            since = reinstated
        n = store.incidents.count(user_id, since, actions=("block",))
        if n >= step.incidents and not store.enforcement.active_since(user_id, step.action, since):
            chosen = (i, step, n)
    if chosen is None:
        return None
    i, step, n = chosen
    until = (
        now + timedelta(hours=step.duration_hours)
        if step.action == "suspend" and step.duration_hours
        else None
    )
    reason = f"{n} blocking incidents within {step.window_hours:g} h (ladder step {i + 1}: {step.action})"
    return store.enforcement.record(user_id, step.action, reason, actor="system", ladder_step=i, until=until)


def _record(
    gw: Gateway, ctx: RequestContext, stage: str, action: str, risks: list[str], text: str
) -> tuple[int, EnforcementEvent | None]:
    mode = gw.policy.audit.content
    inc = gw.store.incidents.add(
        NewIncident(
            user_id=ctx.user_id,
            api_key_id=ctx.key_id,
            request_id=ctx.request_id,
            stage=stage,  # type: ignore[arg-type]
            action=action,
            risks=risks,
            content_policy=mode,
            offending_text=text if mode == "keep" else None,
            offending_sha256=content_digest(text, gw.settings.audit_hmac_key) if mode != "drop" else None,
        )
    )
    event = apply_ladder(gw.store, gw.policy, ctx.user_id) if ctx.user_id is not None else None
    return inc.id, event


async def record(
    gw: Gateway, ctx: RequestContext, stage: str, action: Action, findings: list[Finding]
) -> None:
    """Record one incident for this request and stage, then run the ladder."""
    strong = [f for f in findings if f.risk] or findings
    risks = list(dict.fromkeys(f.risk for f in strong))
    # the offending text is the matched spans, not the whole conversation: what the review needs
    text = "\n".join(dict.fromkeys(f.matched for f in strong))
    inc_id, event = await anyio.to_thread.run_sync(_record, gw, ctx, stage, str(action), risks, text)
    ctx.incident_ids.append(inc_id)
    gw.metrics.incidents.labels(stage).inc()
    if event is not None and ctx.user_id is not None:
        gw.forget_user(ctx.user_id)
        if event.action == "warn":
            ctx.warning = gw.policy.enforcement.warning_message
        else:
            ctx.warning = f"{gw.policy.enforcement.warning_message} ({event.action}: {event.reason})"
