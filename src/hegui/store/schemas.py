"""Plain pydantic objects in and out of the store: callers never touch ORM rows or sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AgeBand = Literal["unknown", "under_14", "14_17", "adult"]
UserStatus = Literal["active", "restricted", "suspended", "terminated"]
ReviewState = Literal["open", "confirmed", "dismissed"]
EnforcementAction = Literal["warn", "restrict", "suspend", "terminate", "reinstate"]
ContentPolicy = Literal["hash", "keep", "drop"]

MINOR_BANDS = frozenset({"under_14", "14_17"})


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class User(_Out):
    id: int
    name: str
    external_ref: str | None = None
    verified: bool = False
    age_band: AgeBand = "unknown"
    status: UserStatus = "active"
    status_until: datetime | None = None
    status_reason: str | None = None
    note: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def is_minor(self) -> bool:
        return self.age_band in MINOR_BANDS


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    external_ref: str | None = None
    verified: bool = False
    age_band: AgeBand = "unknown"
    note: str | None = None


class UserUpdate(BaseModel):
    """Fields an operator may change directly; status changes go through enforcement (recorded)."""

    model_config = ConfigDict(extra="forbid")
    verified: bool | None = None
    age_band: AgeBand | None = None
    external_ref: str | None = None
    note: str | None = None


class ApiKey(_Out):
    id: int
    user_id: int
    name: str
    prefix: str
    labels_enabled: bool
    rpm: int | None
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedKey(BaseModel):
    """The only time the secret exists in clear: show it once, never store it."""

    key: ApiKey
    secret: str


class Principal(BaseModel):
    """Who is calling: the key and its user, as the gateway sees them."""

    user: User
    key: ApiKey


class NewIncident(BaseModel):
    user_id: int | None
    api_key_id: int | None
    request_id: str | None
    stage: Literal["input", "output"]
    action: str
    risks: list[str]
    content_policy: ContentPolicy
    offending_text: str | None
    offending_sha256: str | None
    created_at: datetime | None = None


class Incident(_Out):
    id: int
    created_at: datetime
    user_id: int | None
    api_key_id: int | None
    request_id: str | None
    stage: str
    action: str
    risks: list[str]
    content_policy: str
    offending_text: str | None
    offending_sha256: str | None
    review_state: ReviewState
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None


class EnforcementEvent(_Out):
    id: int
    created_at: datetime
    user_id: int
    action: EnforcementAction
    ladder_step: int | None
    reason: str
    actor: str
    reversible: bool
    until: datetime | None
    previous_status: str | None
    reverses_id: int | None
    reversed_by_id: int | None


class AuditRecord(BaseModel):
    """One request, as the audit log keeps it (Art. 11, Cybersecurity Law Art. 21)."""

    model_config = ConfigDict(from_attributes=True)
    id: int | None = None
    request_id: str
    created_at: datetime
    user_id: int | None = None
    api_key_id: int | None = None
    source_ip: str | None = None
    source_port: int | None = None
    route: str
    model: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    status_code: int
    outcome: str
    error_code: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    input_action: str | None = None
    output_action: str | None = None
    risks: list[str] = Field(default_factory=list)
    latency_ms: float | None = None
    upstream_latency_ms: float | None = None
    stream_mode: str | None = None
    input_chars_scanned: int = 0
    output_chars_received: int = 0
    output_chars_scanned: int = 0
    output_chars_sent: int = 0
    output_chars_sent_unscanned: int = 0
    content_policy: ContentPolicy = "hash"
    input_sha256: str | None = None
    output_sha256: str | None = None
    input_text: str | None = None
    output_text: str | None = None
    label_applied: bool = False
    incident_id: int | None = None
