"""Console fixtures: a gateway app with the console installed (scripted upstream, tiny term
moderator), a form-aware test client, operators of every role."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hegui.config import Settings
from hegui.console.config import ConsoleSettings
from hegui.console.web import install
from hegui.store import Store

from ..gateway.helpers import gateway_app
from ..gateway.scripted_upstream import ServerThread, State, create_upstream

PASSWORD = "correct horse battery"

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_CH_TOKEN = re.compile(r'name="challenge_token" value="([^"]+)"')
_CH_Q = re.compile(r"(\d+) \+ (\d+) = \?")


def form_tokens(html: str) -> dict[str, str]:
    """The hidden CSRF token and the solved arithmetic challenge of a rendered form."""
    out: dict[str, str] = {}
    m = _CSRF.search(html)
    if m:
        out["csrf"] = m.group(1)
    t, q = _CH_TOKEN.search(html), _CH_Q.search(html)
    if t and q:
        out["challenge_token"] = t.group(1)
        out["challenge"] = str(int(q.group(1)) + int(q.group(2)))
    return out


class ConsoleClient(TestClient):
    def form(self, path: str) -> dict[str, str]:
        r = self.get(path)
        assert r.status_code == 200, r.text
        return form_tokens(r.text)

    def submit(self, path: str, data: dict[str, Any], form_path: str | None = None, **kw: Any) -> Any:
        return self.post(path, data={**self.form(form_path or path), **data}, **kw)

    def login(self, username: str, password: str = PASSWORD) -> Any:
        return self.submit(
            "/console/login", {"username": username, "password": password}, follow_redirects=False
        )

    def csrf(self, page: str = "/console/ops") -> str:
        return self.form(page)["csrf"]


class Env:
    def __init__(self, app: Any, store: Store):
        self.app, self.store = app, store
        self.console = app.state.console
        self.service = self.console.service
        self.gateway = app.state.gateway

    def client(self) -> ConsoleClient:
        return ConsoleClient(self.app, base_url="http://testserver")

    def operator(self, name: str, role: str) -> str:
        self.service.add_operator(name, PASSWORD, role, actor="test")
        return name


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    made: list[Env] = []

    def make(database_url: str | None = None, **console: Any) -> Env:
        url = database_url or f"sqlite:///{tmp_path}/console{len(made)}.db"
        settings = Settings(database_url=url, upstream_url="http://127.0.0.1:9/v1", upstream_retries=0)
        store = Store(url, auto_migrate=True)
        app = gateway_app(settings, store)
        cfg = ConsoleSettings(data_dir=str(tmp_path / "console-data"), **console)
        install(app, cfg)
        env = Env(app, store)
        made.append(env)
        return env

    yield make
    for env in made:
        env.store.close()


@pytest.fixture
def env(make_env: Callable[..., Env]) -> Env:
    return make_env()


@pytest.fixture(scope="session")
def upstream() -> Iterator[tuple[str, State]]:
    state = State()
    srv = ServerThread(create_upstream(state)).start()
    yield srv.url + "/v1", state
    srv.stop()
