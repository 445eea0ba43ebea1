"""The console's logic, independent of HTTP: complaints, PI requests, operators and sessions, the
operator audit trail, incident review, enforcement, lexicons, dashboard figures.

Every method is synchronous and runs one short transaction (the web layer calls them from FastAPI's
thread pool). Pydantic objects go out; ORM rows never leave this module.
"""

from __future__ import annotations

import io
import json
import secrets
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from hegui.console.config import ConsoleSettings
from hegui.console.models import (
    ComplaintRow,
    ConsentRow,
    ConsoleMetaRow,
    EscalationRow,
    EvidenceRow,
    LexiconUploadRow,
    OperatorAuditRow,
    OperatorRow,
    PIRequestRow,
    SessionRow,
)
from hegui.console.security import (
    add_working_days,
    hash_password,
    normalize_tracking,
    sha256_hex,
    tracking_number,
    verify_password,
)
from hegui.store import NotFound, Store
from hegui.store.models import (
    ApiKeyRow,
    AuditRecordRow,
    EnforcementEventRow,
    IncidentRow,
    UserRow,
    utcnow,
)
from hegui.store.schemas import MINOR_BANDS, Incident, User
from hegui.taxonomy import load_taxonomy

if TYPE_CHECKING:
    from hegui.gateway.service import Gateway

Role = Literal["admin", "reviewer", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "reviewer", "viewer")
ROLE_RANK = {"viewer": 0, "reviewer": 1, "admin": 2}

EXTRA_CATEGORIES = ("ip", "portrait", "privacy", "minors", "other")
COMPLAINT_STATES = ("received", "acknowledged", "resolved", "rejected")
PI_KINDS = ("access", "export", "correction", "deletion", "consent")


class ConsoleError(ValueError):
    """Bad input or a forbidden state change; the message is shown to the person."""


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Operator(_Out):
    id: int
    username: str
    role: Role
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime

    def can(self, role: Role) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class Complaint(_Out):
    id: int
    tracking_no: str
    created_at: datetime
    category: str
    content_ref: str | None
    description: str
    contact: str
    state: str
    ack_due: datetime
    resolve_due: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    handled_by: str | None
    outcome: str | None


class Evidence(_Out):
    id: int
    complaint_id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class PIRequest(_Out):
    id: int
    tracking_no: str
    created_at: datetime
    user_id: int | None
    kind: str
    detail: str | None
    contact: str
    state: str
    due: datetime
    completed_at: datetime | None
    handled_by: str | None
    outcome: str | None
    kept_statement: str | None
    archive_sha256: str | None


class AuditEntry(_Out):
    id: int
    created_at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    source_ip: str | None


class LexiconUpload(_Out):
    id: int
    created_at: datetime
    uploaded_by: str
    filename: str
    fmt: str
    sha256: str
    entries: int
    audit: dict[str, Any]
    active: bool
    activated_at: datetime | None
    activated_by: str | None


class Escalation(_Out):
    id: int
    incident_id: int
    created_at: datetime
    created_by: str
    note: str
    report: dict[str, Any]


class NewComplaint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: str
    content_ref: str | None = None
    description: str
    contact: str


@dataclass
class EvidenceFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Dashboard:
    days: list[str]
    requests: list[int]
    refusals: list[int]
    cuts: list[int]
    minors: list[int]
    complaints: list[int]
    by_risk: list[tuple[str, int]]
    sla_met: int
    sla_total: int
    overdue: dict[str, int] = field(default_factory=dict)


def category_choices() -> list[tuple[str, str, str]]:
    """(code, Chinese name, English name): the 31 risks of GB/T 45654 Appendix A, then the rest."""
    out = [(r.code, r.name_zh, r.name_en) for r in load_taxonomy()]
    names = {
        "ip": ("知识产权侵权", "Intellectual-property infringement"),
        "portrait": ("肖像权侵权", "Portrait rights"),
        "privacy": ("隐私与个人信息", "Privacy and personal information"),
        "minors": ("未成年人保护", "Protection of minors"),
        "other": ("其他", "Other"),
    }
    out += [(c, *names[c]) for c in EXTRA_CATEGORIES]
    return out


def _now() -> datetime:
    return utcnow()


class ConsoleService:
    def __init__(self, store: Store, settings: ConsoleSettings, gateway: Gateway | None = None):
        self.store = store
        self.settings = settings
        self.gateway = gateway
        self._s = store.sessions
        self._categories = {c for c, _, _ in category_choices()}

    # ---------------------------------------------------------------- shared secret / audit
    def secret(self) -> str:
        if self.settings.secret:
            return self.settings.secret
        with self._s.begin() as s:
            row = s.get(ConsoleMetaRow, "secret")
            if row is not None:
                return row.value
        try:
            with self._s.begin() as s:
                s.add(ConsoleMetaRow(key="secret", value=secrets.token_urlsafe(32)))
        except IntegrityError:
            pass  # another replica won the race; use theirs
        with self._s() as s:
            got = s.get(ConsoleMetaRow, "secret")
            assert got is not None
            return got.value

    def audit(
        self, actor: str, action: str, target: str | None = None, ip: str | None = None, **detail: Any
    ) -> None:
        with self._s.begin() as s:
            s.add(OperatorAuditRow(actor=actor, action=action, target=target, detail=detail, source_ip=ip))

    def audit_trail(self, limit: int = 200, offset: int = 0) -> list[AuditEntry]:
        with self._s() as s:
            q = select(OperatorAuditRow).order_by(OperatorAuditRow.id.desc()).limit(limit).offset(offset)
            return [AuditEntry.model_validate(r) for r in s.scalars(q)]

    # ---------------------------------------------------------------- operators & sessions
    def add_operator(self, username: str, password: str, role: str, actor: str = "cli") -> Operator:
        username = username.strip()
        if not (1 <= len(username) <= 100) or not username.isprintable():
            raise ConsoleError("username must be 1-100 printable characters")
        if role not in ROLES:
            raise ConsoleError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        try:
            pw = hash_password(password)
        except ValueError as exc:
            raise ConsoleError(str(exc)) from exc
        try:
            with self._s.begin() as s:
                row = OperatorRow(username=username, password_hash=pw, role=role)
                s.add(row)
                s.flush()
                op = Operator.model_validate(row)
        except IntegrityError as exc:
            raise ConsoleError(f"an operator named {username!r} already exists") from exc
        self.audit(actor, "operator.add", username, role=role)
        return op

    def operators(self) -> list[Operator]:
        with self._s() as s:
            return [
                Operator.model_validate(r) for r in s.scalars(select(OperatorRow).order_by(OperatorRow.id))
            ]

    def set_operator(
        self, operator_id: int, actor: str, role: str | None = None, disabled: bool | None = None
    ) -> Operator:
        if role is not None and role not in ROLES:
            raise ConsoleError(f"role must be one of {', '.join(ROLES)}")
        with self._s.begin() as s:
            row = s.get(OperatorRow, operator_id)
            if row is None:
                raise ConsoleError(f"no operator with id {operator_id}")
            if role is not None:
                row.role = role
            if disabled is not None:
                row.disabled = disabled
                if disabled:
                    s.execute(delete(SessionRow).where(SessionRow.operator_id == operator_id))
            if disabled is False:
                row.failed_logins, row.locked_until = 0, None
            op = Operator.model_validate(row)
        self.audit(actor, "operator.update", op.username, role=role, disabled=disabled)
        return op

    def login(self, username: str, password: str, ip: str | None) -> tuple[Operator | None, str]:
        """(operator, "") on success, else (None, reason). Reasons are for the audit trail; the page
        shows one message for all of them so usernames cannot be probed."""
        now = _now()
        with self._s.begin() as s:
            row = s.scalar(select(OperatorRow).where(OperatorRow.username == username.strip()))
            if row is None:
                verify_password(None, password)  # same work as a real check
                reason = "unknown user"
            elif row.disabled:
                reason = "disabled"
            elif row.locked_until is not None and row.locked_until > now:
                reason = "locked"
            elif not verify_password(row.password_hash, password):
                row.failed_logins += 1
                reason = "wrong password"
                if row.failed_logins >= self.settings.lockout_threshold:
                    row.locked_until = now + timedelta(minutes=self.settings.lockout_minutes)
                    row.failed_logins = 0
                    reason = "wrong password; account locked"
            else:
                row.failed_logins, row.locked_until, row.last_login_at = 0, None, now
                op = Operator.model_validate(row)
                reason = ""
        self.audit(username[:100] or "?", "login.ok" if not reason else "login.fail", ip=ip, reason=reason)
        return (op, "") if not reason else (None, reason)

    def new_session(self, operator_id: int, ip: str | None) -> str:
        raw = secrets.token_urlsafe(32)
        with self._s.begin() as s:
            s.add(
                SessionRow(
                    id_hash=sha256_hex(raw),
                    operator_id=operator_id,
                    expires_at=_now() + timedelta(hours=self.settings.session_hours),
                    source_ip=ip,
                )
            )
        return raw

    def session_operator(self, raw: str | None) -> Operator | None:
        if not raw or len(raw) > 100:
            return None
        with self._s() as s:
            found = s.execute(
                select(SessionRow, OperatorRow)
                .join(OperatorRow, OperatorRow.id == SessionRow.operator_id)
                .where(SessionRow.id_hash == sha256_hex(raw))
            ).first()
            if found is None or found[0].expires_at <= _now() or found[1].disabled:
                return None
            return Operator.model_validate(found[1])

    def end_session(self, raw: str | None) -> None:
        if raw:
            with self._s.begin() as s:
                s.execute(delete(SessionRow).where(SessionRow.id_hash == sha256_hex(raw)))

    # ---------------------------------------------------------------- complaints
    def submit_complaint(self, new: NewComplaint, evidence: EvidenceFile | None, ip: str | None) -> Complaint:
        if new.category not in self._categories:
            raise ConsoleError("unknown category")
        now = _now()
        for _ in range(5):
            try:
                with self._s.begin() as s:
                    row = ComplaintRow(
                        tracking_no=tracking_number("TS"),
                        created_at=now,
                        category=new.category,
                        content_ref=new.content_ref or None,
                        description=new.description,
                        contact=new.contact,
                        ack_due=add_working_days(now, self.settings.complaint_ack_working_days),
                        resolve_due=add_working_days(now, self.settings.complaint_resolve_working_days),
                        source_ip=ip,
                    )
                    s.add(row)
                    s.flush()
                    if evidence is not None:
                        s.add(
                            EvidenceRow(
                                complaint_id=row.id,
                                filename=evidence.filename,
                                content_type=evidence.content_type,
                                size=len(evidence.data),
                                sha256=sha256_hex(evidence.data),
                                data=evidence.data,
                            )
                        )
                    return Complaint.model_validate(row)
            except IntegrityError:
                continue  # 80-bit collision: practically never, but retry rather than fail
        raise ConsoleError("could not allocate a tracking number; please try again")

    def find_complaint(self, tracking_no: str, contact: str) -> Complaint | None:
        with self._s() as s:
            row = s.scalar(
                select(ComplaintRow).where(ComplaintRow.tracking_no == normalize_tracking(tracking_no))
            )
            if row is None or not secrets.compare_digest(
                row.contact.strip().lower().encode(), contact.strip().lower().encode()
            ):
                return None
            return Complaint.model_validate(row)

    def complaint(self, complaint_id: int) -> Complaint:
        with self._s() as s:
            row = s.get(ComplaintRow, complaint_id)
            if row is None:
                raise NotFound(f"no complaint with id {complaint_id}")
            return Complaint.model_validate(row)

    def complaints(self, state: str | None = None, limit: int = 200) -> list[Complaint]:
        with self._s() as s:
            q = select(ComplaintRow).order_by(ComplaintRow.resolve_due).limit(limit)
            if state == "open":
                q = q.where(ComplaintRow.state.in_(("received", "acknowledged")))
            elif state:
                q = q.where(ComplaintRow.state == state)
            return [Complaint.model_validate(r) for r in s.scalars(q)]

    def count_complaints(self) -> int:
        with self._s() as s:
            return int(s.scalar(select(func.count(ComplaintRow.id))) or 0)

    def evidence(self, complaint_id: int) -> list[Evidence]:
        with self._s() as s:
            q = select(EvidenceRow).where(EvidenceRow.complaint_id == complaint_id)
            return [Evidence.model_validate(r) for r in s.scalars(q)]

    def evidence_data(self, evidence_id: int) -> tuple[Evidence, bytes]:
        with self._s() as s:
            row = s.get(EvidenceRow, evidence_id)
            if row is None:
                raise NotFound(f"no evidence with id {evidence_id}")
            return Evidence.model_validate(row), row.data

    def acknowledge_complaint(self, complaint_id: int, actor: str, ip: str | None = None) -> Complaint:
        with self._s.begin() as s:
            row = s.get(ComplaintRow, complaint_id)
            if row is None:
                raise NotFound(f"no complaint with id {complaint_id}")
            if row.state != "received":
                raise ConsoleError(f"complaint is {row.state}, not received")
            row.state, row.acknowledged_at, row.handled_by = "acknowledged", _now(), actor
            out = Complaint.model_validate(row)
        self.audit(actor, "complaint.acknowledge", out.tracking_no, ip=ip)
        return out

    def resolve_complaint(
        self, complaint_id: int, actor: str, outcome: str, state: str = "resolved", ip: str | None = None
    ) -> Complaint:
        outcome = outcome.strip()
        if state not in ("resolved", "rejected"):
            raise ConsoleError("state must be resolved or rejected")
        if not outcome:
            raise ConsoleError("the outcome shown to the complainant must not be empty")
        with self._s.begin() as s:
            row = s.get(ComplaintRow, complaint_id)
            if row is None:
                raise NotFound(f"no complaint with id {complaint_id}")
            if row.state in ("resolved", "rejected"):
                raise ConsoleError(f"complaint is already {row.state}")
            now = _now()
            row.acknowledged_at = row.acknowledged_at or now
            row.state, row.resolved_at, row.handled_by, row.outcome = state, now, actor, outcome
            out = Complaint.model_validate(row)
        self.audit(actor, f"complaint.{state}", out.tracking_no, ip=ip, outcome=outcome[:500])
        return out

    # ---------------------------------------------------------------- PI requests
    def submit_pi(self, api_key: str, kind: str, detail: str | None, contact: str) -> PIRequest:
        if kind not in PI_KINDS:
            raise ConsoleError("unknown request type")
        principal = self.store.keys.authenticate(api_key.strip())
        if principal is None:
            # the request is bound to an account: proof of holding one of its keys
            raise ConsoleError("api_key")
        now = _now()
        for _ in range(5):
            try:
                with self._s.begin() as s:
                    row = PIRequestRow(
                        tracking_no=tracking_number("PI"),
                        created_at=now,
                        user_id=principal.user.id,
                        kind=kind,
                        detail=detail or None,
                        contact=contact,
                        due=add_working_days(now, self.settings.pi_request_working_days),
                    )
                    s.add(row)
                    s.flush()
                    out = PIRequest.model_validate(row)
                break
            except IntegrityError:
                continue
        else:
            raise ConsoleError("could not allocate a tracking number; please try again")
        self.audit("public", "pi.submit", out.tracking_no, kind=kind, user_id=principal.user.id)
        return out

    def find_pi(self, tracking_no: str, api_key: str) -> PIRequest | None:
        principal = self.store.keys.authenticate(api_key.strip()) if api_key.strip() else None
        with self._s() as s:
            row = s.scalar(
                select(PIRequestRow).where(PIRequestRow.tracking_no == normalize_tracking(tracking_no))
            )
            if row is None or principal is None or principal.user.id != row.user_id:
                return None
            return PIRequest.model_validate(row)

    def find_pi_for_contact(self, tracking_no: str, contact: str) -> PIRequest | None:
        with self._s() as s:
            row = s.scalar(
                select(PIRequestRow).where(PIRequestRow.tracking_no == normalize_tracking(tracking_no))
            )
            if row is None or not secrets.compare_digest(
                row.contact.strip().lower().encode(), contact.strip().lower().encode()
            ):
                return None
            return PIRequest.model_validate(row)

    def pi_request(self, request_id: int) -> PIRequest:
        with self._s() as s:
            row = s.get(PIRequestRow, request_id)
            if row is None:
                raise NotFound(f"no PI request with id {request_id}")
            return PIRequest.model_validate(row)

    def pi_archive(self, request_id: int) -> bytes | None:
        with self._s() as s:
            row = s.get(PIRequestRow, request_id)
            return row.archive if row is not None else None

    def pi_requests(self, state: str | None = None, limit: int = 200) -> list[PIRequest]:
        with self._s() as s:
            q = select(PIRequestRow).order_by(PIRequestRow.due).limit(limit)
            if state == "open":
                q = q.where(PIRequestRow.state == "received")
            elif state:
                q = q.where(PIRequestRow.state == state)
            return [PIRequest.model_validate(r) for r in s.scalars(q)]

    def export_user(self, user_id: int) -> bytes:
        """A zip of everything stored about one user: profile, keys (prefixes), audit records,
        incidents, enforcement steps, consent, PI requests. JSON Lines, UTF-8."""

        def dump(row: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for col in row.__table__.columns:
                if col.key in skip:
                    continue
                v = getattr(row, col.key)
                out[col.key] = v.isoformat() if isinstance(v, datetime) else v
            return out

        buf = io.BytesIO()
        with self._s() as s, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            user = s.get(UserRow, user_id)
            if user is None:
                raise NotFound(f"no user with id {user_id}")
            z.writestr("user.json", json.dumps(dump(user), ensure_ascii=False, indent=2))
            keys = s.scalars(select(ApiKeyRow).where(ApiKeyRow.user_id == user_id))
            z.writestr(
                "api_keys.json",
                json.dumps([dump(k, skip=("key_hash",)) for k in keys], ensure_ascii=False, indent=2),
            )
            for name, model, col in (
                ("audit_records.jsonl", AuditRecordRow, AuditRecordRow.user_id),
                ("incidents.jsonl", IncidentRow, IncidentRow.user_id),
                ("enforcement_events.jsonl", EnforcementEventRow, EnforcementEventRow.user_id),
            ):
                lines = (
                    json.dumps(dump(r), ensure_ascii=False) + "\n"
                    for r in s.scalars(select(model).where(col == user_id).order_by(model.id))  # type: ignore[attr-defined]
                )
                z.writestr(name, "".join(lines))
            consent = s.get(ConsentRow, user_id)
            z.writestr("consent.json", json.dumps(dump(consent) if consent else None, ensure_ascii=False))
            reqs = s.scalars(select(PIRequestRow).where(PIRequestRow.user_id == user_id))
            z.writestr(
                "pi_requests.json",
                json.dumps([dump(r, skip=("archive",)) for r in reqs], ensure_ascii=False, indent=2),
            )
            z.writestr(
                "README.txt",
                "Personal information held by this service about one account, exported on request "
                "(PIPL Art. 45).\n个人信息副本（《个人信息保护法》第四十五条）。\n"
                "Content fields are empty where the audit policy keeps only hashes.\n",
            )
        return buf.getvalue()

    def anonymise_user(self, user_id: int) -> str:
        """Remove or anonymise one user's personal information everywhere; returns the statement of
        what was kept and why (shown to the requester)."""
        now = _now()
        with self._s.begin() as s:
            user = s.get(UserRow, user_id)
            if user is None:
                raise NotFound(f"no user with id {user_id}")
            user.name = f"deleted-user-{user_id}"
            user.external_ref, user.note, user.status_reason = None, None, None
            user.updated_at = now
            s.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.user_id == user_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=now, name="")
            )
            n_audit = s.execute(
                update(AuditRecordRow)
                .where(AuditRecordRow.user_id == user_id)
                .values(input_text=None, output_text=None)
            ).rowcount  # type: ignore[attr-defined]
            n_inc = s.execute(
                update(IncidentRow).where(IncidentRow.user_id == user_id).values(offending_text=None)
            ).rowcount  # type: ignore[attr-defined]
            n_enf = s.scalar(
                select(func.count(EnforcementEventRow.id)).where(EnforcementEventRow.user_id == user_id)
            )
            s.execute(delete(ConsentRow).where(ConsentRow.user_id == user_id))
            s.execute(update(PIRequestRow).where(PIRequestRow.user_id == user_id).values(archive=None))
        if self.gateway is not None:
            self.gateway.forget_user(user_id)
        return (
            "已删除：账户名称、外部账号标识、备注、训练使用授权、全部对话内容（审计日志与事件中的输入输出原文），"
            "所有 API 密钥已吊销。\n"
            "Deleted: account name, external account id, notes, training consent, all conversation text "
            "(inputs and outputs in the audit log and incidents); every API key revoked.\n"
            f"保留 / Kept: {n_audit} 条审计日志元数据（时间、来源地址、模型、用量、审核结论、内容哈希，无原文），"
            "依据《网络安全法》第二十一条留存不少于六个月，到期由清理任务删除；"
            f"{n_inc} 条违法违规内容处置记录（风险类别、内容哈希）与 {n_enf or 0} 条处置措施记录，"
            "依据《生成式人工智能服务管理暂行办法》第十四条保存；本次请求的处理记录，用于证明依法处理。\n"
            f"Kept: metadata of {n_audit} audit records (time, source address, model, usage, verdicts, "
            "content hashes; no text) for at least six months under Cybersecurity Law Art. 21, then purged; "
            f"{n_inc} incident records (risk codes, content hash) and {n_enf or 0} enforcement records under "
            "Interim Measures Art. 14; the record of this request, as proof it was handled."
        )

    def set_training_consent(self, user_id: int, allowed: bool, source: str) -> None:
        with self._s.begin() as s:
            row = s.get(ConsentRow, user_id)
            if row is None:
                s.add(ConsentRow(user_id=user_id, training_use=allowed, source=source))
            else:
                row.training_use, row.updated_at, row.source = allowed, _now(), source

    def training_consent(self, user_id: int) -> bool:
        with self._s() as s:
            row = s.get(ConsentRow, user_id)
            return bool(row and row.training_use)

    def complete_pi(self, request_id: int, actor: str, note: str = "", ip: str | None = None) -> PIRequest:
        """Carry out a PI request: export builds the archive, deletion anonymises, consent withdraws;
        access and correction record the operator's answer (``note``)."""
        req = self.pi_request(request_id)
        if req.state != "received":
            raise ConsoleError(f"request is already {req.state}")
        if req.user_id is None:
            raise ConsoleError("request is not bound to an account")
        note = note.strip()
        archive: bytes | None = None
        kept: str | None = None
        if req.kind in ("export", "access"):
            archive = self.export_user(req.user_id)
            outcome = (
                note or "已生成您的个人信息副本，可在查询页面下载。 Your data archive is ready to download."
            )
        elif req.kind == "deletion":
            kept = self.anonymise_user(req.user_id)
            outcome = (
                note or "已删除或匿名化您的个人信息。 Your personal information was deleted or anonymised."
            )
        elif req.kind == "consent":
            self.set_training_consent(req.user_id, False, f"pi-request:{req.tracking_no}")
            outcome = note or "已撤回训练使用授权。 Consent to training use withdrawn."
        else:
            if not note:
                raise ConsoleError("describe what was corrected (shown to the requester)")
            outcome = note
        with self._s.begin() as s:
            row = s.get(PIRequestRow, request_id)
            assert row is not None
            row.state, row.completed_at, row.handled_by, row.outcome = "completed", _now(), actor, outcome
            row.kept_statement = kept
            if archive is not None:
                row.archive, row.archive_sha256 = archive, sha256_hex(archive)
            out = PIRequest.model_validate(row)
        self.audit(actor, f"pi.{req.kind}", req.tracking_no, ip=ip, user_id=req.user_id)
        return out

    def reject_pi(self, request_id: int, actor: str, reason: str, ip: str | None = None) -> PIRequest:
        if not reason.strip():
            raise ConsoleError("give the reason shown to the requester")
        with self._s.begin() as s:
            row = s.get(PIRequestRow, request_id)
            if row is None:
                raise NotFound(f"no PI request with id {request_id}")
            if row.state != "received":
                raise ConsoleError(f"request is already {row.state}")
            row.state, row.completed_at, row.handled_by, row.outcome = (
                "rejected",
                _now(),
                actor,
                reason.strip(),
            )
            out = PIRequest.model_validate(row)
        self.audit(actor, "pi.reject", out.tracking_no, ip=ip)
        return out

    # ---------------------------------------------------------------- incidents & enforcement
    def incidents(self, state: str | None = "open", limit: int = 200) -> list[Incident]:
        return self.store.incidents.list(review_state=state or None, limit=limit)

    def incident(self, incident_id: int) -> Incident:
        with self._s() as s:
            row = s.get(IncidentRow, incident_id)
            if row is None:
                raise NotFound(f"no incident with id {incident_id}")
            return Incident.model_validate(row)

    def incident_due(self, inc: Incident) -> datetime:
        return inc.created_at + timedelta(hours=self.settings.incident_review_hours)

    def review_incident(
        self, incident_id: int, decision: str, actor: str, note: str, ip: str | None = None
    ) -> Incident:
        if decision not in ("confirmed", "dismissed"):
            raise ConsoleError("decision must be confirm or dismiss")
        inc = self.store.incidents.review(incident_id, decision, actor, note or None)
        self.audit(actor, f"incident.{decision}", str(incident_id), ip=ip, note=note[:500])
        return inc

    def escalate_incident(self, incident_id: int, actor: str, note: str, ip: str | None = None) -> Escalation:
        if not note.strip():
            raise ConsoleError("say why this is reported to the authorities")
        inc = self.store.incidents.review(incident_id, "confirmed", actor, f"escalated: {note}")
        user = self.store.users.get(inc.user_id) if inc.user_id is not None else None
        report = {
            "report_type": "illegal content handled by a generative AI service (Interim Measures Art. 14)",
            "incident": inc.model_dump(mode="json"),
            "user": user.model_dump(mode="json", include={"id", "name", "verified", "age_band", "status"})
            if user
            else None,
            "enforcement": [
                e.model_dump(mode="json") for e in self.store.enforcement.list(inc.user_id or -1, limit=50)
            ],
            "escalated_by": actor,
            "escalated_at": _now().isoformat(),
            "note": note,
        }
        with self._s.begin() as s:
            row = EscalationRow(incident_id=incident_id, created_by=actor, note=note, report=report)
            s.add(row)
            s.flush()
            out = Escalation.model_validate(row)
        self.audit(actor, "incident.escalate", str(incident_id), ip=ip, escalation=out.id)
        return out

    def escalations(self, incident_id: int | None = None) -> list[Escalation]:
        with self._s() as s:
            q = select(EscalationRow).order_by(EscalationRow.id.desc()).limit(200)
            if incident_id is not None:
                q = q.where(EscalationRow.incident_id == incident_id)
            return [Escalation.model_validate(r) for r in s.scalars(q)]

    def escalation(self, escalation_id: int) -> Escalation:
        with self._s() as s:
            row = s.get(EscalationRow, escalation_id)
            if row is None:
                raise NotFound(f"no escalation with id {escalation_id}")
            return Escalation.model_validate(row)

    def enforce(
        self, user_id: int, action: str, reason: str, actor: str, hours: float | None, ip: str | None = None
    ) -> None:
        reason = reason.strip()
        if not reason:
            raise ConsoleError("a reason is required (kept on record)")
        if action == "restore":
            events = self.store.enforcement.list(user_id, limit=200)
            target = next(
                (
                    e
                    for e in events
                    if e.action in ("restrict", "suspend", "terminate")
                    and e.reversed_by_id is None
                    and e.reversible
                ),
                None,
            )
            if target is None:
                raise ConsoleError("nothing to restore: no reversible step is in force")
            self.store.enforcement.reverse(target.id, actor, reason)
        elif action in ("warn", "restrict", "suspend", "terminate"):
            if action == "suspend" and not hours:
                raise ConsoleError("a suspension needs a length in hours")
            until = _now() + timedelta(hours=hours) if action == "suspend" and hours else None
            self.store.enforcement.record(user_id, action, reason, actor=actor, until=until)
        else:
            raise ConsoleError("unknown action")
        if self.gateway is not None:
            self.gateway.forget_user(user_id)  # this replica applies the change at once
        self.audit(actor, f"user.{action}", str(user_id), ip=ip, reason=reason[:500], hours=hours)

    def users(self, limit: int = 500) -> list[User]:
        return self.store.users.list(limit=limit)

    # ---------------------------------------------------------------- lexicons
    def upload_lexicon(self, filename: str, data: bytes, actor: str, ip: str | None = None) -> LexiconUpload:
        from hegui.moderation.lexicon import FORMATS, Lexicon, LexiconError, parse_lexicon
        from hegui.moderation.lexicon_audit import audit_lexicon

        suffix = Path(filename).suffix.lower()
        if suffix not in FORMATS or suffix == ".txt":
            raise ConsoleError("lexicon files must be .tsv, .csv or .yaml")
        fmt = FORMATS[suffix]
        try:
            entries = parse_lexicon(data, filename, fmt)
        except LexiconError as exc:
            raise ConsoleError(str(exc)) from exc
        if not entries:
            raise ConsoleError("the lexicon has no entries")
        report = audit_lexicon(Lexicon(entries))
        summary = {
            "total": report.total,
            "entries": report.entries,
            "total_min": report.total_min,
            "passed": report.passed,
            "risks": [
                {"code": r.code, "name": r.name_zh, "count": r.count, "minimum": r.minimum, "ok": r.ok}
                for r in report.risks
            ],
            "other": report.other_counts,
            "duplicates": len(report.duplicates),
            "collisions": len(report.collisions),
            "benign": len(report.benign),
        }
        with self._s.begin() as s:
            row = LexiconUploadRow(
                uploaded_by=actor,
                filename=filename,
                fmt=suffix.lstrip("."),
                sha256=sha256_hex(data),
                entries=len(entries),
                content=data,
                audit=summary,
            )
            s.add(row)
            s.flush()
            out = LexiconUpload.model_validate(row)
        self.audit(actor, "lexicon.upload", filename, ip=ip, id=out.id, entries=len(entries))
        return out

    def lexicons(self) -> list[LexiconUpload]:
        with self._s() as s:
            q = select(LexiconUploadRow).order_by(LexiconUploadRow.id.desc())
            return [LexiconUpload.model_validate(r) for r in s.scalars(q)]

    def set_lexicon_active(self, lexicon_id: int, active: bool, actor: str, ip: str | None = None) -> None:
        with self._s.begin() as s:
            row = s.get(LexiconUploadRow, lexicon_id)
            if row is None:
                raise NotFound(f"no lexicon with id {lexicon_id}")
            row.active = active
            row.activated_at, row.activated_by = (_now(), actor) if active else (None, None)
        self.apply_lexicons()
        self.audit(actor, "lexicon.activate" if active else "lexicon.deactivate", str(lexicon_id), ip=ip)

    def apply_lexicons(self) -> int:
        """Rebuild this replica's moderators with the active uploads added to the policy's lexicon
        paths; requests already running keep the moderator they started with. Returns the count."""
        if self.gateway is None:
            return 0
        from hegui.moderation import Moderator

        with self._s() as s:
            rows = list(s.scalars(select(LexiconUploadRow).where(LexiconUploadRow.active.is_(True))))
            files = [(r.sha256, r.fmt, r.content) for r in rows]
        gw = self.gateway
        if not files and getattr(gw, "_console_base_policy", None) is None:
            return 0  # nothing was ever activated here: keep the gateway's own moderators
        base = getattr(gw, "_console_base_policy", None) or gw.policy
        gw._console_base_policy = base  # type: ignore[attr-defined]
        folder = Path(self.settings.data_dir) / "lexicons"
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for digest, fmt, content in files:
            p = folder / f"{digest}.{fmt}"
            if not p.exists():
                p.write_bytes(content)
            paths.append(str(p))
        lex = base.detectors.lexicon.model_copy(update={"paths": [*base.detectors.lexicon.paths, *paths]})
        policy = base.model_copy(update={"detectors": base.detectors.model_copy(update={"lexicon": lex})})
        minors = policy.profile(policy.minors.profile) if policy.minors.profile in policy.profiles else policy
        moderators = {"default": Moderator(policy), "minors": Moderator(minors)}
        # swap whole dicts: a request reads one consistent pair
        gw.policies = {"default": policy, "minors": minors}
        gw.moderators = moderators
        gw.policy = policy
        return len(paths)

    # ---------------------------------------------------------------- dashboard
    def dashboard(self, days: int = 14) -> Dashboard:
        now = _now()
        start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
        labels = [(start + timedelta(days=i)).date().isoformat() for i in range(days)]

        def per_day(rows: Any) -> list[int]:
            got = {str(d)[:10]: int(n) for d, n in rows}
            return [got.get(d, 0) for d in labels]

        with self._s() as s:
            day_a = func.date(AuditRecordRow.created_at)
            requests = per_day(
                s.execute(
                    select(day_a, func.count(AuditRecordRow.id))
                    .where(AuditRecordRow.created_at >= start)
                    .group_by(day_a)
                )
            )
            minors = per_day(
                s.execute(
                    select(day_a, func.count(AuditRecordRow.id))
                    .join(UserRow, UserRow.id == AuditRecordRow.user_id)
                    .where(AuditRecordRow.created_at >= start, UserRow.age_band.in_(sorted(MINOR_BANDS)))
                    .group_by(day_a)
                )
            )
            day_i = func.date(IncidentRow.created_at)
            cuts = per_day(
                s.execute(
                    select(day_i, func.count(IncidentRow.id))
                    .where(IncidentRow.created_at >= start, IncidentRow.action == "cut")
                    .group_by(day_i)
                )
            )
            refusals = per_day(
                s.execute(
                    select(day_i, func.count(IncidentRow.id))
                    .where(IncidentRow.created_at >= start, IncidentRow.action != "cut")
                    .group_by(day_i)
                )
            )
            risk_count: Counter[str] = Counter()
            for risks in s.scalars(select(IncidentRow.risks).where(IncidentRow.created_at >= start)):
                risk_count.update(risks or [])
            day_c = func.date(ComplaintRow.created_at)
            complaints = per_day(
                s.execute(
                    select(day_c, func.count(ComplaintRow.id))
                    .where(ComplaintRow.created_at >= start)
                    .group_by(day_c)
                )
            )
            closed = s.execute(
                select(ComplaintRow.resolved_at, ComplaintRow.resolve_due).where(
                    ComplaintRow.resolved_at.is_not(None)
                )
            ).all()
            sla_met = sum(1 for r, d in closed if r is not None and r <= d)
            overdue = {
                "complaints": int(
                    s.scalar(
                        select(func.count(ComplaintRow.id)).where(
                            ComplaintRow.state.in_(("received", "acknowledged")),
                            ComplaintRow.resolve_due < now,
                        )
                    )
                    or 0
                ),
                "pi": int(
                    s.scalar(
                        select(func.count(PIRequestRow.id)).where(
                            PIRequestRow.state == "received", PIRequestRow.due < now
                        )
                    )
                    or 0
                ),
                "incidents": int(
                    s.scalar(
                        select(func.count(IncidentRow.id)).where(
                            IncidentRow.review_state == "open",
                            IncidentRow.created_at
                            < now - timedelta(hours=self.settings.incident_review_hours),
                        )
                    )
                    or 0
                ),
            }
        return Dashboard(
            days=labels,
            requests=requests,
            refusals=refusals,
            cuts=cuts,
            minors=minors,
            complaints=complaints,
            by_risk=risk_count.most_common(12),
            sla_met=sla_met,
            sla_total=len(closed),
            overdue=overdue,
        )
