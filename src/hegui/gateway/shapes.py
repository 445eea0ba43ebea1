"""OpenAI response shapes the gateway builds itself (refusals, cut streams, SSE framing), and the
accessors that read and write the generated text of chat vs. legacy completion choices."""

from __future__ import annotations

import json
from typing import Any

from hegui.gateway.context import RequestContext


def sse(obj: dict[str, Any] | str) -> str:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return f"data: {data}\n\n"


DONE = "data: [DONE]\n\n"


def object_name(ctx: RequestContext, stream: bool) -> str:
    if ctx.route == "chat":
        return "chat.completion.chunk" if stream else "chat.completion"
    return "text_completion"


def response_id(ctx: RequestContext) -> str:
    return ("chatcmpl-" if ctx.route == "chat" else "cmpl-") + ctx.request_id


def get_text(ctx: RequestContext, choice: dict[str, Any], stream: bool) -> str | None:
    if ctx.route == "chat":
        holder = choice.get("delta" if stream else "message")
        if not isinstance(holder, dict):
            return None
        v = holder.get("content")
    else:
        v = choice.get("text")
    return v if isinstance(v, str) else None


def set_text(ctx: RequestContext, choice: dict[str, Any], stream: bool, text: str) -> None:
    if ctx.route == "chat":
        holder = choice.setdefault("delta" if stream else "message", {})
        holder["content"] = text
    else:
        choice["text"] = text


def chunk(
    ctx: RequestContext,
    envelope: dict[str, Any],
    index: int,
    text: str | None = None,
    finish_reason: str | None = None,
    role: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One streaming chunk for one choice, in the envelope (id, created, model) the upstream used."""
    if ctx.route == "chat":
        delta: dict[str, Any] = {}
        if role:
            delta["role"] = "assistant"
        if text is not None:
            delta["content"] = text
        choice: dict[str, Any] = {"index": index, "delta": delta, "finish_reason": finish_reason}
    else:
        choice = {"index": index, "text": text or "", "finish_reason": finish_reason}
    out = {
        "id": envelope.get("id") or response_id(ctx),
        "object": object_name(ctx, True),
        "created": envelope.get("created") or ctx.created,
        "model": envelope.get("model") or ctx.model,
        "choices": [choice],
    }
    if extra:
        out.update(extra)
    return out


def completion(
    ctx: RequestContext, text: str, finish_reason: str, extension: dict[str, Any]
) -> dict[str, Any]:
    """A whole non-streaming response carrying ``text`` (used for refusals made by the gateway)."""
    if ctx.route == "chat":
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason,
            "logprobs": None,
        }
    else:
        choice = {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
    return {
        "id": response_id(ctx),
        "object": object_name(ctx, False),
        "created": ctx.created,
        "model": ctx.model,
        "choices": [choice],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        "hegui": extension,
    }


def stream_of(ctx: RequestContext, text: str, finish_reason: str, extension: dict[str, Any]) -> list[str]:
    """The same as ``completion`` as a complete, well-formed SSE stream."""
    env: dict[str, Any] = {}
    return [
        sse(chunk(ctx, env, 0, text, role=True)),
        sse(chunk(ctx, env, 0, None, finish_reason, extra={"hegui": extension})),
        DONE,
    ]


def extension(ctx: RequestContext, label: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``hegui`` field: what the gateway did, so clients and auditors can see it."""
    ext: dict[str, Any] = {"request_id": ctx.request_id}
    if ctx.input_action is not None:
        ext["input"] = {"action": str(ctx.input_action), "risks": _risks(ctx.input_findings)}
    if ctx.output_action is not None:
        ext["output"] = {"action": str(ctx.output_action), "risks": _risks(ctx.output_findings)}
    if ctx.incident_ids:
        ext["incidents"] = list(ctx.incident_ids)
    if ctx.warning:
        ext["warning"] = ctx.warning
    if label is not None:
        ext["label"] = label
    return ext


def _risks(findings: list[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for f in findings:
        seen.setdefault(f.risk, None)
    return list(seen)
