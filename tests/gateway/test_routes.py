"""The gateway end to end over real HTTP (uvicorn on loopback) against the scripted upstream."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from hegui.policy import default_policy, parse_policy

from .helpers import BLOCK_TERM, MASK_TERM, PRODUCER, REFUSE_TERM, chat_body, sse_events, stream_text
from .scripted_upstream import DEFAULT_TEXT

LABEL = "本内容由人工智能生成"


def _err(r, status, code):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == code
    return body["error"]


def test_chat_non_stream_labels_and_audit(make_gateway):
    gw = make_gateway()
    uid, key = gw.user()
    r = gw.post("/v1/chat/completions", chat_body("你好"), key)
    assert r.status_code == 200
    data = r.json()
    assert data["choices"][0]["message"]["content"] == DEFAULT_TEXT + "\n\n" + LABEL
    aigc = data["hegui"]["label"]["AIGC"]
    assert aigc["Label"] == "1" and aigc["ProduceID"] == data["hegui"]["request_id"]
    assert aigc["ContentProducer"] == aigc["ContentPropagator"] == PRODUCER
    assert set(aigc) == {
        "Label",
        "ContentProducer",
        "ProduceID",
        "ReservedCode1",
        "ContentPropagator",
        "PropagateID",
        "ReservedCode2",
    }
    assert '"AIGC"' in r.headers["x-aigc"]
    [rec] = gw.audit()
    assert rec.user_id == uid and rec.source_ip == "127.0.0.1" and rec.source_port
    assert (rec.prompt_tokens, rec.completion_tokens) == (7, 5)
    assert rec.output_chars_scanned == len(DEFAULT_TEXT) == rec.output_chars_sent
    # the digest is of exactly the scanned text; content itself is not kept by default
    assert rec.output_sha256 == hashlib.sha256(DEFAULT_TEXT.encode()).hexdigest()
    assert rec.input_sha256 == hashlib.sha256("你好".encode()).hexdigest() and rec.input_text is None
    assert rec.label_applied and rec.latency_ms > 0


def test_completions_route_stream_and_not(make_gateway):
    gw = make_gateway()
    _, key = gw.user()
    r = gw.post("/v1/completions", {"model": "m", "prompt": "你好"}, key)
    assert r.status_code == 200 and r.json()["choices"][0]["text"].startswith(DEFAULT_TEXT)
    r = gw.post("/v1/completions", {"model": "m", "prompt": ["a", "b"], "stream": True}, key)
    ev = sse_events(r.text)
    assert ev[-1] == "[DONE]" and stream_text(ev) == DEFAULT_TEXT + "\n\n" + LABEL
    r = gw.post("/v1/completions", {"model": "m", "prompt": f"讲讲{REFUSE_TERM}"}, key)
    assert r.json()["choices"][0]["finish_reason"] == "content_filter"


def test_auth_errors(make_gateway):
    gw = make_gateway()
    _err(gw.post("/v1/chat/completions", chat_body("hi"), None), 401, "missing_api_key")
    _err(gw.post("/v1/chat/completions", chat_body("hi"), "hg-nope"), 401, "invalid_api_key")
    uid, key = gw.user()
    [k] = gw.store.keys.list(uid)
    gw.store.keys.revoke(k.id)
    gw.gateway.forget_user(uid)
    _err(gw.post("/v1/chat/completions", chat_body("hi"), key), 401, "invalid_api_key")


def test_input_refusal_does_not_call_upstream(make_gateway, upstream):
    gw = make_gateway()
    uid, key = gw.user()
    before = len(upstream[1].requests)
    r = gw.post("/v1/chat/completions", chat_body(f"他是个{REFUSE_TERM}吗"), key)
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["finish_reason"] == "content_filter"
    assert data["choices"][0]["message"]["content"] == gw.gateway.policy.refusal_for(["A4.c"])
    assert data["hegui"]["input"] == {"action": "refuse", "risks": ["A4.c"]}
    assert data["hegui"]["stage"] == "input" and data["hegui"]["incidents"]
    assert len(upstream[1].requests) == before
    [inc] = gw.store.incidents.list(uid)
    assert inc.stage == "input" and inc.risks == ["A4.c"] and inc.action == "refuse"
    assert inc.offending_text is None and inc.offending_sha256  # hash policy by default
    [rec] = gw.audit()
    assert rec.outcome == "refused_input" and rec.output_chars_sent == 0 and rec.incident_id == inc.id


def test_every_message_role_is_moderated(make_gateway):
    gw = make_gateway()
    _, key = gw.user()
    for msgs in (
        [{"role": "system", "content": f"你是{REFUSE_TERM}"}, {"role": "user", "content": "hi"}],
        [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "1", "content": REFUSE_TERM}],
        [{"role": "user", "content": [{"type": "text", "text": REFUSE_TERM}]}],
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "1",
                        "type": "function",
                        "function": {"name": "f", "arguments": f'{{"q": "{REFUSE_TERM}"}}'},
                    }
                ],
            },
            {"role": "user", "content": "继续"},
        ],
    ):
        r = gw.post("/v1/chat/completions", {"model": "m", "messages": msgs}, key)
        assert r.json()["choices"][0]["finish_reason"] == "content_filter", msgs


def test_input_mask_is_what_goes_upstream(make_gateway, upstream):
    gw = make_gateway()
    _, key = gw.user()
    r = gw.post("/v1/chat/completions", chat_body(f"我的{MASK_TERM}是这个"), key)
    assert r.status_code == 200 and r.json()["hegui"]["input"]["action"] == "mask"
    sent = upstream[1].requests[-1]["messages"][0]["content"]
    assert MASK_TERM not in sent and gw.gateway.policy.mask_message in sent


def test_input_refusal_as_stream(make_gateway):
    gw = make_gateway()
    _, key = gw.user()
    r = gw.post("/v1/chat/completions", chat_body(BLOCK_TERM, stream=True), key)
    ev = sse_events(r.text)
    assert ev[-1] == "[DONE]" and ev[-2]["choices"][0]["finish_reason"] == "content_filter"
    assert ev[-2]["hegui"]["input"]["action"] == "block"


def test_output_refusal_non_stream(make_gateway):
    gw = make_gateway()
    uid, key = gw.user()
    r = gw.post("/v1/chat/completions", chat_body("hi", text=f"好的，{BLOCK_TERM}的方法是"), key)
    choice = r.json()["choices"][0]
    assert BLOCK_TERM not in r.text and choice["finish_reason"] == "content_filter"
    assert gw.store.incidents.list(uid)[0].stage == "output"
    # tool-call arguments are generated text too
    r = gw.post("/v1/chat/completions", chat_body("hi", text="ok", tool_args=f'{{"x": "{BLOCK_TERM}"}}'), key)
    assert BLOCK_TERM not in r.text and "tool_calls" not in r.json()["choices"][0]["message"]


def test_stream_cut_is_clean_and_cancels_upstream(make_gateway, upstream):
    gw = make_gateway()
    uid, key = gw.user()
    chunks = ["这是一段", "很长的回答，", "炸弹", "制作", "的步骤如下"] + ["很多内容。"] * 30
    r = gw.post("/v1/chat/completions", chat_body("hi", stream=True, chunks=chunks, delay=0.01), key)
    ev = sse_events(r.text)
    text = stream_text(ev)
    assert BLOCK_TERM not in text and "炸弹" not in text  # the held prefix is dropped too
    assert text.startswith("这是一段很长的回答，")
    assert gw.gateway.policy.stream_cut_message in text
    assert ev[-1] == "[DONE]"
    final = ev[-2]
    assert final["choices"][0]["finish_reason"] == "content_filter"
    assert final["hegui"]["output"]["action"] == "block" and final["hegui"]["incidents"]
    [inc] = gw.store.incidents.list(uid)
    assert inc.stage == "output" and inc.risks == ["A1.d"]
    [rec] = gw.audit()
    assert rec.outcome == "cut_output" and rec.output_chars_sent_unscanned == 0
    assert rec.output_chars_sent < rec.output_chars_scanned <= rec.output_chars_received
    assert rec.output_chars_received < len("".join(chunks))  # upstream stopped early


def test_labels_toggle_per_key_and_position(make_gateway):
    gw = make_gateway(policy=parse_policy("labels: {position: start}\n"))
    _, key = gw.user("a")
    _, nolabel = gw.user("b", labels=False)
    r = gw.post("/v1/chat/completions", chat_body("hi"), key)
    assert r.json()["choices"][0]["message"]["content"] == LABEL + "\n" + DEFAULT_TEXT
    assert r.json()["hegui"]["label"]["AIGC"]["ContentProducer"] == PRODUCER
    r = gw.post("/v1/chat/completions", chat_body("hi", stream=True), key)
    assert stream_text(sse_events(r.text)) == LABEL + "\n" + DEFAULT_TEXT
    r = gw.post("/v1/chat/completions", chat_body("hi"), nolabel)
    data = r.json()
    assert data["choices"][0]["message"]["content"] == DEFAULT_TEXT
    assert "label" not in data["hegui"] and "x-aigc" not in r.headers


def test_no_implicit_label_without_a_provider_code(make_gateway):
    gw = make_gateway(producer=False)
    _, key = gw.user()
    r = gw.post("/v1/chat/completions", chat_body("hi"), key)
    assert "label" not in r.json()["hegui"] and r.json()["choices"][0]["message"]["content"].endswith(LABEL)


def test_malformed_provider_code_fails_at_start(tmp_path):
    from hegui.config import Settings
    from hegui.gateway import create_app

    bad = parse_policy("labels: {content_producer: '0012345'}\n")
    s = Settings(database_url=f"sqlite:///{tmp_path}/x.db", upstream_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="provider code"):
        create_app(s, bad)


def test_models_health_metrics(make_gateway):
    gw = make_gateway(model_map={"gpt-x": "scripted-1"})
    _, key = gw.user()
    r = gw.client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert [m["id"] for m in r.json()["data"]] == ["gpt-x"]
    _err(gw.post("/v1/chat/completions", chat_body("hi"), key), 404, "model_not_found")
    body = chat_body("hi")
    body["model"] = "gpt-x"
    assert gw.post("/v1/chat/completions", body, key).status_code == 200
    assert gw.client.get("/healthz").json()["status"] == "ok"
    m = gw.client.get("/metrics").text
    assert "hegui_requests_total" in m and "hegui_open_streams" in m


def test_bad_input(make_gateway):
    gw = make_gateway(max_body_bytes=2048)
    _, key = gw.user()
    _err(gw.post("/v1/chat/completions", chat_body("长" * 5000), key), 413, "request_too_large")
    r = gw.client.post(
        "/v1/chat/completions",
        content=b"{nope",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    _err(r, 400, "invalid_request")
    _err(gw.post("/v1/chat/completions", {"model": "m"}, key), 400, "invalid_request")
    _err(gw.post("/v1/chat/completions", {"model": "m", "messages": []}, key), 400, "invalid_request")
    img = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
    }
    _err(gw.post("/v1/chat/completions", img, key), 400, "unsupported_content")
    _err(gw.post("/v1/completions", {"model": "m", "prompt": [[1, 2]]}, key), 400, "invalid_request")
    _err(gw.client.get("/v1/nothing"), 404, "not_found")


def test_rate_limit_per_key(make_gateway):
    gw = make_gateway()
    _, key = gw.user("a", rpm=2)
    _, other = gw.user("b", rpm=2)
    codes = [gw.post("/v1/chat/completions", chat_body("hi"), key).status_code for _ in range(3)]
    if codes != [200, 200, 429]:  # a minute boundary fell between the calls: try once more
        codes = [gw.post("/v1/chat/completions", chat_body("hi"), key).status_code for _ in range(3)]
    assert codes[-1] == 429
    r = gw.post("/v1/chat/completions", chat_body("hi"), key)
    _err(r, 429, "rate_limit_exceeded")
    assert int(r.headers["retry-after"]) >= 1
    assert gw.post("/v1/chat/completions", chat_body("hi"), other).status_code == 200


def test_minors_daily_limit_and_curfew(make_gateway):
    pol = parse_policy("minors: {daily_requests: 2, curfew_start: '00:00', curfew_end: '00:00'}\n")
    gw = make_gateway(policy=pol)
    _, minor = gw.user("kid", age_band="14_17")
    _, adult = gw.user("grown", age_band="adult")
    assert [gw.post("/v1/chat/completions", chat_body("hi"), minor).status_code for _ in range(2)] == [
        200,
        200,
    ]
    err = _err(gw.post("/v1/chat/completions", chat_body("hi"), minor), 429, "minors_daily_limit")
    assert err["message"] == pol.minors.limit_message
    assert gw.post("/v1/chat/completions", chat_body("hi"), adult).status_code == 200
    # the stricter profile applies to minors: A4 findings of severity 1 are refused for them only
    curfew = parse_policy("minors: {curfew_start: '00:00', curfew_end: '23:59'}\n")
    gw2 = make_gateway(policy=curfew)
    _, kid = gw2.user("kid", age_band="under_14")
    err = _err(gw2.post("/v1/chat/completions", chat_body("hi"), kid), 403, "minors_curfew")
    assert err["message"] == curfew.minors.curfew_message


def test_unverified_users_cannot_generate_when_policy_says_so(make_gateway):
    gw = make_gateway(policy=parse_policy("require_verified_identity: true\n"))
    _, anon = gw.user("anon")
    _, real = gw.user("real", verified=True)
    _err(gw.post("/v1/chat/completions", chat_body("hi"), anon), 403, "identity_unverified")
    assert gw.post("/v1/chat/completions", chat_body("hi"), real).status_code == 200


def test_enforcement_ladder_and_operator_reversal(make_gateway):
    pol = parse_policy(
        "risks: {A1: {action: block}, A4: {action: refuse}}\n"
        "enforcement:\n  ladder:\n"
        "    - {action: warn, incidents: 1, window_hours: 1}\n"
        "    - {action: suspend, incidents: 2, window_hours: 1, duration_hours: 5}\n"
    )
    gw = make_gateway(policy=pol)
    uid, key = gw.user()
    r1 = gw.post("/v1/chat/completions", chat_body(BLOCK_TERM), key).json()
    assert r1["hegui"]["warning"] == pol.enforcement.warning_message
    r2 = gw.post("/v1/chat/completions", chat_body(BLOCK_TERM), key).json()
    assert "suspend" in r2["hegui"]["warning"]
    _err(gw.post("/v1/chat/completions", chat_body("hi"), key), 403, "account_suspended")
    events = gw.store.enforcement.list(uid)
    assert [e.action for e in events] == ["suspend", "warn"]
    assert events[0].until is not None and events[0].actor == "system" and events[0].reason
    # refused-but-not-blocking incidents do not count against the user
    gw.store.enforcement.reverse(events[0].id, actor="op", reason="false positive")
    gw.gateway.forget_user(uid)
    assert gw.post("/v1/chat/completions", chat_body(REFUSE_TERM), key).status_code == 200
    assert gw.post("/v1/chat/completions", chat_body("hi"), key).status_code == 200
    assert gw.store.users.get(uid).status == "active"
    assert [e.action for e in gw.store.enforcement.list(uid)][0] == "reinstate"


def test_audit_only_mode_logs_exactly_what_was_scanned(make_gateway):
    gw = make_gateway(stream_mode="audit_only")
    uid, key = gw.user()
    chunks = ["开头。", "炸弹", "制作", "，后面还有。", "之后的内容不再被扫描。", "还有更多。"]
    # chunks 50 ms apart, as a model emits them: each one is scanned on arrival (the stream's
    # 20 ms time trigger), so the scan stops at the hit while the stream goes on
    body = chat_body("hi", stream=True, chunks=chunks, delay=0.05)
    r = gw.post("/v1/chat/completions", body, key)
    ev = sse_events(r.text)
    assert ev[-1] == "[DONE]"
    assert BLOCK_TERM in stream_text(ev)  # the operator chose stream-first: it goes out...
    [rec] = gw.audit()
    # ...and the log says so instead of claiming the output "passed"
    assert rec.stream_mode == "audit_only" and rec.output_action == "block"
    assert rec.output_chars_sent_unscanned == rec.output_chars_sent == len("".join(chunks))
    assert rec.output_chars_scanned < rec.output_chars_received
    assert gw.store.incidents.list(uid)[0].stage == "output"


def test_keep_policy_keeps_content(make_gateway):
    gw = make_gateway(policy=parse_policy("audit: {content: keep}\n"))
    uid, key = gw.user()
    gw.post("/v1/chat/completions", chat_body(REFUSE_TERM), key)
    gw.post("/v1/chat/completions", chat_body("你好"), key)
    recs = gw.audit()
    assert recs[0].input_text == REFUSE_TERM and recs[1].output_text == DEFAULT_TEXT
    assert gw.store.incidents.list(uid)[0].offending_text == REFUSE_TERM


def test_streamed_requests_reuse_the_upstream_connection(make_gateway, upstream):
    # regression: the relay stopped reading at [DONE] and closed the response with the end of
    # the chunked body unread, so every streamed request opened a new upstream connection
    gw = make_gateway()
    _, key = gw.user()
    state = upstream[1]
    state.reset()
    for _ in range(5):
        r = gw.post("/v1/chat/completions", chat_body("你好", stream=True), key)
        assert sse_events(r.text)[-1] == "[DONE]"
    assert len(state.client_ports) == 5 and len(set(state.client_ports)) == 1


def test_both_upstream_senders_send_and_relay_the_same(make_gateway, upstream):
    # aiohttp (default, called directly) and httpx: same request upstream (key, UTF-8 JSON body),
    # same answers to the client, streamed or not
    state = upstream[1]
    seen: dict[str, list] = {}
    for transport in ("aiohttp", "httpx"):
        gw = make_gateway(upstream_transport=transport, upstream_api_key="sk-upstream-秘".encode().hex())
        _, key = gw.user()
        state.reset()
        plain = gw.post("/v1/chat/completions", chat_body("你好，世界"), key)
        streamed = gw.post("/v1/chat/completions", chat_body("你好，世界", stream=True), key)
        assert plain.status_code == 200 and streamed.status_code == 200
        h = state.headers[0]
        assert h["authorization"] == "Bearer " + "sk-upstream-秘".encode().hex()
        assert h["content-type"] == "application/json"
        assert state.requests[0]["messages"][-1]["content"] == "你好，世界"
        seen[transport] = [
            plain.json()["choices"][0]["message"]["content"],
            stream_text(sse_events(streamed.text)),
            sorted(state.requests[1]),
        ]
    assert seen["aiohttp"] == seen["httpx"]


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_idle_upstream_connections_expire_before_the_servers_keepalive(make_gateway, upstream, transport):
    # An idle pooled connection is dropped after upstream_keepalive_s, so the gateway never
    # reuses one the upstream is closing at that moment (a 502 that cannot be retried).
    gw = make_gateway(upstream_keepalive_s=0.3, upstream_transport=transport)
    _, key = gw.user()
    state = upstream[1]
    state.reset()
    gw.post("/v1/chat/completions", chat_body("你好"), key)
    gw.post("/v1/chat/completions", chat_body("你好"), key)  # within the keep-alive: reused
    time.sleep(0.8)
    gw.post("/v1/chat/completions", chat_body("你好"), key)  # after it: a new connection
    ports = state.client_ports
    assert len(ports) == 3 and ports[0] == ports[1] and ports[2] != ports[1]


def test_idle_client_connections_outlive_the_clients_own_pool_expiry(tmp_path, upstream):
    # uvicorn's default (5 s) equals httpx's pool expiry: a client could reuse a connection the
    # gateway was closing at that moment. The gateway keeps idle connections longer by default,
    # and the setting reaches uvicorn.
    import httpx

    from hegui.config import Settings
    from hegui.gateway import create_app
    from hegui.gateway.server import uvicorn_options
    from hegui.store import Store

    from .helpers import term_moderator
    from .scripted_upstream import ServerThread

    assert Settings().client_keepalive_s > 5
    s = Settings(database_url=f"sqlite:///{tmp_path}/k.db", upstream_url=upstream[0], client_keepalive_s=0.3)
    opts = uvicorn_options(s)
    assert opts["timeout_keep_alive"] == 0.3
    st = Store(s.database_url, auto_migrate=True)
    app = create_app(s, default_policy(), store=st, moderator_factory=term_moderator)
    srv = ServerThread(app, timeout_keep_alive=opts["timeout_keep_alive"]).start()
    try:
        with httpx.Client(base_url=srv.url) as c:
            ports = []
            for pause in (0.0, 0.05, 0.8):
                time.sleep(pause)
                r = c.get("/healthz")
                assert r.status_code == 200
                ports.append(r.extensions["network_stream"].get_extra_info("client_addr")[1])
        assert ports[0] == ports[1] != ports[2]  # kept while in use, closed by the server once idle
    finally:
        srv.stop()
        st.close()


@pytest.mark.parametrize("trust", [False, True])
def test_audited_source_address_follows_trust_forwarded_for_only(tmp_path, upstream, trust):
    # uvicorn, left to its defaults, takes X-Forwarded-For from loopback clients at their word
    from hegui.config import Settings
    from hegui.gateway import create_app
    from hegui.gateway.server import uvicorn_options
    from hegui.store import NewUser, Store

    from .helpers import term_moderator
    from .scripted_upstream import ServerThread

    s = Settings(
        database_url=f"sqlite:///{tmp_path}/f.db", upstream_url=upstream[0], trust_forwarded_for=trust
    )
    st = Store(s.database_url, auto_migrate=True)
    uid = st.users.add(NewUser(name="f", verified=True, age_band="adult")).id
    key = st.keys.issue(uid).secret
    app = create_app(s, default_policy(), store=st, moderator_factory=term_moderator, console=False)
    opts = {k: v for k, v in uvicorn_options(s).items() if k not in ("host", "port")}
    srv = ServerThread(app, **opts).start()
    try:
        headers = {"Authorization": f"Bearer {key}", "X-Forwarded-For": "203.0.113.9"}
        r = httpx.post(srv.url + "/v1/chat/completions", json=chat_body("你好"), headers=headers, timeout=30)
        assert r.status_code == 200
        assert app.state.gateway.audit.flush(10)
        (rec,) = list(st.audit.iter())
        assert rec.source_ip == ("203.0.113.9" if trust else "127.0.0.1")
    finally:
        srv.stop()
        st.close()
