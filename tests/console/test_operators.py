"""Operator side: login, sessions, lockout, roles on every route, audit trail, queues, PI requests,
enforcement, lexicons, dashboard, CLI."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.routing import Route
from typer.testing import CliRunner

from hegui.console.security import safe_filename
from hegui.store import AuditRecord, NewIncident, NewUser

from .conftest import PASSWORD, Env
from .test_public import GOOD, file_complaint

SESSION = "hegui_console"


def ops_routes(env: Env, method: str) -> list[str]:
    out = []
    assert env.console.router is not None
    for r in env.console.router.routes:
        if isinstance(r, Route) and r.path.startswith("/console/ops") and method in (r.methods or ()):
            out.append(re.sub(r"\{[^}]+\}", "1", r.path))
    return out


def test_login_rotates_session_id_and_logout_ends_it(env: Env) -> None:
    env.operator("alice", "reviewer")
    c = env.client()
    c.cookies.set(SESSION, "attacker-chosen-session-id", path="/console")
    r = c.login("alice")
    assert r.status_code == 303 and r.headers["location"] == "/console/ops"
    first = r.cookies[SESSION]
    assert first != "attacker-chosen-session-id" and len(first) >= 40
    cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION)][0].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert c.get("/console/ops").status_code == 200
    # logging in again (same browser) issues a new id and the old one stops working
    second = c.login("alice").cookies[SESSION]
    assert second != first
    stale = env.client()
    stale.cookies.set(SESSION, first, path="/console")
    assert stale.get("/console/ops", follow_redirects=False).status_code == 303
    # logout deletes the session server-side
    c.post("/console/logout", data={"csrf": c.csrf()}, follow_redirects=False)
    again = env.client()
    again.cookies.set(SESSION, second, path="/console")
    assert again.get("/console/ops", follow_redirects=False).status_code == 303


def test_secure_cookie_over_https(env: Env) -> None:
    env.operator("alice", "reviewer")
    c = env.client()
    c.base_url = "https://testserver"  # type: ignore[assignment]
    r = c.login("alice")
    cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION)][0]
    assert "secure" in cookie.lower()


def test_lockout_after_repeated_failures(env: Env) -> None:
    env.operator("bob", "admin")
    c = env.client()
    for _ in range(env.console.settings.lockout_threshold):
        r = c.login("bob", "wrong password!")
        assert r.status_code == 401 and "登录失败" in r.text
    # now even the right password is refused until the lock expires
    assert c.login("bob").status_code == 401
    ops = {o.username: o for o in env.service.operators()}
    assert ops["bob"].locked_until is not None and ops["bob"].locked_until > datetime.now(UTC)
    # unknown users get the same answer (no username probing)
    assert c.login("nobody").status_code == 401
    trail = env.service.audit_trail()
    reasons = [e.detail.get("reason") for e in trail if e.action == "login.fail"]
    assert "locked" in reasons and "unknown user" in reasons and "wrong password; account locked" in reasons
    # when the lock has expired the right password works again
    with env.store.sessions.begin() as s:
        s.execute(text("UPDATE console_operators SET locked_until = :t"), {"t": datetime(2000, 1, 1)})
    assert c.login("bob").status_code == 303


def test_login_requires_csrf(env: Env) -> None:
    env.operator("alice", "admin")
    c = env.client()
    c.get("/console/login")
    r = c.post("/console/login", data={"username": "alice", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403 and SESSION not in r.cookies


def test_every_operator_route_checks_role(env: Env) -> None:
    env.operator("viewer1", "viewer")
    env.operator("rev1", "reviewer")
    posts, gets = ops_routes(env, "POST"), ops_routes(env, "GET")
    assert len(posts) >= 11 and len(gets) >= 12
    anon = env.client()
    anon_csrf = anon.form("/console/login")["csrf"]
    for path in gets + posts:
        method = anon.post if path in posts else anon.get
        kw = {"data": {"csrf": anon_csrf}} if path in posts else {}
        r = method(path, follow_redirects=False, **kw)  # type: ignore[operator]
        assert r.status_code == 303 and r.headers["location"] == "/console/login", path
    viewer = env.client()
    assert viewer.login("viewer1").status_code == 303
    csrf = viewer.csrf()
    for path in posts:  # a viewer can act on nothing
        r = viewer.post(
            path, data={"csrf": csrf, "action": "warn", "reason": "x", "outcome": "x", "note": "x"}
        )
        assert r.status_code == 403, path
        assert "无权" in r.text
    for path in ("/console/ops/operators", "/console/ops/audit"):
        assert viewer.get(path).status_code == 403
    assert viewer.get("/console/ops/complaints").status_code == 200
    reviewer = env.client()
    reviewer.login("rev1")
    csrf = reviewer.csrf()
    for path in (
        "/console/ops/operators",
        "/console/ops/lexicons",
        "/console/ops/lexicons/1/activate",
        "/console/ops/operators/1",
    ):
        assert reviewer.post(path, data={"csrf": csrf}).status_code == 403, path
    # a logged-in operator still needs a valid CSRF token
    assert reviewer.post("/console/ops/complaints/1/ack", data={"csrf": "forged"}).status_code == 403
    # nothing was done by any of that
    assert not [
        e for e in env.service.audit_trail() if e.action.startswith(("complaint.", "user.", "lexicon."))
    ]


def test_audit_trail_is_append_only(env: Env) -> None:
    env.service.audit("tester", "test.action", "t")
    with pytest.raises(DBAPIError), env.store.sessions.begin() as s:
        s.execute(text("UPDATE console_audit SET actor = 'someone else'"))
    with pytest.raises(DBAPIError), env.store.sessions.begin() as s:
        s.execute(text("DELETE FROM console_audit"))
    assert env.service.audit_trail()[0].actor == "tester"


def test_reviewer_resolves_complaint_and_outcome_reaches_status_page(env: Env) -> None:
    tn = file_complaint(env)
    env.operator("rev", "reviewer")
    op = env.client()
    op.login("rev")
    queue = op.get("/console/ops/complaints")
    assert tn in queue.text
    cid = env.service.complaints()[0].id
    csrf = op.csrf(f"/console/ops/complaints/{cid}")
    assert (
        op.post(f"/console/ops/complaints/{cid}/ack", data={"csrf": csrf}, follow_redirects=False).status_code
        == 303
    )
    r = op.post(
        f"/console/ops/complaints/{cid}/resolve",
        data={"csrf": csrf, "decision": "resolved", "outcome": "已核实并删除相关内容，账户已警示。"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    pub = env.client()
    s = pub.submit("/console/status", {"tracking_no": tn, "contact": GOOD["contact"]})
    assert "已办结" in s.text and "已核实并删除相关内容" in s.text
    actions = [e.action for e in env.service.audit_trail()]
    assert "complaint.acknowledge" in actions and "complaint.resolved" in actions
    # an empty outcome is refused with a message
    tn2 = file_complaint(env)
    cid2 = next(c.id for c in env.service.complaints() if c.tracking_no == tn2)
    bad = op.post(f"/console/ops/complaints/{cid2}/resolve", data={"csrf": csrf, "outcome": " "})
    assert bad.status_code == 400 and "must not be empty" in bad.text


def test_overdue_items_are_highlighted(env: Env) -> None:
    file_complaint(env)
    with env.store.sessions.begin() as s:
        s.execute(text("UPDATE console_complaints SET resolve_due = :t"), {"t": datetime(2020, 1, 1)})
    env.operator("v", "viewer")
    c = env.client()
    c.login("v")
    page = c.get("/console/ops/complaints")
    assert 'class="row-overdue"' in page.text and 'data-overdue="1"' in page.text
    assert "超期：投诉 1 件" in c.get("/console/ops").text


def _incident(env: Env, user_id: int | None, action: str = "refuse", text_: str = "违规内容样本") -> int:
    inc = env.store.incidents.add(
        NewIncident(
            user_id=user_id,
            api_key_id=None,
            request_id="req-1",
            stage="input",
            action=action,
            risks=["A4.c"],
            content_policy="keep",
            offending_text=text_,
            offending_sha256=None,
        )
    )
    return inc.id


def test_incident_review_and_escalation(env: Env) -> None:
    u = env.store.users.add(NewUser(name="carol"))
    iid = _incident(env, u.id)
    iid2 = _incident(env, u.id, action="cut")
    env.operator("rev", "reviewer")
    c = env.client()
    c.login("rev")
    q = c.get("/console/ops/incidents")
    assert f'/console/ops/incidents/{iid}"' in q.text and "cut" in q.text
    csrf = c.csrf(f"/console/ops/incidents/{iid}")
    c.post(f"/console/ops/incidents/{iid}/review", data={"csrf": csrf, "decision": "dismiss", "note": "误报"})
    assert env.store.incidents.list(review_state="dismissed")[0].id == iid
    r = c.post(
        f"/console/ops/incidents/{iid2}/escalate",
        data={"csrf": csrf, "note": "涉嫌违法，报送"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "hegui-report" not in r.text
    esc = env.service.escalations(iid2)[0]
    dl = c.get(f"/console/ops/escalations/{esc.id}.json")
    report = json.loads(dl.content)
    assert report["report"]["incident"]["id"] == iid2 and report["report"]["user"]["name"] == "carol"
    assert "attachment" in dl.headers["content-disposition"]
    assert env.store.incidents.list(review_state="confirmed")[0].id == iid2


def _pi(env: Env, kind: str, key: str, detail: str = "") -> str:
    c = env.client()
    r = c.submit("/console/pi", {"kind": kind, "api_key": key, "contact": "u@example.cn", "detail": detail})
    assert r.status_code == 201, r.text
    return re.search(r'id="tracking-no">([A-Z0-9-]+)<', r.text).group(1)  # type: ignore[union-attr]


def test_pi_export_then_deletion(env: Env) -> None:
    u = env.store.users.add(NewUser(name="dave", external_ref="acct-42"))
    key = env.store.keys.issue(u.id).secret
    env.store.audit.add(
        AuditRecord(
            request_id="r1",
            created_at=datetime.now(UTC),
            user_id=u.id,
            route="chat",
            status_code=200,
            outcome="ok",
            content_policy="keep",
            input_text="我的手机号是多少",
            output_text="回答",
        )
    )
    _incident(env, u.id, text_="dave 的违规输入")
    env.service.set_training_consent(u.id, True, "signup")
    # an unknown key is refused: requests are bound to an account
    bad = env.client().submit(
        "/console/pi", {"kind": "export", "api_key": "hg-nope", "contact": "u@example.cn"}
    )
    assert bad.status_code == 400 and "API 密钥无效" in bad.text
    tn = _pi(env, "export", key)
    env.operator("rev", "reviewer")
    op = env.client()
    op.login("rev")
    rid = env.service.pi_requests()[0].id
    csrf = op.csrf(f"/console/ops/pi/{rid}")
    op.post(f"/console/ops/pi/{rid}/complete", data={"csrf": csrf, "note": ""})
    pub = env.client()
    st = pub.submit("/console/pi/status", {"tracking_no": tn, "contact": "u@example.cn"})
    assert "已完成" in st.text and "download-archive" in st.text
    # download needs the key; a wrong key gets nothing
    wrong = pub.post(
        "/console/pi/download",
        data={"csrf": pub.csrf("/console/pi/status"), "tracking_no": tn, "api_key": "hg-x"},
    )
    assert wrong.status_code == 404
    dl = pub.post(
        "/console/pi/download",
        data={"csrf": pub.csrf("/console/pi/status"), "tracking_no": tn, "api_key": key},
    )
    assert dl.status_code == 200 and dl.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(dl.content))
    assert {"user.json", "audit_records.jsonl", "incidents.jsonl", "consent.json", "api_keys.json"} <= set(
        z.namelist()
    )
    assert json.loads(z.read("user.json"))["external_ref"] == "acct-42"
    assert "我的手机号是多少" in z.read("audit_records.jsonl").decode()
    assert "key_hash" not in z.read("api_keys.json").decode()
    # deletion
    tn_del = _pi(env, "deletion", key)
    rid2 = next(r.id for r in env.service.pi_requests() if r.tracking_no == tn_del)
    op.post(f"/console/ops/pi/{rid2}/complete", data={"csrf": op.csrf(f"/console/ops/pi/{rid2}"), "note": ""})
    user = env.store.users.get(u.id)
    assert user.name == f"deleted-user-{u.id}" and user.external_ref is None
    assert env.store.keys.authenticate(key) is None  # keys revoked
    rec = list(env.store.audit.iter())[0]
    assert rec.input_text is None and rec.output_text is None and rec.created_at is not None  # metadata kept
    assert env.store.incidents.list(user_id=u.id)[0].offending_text is None
    assert env.service.training_consent(u.id) is False
    st2 = pub.submit("/console/pi/status", {"tracking_no": tn_del, "contact": "u@example.cn"})
    assert "网络安全法" in st2.text and "Cybersecurity Law Art. 21" in st2.text
    assert env.service.pi_archive(rid) is None  # the earlier export archive is gone too


def test_consent_withdrawal_and_correction(env: Env) -> None:
    u = env.store.users.add(NewUser(name="erin"))
    key = env.store.keys.issue(u.id).secret
    env.service.set_training_consent(u.id, True, "signup")
    _pi(env, "consent", key)
    bad = env.client().submit(
        "/console/pi", {"kind": "correction", "api_key": key, "contact": "u@example.cn"}
    )
    assert bad.status_code == 400 and "请说明需要更正的内容" in bad.text
    _pi(env, "correction", key, detail="我的年龄段登记错误")
    env.operator("rev", "reviewer")
    op = env.client()
    op.login("rev")
    reqs = {r.kind: r for r in env.service.pi_requests()}
    csrf = op.csrf()
    op.post(f"/console/ops/pi/{reqs['consent'].id}/complete", data={"csrf": csrf})
    assert env.service.training_consent(u.id) is False
    r = op.post(f"/console/ops/pi/{reqs['correction'].id}/complete", data={"csrf": csrf, "note": ""})
    assert r.status_code == 400  # a correction needs a statement of what was corrected
    op.post(f"/console/ops/pi/{reqs['correction'].id}/complete", data={"csrf": csrf, "note": "已更正年龄段"})
    assert env.service.pi_request(reqs["correction"].id).outcome == "已更正年龄段"


def test_enforcement_actions_with_reason(env: Env) -> None:
    u = env.store.users.add(NewUser(name="frank"))
    env.operator("rev", "reviewer")
    c = env.client()
    c.login("rev")
    csrf = c.csrf(f"/console/ops/users/{u.id}")
    r = c.post(f"/console/ops/users/{u.id}/enforce", data={"csrf": csrf, "action": "suspend", "reason": ""})
    assert r.status_code == 400
    r = c.post(
        f"/console/ops/users/{u.id}/enforce", data={"csrf": csrf, "action": "suspend", "reason": "多次违规"}
    )
    assert r.status_code == 400 and "length in hours" in r.text
    c.post(
        f"/console/ops/users/{u.id}/enforce",
        data={"csrf": csrf, "action": "suspend", "reason": "多次违规", "hours": "48"},
    )
    user = env.store.users.get(u.id)
    assert user.status == "suspended" and user.status_until is not None
    assert user.status_until > datetime.now(UTC) + timedelta(hours=47)
    c.post(
        f"/console/ops/users/{u.id}/enforce", data={"csrf": csrf, "action": "restore", "reason": "申诉成立"}
    )
    assert env.store.users.get(u.id).status == "active"
    events = env.store.enforcement.list(u.id)
    assert [e.action for e in events] == ["reinstate", "suspend"] and events[0].actor == "rev"
    page = c.get(f"/console/ops/users/{u.id}")
    assert "申诉成立" in page.text and "多次违规" in page.text


def test_lexicon_upload_audit_and_activation(env: Env) -> None:
    env.operator("root", "admin")
    c = env.client()
    c.login("root")
    tsv = "term\trisk\tseverity\n违禁测试词甲\tA2.a\t3\n违禁测试词乙\tA4.a\t3\n".encode()
    csrf = c.csrf("/console/ops/lexicons")
    r = c.post("/console/ops/lexicons", data={"csrf": csrf}, files={"file": ("../my.tsv", tsv, "text/plain")})
    assert r.status_code == 200
    page = c.get("/console/ops/lexicons")
    assert (
        "my.tsv" in page.text and "A2.a" in page.text and "未通过" in page.text
    )  # far below the 10,000 minimum
    bad = c.post(
        "/console/ops/lexicons", data={"csrf": csrf}, files={"file": ("x.exe", b"MZ", "application/x")}
    )
    assert bad.status_code == 400
    lid = env.service.lexicons()[0].id
    gw = env.gateway
    before = gw.moderators["default"]
    assert not before.check("这里有违禁测试词甲").flagged
    c.post(f"/console/ops/lexicons/{lid}/activate", data={"csrf": csrf, "active": "1"})
    after = gw.moderators["default"]
    assert after is not before and after.check("这里有违禁测试词甲").flagged  # live, no restart
    c.post(f"/console/ops/lexicons/{lid}/activate", data={"csrf": csrf, "active": "0"})
    assert not gw.moderators["default"].check("这里有违禁测试词甲").flagged


def test_dashboard_charts(env: Env) -> None:
    u = env.store.users.add(NewUser(name="kid", age_band="14_17"))
    now = datetime.now(UTC)
    env.store.audit.add_many(
        [
            AuditRecord(
                request_id=f"r{i}",
                created_at=now,
                user_id=u.id if i % 2 else None,
                route="chat",
                status_code=200,
                outcome="ok",
            )
            for i in range(6)
        ]
    )
    _incident(env, u.id)
    _incident(env, u.id, action="cut")
    file_complaint(env)
    d = env.service.dashboard()
    assert d.requests[-1] == 6 and d.minors[-1] == 3 and d.refusals[-1] == 1 and d.cuts[-1] == 1
    assert d.complaints[-1] == 1 and d.by_risk == [("A4.c", 2)]
    env.operator("v", "viewer")
    c = env.client()
    c.login("v")
    page = c.get("/console/ops?lang=en")
    assert page.status_code == 200 and page.text.count("<svg") == 6
    assert "Requests per day" in page.text and "Minors-mode requests per day" in page.text


def test_operator_management_by_admin(env: Env) -> None:
    env.operator("root", "admin")
    c = env.client()
    c.login("root")
    csrf = c.csrf("/console/ops/operators")
    r = c.post(
        "/console/ops/operators",
        data={"csrf": csrf, "username": "newbie", "password": "short", "role": "viewer"},
    )
    assert r.status_code == 400 and "at least 10 characters" in r.text
    c.post(
        "/console/ops/operators",
        data={"csrf": csrf, "username": "newbie", "password": PASSWORD, "role": "viewer"},
    )
    ops = {o.username: o for o in env.service.operators()}
    assert ops["newbie"].role == "viewer"
    me = ops["root"].id
    assert c.post(f"/console/ops/operators/{me}", data={"csrf": csrf, "disabled": "1"}).status_code == 400
    c.post(f"/console/ops/operators/{ops['newbie'].id}", data={"csrf": csrf, "disabled": "1"})
    assert env.client().login("newbie").status_code == 401
    audit = c.get("/console/ops/audit")
    assert "operator.add" in audit.text and "operator.update" in audit.text


def test_cli_add_operator(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hegui.cli import app

    url = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "console",
            "add-operator",
            "admin1",
            "--role",
            "admin",
            "--password",
            PASSWORD,
            "--database-url",
            url,
        ],
    )
    assert r.exit_code == 0, r.output
    assert "admin1 (admin) created" in r.output
    r = runner.invoke(
        app, ["console", "add-operator", "admin1", "--password", PASSWORD, "--database-url", url]
    )
    assert r.exit_code == 2 and "already exists" in r.output
    r = runner.invoke(
        app, ["console", "add-operator", "x", "--role", "boss", "--password", PASSWORD, "--database-url", url]
    )
    assert r.exit_code == 2 and "role must be one of" in r.output
    r = runner.invoke(app, ["console", "list-operators", "--database-url", url])
    assert "admin1\tadmin" in r.output


def test_safe_filename_unit() -> None:
    assert safe_filename("a\x00b\x1f.png") == "ab.png"
    assert safe_filename("../../../") == "evidence"
    assert safe_filename("证据 截图(1).png") == "证据 截图(1).png"
    assert len(safe_filename("x" * 500 + ".pdf")) <= 120 and safe_filename("x" * 500 + ".pdf").endswith(
        ".pdf"
    )
