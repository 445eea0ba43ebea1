"""Step 6: input moderation. Every message is checked (system, user, assistant, tool, tool-call
arguments): injected instructions hide in system and tool content as often as in user turns.

On refuse/block the model is not called; the client gets the policy's refusal in the normal OpenAI
shape (finish_reason ``content_filter``) with a ``hegui`` field naming the risks. On mask the masked
text is what goes upstream (personal information does not leave for the model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, StreamingResponse

from hegui.gateway import shapes
from hegui.gateway.errors import bad_request
from hegui.gateway.steps import incidents
from hegui.moderation import Action

if TYPE_CHECKING:
    from starlette.responses import Response

    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway

Setter = Callable[[str], None]


def _setter(obj: dict[str, Any] | list[Any], key: Any) -> Setter:
    def put(value: str) -> None:
        obj[key] = value

    return put


def extract(ctx: RequestContext) -> list[tuple[str, Setter]]:
    """Every piece of text the request sends to the model, with a way to replace it."""
    body = ctx.body
    out: list[tuple[str, Setter]] = []
    if ctx.route == "completions":
        prompt = body.get("prompt")
        prompts = prompt if isinstance(prompt, list) else [prompt]
        for i, p in enumerate(prompts):
            if not isinstance(p, str):
                raise bad_request(
                    "prompt must be a string or a list of strings (token arrays cannot be moderated)",
                    "prompt",
                )
            if isinstance(prompt, list):
                out.append((p, _setter(prompt, i)))
            else:
                out.append((p, _setter(body, "prompt")))
        if isinstance(body.get("suffix"), str):
            out.append((body["suffix"], _setter(body, "suffix")))
        return out
    for mi, msg in enumerate(body.get("messages") or []):
        content = msg.get("content")
        if isinstance(content, str):
            out.append((content, _setter(msg, "content")))
        elif isinstance(content, list):
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    out.append((part["text"], _setter(part, "text")))
                else:
                    # we cannot moderate images/audio/files: do not forward what we have not checked
                    raise bad_request(
                        f"messages[{mi}] has a content part of type {kind!r}; this gateway moderates text only",
                        f"messages[{mi}].content",
                        "unsupported_content",
                    )
        for call in msg.get("tool_calls") or []:
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                out.append((fn["arguments"], _setter(fn, "arguments")))
        fc = msg.get("function_call")
        if isinstance(fc, dict) and isinstance(fc.get("arguments"), str):
            out.append((fc["arguments"], _setter(fc, "arguments")))
    return out


async def check(gw: Gateway, ctx: RequestContext) -> Response | None:
    assert ctx.moderator is not None
    pieces = extract(ctx)
    ctx.input_texts = [t for t, _ in pieces]
    action = Action.ALLOW
    refusing: list[str] = []
    for text, put in pieces:
        if not text:
            continue
        v = ctx.moderator.check(text, role="input")
        action = max(action, v.action)
        ctx.input_findings.extend(v.findings)
        if v.action == Action.MASK and v.masked_text is not None:
            put(v.masked_text)
        elif v.action >= Action.REFUSE:
            refusing.extend(v.risks)
    ctx.input_action = action
    gw.metrics.actions.labels("input", str(action)).inc()
    if action < Action.REFUSE:
        return None
    assert ctx.policy is not None
    await incidents.record(gw, ctx, "input", action, [f for f in ctx.input_findings if f.risk in refusing])
    refusal = ctx.policy.refusal_for(list(dict.fromkeys(refusing)))
    ctx.outcome = "refused_input"
    ext = shapes.extension(ctx)
    ext["stage"] = "input"
    if ctx.stream:
        return StreamingResponse(
            iter(shapes.stream_of(ctx, refusal, "content_filter", ext)), media_type="text/event-stream"
        )
    return JSONResponse(shapes.completion(ctx, refusal, "content_filter", ext))
