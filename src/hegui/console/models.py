"""The console's tables, on the store's declarative ``Base`` so Alembic and ``create_all`` see them.

Created by the migration ``0002_console``. Timestamps use the store's ``UTCDateTime`` (naive UTC in the
database, timezone-aware in Python). Evidence files live in the database, not on disk: no upload can
ever name a path, and every replica sharing the database sees the same files.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from hegui.store.models import Base, BigId, UTCDateTime, utcnow


class ConsoleMetaRow(Base):
    """Small key/value facts shared by replicas (the signing secret when none is configured)."""

    __tablename__ = "console_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class OperatorRow(Base):
    __tablename__ = "console_operators"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin / reviewer / viewer
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionRow(Base):
    """Server-side sessions: the cookie holds a random id, the table only its SHA-256."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(
        ForeignKey("console_operators.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    source_ip: Mapped[str | None] = mapped_column(String(64))


class OperatorAuditRow(Base):
    """Append-only: database triggers (created by the migration) reject UPDATE and DELETE."""

    __tablename__ = "console_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # operator username, "public" or "system"
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    source_ip: Mapped[str | None] = mapped_column(String(64))


class ComplaintRow(Base):
    __tablename__ = "console_complaints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    category: Mapped[str] = mapped_column(String(32))
    content_ref: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="received", index=True)
    ack_due: Mapped[datetime] = mapped_column(UTCDateTime)
    resolve_due: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(Text)  # feedback shown to the complainant (Art. 15)
    source_ip: Mapped[str | None] = mapped_column(String(64))


class EvidenceRow(Base):
    __tablename__ = "console_evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    complaint_id: Mapped[int] = mapped_column(
        ForeignKey("console_complaints.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))  # sanitized display name only
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PIRequestRow(Base):
    """A personal-information request (PIPL Arts. 44-47, Interim Measures Art. 11), bound to a user."""

    __tablename__ = "console_pi_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tracking_no: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no FK: outlives anonymisation
    kind: Mapped[str] = mapped_column(String(16))  # access / export / correction / deletion / consent
    detail: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="received", index=True)
    due: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_by: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(Text)
    kept_statement: Mapped[str | None] = mapped_column(Text)  # deletion: what was kept and why
    archive: Mapped[bytes | None] = mapped_column(LargeBinary)  # export: the zip
    archive_sha256: Mapped[str | None] = mapped_column(String(64))


class ConsentRow(Base):
    """Per-user consent to use their conversations for training; absent = never given."""

    __tablename__ = "console_consents"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    training_use: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(64))


class EscalationRow(Base):
    """An incident escalated for reporting to the authorities: the exported report record."""

    __tablename__ = "console_escalations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text)
    report: Mapped[dict[str, object]] = mapped_column(JSON)


class LexiconUploadRow(Base):
    __tablename__ = "console_lexicons"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(200))
    fmt: Mapped[str] = mapped_column(String(8))
    sha256: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    audit: Mapped[dict[str, object]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activated_by: Mapped[str | None] = mapped_column(String(100))


Index("ix_console_complaints_state_due", ComplaintRow.state, ComplaintRow.resolve_due)

CONSOLE_TABLES = [
    t.__tablename__
    for t in (
        ConsoleMetaRow,
        OperatorRow,
        SessionRow,
        OperatorAuditRow,
        ComplaintRow,
        EvidenceRow,
        PIRequestRow,
        ConsentRow,
        EscalationRow,
        LexiconUploadRow,
    )
]
