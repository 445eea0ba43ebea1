from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hegui.config import Settings
from hegui.gateway import create_app
from hegui.policy import Policy, default_policy
from hegui.store import NewUser, Store

from .helpers import term_moderator, with_producer
from .scripted_upstream import ServerThread, State, create_upstream


@pytest.fixture(scope="session")
def upstream() -> Iterator[tuple[str, State]]:
    state = State()
    srv = ServerThread(create_upstream(state)).start()
    yield srv.url + "/v1", state
    srv.stop()


class GW:
    """A running gateway (real uvicorn on loopback) with its store and a client."""

    def __init__(self, app: Any, store: Store, server: ServerThread):
        self.app, self.store, self.server = app, store, server
        self.gateway = app.state.gateway
        self.url = server.url
        self.client = httpx.Client(base_url=server.url, timeout=30)

    def user(self, name: str = "u", **kw: Any) -> tuple[int, str]:
        rpm = kw.pop("rpm", None)
        labels = kw.pop("labels", True)
        u = self.store.users.add(NewUser(name=name, **kw))
        return u.id, self.store.keys.issue(u.id, rpm=rpm, labels_enabled=labels).secret

    def post(self, path: str, body: Any, key: str | None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.post(path, json=body, headers=headers, **kw)

    def audit(self) -> list[Any]:
        assert self.gateway.audit.flush(10)
        return list(self.store.audit.iter())

    def close(self) -> None:
        self.client.close()
        self.server.stop()
        self.store.close()


@pytest.fixture
def make_gateway(tmp_path: Path, upstream: tuple[str, State]) -> Iterator[Callable[..., GW]]:
    made: list[GW] = []

    def make(
        policy: Policy | None = None, store: Store | None = None, producer: bool = True, **settings: Any
    ) -> GW:
        url = upstream[0]
        s = Settings(
            database_url=f"sqlite:///{tmp_path}/gw{len(made)}.db",
            upstream_url=url,
            upstream_backoff_s=0.01,
            **settings,
        )
        st = store or Store(s.database_url, auto_migrate=True)
        pol = policy or default_policy()
        app = create_app(
            s, with_producer(pol) if producer else pol, store=st, moderator_factory=term_moderator
        )
        gw = GW(app, st, ServerThread(app).start())
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.close()
