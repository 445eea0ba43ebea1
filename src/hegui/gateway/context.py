"""Everything one request carries through the pipeline, and the gateway-wide pieces it uses."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hegui.moderation import Action, Finding

if TYPE_CHECKING:
    from hegui.moderation import Moderator
    from hegui.policy import Policy
    from hegui.store import Principal

Route = Literal["chat", "completions"]


@dataclass
class RequestContext:
    route: Route
    body: dict[str, Any]
    client_ip: str | None = None
    client_port: int | None = None
    auth_header: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started: float = field(default_factory=time.perf_counter)
    created: int = field(default_factory=lambda: int(time.time()))

    principal: Principal | None = None
    policy: Policy | None = None  # effective policy (minors profile applied)
    moderator: Moderator | None = None
    model: str | None = None
    upstream_model: str | None = None
    rpm: int = 0

    # input moderation
    input_texts: list[str] = field(default_factory=list)
    input_action: Action | None = None
    input_findings: list[Finding] = field(default_factory=list)

    # output moderation (what was actually received, scanned, sent)
    output_action: Action | None = None
    output_findings: list[Finding] = field(default_factory=list)
    output_received: list[str] = field(default_factory=list)  # per choice, full text received
    output_scanned_chars: int = 0
    output_scanned_text: str = ""
    output_sent_chars: int = 0
    output_sent_unscanned: int = 0
    stream_mode: str | None = None

    # outcome
    status_code: int = 200
    outcome: str = "ok"
    error_code: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    upstream_latency_ms: float | None = None
    label_applied: bool = False
    incident_ids: list[int] = field(default_factory=list)
    warning: str | None = None
    audit_pending: bool = False  # the audit record is written once the response has been sent

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def user_id(self) -> int | None:
        return self.principal.user.id if self.principal else None

    @property
    def key_id(self) -> int | None:
        return self.principal.key.id if self.principal else None

    @property
    def labels_enabled(self) -> bool:
        return self.principal.key.labels_enabled if self.principal else True

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    def risks(self) -> list[str]:
        seen: dict[str, None] = {}
        for f in [*self.input_findings, *self.output_findings]:
            seen.setdefault(f.risk, None)
        return list(seen)
