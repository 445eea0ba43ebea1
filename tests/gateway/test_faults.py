"""Faults and bad input: upstream down/slow/500/invalid JSON/dropped stream, client disconnects,
database unavailable. The client always gets a clean OpenAI error or a well-formed stream, the audit
log records it, and nothing unmoderated goes out."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import create_engine

from hegui.config import Settings
from hegui.gateway import create_app
from hegui.policy import default_policy
from hegui.store import NewUser, Store
from hegui.store.db import make_engine

from .helpers import BLOCK_TERM, chat_body, sse_events, stream_text, term_moderator
from .scripted_upstream import ServerThread, free_port


def _code(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    return r.json()["error"]["code"]


def test_upstream_down(tmp_path):
    s = Settings(
        database_url=f"sqlite:///{tmp_path}/d.db",
        upstream_url=f"http://127.0.0.1:{free_port()}/v1",
        upstream_retries=2,
        upstream_backoff_s=0.01,
    )
    st = Store(s.database_url, auto_migrate=True)
    app = create_app(s, default_policy(), store=st, moderator_factory=term_moderator)
    srv = ServerThread(app).start()
    try:
        u = st.users.add(NewUser(name="u"))
        key = st.keys.issue(u.id).secret
        with httpx.Client(base_url=srv.url) as c:
            for stream in (False, True):
                r = c.post(
                    "/v1/chat/completions",
                    json=chat_body("hi", stream=stream),
                    headers={"Authorization": f"Bearer {key}"},
                )
                assert _code(r, 502) == "upstream_unavailable"
        app.state.gateway.audit.flush()
        recs = list(st.audit.iter())
        assert [(r.outcome, r.error_code, r.status_code) for r in recs] == [
            ("upstream_error", "upstream_unavailable", 502)
        ] * 2
    finally:
        srv.stop()


def test_upstream_slow_times_out(make_gateway):
    gw = make_gateway(upstream_read_timeout_s=0.3)
    _, key = gw.user()
    r = gw.post("/v1/chat/completions", chat_body("hi", mode="slow", delay=1.5), key)
    assert _code(r, 504) == "upstream_timeout"
    # streaming: the first byte never comes in time either
    r = gw.post("/v1/chat/completions", chat_body("hi", stream=True, mode="slow", delay=1.5), key)
    ev = sse_events(r.text)
    assert ev[-1] == "[DONE]" and ev[-2]["error"]["code"] == "upstream_timeout"
    assert {rec.error_code for rec in gw.audit()} == {"upstream_timeout"}


def test_upstream_500_and_400(make_gateway):
    gw = make_gateway()
    _, key = gw.user()
    assert _code(gw.post("/v1/chat/completions", chat_body("hi", mode="500"), key), 502) == "upstream_error"
    r = gw.post("/v1/chat/completions", chat_body("hi", stream=True, mode="500"), key)
    assert _code(r, 502) == "upstream_error"
    r = gw.post("/v1/chat/completions", chat_body("hi", mode="400"), key)
    assert _code(r, 400) == "upstream_rejected" and "bad model" in r.json()["error"]["message"]


def test_retry_on_503_with_backoff(make_gateway, upstream):
    gw = make_gateway()
    _, key = gw.user()
    n = len(upstream[1].requests)
    r = gw.post("/v1/chat/completions", chat_body("hi", mode="503_once", key="retry-1"), key)
    assert r.status_code == 200
    assert len(upstream[1].requests) == n + 2  # one refused, one retried


def test_upstream_invalid_json(make_gateway):
    gw = make_gateway()
    _, key = gw.user()
    r = gw.post("/v1/chat/completions", chat_body("hi", mode="invalid_json"), key)
    assert _code(r, 502) == "upstream_invalid_json"
    r = gw.post("/v1/chat/completions", chat_body("hi", stream=True, mode="invalid_json", drop_after=2), key)
    ev = sse_events(r.text)
    assert ev[-1] == "[DONE]" and ev[-2]["error"]["code"] == "upstream_invalid_json"
    assert ev[-3]["choices"][0]["finish_reason"] == "length"  # the open choice is closed properly


@pytest.mark.parametrize(
    "mode,code",
    [("drop", "upstream_stream_interrupted"), ("error_event", "upstream_error"), ("no_done", None)],
)
def test_stream_dropped_mid_way_is_well_formed(make_gateway, mode, code):
    gw = make_gateway()
    _, key = gw.user()
    chunks = ["第一句话。", "第二句话。", "第三句话。", "第四句话。"]
    r = gw.post(
        "/v1/chat/completions", chat_body("hi", stream=True, mode=mode, chunks=chunks, drop_after=2), key
    )
    assert r.status_code == 200
    ev = sse_events(r.text)  # parses every block: no half-written event
    assert ev[-1] == "[DONE]"
    [rec] = gw.audit()
    if code is None:  # no [DONE] but a finished choice: a normal end
        assert stream_text(ev).startswith("".join(chunks)) and rec.outcome == "ok"
        return
    assert ev[-2]["error"]["code"] == code
    # what was received before the break was scanned, then released; nothing else
    assert stream_text(ev) == "".join(chunks[:2]) + "\n\n本内容由人工智能生成"
    assert rec.outcome == "upstream_error" and rec.error_code == code
    assert rec.output_chars_scanned == rec.output_chars_received == len("".join(chunks[:2]))


def test_client_disconnect_cancels_upstream(make_gateway, upstream):
    gw = make_gateway()
    _, key = gw.user()
    state = upstream[1]
    before = state.cancelled
    chunks = [f"第{i}句。" for i in range(200)]
    body = chat_body("hi", stream=True, chunks=chunks, delay=0.05)
    with (
        httpx.Client(base_url=gw.url, timeout=10) as c,
        c.stream("POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}) as r,
    ):
        seen = 0
        for line in r.iter_lines():
            seen += line.startswith("data:")
            if seen >= 4:  # some content arrived: now go away mid-stream
                break
    deadline = time.monotonic() + 5
    while state.cancelled == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.cancelled == before + 1, "the upstream stream was not cancelled"
    [rec] = gw.audit()
    assert rec.stream and rec.output_chars_received < len("".join(chunks))
    assert gw.gateway.metrics.open_streams._value.get() == 0


def test_cut_also_cancels_upstream(make_gateway, upstream):
    gw = make_gateway()
    _, key = gw.user()
    before = upstream[1].cancelled
    chunks = ["开始。", BLOCK_TERM] + ["后面很多。"] * 100
    r = gw.post("/v1/chat/completions", chat_body("hi", stream=True, chunks=chunks, delay=0.02), key)
    assert BLOCK_TERM not in stream_text(sse_events(r.text))
    deadline = time.monotonic() + 5
    while upstream[1].cancelled == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream[1].cancelled == before + 1


def test_database_unavailable_fails_closed(make_gateway, tmp_path):
    gw = make_gateway()
    _, key = gw.user()
    assert gw.post("/v1/chat/completions", chat_body("hi"), key).status_code == 200
    assert gw.gateway.audit.flush()
    good = gw.store.engine
    gone = create_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    gw.store.sessions.configure(bind=gone)
    gw.gateway.forget_user(1)
    try:
        for stream in (False, True):
            r = gw.post("/v1/chat/completions", chat_body("hi", stream=stream), key)
            assert _code(r, 503) == "store_unavailable"
            assert "data:" not in r.text
    finally:
        gw.store.sessions.configure(bind=good)
    # the failed requests' audit records were kept and are written once the database is back
    assert gw.gateway.audit.flush(10)
    outcomes = [r.outcome for r in gw.store.audit.iter()]
    assert outcomes.count("store_unavailable") == 2


def test_audit_write_failure_blocks_new_requests(make_gateway, tmp_path):
    gw = make_gateway()
    _, key = gw.user()
    assert gw.post("/v1/chat/completions", chat_body("hi"), key).status_code == 200  # caches the key
    good = gw.store.sessions.kw["bind"]
    gw.store.sessions.configure(bind=create_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db"))
    try:
        gw.post("/v1/chat/completions", chat_body("hi"), key)  # its record cannot be written
        deadline = time.monotonic() + 5
        while gw.gateway.audit.ok and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not gw.gateway.audit.ok
        r = gw.post("/v1/chat/completions", chat_body("hi", stream=True), key)
        assert _code(r, 503) == "store_unavailable"
        assert gw.client.get("/healthz").status_code == 503
    finally:
        gw.store.sessions.configure(bind=good)
    assert gw.gateway.audit.flush(10)
    assert gw.client.get("/healthz").status_code == 200
    assert len(list(gw.store.audit.iter())) == 3  # nothing was lost


def test_database_locked_fails_closed(tmp_path, upstream):
    url = f"sqlite:///{tmp_path}/locked.db"
    st = Store(engine=make_engine(url, sqlite_timeout=0.2), auto_migrate=True)
    s = Settings(database_url=url, upstream_url=upstream[0], identity_cache_s=0)
    app = create_app(s, default_policy(), store=st, moderator_factory=term_moderator)
    srv = ServerThread(app).start()
    locker = make_engine(url).raw_connection()
    try:
        u = st.users.add(NewUser(name="u"))
        key = st.keys.issue(u.id, rpm=100).secret  # the rate-limit counter needs a write
        cur = locker.cursor()
        cur.execute("BEGIN EXCLUSIVE")
        with httpx.Client(base_url=srv.url) as c:
            r = c.post(
                "/v1/chat/completions", json=chat_body("hi"), headers={"Authorization": f"Bearer {key}"}
            )
        assert _code(r, 503) == "store_unavailable"
        locker.rollback()
    finally:
        locker.close()
        srv.stop()
        st.close()
