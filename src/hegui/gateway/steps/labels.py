"""Labeling (Interim Measures Art. 12, GB 45438-2025 for text), through ``hegui.labeling``: an explicit
notice at the start or end of the answer, and the implicit label (Annex E fields) as metadata in the
response (``hegui.label``) and the ``X-AIGC`` header. Toggle per API key.

The implicit label needs the provider's 27-character code (``labels.content_producer``); without one
the labeling package adds none (a label with an empty producer is not a valid GB 45438 label), and
``check_producer`` rejects a malformed code when the gateway starts rather than on every request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hegui.labeling.explicit import text_label
from hegui.labeling.gateway import label_text_response
from hegui.labeling.implicit import ImplicitLabel, provider_code_problem

if TYPE_CHECKING:
    from hegui.gateway.context import RequestContext
    from hegui.gateway.service import Gateway
    from hegui.policy import Policy


def check_producer(policy: Policy) -> None:
    problem = provider_code_problem(policy.labels.content_producer)
    if problem:
        raise ValueError(f"policy labels.content_producer is not a valid provider code: {problem}")


def implicit(gw: Gateway, ctx: RequestContext) -> dict[str, Any] | None:
    labels = gw.policy.labels
    if not (labels.implicit and ctx.labels_enabled and labels.content_producer):
        return None
    return {"AIGC": ImplicitLabel.for_producer(labels.content_producer, ctx.request_id).fields()}


def header(label: dict[str, Any] | None) -> dict[str, str]:
    if label is None:
        return {}
    return {"X-AIGC": json.dumps(label, separators=(",", ":"), ensure_ascii=True)}


def explicit_parts(gw: Gateway, ctx: RequestContext) -> tuple[str, str] | None:
    """For streams: (position, the text to send there), or None when off for this key."""
    labels = gw.policy.labels
    if not (labels.explicit and ctx.labels_enabled and labels.explicit_text):
        return None
    if labels.position == "start":
        return "start", text_label("", labels.explicit_text, "start")
    # the answer's tail is already sent, so no rstrip: the same separator as text_label uses
    return "end", "\n\n" + labels.explicit_text


def apply_explicit(gw: Gateway, ctx: RequestContext, text: str) -> str:
    if not (ctx.labels_enabled and gw.policy.labels.explicit) or not text:
        return text
    labels = gw.policy.labels.model_copy(update={"implicit": False})
    out, _ = label_text_response(text, labels, ctx.request_id)
    ctx.label_applied = out != text or ctx.label_applied
    return out
