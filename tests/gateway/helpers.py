"""Test helpers: a tiny term detector (the gateway tests must not depend on shipped lexicons),
a running gateway on loopback, and SSE parsing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hegui.moderation import Moderator
from hegui.moderation.types import Finding
from hegui.policy import Policy
from hegui.text import NormalizedText

# refused / blocked / masked by the shipped default policy (A1 block; A4 refuse at severity >= 2; A4.f mask)
TERMS = {"炸弹制作": ("A1.d", 3), "骗子": ("A4.c", 2), "手机号码": ("A4.f", 2)}
BLOCK_TERM, REFUSE_TERM, MASK_TERM = "炸弹制作", "骗子", "手机号码"


@dataclass
class TermDetector:
    terms: dict[str, tuple[str, int]]
    name: str = "lexicon"

    @property
    def max_lookback(self) -> int:
        return max(len(t) for t in self.terms)

    def scan(self, text: NormalizedText) -> list[Finding]:
        out = []
        for term, (risk, sev) in self.terms.items():
            i = text.normalized.find(term)
            while i >= 0:
                s, e = text.span(i, i + len(term))
                out.append(Finding(risk, self.name, s, e, text.original[s:e], sev, 1.0, term, "exact"))
                i = text.normalized.find(term, i + 1)
        return out


# a well-formed 27-character provider code (00 + 11 + a checksummed USCC + service extension)
PRODUCER = "001191110000MA01ABCD2Q1TEST"


def with_producer(policy: Policy) -> Policy:
    if policy.labels.content_producer:
        return policy
    return policy.model_copy(
        update={"labels": policy.labels.model_copy(update={"content_producer": PRODUCER})}
    )


def term_moderator(policy: Policy) -> Moderator:
    return Moderator(policy, detectors=[TermDetector(TERMS)])


def sse_events(raw: str) -> list[Any]:
    """Parse an SSE body into JSON objects and the string '[DONE]'."""
    out: list[Any] = []
    for block in raw.split("\n\n"):
        block = block.strip()
        if not block:
            continue
        assert block.startswith("data: "), f"malformed SSE block {block!r}"
        data = block[len("data: ") :]
        out.append("[DONE]" if data == "[DONE]" else json.loads(data))
    return out


def stream_text(events: list[Any]) -> str:
    parts = []
    for ev in events:
        if ev == "[DONE]" or "choices" not in ev:
            continue
        for ch in ev["choices"]:
            if "delta" in ch:
                parts.append(ch["delta"].get("content") or "")
            else:
                parts.append(ch.get("text") or "")
    return "".join(parts)


def chat_body(prompt: str, stream: bool = False, **scripted: Any) -> dict[str, Any]:
    """A chat request; ``scripted`` tells the scripted upstream what to answer (text=, chunks=, mode=)."""
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": prompt}], "stream": stream}
    if scripted:
        body["scripted"] = scripted
    return body


def gateway_app(settings: Any, store: Any) -> Any:
    """A gateway app as the tests use it: the default policy with a provider code, the term
    detector, no console (tests that need the console install it with their own settings)."""
    from hegui.gateway import create_app
    from hegui.policy import default_policy

    return create_app(
        settings,
        with_producer(default_policy()),
        store=store,
        moderator_factory=term_moderator,
        console=False,
    )
