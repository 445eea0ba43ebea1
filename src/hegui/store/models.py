"""SQLAlchemy 2 tables. Plain columns only (JSON for short lists), so SQLite and PostgreSQL behave alike.

Every timestamp is stored as naive UTC and handed out timezone-aware (``UTCDateTime``): SQLite has no
time zones, and mixing naive and aware datetimes is a classic source of off-by-8-hours audit bugs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BigInteger ids on PostgreSQL, but SQLite only auto-increments INTEGER PRIMARY KEY
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass a timezone-aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    external_ref: Mapped[str | None] = mapped_column(String(200))  # the provider's own account id
    verified: Mapped[bool] = mapped_column(Boolean, default=False)  # real-name verification done
    age_band: Mapped[str] = mapped_column(String(16), default="unknown")
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # end of a suspension
    status_reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))  # shown to operators; the key itself is never stored
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    labels_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    rpm: Mapped[int | None] = mapped_column(Integer)  # None = the gateway default
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsageCounterRow(Base):
    """Counters per subject and period (``user:7:req`` / ``2026-12-01``), shared by replicas."""

    __tablename__ = "usage_counters"

    subject: Mapped[str] = mapped_column(String(120), primary_key=True)
    period: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # input / output
    action: Mapped[str] = mapped_column(String(16))  # refuse / block / cut
    risks: Mapped[list[str]] = mapped_column(JSON, default=list)
    # the offending text as the audit policy allows: kept, only hashed, or dropped
    content_policy: Mapped[str] = mapped_column(String(8))
    offending_text: Mapped[str | None] = mapped_column(Text)
    offending_sha256: Mapped[str | None] = mapped_column(String(64))
    review_state: Mapped[str] = mapped_column(String(16), default="open")
    reviewed_by: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_incidents_user_time", "user_id", "created_at"),)


class EnforcementEventRow(Base):
    __tablename__ = "enforcement_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # warn / restrict / suspend / terminate / reinstate
    ladder_step: Mapped[int | None] = mapped_column(Integer)  # index in policy.enforcement.ladder
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))  # "system" or the operator
    reversible: Mapped[bool] = mapped_column(Boolean, default=True)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previous_status: Mapped[str | None] = mapped_column(String(16))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("enforcement_events.id"))
    reversed_by_id: Mapped[int | None] = mapped_column(Integer)


class AuditRecordRow(Base):
    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: records outlive accounts
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    source_port: Mapped[int | None] = mapped_column(Integer)
    route: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    upstream_model: Mapped[str | None] = mapped_column(String(200))
    stream: Mapped[bool] = mapped_column(Boolean, default=False)
    status_code: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    input_action: Mapped[str | None] = mapped_column(String(16))
    output_action: Mapped[str | None] = mapped_column(String(16))
    risks: Mapped[list[str]] = mapped_column(JSON, default=list)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    upstream_latency_ms: Mapped[float | None] = mapped_column(Float)
    # what was actually scanned: exact character counts and whether output left before its scan
    stream_mode: Mapped[str | None] = mapped_column(String(16))
    input_chars_scanned: Mapped[int] = mapped_column(Integer, default=0)
    output_chars_received: Mapped[int] = mapped_column(Integer, default=0)
    output_chars_scanned: Mapped[int] = mapped_column(Integer, default=0)
    output_chars_sent: Mapped[int] = mapped_column(Integer, default=0)
    output_chars_sent_unscanned: Mapped[int] = mapped_column(Integer, default=0)
    content_policy: Mapped[str] = mapped_column(String(8))
    input_sha256: Mapped[str | None] = mapped_column(String(64))
    output_sha256: Mapped[str | None] = mapped_column(String(64))
    input_text: Mapped[str | None] = mapped_column(Text)
    output_text: Mapped[str | None] = mapped_column(Text)
    label_applied: Mapped[bool] = mapped_column(Boolean, default=False)
    incident_id: Mapped[int | None] = mapped_column(Integer)
