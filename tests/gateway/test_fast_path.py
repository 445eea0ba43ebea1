"""The generation routes' fast path answers exactly as the FastAPI routes do.

Two gateways on one store, one with the fast path and one without (its middleware removed before
the app first runs): every request, well-formed or not, gets the same status and the same body
(ids and times aside), and the well-formed ones are served by the fast path."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from hegui.config import Settings
from hegui.gateway.app import GenerationFastPath
from hegui.store import NewUser, Store

from .helpers import BLOCK_TERM, chat_body, gateway_app
from .scripted_upstream import ServerThread

# per-request values: ids (the upstream's count, ours, the labels'), times
VOLATILE = re.compile(r'"(\w*(id|ID|Id)|created)":\s*("[^"]*"|\d+)|[0-9a-f]{32}|"incidents":\[[\d,]*\]')


def _norm(text: str) -> str:
    return VOLATILE.sub("<v>", text)


REQUESTS: list[tuple[str, Any, dict[str, str]]] = [
    ("/v1/chat/completions", chat_body("你好"), {}),
    ("/v1/chat/completions", chat_body("你好", stream=True), {}),
    ("/v1/chat/completions", chat_body("教我" + BLOCK_TERM), {}),
    ("/v1/completions", {"model": "m", "prompt": "春天"}, {}),
    ("/v1/completions", {"model": "m", "prompt": "春天", "stream": True}, {}),
    ("/v1/chat/completions", chat_body("你好"), {"content-type": "application/json; charset=utf-8"}),
    # not for the fast path: FastAPI answers, and must answer the same
    ("/v1/chat/completions", b"{not json", {"content-type": "application/json"}),
    ("/v1/chat/completions", b"[1, 2]", {"content-type": "application/json"}),
    ("/v1/chat/completions", {"model": "m", "messages": []}, {}),
    ("/v1/chat/completions", {"model": "m", "messages": [{"role": "x"}]}, {}),
    ("/v1/chat/completions", {"model": "", "messages": [{"role": "user", "content": "hi"}]}, {}),
    ("/v1/completions", {"model": "m"}, {}),
    ("/v1/chat/completions", json.dumps(chat_body("你好")).encode(), {"content-type": "text/plain"}),
    ("/v1/chat/completions", b"", {"content-type": "application/json"}),
]


@pytest.fixture
def two_gateways(tmp_path, upstream):
    url = upstream[0]
    settings = Settings(database_url=f"sqlite:///{tmp_path}/g.db", upstream_url=url)
    store = Store(settings.database_url, auto_migrate=True)
    uid = store.users.add(NewUser(name="u", verified=True, age_band="adult")).id
    key = store.keys.issue(uid).secret
    served: list[str] = []
    apps = []
    for fast in (True, False):
        app = gateway_app(settings, store)
        for m in list(app.user_middleware):
            if m.cls is GenerationFastPath:
                if fast:
                    make_ctx = m.kwargs["make_ctx"]

                    def counted(request, route, body, _make=make_ctx):  # type: ignore[no-untyped-def]
                        served.append(route)
                        return _make(request, route, body)

                    m.kwargs["make_ctx"] = counted
                else:
                    app.user_middleware.remove(m)
        apps.append(ServerThread(app).start())
    yield apps, key, served, upstream[1]
    for srv in apps:
        srv.stop()
    store.close()


def test_fast_path_answers_as_fastapi_does(two_gateways) -> None:
    (fast, slow), key, served, state = two_gateways
    for path, body, headers in REQUESTS:
        answers = []
        for srv in (fast, slow):
            n = len(state.requests)
            h = {"Authorization": f"Bearer {key}", **headers}
            if isinstance(body, bytes):
                r = httpx.post(srv.url + path, content=body, headers=h, timeout=30)
            else:
                r = httpx.post(srv.url + path, json=body, headers=h, timeout=30)
            # what the client got, and what the upstream was sent
            answers.append((r.status_code, r.headers.get("content-type"), _norm(r.text), state.requests[n:]))
        assert answers[0] == answers[1], (path, body)
    # the six well-formed requests, and only they, went through the fast path
    assert served == ["chat", "chat", "chat", "completions", "completions", "chat"]


def test_fast_path_writes_the_audit_record_even_when_the_pipeline_fails(two_gateways, monkeypatch) -> None:
    (fast, _slow), key, served, _state = two_gateways
    from hegui.gateway.steps import complete

    async def broken(gw, ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    monkeypatch.setattr(complete, "respond", broken)
    r = httpx.post(
        fast.url + "/v1/chat/completions", json=chat_body("你好"), headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 500 and served == ["chat"]
    gw = fast.app.state.gateway
    assert gw.audit.flush(10)
    records = list(gw.store.audit.iter())
    assert len(records) == 1
    assert (records[0].status_code, records[0].outcome) == (500, "internal_error")
