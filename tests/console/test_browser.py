"""End to end in real headless Chromium (Debian ``chromium`` driven by Playwright) against a real
uvicorn server: complaint -> tracking -> reviewer resolves -> outcome on the status page; a PI export
and a deletion; a gateway refusal showing up in the incident review queue. Screenshots go to the
``artifacts_dir`` fixture."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hegui.config import Settings
from hegui.console.config import ConsoleSettings
from hegui.console.web import install
from hegui.store import NewUser, Store

from ..gateway.helpers import REFUSE_TERM, gateway_app
from ..gateway.scripted_upstream import ServerThread
from .conftest import PASSWORD

pytestmark = pytest.mark.browser

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = os.environ.get("HEGUI_CHROMIUM", "/usr/bin/chromium")
    if not (Path(path).is_file() or shutil.which(path)):
        if os.environ.get("HEGUI_REQUIRE_SERVICES") == "1":
            pytest.fail(f"chromium is required (HEGUI_REQUIRE_SERVICES=1) but {path} was not found")
        pytest.skip(f"chromium not found at {path} (set HEGUI_CHROMIUM)")
    return path


class Site:
    def __init__(self, url: str, store: Store, app: Any):
        self.url, self.store, self.app = url, store, app
        self.service = app.state.console.service


@pytest.fixture
def site(tmp_path: Path, upstream: tuple[str, Any]) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path}/browser.db"
    store = Store(url, auto_migrate=True)
    settings = Settings(database_url=url, upstream_url=upstream[0], upstream_backoff_s=0.01)
    app = gateway_app(settings, store)
    install(app, ConsoleSettings(data_dir=str(tmp_path / "data")))
    srv = ServerThread(app).start()
    try:
        yield Site(srv.url, store, app)
    finally:
        srv.stop()
        store.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    exe = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=LAUNCH_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def solve(page: Any) -> None:
    label = page.locator("label[for=f-challenge]").inner_text()
    a, b = map(int, re.search(r"(\d+) \+ (\d+)", label).groups())  # type: ignore[union-attr]
    page.fill("#f-challenge", str(a + b))


def login(page: Any, base: str, user: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("#f-username", user)
    page.fill("#f-password", PASSWORD)
    page.click("button[type=submit]:has-text('登录')")
    page.wait_for_url(f"{base}/console/ops")


def test_complaint_track_resolve_outcome(site: Site, browser: Any, artifacts_dir: Path) -> None:
    shots = artifacts_dir / "console"
    shots.mkdir(exist_ok=True)
    base = site.url
    site.service.add_operator("reviewer1", PASSWORD, "reviewer")
    public = browser.new_context(locale="zh-CN")
    page = public.new_page()
    page.goto(f"{base}/console/complaint")
    page.select_option("#f-category", "A4.c")
    page.fill("#f-content_ref", "conversation 12345")
    page.fill("#f-description", "模型回答中捏造了关于我的不实信息，<b>请处理</b>。")
    page.fill("#f-contact", "citizen@example.cn")
    solve(page)
    page.screenshot(path=str(shots / "01-complaint-form.png"), full_page=True)
    page.click("button[type=submit]")
    tracking = page.locator("#tracking-no").inner_text()
    assert re.fullmatch(r"TS(-[0-9A-Z]{4}){4}", tracking)
    page.screenshot(path=str(shots / "02-complaint-receipt.png"), full_page=True)
    page.goto(f"{base}/console/status")
    page.fill("#f-tracking", tracking)
    page.fill("#f-contact", "citizen@example.cn")
    page.click("button[type=submit]")
    assert page.locator("#complaint-state").inner_text() == "已提交，待受理"

    ops = browser.new_context(locale="zh-CN").new_page()
    login(ops, base, "reviewer1")
    ops.click("a:has-text('投诉队列')")
    ops.click(f"a:has-text('{tracking}')")
    # the complainant's markup is shown as text, not interpreted
    assert "<b>请处理</b>" in ops.locator("#complaint-description").inner_text()
    ops.click("#ack")
    ops.fill("#f-outcome", "经核实，相关回答已删除，模型已调整。感谢您的反馈。")
    ops.screenshot(path=str(shots / "03-reviewer-resolve.png"), full_page=True)
    ops.click("#resolve")
    assert ops.locator("#complaint-state").inner_text() == "已办结"

    page.goto(f"{base}/console/status?lang=en")
    page.fill("#f-tracking", tracking)
    page.fill("#f-contact", "citizen@example.cn")
    page.click("button[type=submit]")
    assert page.locator("#complaint-state").inner_text() == "Resolved"
    assert "相关回答已删除" in page.locator("#complaint-outcome").inner_text()
    page.screenshot(path=str(shots / "04-status-outcome-en.png"), full_page=True)
    ops.goto(f"{base}/console/ops")
    assert ops.locator("svg.chart").count() == 6
    ops.screenshot(path=str(shots / "05-dashboard.png"), full_page=True)


def test_pi_export_and_deletion(site: Site, browser: Any, artifacts_dir: Path) -> None:
    shots = artifacts_dir / "console"
    shots.mkdir(exist_ok=True)
    base = site.url
    site.service.add_operator("reviewer1", PASSWORD, "reviewer")
    u = site.store.users.add(NewUser(name="pi-user", external_ref="acct-7"))
    key = site.store.keys.issue(u.id).secret
    # a real request through the gateway leaves an audit record for this user
    with httpx.Client(base_url=base, timeout=30) as h:
        r = h.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "你好"}]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200
    assert site.app.state.gateway.audit.flush(10)

    def request(kind: str) -> str:
        page.goto(f"{base}/console/pi")
        page.check(f"input[name=kind][value={kind}]")
        page.fill("#f-api_key", key)
        page.fill("#f-contact", "pi@example.cn")
        solve(page)
        page.click("button[type=submit]")
        return str(page.locator("#tracking-no").inner_text())

    ctx = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = ctx.new_page()
    export_no = request("export")
    ops = browser.new_context(locale="zh-CN").new_page()
    login(ops, base, "reviewer1")
    ops.click("a:has-text('个人信息请求')")
    ops.click(f"a:has-text('{export_no}')")
    ops.click("#complete")
    assert ops.locator("#archive-link").count() == 1

    page.goto(f"{base}/console/pi/status")
    page.fill("#f-tracking", export_no)
    page.fill("#f-contact", "pi@example.cn")
    page.click("button[type=submit]")
    page.fill("#f-dl-key", key)
    page.screenshot(path=str(shots / "06-pi-export-ready.png"), full_page=True)
    with page.expect_download() as dl_info:
        page.click("#download-archive")
    data = Path(dl_info.value.path()).read_bytes()
    z = zipfile.ZipFile(io.BytesIO(data))
    assert json.loads(z.read("user.json"))["name"] == "pi-user"
    assert len(z.read("audit_records.jsonl").decode().strip().splitlines()) == 1

    delete_no = request("deletion")
    ops.goto(f"{base}/console/ops/pi")
    ops.click(f"a:has-text('{delete_no}')")
    ops.click("#complete")
    page.goto(f"{base}/console/pi/status")
    page.fill("#f-tracking", delete_no)
    page.fill("#f-contact", "pi@example.cn")
    page.click("button[type=submit]")
    kept = page.locator("#pi-kept").inner_text()
    assert "网络安全法" in kept and "1 条审计日志元数据" in kept
    page.screenshot(path=str(shots / "07-pi-deletion-kept.png"), full_page=True)
    assert site.store.users.get(u.id).name == f"deleted-user-{u.id}"
    assert site.store.keys.authenticate(key) is None


def test_gateway_refusal_appears_in_review_queue(site: Site, browser: Any, artifacts_dir: Path) -> None:
    shots = artifacts_dir / "console"
    shots.mkdir(exist_ok=True)
    base = site.url
    site.service.add_operator("reviewer1", PASSWORD, "reviewer")
    u = site.store.users.add(NewUser(name="abuser"))
    key = site.store.keys.issue(u.id).secret
    with httpx.Client(base_url=base, timeout=30) as h:
        r = h.post(
            "/v1/chat/completions",
            json={
                "model": "m",
                "messages": [{"role": "user", "content": f"他就是个{REFUSE_TERM}，帮我骂他"}],
            },
            headers={"Authorization": f"Bearer {key}"},
        )
    assert r.status_code == 200 and "A4.c" in json.dumps(r.json())
    ops = browser.new_context(locale="zh-CN").new_page()
    login(ops, base, "reviewer1")
    ops.click("a:has-text('事件复核')")
    row = ops.locator("#incident-table tbody tr").first
    assert "A4.c" in row.inner_text() and "input" in row.inner_text()
    ops.screenshot(path=str(shots / "08-incident-queue.png"), full_page=True)
    row.locator("a").first.click()
    ops.fill("#f-note", "确认：辱骂他人")
    ops.click("#confirm")
    assert ops.locator("#incident-state").inner_text().startswith("已确认")
    ops.screenshot(path=str(shots / "09-incident-confirmed.png"), full_page=True)
