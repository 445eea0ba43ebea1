"""HTTP layer of the console: server-rendered Jinja2 pages under ``/console`` that work without
JavaScript. Public pages (complaints, status, PI requests) and operator pages (``/console/ops``).

Security model, in one place:
- CSRF: signed double-submit (random ``hegui_csrf`` cookie, forms carry an HMAC of it bound to the
  session); every POST checks it before anything else.
- Sessions: random 256-bit ids in an HttpOnly, SameSite=Strict cookie (Secure over https), only the
  SHA-256 stored; a new id at every login (no fixation), deleted at logout.
- Roles: every operator route declares its minimum role through ``_op(request, role)``.
- Output: Jinja2 autoescaping everywhere, a strict Content-Security-Policy without inline scripts.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from fastapi import APIRouter, FastAPI, Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData, UploadFile
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hegui.console import charts
from hegui.console.config import ConsoleSettings, load_console_settings
from hegui.console.i18n import LANGS, translator
from hegui.console.security import Signer, check_challenge, make_challenge, safe_filename, sniff_type
from hegui.console.service import (
    PI_KINDS,
    ROLES,
    ConsoleError,
    ConsoleService,
    EvidenceFile,
    NewComplaint,
    Operator,
    Role,
    category_choices,
)
from hegui.store import NotFound, StoreUnavailable

if TYPE_CHECKING:
    from hegui.gateway.service import Gateway

T = TypeVar("T")

PREFIX = "/console"
SESSION_COOKIE = "hegui_console"
CSRF_COOKIE = "hegui_csrf"
LANG_COOKIE = "hegui_lang"
STATIC = ("console.css",)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class ConsoleHTTPError(Exception):
    """Raised inside handlers; rendered as an HTML page (the gateway's JSON errors are for APIs)."""

    def __init__(self, status: int, message: str, redirect: str | None = None):
        self.status, self.message, self.redirect = status, message, redirect


async def run(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """Database work off the event loop (the store is synchronous)."""
    try:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kw))
    except StoreUnavailable as exc:
        raise ConsoleHTTPError(503, "store_unavailable") from exc


class Console:
    def __init__(self, service: ConsoleService, settings: ConsoleSettings, gateway: Gateway | None):
        self.service, self.settings, self.gateway = service, settings, gateway
        self.env = Environment(
            loader=PackageLoader("hegui.console", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["dt"] = _fmt_dt
        self._signer: Signer | None = None
        self.router: APIRouter | None = None  # set by install(); tests walk its routes
        self.categories = category_choices()

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = Signer(self.service.secret())
        return self._signer

    # ------------------------------------------------------------------ request helpers
    def client_ip(self, request: Request) -> str | None:
        if self.gateway is not None and self.gateway.settings.trust_forwarded_for:
            fwd = request.headers.get("x-forwarded-for")
            if fwd:
                return fwd.split(",")[0].strip()[:64]
        return request.client.host if request.client else None

    def secure(self, request: Request) -> bool:
        if self.settings.secure_cookies is not None:
            return self.settings.secure_cookies
        proto = request.headers.get("x-forwarded-proto") if self._trust_proxy() else None
        return (proto or request.url.scheme) == "https"

    def _trust_proxy(self) -> bool:
        return bool(self.gateway is not None and self.gateway.settings.trust_forwarded_for)

    def lang(self, request: Request) -> str:
        q = request.query_params.get("lang")
        if q in LANGS:
            return q
        c = request.cookies.get(LANG_COOKIE)
        return c if c in LANGS else self.settings.default_language

    def session_raw(self, request: Request) -> str:
        return request.cookies.get(SESSION_COOKIE, "")

    def csrf_cookie(self, request: Request) -> tuple[str, bool]:
        v = request.cookies.get(CSRF_COOKIE, "")
        if 20 <= len(v) <= 64 and v.replace("-", "").replace("_", "").isalnum():
            return v, False
        return secrets.token_urlsafe(24), True

    async def check_csrf(self, request: Request, form: FormData, session_raw: str | None = None) -> None:
        token = form.get("csrf")
        cookie = request.cookies.get(CSRF_COOKIE)
        sid = self.session_raw(request) if session_raw is None else session_raw
        if not isinstance(token, str) or not self.signer.csrf_ok(token, cookie, sid):
            raise ConsoleHTTPError(403, "csrf_failed")

    async def operator(self, request: Request, role: Role = "viewer") -> Operator:
        """The logged-in operator with at least ``role``; redirects to login or answers 403."""
        op = await run(self.service.session_operator, self.session_raw(request))
        if op is None:
            raise ConsoleHTTPError(303, "login_required", redirect=f"{PREFIX}/login")
        if not op.can(role):
            raise ConsoleHTTPError(403, "forbidden_role")
        return op

    async def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        operator: Operator | None = None,
        session_raw: str | None = None,
        **ctx: Any,
    ) -> HTMLResponse:
        lang = self.lang(request)
        cookie, fresh = self.csrf_cookie(request)
        sid = self.session_raw(request) if session_raw is None else session_raw
        html = self.env.get_template(template).render(
            _=translator(lang),
            lang=lang,
            csrf=self.signer.csrf_token(cookie, sid),
            op=operator,
            path=request.url.path,
            prefix=PREFIX,
            now=datetime.now(UTC),
            settings=self.settings,
            **ctx,
        )
        resp = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        secure = self.secure(request)
        if fresh:
            resp.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict", secure=secure, path=PREFIX)
        if request.query_params.get("lang") in LANGS:
            resp.set_cookie(
                LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=secure, path=PREFIX
            )
        return resp

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)

    async def limited(self, request: Request, what: str, per_hour: int) -> None:
        """Fixed one-hour window per client address, in the shared counters table (all replicas)."""
        if per_hour <= 0:
            return
        from datetime import timedelta

        hour = datetime.now(UTC).strftime("%Y%m%d%H")
        n = await run(
            self.service.store.counters.incr,
            f"console:{what}:{self.client_ip(request) or '-'}",
            hour,
            timedelta(hours=2),
        )
        if n > per_hour:
            raise ConsoleHTTPError(429, "rate_limited")

    async def challenge_ok(self, form: FormData) -> bool:
        ok, nonce = check_challenge(
            self.signer,
            str(form.get("challenge_token", "")),
            str(form.get("challenge", "")),
            self.settings.challenge_ttl_s,
        )
        if not ok or nonce is None:
            return False
        from datetime import timedelta

        # single use: a solved challenge cannot be replayed for a second submission
        used = await run(
            self.service.store.counters.incr,
            f"console:nonce:{nonce}",
            "once",
            timedelta(seconds=self.settings.challenge_ttl_s + 120),
        )
        return used == 1


def _fmt_dt(v: datetime | None) -> str:
    if v is None:
        return "—"
    from zoneinfo import ZoneInfo

    return v.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def _s(form: FormData, name: str, limit: int = 10_000) -> str:
    v = form.get(name)
    return v.strip()[:limit] if isinstance(v, str) else ""


def _int(v: str) -> int:
    if not v.isdigit() or len(v) > 12:
        raise ConsoleHTTPError(404, "not_found")
    return int(v)


def _queue_state(request: Request, *closed: str) -> str:
    """The queue filter from ``?state=``: open (default), all, or one of the queue's closed states."""
    state = request.query_params.get("state", "open")
    return state if state in ("open", "all", *closed) else "open"


def build_router(console: Console) -> APIRouter:  # noqa: C901 - one place lists every route
    r = APIRouter(prefix=PREFIX, include_in_schema=False)
    svc, cfg = console.service, console.settings

    # ============================================================== public
    @r.get("/static/{name}")
    async def static(name: str) -> Response:
        if name not in STATIC:
            raise ConsoleHTTPError(404, "not_found")
        data = resources.files("hegui.console").joinpath("static").joinpath(name).read_bytes()
        return Response(
            data,
            media_type="text/css",
            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    @r.get("")
    @r.get("/")
    async def home(request: Request) -> Response:
        return await console.render(request, "home.html")

    async def complaint_form(
        request: Request,
        errors: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        ch = make_challenge(console.signer)
        return await console.render(
            request,
            "complaint.html",
            status=status,
            categories=console.categories,
            errors=errors or {},
            values=values or {},
            challenge=ch,
        )

    @r.get("/complaint")
    async def complaint_get(request: Request) -> Response:
        return await complaint_form(request)

    @r.post("/complaint")
    async def complaint_post(request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=20)
        await console.check_csrf(request, form)
        await console.limited(request, "complaint", cfg.submissions_per_hour)
        values = {k: _s(form, k, 6000) for k in ("category", "content_ref", "description", "contact")}
        errors: dict[str, str] = {}
        if values["category"] not in {c for c, _, _ in console.categories}:
            errors["category"] = "err_category"
        if len(values["description"]) < 10:
            errors["description"] = "err_description_short"
        elif len(values["description"]) > cfg.max_description_chars:
            errors["description"] = "err_description_long"
        if len(values["content_ref"]) > 500:
            errors["content_ref"] = "err_too_long"
        if not (3 <= len(values["contact"]) <= 200):
            errors["contact"] = "err_contact"
        if not await console.challenge_ok(form):
            errors["challenge"] = "err_challenge"
        evidence = None
        upload = form.get("evidence")
        if isinstance(upload, UploadFile) and (upload.filename or upload.size):
            data = await upload.read(cfg.max_upload_bytes + 1)
            if len(data) > cfg.max_upload_bytes:
                errors["evidence"] = "err_file_large"
            elif not data:
                errors["evidence"] = "err_file_empty"
            else:
                kind = sniff_type(data)
                if kind is None or kind not in cfg.allowed_upload_types:
                    errors["evidence"] = "err_file_type"
                else:
                    evidence = EvidenceFile(safe_filename(upload.filename), kind, data)
        if errors:
            status = {"err_file_large": 413, "err_file_type": 415}.get(errors.get("evidence", ""), 400)
            return await complaint_form(request, errors, values, status=status)
        new = NewComplaint(
            category=values["category"],
            content_ref=values["content_ref"] or None,
            description=values["description"],
            contact=values["contact"],
        )
        try:
            c = await run(svc.submit_complaint, new, evidence, console.client_ip(request))
        except ConsoleError as exc:
            return await complaint_form(request, {"form": str(exc)}, values, status=400)
        return await console.render(request, "complaint_done.html", status=201, complaint=c)

    @r.get("/status")
    async def status_get(request: Request) -> Response:
        return await console.render(request, "status.html", complaint=None, searched=False)

    @r.post("/status")
    async def status_post(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        await console.check_csrf(request, form)
        await console.limited(request, "lookup", 120)
        c = await run(svc.find_complaint, _s(form, "tracking_no", 64), _s(form, "contact", 200))
        return await console.render(
            request,
            "status.html",
            status=200 if c else 404,
            complaint=c,
            searched=True,
            categories={code: (zh, en) for code, zh, en in console.categories},
        )

    @r.get("/pi")
    async def pi_get(request: Request) -> Response:
        return await console.render(
            request, "pi.html", errors={}, values={}, kinds=PI_KINDS, challenge=make_challenge(console.signer)
        )

    @r.post("/pi")
    async def pi_post(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=20)
        await console.check_csrf(request, form)
        await console.limited(request, "pi", cfg.submissions_per_hour)
        values = {k: _s(form, k, 4000) for k in ("kind", "detail", "contact")}
        errors: dict[str, str] = {}
        if values["kind"] not in PI_KINDS:
            errors["kind"] = "err_kind"
        if not (3 <= len(values["contact"]) <= 200):
            errors["contact"] = "err_contact"
        if values["kind"] == "correction" and len(values["detail"]) < 5:
            errors["detail"] = "err_detail_correction"
        if not await console.challenge_ok(form):
            errors["challenge"] = "err_challenge"
        req = None
        if not errors:
            try:
                req = await run(
                    svc.submit_pi,
                    _s(form, "api_key", 200),
                    values["kind"],
                    values["detail"],
                    values["contact"],
                )
            except ConsoleError as exc:
                errors["api_key" if str(exc) == "api_key" else "form"] = (
                    "err_api_key" if str(exc) == "api_key" else str(exc)
                )
        if errors or req is None:
            return await console.render(
                request,
                "pi.html",
                status=400,
                errors=errors,
                values=values,
                kinds=PI_KINDS,
                challenge=make_challenge(console.signer),
            )
        return await console.render(request, "pi_done.html", status=201, req=req)

    @r.get("/pi/status")
    async def pi_status_get(request: Request) -> Response:
        return await console.render(request, "pi_status.html", req=None, searched=False)

    @r.post("/pi/status")
    async def pi_status_post(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        await console.check_csrf(request, form)
        await console.limited(request, "lookup", 120)
        req = await run(svc.find_pi_for_contact, _s(form, "tracking_no", 64), _s(form, "contact", 200))
        return await console.render(
            request, "pi_status.html", status=200 if req else 404, req=req, searched=True
        )

    @r.post("/pi/download")
    async def pi_download(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        await console.check_csrf(request, form)
        await console.limited(request, "lookup", 120)
        # the archive is personal data: it needs the account's API key, not just the contact
        req = await run(svc.find_pi, _s(form, "tracking_no", 64), _s(form, "api_key", 200))
        data = await run(svc.pi_archive, req.id) if req else None
        if req is None or data is None:
            raise ConsoleHTTPError(404, "archive_unavailable")
        return _zip(data, f"hegui-personal-data-{req.tracking_no}.zip")

    # ============================================================== login
    @r.get("/login")
    async def login_get(request: Request) -> Response:
        return await console.render(request, "login.html", error=None)

    @r.post("/login")
    async def login_post(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        await console.check_csrf(request, form)
        await console.limited(request, "login", 100)
        ip = console.client_ip(request)
        op, _reason = await run(svc.login, _s(form, "username", 100), _s(form, "password", 1000), ip)
        if op is None:
            return await console.render(request, "login.html", status=401, error="err_login")
        # fixation: whatever session cookie came in is dropped and a fresh id issued
        await run(svc.end_session, console.session_raw(request))
        raw = await run(svc.new_session, op.id, ip)
        resp = console.redirect(f"{PREFIX}/ops")
        resp.set_cookie(
            SESSION_COOKIE,
            raw,
            httponly=True,
            samesite="strict",
            secure=console.secure(request),
            path=PREFIX,
            max_age=int(cfg.session_hours * 3600),
        )
        return resp

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=5)
        await console.check_csrf(request, form)
        op = await run(svc.session_operator, console.session_raw(request))
        await run(svc.end_session, console.session_raw(request))
        if op is not None:
            await run(svc.audit, op.username, "logout", ip=console.client_ip(request))
        resp = console.redirect(f"{PREFIX}/login")
        resp.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return resp

    # ============================================================== operator: read
    @r.get("/ops")
    async def dashboard(request: Request) -> Response:
        op = await console.operator(request, "viewer")
        d = await run(svc.dashboard, 14)
        _ = translator(console.lang(request))
        names = {code: (zh if console.lang(request) == "zh" else en) for code, zh, en in console.categories}
        return await console.render(
            request,
            "ops_dashboard.html",
            operator=op,
            d=d,
            chart_traffic=charts.stacked_bars(
                _("chart_requests"), d.days, [(_("requests"), d.requests, "s1")]
            ),
            chart_incidents=charts.stacked_bars(
                _("chart_incidents"), d.days, [(_("refusals"), d.refusals, "s2"), (_("cuts"), d.cuts, "s3")]
            ),
            chart_risks=charts.hbars(
                _("chart_risks"), [(f"{c} {names.get(c, '')}", n) for c, n in d.by_risk], "s2"
            ),
            chart_complaints=charts.stacked_bars(
                _("chart_complaints"), d.days, [(_("complaints"), d.complaints, "s4")]
            ),
            chart_minors=charts.stacked_bars(
                _("chart_minors"), d.days, [(_("minors_requests"), d.minors, "s5")]
            ),
            chart_sla=charts.ring(_("sla_compliance"), d.sla_met, d.sla_total),
        )

    @r.get("/ops/complaints")
    async def complaints(request: Request) -> Response:
        op = await console.operator(request, "viewer")
        state = _queue_state(request, "resolved", "rejected")
        items = await run(svc.complaints, None if state == "all" else state)
        return await console.render(request, "ops_complaints.html", operator=op, items=items, state=state)

    @r.get("/ops/complaints/{cid}")
    async def complaint_detail(request: Request, cid: str) -> Response:
        op = await console.operator(request, "viewer")
        try:
            c = await run(svc.complaint, _int(cid))
        except NotFound as exc:
            raise ConsoleHTTPError(404, "not_found") from exc
        ev = await run(svc.evidence, c.id)
        names = {code: (zh, en) for code, zh, en in console.categories}
        return await console.render(request, "ops_complaint.html", operator=op, c=c, evidence=ev, names=names)

    @r.get("/ops/evidence/{eid}")
    async def evidence(request: Request, eid: str) -> Response:
        await console.operator(request, "viewer")
        try:
            ev, data = await run(svc.evidence_data, _int(eid))
        except NotFound as exc:
            raise ConsoleHTTPError(404, "not_found") from exc
        # always a download, never rendered inline in the console's origin
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f"attachment; filename=\"evidence-{ev.id}\"; filename*=UTF-8''{_quote(ev.filename)}",
            },
        )

    @r.get("/ops/incidents")
    async def incidents(request: Request) -> Response:
        op = await console.operator(request, "viewer")
        state = _queue_state(request, "confirmed", "dismissed")
        items = await run(svc.incidents, None if state == "all" else state)
        due = {i.id: svc.incident_due(i) for i in items}
        return await console.render(
            request, "ops_incidents.html", operator=op, items=items, due=due, state=state
        )

    @r.get("/ops/incidents/{iid}")
    async def incident_detail(request: Request, iid: str) -> Response:
        op = await console.operator(request, "viewer")
        try:
            inc = await run(svc.incident, _int(iid))
        except NotFound as exc:
            raise ConsoleHTTPError(404, "not_found") from exc
        esc = await run(svc.escalations, inc.id)
        return await console.render(
            request, "ops_incident.html", operator=op, inc=inc, due=svc.incident_due(inc), escalations=esc
        )

    @r.get("/ops/escalations/{eid}.json")
    async def escalation_json(request: Request, eid: str) -> Response:
        await console.operator(request, "viewer")
        try:
            esc = await run(svc.escalation, _int(eid))
        except NotFound as exc:
            raise ConsoleHTTPError(404, "not_found") from exc
        import json

        body = json.dumps(esc.model_dump(mode="json"), ensure_ascii=False, indent=2).encode()
        return Response(
            body,
            media_type="application/json",
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": f'attachment; filename="hegui-report-{esc.id}.json"',
            },
        )

    @r.get("/ops/pi")
    async def pi_queue(request: Request) -> Response:
        op = await console.operator(request, "viewer")
        state = _queue_state(request, "completed", "rejected")
        items = await run(svc.pi_requests, None if state == "all" else state)
        return await console.render(request, "ops_pi.html", operator=op, items=items, state=state)

    @r.get("/ops/pi/{rid}")
    async def pi_detail(request: Request, rid: str) -> Response:
        op = await console.operator(request, "viewer")
        try:
            req = await run(svc.pi_request, _int(rid))
        except NotFound as exc:
            raise ConsoleHTTPError(404, "not_found") from exc
        return await console.render(request, "ops_pi_detail.html", operator=op, req=req)

    @r.get("/ops/pi/{rid}/archive")
    async def pi_archive(request: Request, rid: str) -> Response:
        op = await console.operator(request, "reviewer")
        req = await run(svc.pi_request, _int(rid))
        data = await run(svc.pi_archive, req.id)
        if data is None:
            raise ConsoleHTTPError(404, "archive_unavailable")
        await run(
            svc.audit, op.username, "pi.archive.download", req.tracking_no, ip=console.client_ip(request)
        )
        return _zip(data, f"hegui-personal-data-{req.tracking_no}.zip")

    @r.get("/ops/users")
    async def users(request: Request) -> Response:
        op = await console.operator(request, "viewer")
        items = await run(svc.users)
        return await console.render(request, "ops_users.html", operator=op, items=items)

    @r.get("/ops/users/{uid}")
    async def user_detail(request: Request, uid: str) -> Response:
        op = await console.operator(request, "viewer")
        try:
            u = await run(svc.store.users.get, _int(uid))
        except NotFound as exc:
            raise ConsoleHTTPError(404, "not_found") from exc
        incs = await run(svc.store.incidents.list, u.id, None, 100)
        events = await run(svc.store.enforcement.list, u.id, 100)
        consent = await run(svc.training_consent, u.id)
        return await console.render(
            request,
            "ops_user.html",
            operator=op,
            u=u,
            incidents=incs,
            events=events,
            consent=consent,
            ladder=console.gateway.policy.enforcement.ladder if console.gateway else [],
        )

    @r.get("/ops/lexicons")
    async def lexicons(request: Request) -> Response:
        op = await console.operator(request, "viewer")
        items = await run(svc.lexicons)
        return await console.render(request, "ops_lexicons.html", operator=op, items=items, error=None)

    @r.get("/ops/operators")
    async def operators(request: Request) -> Response:
        op = await console.operator(request, "admin")
        return await console.render(
            request,
            "ops_operators.html",
            operator=op,
            items=await run(svc.operators),
            roles=ROLES,
            error=None,
        )

    @r.get("/ops/audit")
    async def audit(request: Request) -> Response:
        op = await console.operator(request, "admin")
        return await console.render(
            request, "ops_audit.html", operator=op, items=await run(svc.audit_trail, 300)
        )

    # ============================================================== operator: act (POST)
    async def acting(request: Request, role: Role) -> tuple[Operator, FormData, str | None]:
        form = await request.form(max_files=1, max_fields=20)
        await console.check_csrf(request, form)
        op = await console.operator(request, role)
        return op, form, console.client_ip(request)

    async def attempt(fn: Callable[..., T], *a: Any, **kw: Any) -> T:
        try:
            return await run(fn, *a, **kw)
        except NotFound as exc:
            raise ConsoleHTTPError(404, "not_found") from exc
        except (ConsoleError, ValueError) as exc:
            raise ConsoleHTTPError(400, str(exc)) from exc

    @r.post("/ops/complaints/{cid}/ack")
    async def complaint_ack(request: Request, cid: str) -> Response:
        op, _form, ip = await acting(request, "reviewer")
        await attempt(svc.acknowledge_complaint, _int(cid), op.username, ip)
        return console.redirect(f"{PREFIX}/ops/complaints/{_int(cid)}")

    @r.post("/ops/complaints/{cid}/resolve")
    async def complaint_resolve(request: Request, cid: str) -> Response:
        op, form, ip = await acting(request, "reviewer")
        state = "rejected" if _s(form, "decision") == "rejected" else "resolved"
        await attempt(svc.resolve_complaint, _int(cid), op.username, _s(form, "outcome", 5000), state, ip)
        return console.redirect(f"{PREFIX}/ops/complaints/{_int(cid)}")

    @r.post("/ops/incidents/{iid}/review")
    async def incident_review(request: Request, iid: str) -> Response:
        op, form, ip = await acting(request, "reviewer")
        decision = {"confirm": "confirmed", "dismiss": "dismissed"}.get(_s(form, "decision"), "")
        await attempt(svc.review_incident, _int(iid), decision, op.username, _s(form, "note", 2000), ip)
        return console.redirect(f"{PREFIX}/ops/incidents/{_int(iid)}")

    @r.post("/ops/incidents/{iid}/escalate")
    async def incident_escalate(request: Request, iid: str) -> Response:
        op, form, ip = await acting(request, "reviewer")
        await attempt(svc.escalate_incident, _int(iid), op.username, _s(form, "note", 2000), ip)
        return console.redirect(f"{PREFIX}/ops/incidents/{_int(iid)}")

    @r.post("/ops/pi/{rid}/complete")
    async def pi_complete(request: Request, rid: str) -> Response:
        op, form, ip = await acting(request, "reviewer")
        await attempt(svc.complete_pi, _int(rid), op.username, _s(form, "note", 5000), ip)
        return console.redirect(f"{PREFIX}/ops/pi/{_int(rid)}")

    @r.post("/ops/pi/{rid}/reject")
    async def pi_reject(request: Request, rid: str) -> Response:
        op, form, ip = await acting(request, "reviewer")
        await attempt(svc.reject_pi, _int(rid), op.username, _s(form, "note", 5000), ip)
        return console.redirect(f"{PREFIX}/ops/pi/{_int(rid)}")

    @r.post("/ops/users/{uid}/enforce")
    async def user_enforce(request: Request, uid: str) -> Response:
        op, form, ip = await acting(request, "reviewer")
        hours_raw = _s(form, "hours", 10)
        try:
            hours = float(hours_raw) if hours_raw else None
        except ValueError as exc:
            raise ConsoleHTTPError(400, "err_hours") from exc
        if hours is not None and not (0 < hours <= 24 * 365):
            raise ConsoleHTTPError(400, "err_hours")
        await attempt(
            svc.enforce, _int(uid), _s(form, "action", 20), _s(form, "reason", 2000), op.username, hours, ip
        )
        return console.redirect(f"{PREFIX}/ops/users/{_int(uid)}")

    @r.post("/ops/lexicons")
    async def lexicon_upload(request: Request) -> Response:
        op, form, ip = await acting(request, "admin")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ConsoleHTTPError(400, "err_file_missing")
        data = await upload.read(cfg.max_upload_bytes + 1)
        if len(data) > cfg.max_upload_bytes:
            raise ConsoleHTTPError(413, "err_file_large")
        await attempt(svc.upload_lexicon, safe_filename(upload.filename), data, op.username, ip)
        return console.redirect(f"{PREFIX}/ops/lexicons")

    @r.post("/ops/lexicons/{lid}/activate")
    async def lexicon_activate(request: Request, lid: str) -> Response:
        op, form, ip = await acting(request, "admin")
        active = _s(form, "active", 5) != "0"
        await attempt(svc.set_lexicon_active, _int(lid), active, op.username, ip)
        return console.redirect(f"{PREFIX}/ops/lexicons")

    @r.post("/ops/operators")
    async def operator_add(request: Request) -> Response:
        op, form, _ip = await acting(request, "admin")
        await attempt(
            svc.add_operator,
            _s(form, "username", 100),
            _s(form, "password", 1000),
            _s(form, "role", 16),
            op.username,
        )
        return console.redirect(f"{PREFIX}/ops/operators")

    @r.post("/ops/operators/{oid}")
    async def operator_update(request: Request, oid: str) -> Response:
        op, form, _ip = await acting(request, "admin")
        role = _s(form, "role", 16) or None
        disabled = {"1": True, "0": False}.get(_s(form, "disabled", 2))
        if _int(oid) == op.id and (disabled or (role and role != "admin")):
            raise ConsoleHTTPError(400, "err_self_lockout")
        await attempt(svc.set_operator, _int(oid), op.username, role, disabled)
        return console.redirect(f"{PREFIX}/ops/operators")

    return r


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _zip(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/zip",
        headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


def install(app: FastAPI, settings: ConsoleSettings | None = None) -> Console:
    """Mount the console into a gateway app (same process, same store)."""
    gw = app.state.gateway
    cfg = settings or load_console_settings()
    service = ConsoleService(gw.store, cfg, gw)
    console = Console(service, cfg, gw)
    app.state.console = console

    async def _error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleHTTPError)
        if exc.redirect:
            return console.redirect(exc.redirect)
        op = None
        if exc.status == 403 and exc.message == "forbidden_role":
            op = await run(service.session_operator, console.session_raw(request))
        return await console.render(
            request, "error.html", status=exc.status, operator=op, message=exc.message
        )

    app.add_exception_handler(ConsoleHTTPError, _error)
    console.router = build_router(console)
    app.include_router(console.router)
    try:
        # lexicons activated earlier (or by another replica) apply after a restart too
        service.apply_lexicons()
    except Exception as exc:  # a missing table or a down database must not stop the gateway
        logging.getLogger(__name__).warning("console: active lexicons not applied: %s", exc)
    return console
