"""Schemathesis: requests generated from the OpenAPI spec. Whatever arrives, the gateway answers with
no 500, and every error body is OpenAI-shaped. (Driven through Hypothesis directly: the Schemathesis
pytest plugin does not load under pytest 9 here.)"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hegui.config import Settings
from hegui.gateway import create_app
from hegui.policy import default_policy
from hegui.store import NewUser, Store

from .helpers import term_moderator, with_producer


@pytest.fixture(scope="module")
def api(tmp_path_factory, upstream):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("st")
    s = Settings(database_url=f"sqlite:///{d}/s.db", upstream_url=upstream[0], default_rpm=0)
    store = Store(s.database_url, auto_migrate=True)
    app = create_app(s, with_producer(default_policy()), store=store, moderator_factory=term_moderator)
    key = store.keys.issue(store.users.add(NewUser(name="st")).id).secret
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ops = [r.ok() for r in schema.get_all_operations()]
    return ops, key


def test_api_conforms(api):  # type: ignore[no-untyped-def]
    ops, key = api
    assert {op.path for op in ops} >= {"/v1/chat/completions", "/v1/completions", "/v1/models", "/healthz"}
    strategy = st.one_of(*[op.as_strategy() for op in ops])

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def check(case):  # type: ignore[no-untyped-def]
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
        resp = case.call()
        assert resp.status_code < 500 or resp.status_code in (502, 503, 504), resp.text
        if resp.status_code >= 400:
            err = resp.json()["error"]
            assert isinstance(err["message"], str) and err["message"]

    check()
