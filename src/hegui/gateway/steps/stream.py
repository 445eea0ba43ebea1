"""Step 7 (streaming): relay the upstream SSE stream through a StreamModerator per choice.

Default ("buffer") mode sends only text the moderator has released: every character the client
sees was scanned first, and the added time-to-first-token is bounded by the hold-back window.
On a cut: the held text is dropped, the policy's message is sent, the choice ends with
``finish_reason: content_filter``, the stream ends well-formed (``[DONE]``), the upstream request is
closed, and an incident is recorded. "audit_only" mode forwards first and scans alongside; the audit
record then says exactly how much output left unscanned and how much was scanned at all.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from starlette.responses import StreamingResponse

from hegui.gateway import shapes
from hegui.gateway.steps import audit_step, incidents, labels, upstream_payload
from hegui.gateway.steps.complete import read_usage
from hegui.gateway.transport import UpstreamResponse
from hegui.gateway.upstream import sse_events
from hegui.moderation import Action, Finding, StreamModerator

if TYPE_CHECKING:
    from starlette.responses import Response

    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway


@dataclass
class ChoiceState:
    index: int
    sm: StreamModerator
    received: list[str] = field(default_factory=list)
    received_len: int = 0
    scanned_upto: int | None = None  # set when the moderator's verdict covers a known prefix
    sent: int = 0
    sent_unscanned: int = 0
    started: bool = False
    finished: bool = False
    cut: bool = False
    tools: dict[int, dict[str, Any]] = field(default_factory=dict)

    def scanned(self) -> int:
        if self.scanned_upto is not None:
            return self.scanned_upto
        return self.sm.released

    def text(self) -> str:
        return "".join(self.received)


class Relay:
    def __init__(self, gw: Gateway, ctx: RequestContext, resp: UpstreamResponse, client_usage: bool):
        assert ctx.moderator is not None and ctx.policy is not None
        self.gw, self.ctx, self.resp = gw, ctx, resp
        self.moderator = ctx.moderator
        self.policy = ctx.policy
        self.client_usage = client_usage
        self.audit_only = gw.settings.stream_mode == "audit_only"
        self.envelope: dict[str, Any] = {}
        self.choices: dict[int, ChoiceState] = {}
        self.notice = labels.explicit_parts(gw, ctx)
        self.implicit = labels.implicit(gw, ctx)
        self.action = Action.ALLOW
        self.findings: list[Finding] = []
        self.cut_findings: list[Finding] = []
        self._events: AsyncIterator[str] | None = None  # set when the upstream sent [DONE]

    # --- helpers -------------------------------------------------------------------------------
    def _chunk(
        self,
        index: int,
        text: str | None = None,
        finish: str | None = None,
        role: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> str:
        return shapes.sse(shapes.chunk(self.ctx, self.envelope, index, text, finish, role, extra))

    def _state(self, index: int) -> ChoiceState:
        st = self.choices.get(index)
        if st is None:
            st = self.choices[index] = ChoiceState(index, self.moderator.stream(role="output"))
        return st

    def _note(self, findings: list[Finding], action: Action) -> None:
        if findings:
            self.findings.extend(findings)
        self.action = max(self.action, action)

    def _release(self, st: ChoiceState, text: str) -> list[str]:
        if not text:
            return []
        st.sent += len(text)
        return [self._chunk(st.index, text)]

    def finish_chunk(self, st: ChoiceState, reason: str) -> str:
        self.ctx.output_action = self.action
        self.ctx.output_findings = list(self.findings)
        return self._chunk(st.index, None, reason, extra={"hegui": shapes.extension(self.ctx, self.implicit)})

    # --- per upstream choice delta ----------------------------------------------------------------
    def on_choice(self, ch: dict[str, Any]) -> tuple[list[str], str | None]:
        """Chunks to send now and, when the choice ends, its finish reason ('content_filter' = cut)."""
        idx = ch.get("index", 0)
        idx = idx if isinstance(idx, int) else 0
        st = self._state(idx)
        if st.finished:
            return [], None
        out: list[str] = []
        if not st.started:
            st.started = True
            lead = None
            if self.notice and self.notice[0] == "start":
                lead = self.notice[1]
                self.ctx.label_applied = True
            out.append(
                self._chunk(
                    idx, lead if lead is not None else ("" if self.ctx.route == "chat" else None), role=True
                )
            )
        text = shapes.get_text(self.ctx, ch, stream=True)
        self._buffer_tools(st, ch)
        if text:
            st.received.append(text)
            st.received_len += len(text)
            if self.audit_only:
                out.extend(self._release(st, text))
                st.sent_unscanned += len(text)
                if not st.sm.stopped:
                    upd = st.sm.feed(text)
                    self._note(upd.findings, upd.action)
                    if upd.stopped:
                        st.scanned_upto = st.received_len
                        self.cut_findings.extend(f for f in upd.findings)
            else:
                upd = st.sm.feed(text)
                self._note(upd.findings, upd.action)
                out.extend(self._release(st, upd.release))
                if upd.stopped:
                    return out + self._cut(st, upd.message, upd.findings), "content_filter"
        reason = ch.get("finish_reason")
        if isinstance(reason, str) and reason:
            more, cut = self.close_choice(st)
            out.extend(more)
            return out, "content_filter" if cut else reason
        return out, None

    def _cut(self, st: ChoiceState, message: str | None, findings: list[Finding]) -> list[str]:
        st.scanned_upto = st.received_len  # the stopping scan covered everything received
        st.cut = st.finished = True
        self.cut_findings.extend(findings)
        out = self._release_label_end(st)
        return [self._chunk(st.index, message or self.policy.stream_cut_message), *out]

    def _release_label_end(self, st: ChoiceState) -> list[str]:
        if self.notice and self.notice[0] == "end" and st.sent > 0:
            self.ctx.label_applied = True
            return [self._chunk(st.index, self.notice[1])]
        return []

    def close_choice(self, st: ChoiceState) -> tuple[list[str], bool]:
        """End of a choice: scan and release the held tail, check buffered tool calls, add the label."""
        out: list[str] = []
        if self.audit_only:
            if not st.sm.stopped:
                upd = st.sm.close()
                self._note(upd.findings, upd.action)
                if upd.stopped:
                    self.cut_findings.extend(upd.findings)
                st.scanned_upto = st.received_len if not st.sm.stopped or upd.stopped else st.scanned_upto
            st.finished = True
            return out + self._release_label_end(st), False
        upd = st.sm.close()
        self._note(upd.findings, upd.action)
        out.extend(self._release(st, upd.release))
        if upd.stopped:
            return out + self._cut(st, upd.message, upd.findings), True
        st.scanned_upto = st.received_len
        if st.tools:
            args = "".join(t["function"].get("arguments", "") for t in st.tools.values())
            v = self.moderator.check(args, role="output")
            self._note(v.findings, v.action)
            if v.action >= Action.REFUSE:
                return out + self._cut(st, self.policy.refusal_for(v.risks), v.findings), True
            calls = [dict(t, index=i) for i, t in sorted(st.tools.items())]
            if self.ctx.route == "chat":
                out.append(
                    shapes.sse(
                        shapes.chunk(self.ctx, self.envelope, st.index)
                        | {
                            "choices": [
                                {"index": st.index, "delta": {"tool_calls": calls}, "finish_reason": None}
                            ]
                        }
                    )
                )
        st.finished = True
        return out + self._release_label_end(st), False

    def _buffer_tools(self, st: ChoiceState, ch: dict[str, Any]) -> None:
        # tool-call arguments are generated text too: held whole, checked at the end of the choice
        delta = ch.get("delta")
        if not isinstance(delta, dict) or not isinstance(delta.get("tool_calls"), list):
            return
        for tc in delta["tool_calls"]:
            if not isinstance(tc, dict):
                continue
            i = tc.get("index", 0) if isinstance(tc.get("index", 0), int) else 0
            cur = st.tools.setdefault(
                i, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            )
            if tc.get("id"):
                cur["id"] = tc["id"]
            fn = tc.get("function") or {}
            if isinstance(fn, dict):
                cur["function"]["name"] += fn.get("name") or ""
                cur["function"]["arguments"] += fn.get("arguments") or ""

    # --- the whole stream -----------------------------------------------------------------------
    async def run(self) -> AsyncIterator[str]:
        """The response body. Cleanup runs however it ends: done, upstream failure, client gone."""
        self.gw.metrics.open_streams.inc()
        try:
            async for s in self._relay():
                yield s
        finally:
            # shielded: on a client disconnect we are being cancelled, and the upstream request
            # must still be closed (stop generating) and the audit record still written
            with anyio.CancelScope(shield=True):
                if self._events is not None:
                    await self._drain(self._events)
                await self.resp.aclose()
                self._account()
                if self.audit_only and self.cut_findings and not self.ctx.incident_ids:
                    # a failure here must not lose the audit record below, which carries the findings
                    with contextlib.suppress(Exception):
                        await self._incident()
                self.gw.metrics.open_streams.dec()
                audit_step.finish(self.gw, self.ctx)

    async def _relay(self) -> AsyncIterator[str]:
        ctx = self.ctx
        error: tuple[str, str] | None = None
        cut_stop = False
        events = sse_events(self.resp)
        try:
            async for data in events:
                if data.strip() == "[DONE]":
                    self._events = events  # read the body's end later, so the connection is reused
                    break
                try:
                    obj = json.loads(data)
                except ValueError:
                    error = ("upstream sent invalid JSON in the stream", "upstream_invalid_json")
                    break
                if not isinstance(obj, dict):
                    error = ("upstream sent an invalid stream chunk", "upstream_invalid_json")
                    break
                if "error" in obj:
                    error = ("upstream reported an error mid-stream", "upstream_error")
                    break
                for k in ("id", "created", "model"):
                    if k in obj and k not in self.envelope:
                        self.envelope[k] = obj[k]
                if obj.get("usage"):
                    read_usage(ctx, obj["usage"])
                choices = obj.get("choices")
                if not choices:
                    if obj.get("usage") and self.client_usage:
                        yield shapes.sse(
                            {**shapes.chunk(ctx, self.envelope, 0), "choices": [], "usage": obj["usage"]}
                        )
                    continue
                for ch in choices:
                    if not isinstance(ch, dict):
                        continue
                    out, reason = self.on_choice(ch)
                    for s in out:
                        yield s
                    if reason is not None:
                        st = self.choices[ch.get("index", 0) if isinstance(ch.get("index", 0), int) else 0]
                        if reason == "content_filter" and st.cut:
                            await self._incident()
                        yield self.finish_chunk(st, reason)
                if self.choices and all(s.cut for s in self.choices.values()):
                    cut_stop = True  # nothing more will be sent: stop the upstream generating
                    break
        except httpx.TimeoutException:
            error = ("upstream timed out mid-stream", "upstream_timeout")
        except httpx.HTTPError as exc:
            error = (f"upstream stream broke: {type(exc).__name__}", "upstream_stream_interrupted")
        open_choices = [s for s in self.choices.values() if not s.finished]
        if error is None and open_choices and not cut_stop:
            error = ("upstream ended the stream early", "upstream_stream_interrupted")
        for st in open_choices:
            # release only what the moderator clears; a truncated choice still ends cleanly
            out, cut = self.close_choice(st)
            for s in out:
                yield s
            if cut:
                await self._incident()
            yield self.finish_chunk(st, "content_filter" if cut else "length")
        if self.audit_only and self.cut_findings and not ctx.incident_ids:
            await self._incident()
        if error is not None:
            ctx.outcome, ctx.error_code = "upstream_error", error[1]
            yield shapes.sse(
                {"error": {"message": error[0], "type": "upstream_error", "param": None, "code": error[1]}}
            )
        elif any(s.cut for s in self.choices.values()):
            ctx.outcome = "cut_output"
        yield shapes.DONE

    @staticmethod
    async def _drain(events: AsyncIterator[str]) -> None:
        """After ``[DONE]``, read what is left of the upstream body (normally just the end of the
        chunked encoding): a response closed unread takes its connection with it, and every
        streamed request would then open a new one. An upstream that keeps talking gets 0.5 s."""
        with anyio.move_on_after(0.5), contextlib.suppress(httpx.HTTPError):
            async for _ in events:
                pass

    async def _incident(self) -> None:
        if self.cut_findings:
            await incidents.record(self.gw, self.ctx, "output", self.action, list(self.cut_findings))
            self.cut_findings = []

    def _account(self) -> None:
        ctx = self.ctx
        ctx.stream_mode = "audit_only" if self.audit_only else "buffer"
        ctx.output_action = self.action if self.choices else ctx.output_action
        ctx.output_findings = list(self.findings)
        states = [self.choices[i] for i in sorted(self.choices)]
        ctx.output_received = [s.text() for s in states]
        ctx.output_scanned_chars = sum(s.scanned() for s in states)
        ctx.output_scanned_text = "\n".join(s.text()[: s.scanned()] for s in states)
        ctx.output_sent_chars = sum(s.sent for s in states)
        ctx.output_sent_unscanned = sum(s.sent_unscanned for s in states)
        if not self.audit_only:
            ctx.output_sent_unscanned = 0  # by construction: buffer mode sends only released text
        self.gw.metrics.actions.labels("output", str(self.action)).inc()


async def respond(gw: Gateway, ctx: RequestContext) -> Response:
    """Open the upstream stream first, so upstream failures still get a proper HTTP error status."""
    payload = upstream_payload.build(ctx, stream_usage=gw.settings.stream_usage)
    opts = ctx.body.get("stream_options")
    client_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
    t0 = anyio.current_time()
    resp = await gw.upstream.open_stream(upstream_payload.PATHS[ctx.route], payload)
    ctx.upstream_latency_ms = (anyio.current_time() - t0) * 1000
    gw.metrics.upstream_latency.labels(ctx.route).observe(ctx.upstream_latency_ms / 1000)
    relay = Relay(gw, ctx, resp, client_usage)
    headers = {"Cache-Control": "no-cache", "X-Request-Id": ctx.request_id, **labels.header(relay.implicit)}
    return StreamingResponse(relay.run(), media_type="text/event-stream", headers=headers)
