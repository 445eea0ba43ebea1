"""Step 7 (non-streaming): call the upstream, moderate every generated text, label, respond."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

from hegui.gateway import shapes
from hegui.gateway.errors import upstream_error
from hegui.gateway.steps import incidents, labels, upstream_payload
from hegui.moderation import Action

if TYPE_CHECKING:
    from starlette.responses import Response

    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway


def read_usage(ctx: RequestContext, usage: Any) -> None:
    if isinstance(usage, dict):
        pt, ct = usage.get("prompt_tokens"), usage.get("completion_tokens")
        ctx.prompt_tokens = pt if isinstance(pt, int) else ctx.prompt_tokens
        ctx.completion_tokens = ct if isinstance(ct, int) else ctx.completion_tokens


async def respond(gw: Gateway, ctx: RequestContext) -> Response:
    assert ctx.moderator is not None and ctx.policy is not None
    payload = upstream_payload.build(ctx)
    data, ms = await gw.upstream.post_json(upstream_payload.PATHS[ctx.route], payload)
    ctx.upstream_latency_ms = ms
    gw.metrics.upstream_latency.labels(ctx.route).observe(ms / 1000)
    choices = data.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise upstream_error(502, "upstream response has no valid 'choices'", "upstream_invalid_response")
    read_usage(ctx, data.get("usage"))
    action = Action.ALLOW
    refused: list[Any] = []
    scanned: list[str] = []
    for choice in choices:
        text = shapes.get_text(ctx, choice, stream=False) or ""
        ctx.output_received.append(text)
        extras = _extras(ctx, choice)
        v = ctx.moderator.check(text, role="output") if text else None
        worst = v.action if v else Action.ALLOW
        findings = list(v.findings) if v else []
        scanned.append(text)
        for ex in extras:
            ev = ctx.moderator.check(ex, role="output")
            scanned.append(ex)
            worst = max(worst, ev.action)
            findings.extend(ev.findings)
        ctx.output_findings.extend(findings)
        action = max(action, worst)
        if worst >= Action.REFUSE:
            refused.extend(findings)
            out_text = ctx.policy.refusal_for([f.risk for f in findings if f.risk])
            _strip_extras(ctx, choice)
            choice["finish_reason"] = "content_filter"
        else:
            out_text = v.masked_text if v is not None and v.masked_text is not None else text
            if worst >= Action.MASK:
                _strip_extras(ctx, choice)  # masked tool calls would be half-broken JSON: drop them
            ctx.output_sent_chars += len(out_text)  # model text only; the label is ours
            out_text = labels.apply_explicit(gw, ctx, out_text)
        shapes.set_text(ctx, choice, False, out_text)
    ctx.output_action = action
    ctx.output_scanned_text = "\n".join(scanned)
    ctx.output_scanned_chars = sum(len(s) for s in scanned)
    gw.metrics.actions.labels("output", str(action)).inc()
    if refused:
        ctx.outcome = "refused_output"
        await incidents.record(gw, ctx, "output", action, refused)
    label = labels.implicit(gw, ctx)
    data["hegui"] = shapes.extension(ctx, label)
    return JSONResponse(data, headers=labels.header(label))


def _extras(ctx: RequestContext, choice: dict[str, Any]) -> list[str]:
    """Generated text outside ``content``: tool-call arguments and reasoning, moderated as well."""
    if ctx.route != "chat":
        return []
    msg = choice.get("message")
    if not isinstance(msg, dict):
        return []
    out: list[str] = []
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") if isinstance(call, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
            out.append(fn["arguments"])
    for key in ("reasoning_content", "reasoning", "refusal"):
        if isinstance(msg.get(key), str) and msg[key]:
            out.append(msg[key])
    return out


def _strip_extras(ctx: RequestContext, choice: dict[str, Any]) -> None:
    msg = choice.get("message")
    if isinstance(msg, dict):
        for key in ("tool_calls", "function_call", "reasoning_content", "reasoning"):
            msg.pop(key, None)
