"""Public pages: complaint form, status lookup, validation, CSRF, challenge, uploads, escaping."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from hegui.console.models import ComplaintRow, EvidenceRow

from .conftest import Env, form_tokens

GOOD = {"category": "A4.c", "description": "模型回答中捏造了关于我的不实信息。", "contact": "me@example.cn"}
TRACK = re.compile(r'id="tracking-no">([A-Z0-9-]+)<')


def file_complaint(env: Env, **over: object) -> str:
    c = env.client()
    r = c.submit("/console/complaint", {**GOOD, **over})
    assert r.status_code == 201, r.text
    m = TRACK.search(r.text)
    assert m
    return m.group(1)


def test_complaint_gets_tracking_number_and_published_time_limits(env: Env) -> None:
    c = env.client()
    page = c.get("/console/complaint")
    # the 31 risks of Appendix A plus IP, portrait, privacy, minors are offered
    assert all(
        f'value="{code}"' in page.text
        for code in ("A1.a", "A3.a", "A5.b", "ip", "portrait", "privacy", "minors")
    )
    assert len(re.findall(r'<option value="A\d\.[a-i]"', page.text)) == 31
    assert "1 个工作日内受理确认" in page.text and "15 个工作日内处理完毕" in page.text
    r = c.submit("/console/complaint", GOOD)
    assert r.status_code == 201
    tn = TRACK.search(r.text).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"TS(-[0-9A-HJKMNP-TV-Z]{4}){4}", tn)
    assert "办结期限" in r.text
    # status page by tracking number + contact (case-insensitive contact, lower-case number accepted)
    s = c.submit("/console/status", {"tracking_no": tn.lower(), "contact": "ME@example.cn"})
    assert s.status_code == 200 and "已提交，待受理" in s.text
    wrong = c.submit("/console/status", {"tracking_no": tn, "contact": "other@example.cn"})
    assert wrong.status_code == 404 and "未找到" in wrong.text


def test_validation_messages_are_specific(env: Env) -> None:
    c = env.client()
    r = c.submit("/console/complaint", {"category": "nope", "description": "短", "contact": ""})
    assert r.status_code == 400
    for msg in ("请选择类别", "情况描述至少 10 个字", "请填写联系方式"):
        assert msg in r.text
    # values the person typed are kept (escaped) so they need not retype them
    assert 'value=""' in r.text or "短" in r.text
    en = c.post(
        "/console/complaint?lang=en",
        data={
            **form_tokens(c.get("/console/complaint?lang=en").text),
            "category": "",
            "description": "x",
            "contact": "a@b.c",
        },
    )
    assert "Choose a category." in en.text and "at least 10 characters" in en.text


def test_wrong_or_replayed_challenge_is_rejected(env: Env) -> None:
    c = env.client()
    tokens = c.form("/console/complaint")
    bad = c.post(
        "/console/complaint", data={**tokens, **GOOD, "challenge": str(int(tokens["challenge"]) + 1)}
    )
    assert bad.status_code == 400 and "验证答案不正确" in bad.text
    ok = c.post("/console/complaint", data={**tokens, **GOOD})
    assert ok.status_code == 201
    replay = c.post("/console/complaint", data={**tokens, **GOOD})
    assert replay.status_code == 400 and "验证答案不正确" in replay.text


def test_csrf_missing_or_forged_is_rejected(env: Env) -> None:
    c = env.client()
    tokens = c.form("/console/complaint")
    no_token = {k: v for k, v in tokens.items() if k != "csrf"}
    assert c.post("/console/complaint", data={**no_token, **GOOD}).status_code == 403
    forged = c.post("/console/complaint", data={**tokens, **GOOD, "csrf": "A" * 32})
    assert forged.status_code == 403 and "表单已过期" in forged.text
    # a token is bound to its cookie: another browser's token does not work here
    other = env.client()
    other_tokens = other.form("/console/complaint")
    assert c.post("/console/complaint", data={**other_tokens, **GOOD}).status_code == 403
    # no cookie at all (a cross-site form post with SameSite cookies withheld)
    fresh = env.client()
    assert fresh.post("/console/complaint", data={**tokens, **GOOD}).status_code == 403
    with env.store.sessions() as s:
        assert s.scalar(select(func.count(ComplaintRow.id))) == 0


def test_xss_in_complaint_is_rendered_escaped(env: Env) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    c = env.client()
    tn = file_complaint(
        env, description="恶意内容测试 " + payload, content_ref='"><svg onload=alert(1)>', contact="x@y.cn"
    )
    env.operator("rev", "reviewer")
    op = env.client()
    op.login("rev")
    cid = env.service.complaints()[0].id
    # an operator's outcome text is escaped on the public status page as well
    env.service.resolve_complaint(cid, "rev", "处理结果 " + payload)
    s = c.submit("/console/status", {"tracking_no": tn, "contact": "x@y.cn"})
    assert "<script>alert" not in s.text and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in s.text
    page = op.get(f"/console/ops/complaints/{cid}")
    assert page.status_code == 200
    assert (
        "<script>alert" not in page.text and "<img src=x" not in page.text and "<svg onload" not in page.text
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no scripts run


@pytest.mark.parametrize(
    "evil",
    [
        "' OR '1'='1",
        "TS-0000'; DROP TABLE console_complaints;--",
        '" OR 1=1 --',
        "%' UNION SELECT * FROM console_operators--",
    ],
)
def test_sql_injection_strings_are_harmless(env: Env, evil: str) -> None:
    tn = file_complaint(env, description="注入测试：" + evil, contact=evil[:190] + "@x")
    c = env.client()
    r = c.submit("/console/status", {"tracking_no": evil, "contact": evil})
    assert r.status_code == 404
    r = c.submit("/console/status", {"tracking_no": tn, "contact": evil[:190] + "@x"})
    assert r.status_code == 200
    with env.store.sessions() as s:
        rows = list(s.scalars(select(ComplaintRow)))
    assert len(rows) == 1 and rows[0].description.endswith(evil)


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("..\\..\\windows\\system32\\x.png", "x.png"),
        ("/abs/path/evidence.png", "evidence.png"),
        ("....//....//shot.png", "shot.png"),
        ("..", "evidence"),
        ("a\x00b\r\n.png", "a_00b_0D_0A.png"),  # the client percent-encodes controls; "%" is then replaced
    ],
)
def test_upload_path_traversal_names_are_neutralised(env: Env, name: str, stored: str) -> None:
    c = env.client()
    r = c.submit("/console/complaint", GOOD, files={"evidence": (name, PNG, "image/png")})
    assert r.status_code == 201, r.text
    with env.store.sessions() as s:
        ev = s.scalars(select(EvidenceRow)).one()
    assert ev.filename == stored and "/" not in ev.filename and "\\" not in ev.filename
    assert ev.data == PNG and ev.content_type == "image/png"


def test_oversize_upload_is_rejected_with_a_clear_error(make_env) -> None:  # type: ignore[no-untyped-def]
    env = make_env(max_upload_bytes=4096)
    c = env.client()
    r = c.submit(
        "/console/complaint", GOOD, files={"evidence": ("big.png", PNG + b"\x00" * 5000, "image/png")}
    )
    assert r.status_code == 413 and "文件过大（上限 4 KB）" in r.text
    # beyond the gateway's body limit the whole request is refused before parsing
    huge = c.submit(
        "/console/complaint", GOOD, files={"evidence": ("huge.png", PNG + b"\x00" * 1_100_000, "image/png")}
    )
    assert huge.status_code == 413
    with env.store.sessions() as s:
        assert s.scalar(select(func.count(ComplaintRow.id))) == 0


def test_upload_type_is_checked_by_content(env: Env) -> None:
    c = env.client()
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 100
    r = c.submit("/console/complaint", GOOD, files={"evidence": ("photo.png", exe, "image/png")})
    assert r.status_code == 415 and "不支持的文件类型" in r.text
    html = b"<html><script>alert(1)</script></html>"
    ok = c.submit("/console/complaint", GOOD, files={"evidence": ("note.txt", html, "text/html")})
    assert ok.status_code == 201  # text is accepted as text/plain, and served only as a download
    with env.store.sessions() as s:
        assert s.scalars(select(EvidenceRow.content_type)).one() == "text/plain"


def test_rate_limit_per_client(make_env) -> None:  # type: ignore[no-untyped-def]
    env = make_env(submissions_per_hour=2)
    c = env.client()
    assert c.submit("/console/complaint", GOOD).status_code == 201
    assert c.submit("/console/complaint", GOOD).status_code == 201
    r = c.submit("/console/complaint", GOOD)
    assert r.status_code == 429 and "提交过于频繁" in r.text


def test_english_ui_and_security_headers(env: Env) -> None:
    c = env.client()
    r = c.get("/console/complaint?lang=en")
    assert "Handling process and time limits" in r.text and 'lang="en"' in r.text
    assert r.cookies.get("hegui_lang") == "en"
    assert "Handling process" in c.get("/console/complaint").text  # remembered
    h = r.headers
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    csrf_cookie = [
        v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("hegui_csrf=")
    ][0]
    assert "httponly" in csrf_cookie.lower() and "samesite=strict" in csrf_cookie.lower()
    # console routes are not part of the gateway's OpenAPI contract
    assert not any(p.startswith("/console") for p in env.app.openapi()["paths"])
