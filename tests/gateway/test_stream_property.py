"""Property: for any text and any chunking by the upstream, no refused term ever reaches the client
through the HTTP layer, the stream is always well-formed, and clean text arrives unchanged."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hegui.moderation import Action
from hegui.policy import parse_policy
from hegui.text import normalize

from .helpers import BLOCK_TERM, REFUSE_TERM, chat_body, sse_events, stream_text, term_moderator

# labels off so the received text can be compared with what the upstream generated
POLICY = parse_policy(
    "risks: {A1: {action: block}, A4: {action: refuse}}\nlabels: {explicit: false}\nenforcement: {enabled: false}\n"
)
REFUSED = (BLOCK_TERM, REFUSE_TERM)
ORACLE = term_moderator(POLICY)

filler = st.text(st.sampled_from(list("炸弹制作骗子你好的了。！？，ab \n")), max_size=40)


@st.composite
def scripted_stream(draw):  # type: ignore[no-untyped-def]
    before, after = draw(filler), draw(filler)
    term = draw(st.sampled_from([*REFUSED, ""]))
    text = before + term + after
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=12))))
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if text[a:b]]
    return text, chunks or [""]


@pytest.fixture(scope="module")
def gw_key(tmp_path_factory, upstream):
    from hegui.config import Settings
    from hegui.gateway import create_app
    from hegui.store import NewUser, Store

    from .scripted_upstream import ServerThread

    d = tmp_path_factory.mktemp("prop")
    s = Settings(database_url=f"sqlite:///{d}/p.db", upstream_url=upstream[0], default_rpm=0)
    store = Store(s.database_url, auto_migrate=True)
    app = create_app(s, POLICY, store=store, moderator_factory=term_moderator)
    srv = ServerThread(app).start()
    user = store.users.add(NewUser(name="p"))
    key = store.keys.issue(user.id).secret
    with httpx.Client(base_url=srv.url, timeout=30, headers={"Authorization": f"Bearer {key}"}) as c:
        yield c
    srv.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scripted_stream(), st.sampled_from(["chat", "completions"]))
@example(
    (REFUSE_TERM[0] + " " + REFUSE_TERM[1:], [REFUSE_TERM[0], " " + REFUSE_TERM[1:]]), "chat"
)  # found by CI
def test_no_refused_text_reaches_the_client(gw_key, case, route):
    text, chunks = case
    if route == "chat":
        r = gw_key.post("/v1/chat/completions", json=chat_body("hi", stream=True, chunks=chunks))
    else:
        r = gw_key.post(
            "/v1/completions",
            json={"model": "m", "prompt": "hi", "stream": True, "scripted": {"chunks": chunks}},
        )
    assert r.status_code == 200
    events = sse_events(r.text)
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    got = stream_text(events)
    for term in REFUSED:
        # not even with the evasions the normalizer undoes (e.g. "骗 子" for "骗子")
        assert term not in normalize(got).normalized
    finals = [e for e in events[:-1] if e["choices"] and e["choices"][0]["finish_reason"]]
    assert len(finals) == 1
    # the oracle is the whole-text check: the stream must decide exactly as it does
    if ORACLE.check(text).action < Action.REFUSE:
        assert got == text and finals[0]["choices"][0]["finish_reason"] == "stop"
    else:
        assert finals[0]["choices"][0]["finish_reason"] == "content_filter"
        assert got.endswith(POLICY.stream_cut_message)
