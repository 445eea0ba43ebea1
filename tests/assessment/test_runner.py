from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hegui.assessment.bank import BankItem, write_bank
from hegui.assessment.pipeline import execute_run, prepare_run
from hegui.assessment.runner import Endpoint, RunRequest, load_cache, read_responses, run_items

from .conftest import scripted_items
from .fake_upstream import REFUSAL, ThreadServer

ROOT = Path(__file__).resolve().parents[2]


def test_run_caches_and_rerun_makes_no_calls(upstream: ThreadServer, tmp_path: Path) -> None:
    items = scripted_items()
    s1 = run_items(items, upstream.url, "fake", tmp_path, concurrency=8, progress=False)
    assert (s1.total, s1.called, s1.cached, s1.errors) == (len(items), len(items), 0, 0)
    assert sum(upstream.calls.values()) == len(items)
    got = read_responses(tmp_path)
    assert got[items[0].id].answer.startswith("好的")
    refused = [it for it in items if "#R" in it.text]
    assert all(got[it.id].answer == REFUSAL for it in refused)
    s2 = run_items(items, upstream.url, "fake", tmp_path, concurrency=8, progress=False)
    assert (s2.called, s2.cached, s2.http_calls) == (0, len(items), 0)
    assert sum(upstream.calls.values()) == len(items)  # nothing new
    # every line on disk is a complete JSON record
    lines = (tmp_path / "responses.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(items) and all(json.loads(x)["status"] == "ok" for x in lines)


def test_changed_params_are_a_new_request(upstream: ThreadServer, tmp_path: Path) -> None:
    items = scripted_items(4, 0, 0, 0, 0, 0)
    run_items(items, upstream.url, "fake", tmp_path, progress=False)
    s = run_items(
        items, upstream.url, "fake", tmp_path, progress=False, params={"temperature": 0.7, "max_tokens": 512}
    )
    assert s.called == 4  # a different request hash is not served from the cache


def test_retry_on_503_then_success(upstream: ThreadServer, tmp_path: Path) -> None:
    ep = Endpoint(url=upstream.url, model="fake", backoff=0.01)
    items = [RunRequest("a", ({"role": "user", "content": "问 #FLAKY"},))]
    s = run_items(items, ep, out_dir=tmp_path, progress=False)
    assert s.ok == 1 and s.errors == 0 and s.http_calls == 2
    assert upstream.calls["问 #FLAKY"] == 2
    assert read_responses(tmp_path)["a"].attempts == 2


def test_unreachable_endpoint_records_error_and_retries_later(tmp_path: Path) -> None:
    from .fake_upstream import free_port

    ep = Endpoint(url=f"http://127.0.0.1:{free_port()}/v1", model="x", retries=1, backoff=0.01, timeout=2)
    items = [RunRequest("a", ({"role": "user", "content": "hi"},))]
    s = run_items(items, ep, out_dir=tmp_path, progress=False)
    assert s.errors == 1 and s.http_calls == 2
    rec = json.loads((tmp_path / "responses.jsonl").read_text(encoding="utf-8"))
    assert rec["status"] == "error" and "gave up after 2 attempts" in rec["error"]
    assert load_cache(tmp_path / "responses.jsonl") == {}  # errors are not served from the cache


def test_http_400_is_not_retried(tmp_path: Path) -> None:
    with ThreadServer() as srv:
        ep = Endpoint(url=srv.url.replace("/v1", "/nope"), model="x", backoff=0.01)
        s = run_items(
            [RunRequest("a", ({"role": "user", "content": "hi"},))], ep, out_dir=tmp_path, progress=False
        )
    assert s.errors == 1 and s.http_calls == 1
    assert "HTTP 404" in s.responses["a"].error  # type: ignore[operator]


def test_conversation_items_send_each_user_turn(upstream: ThreadServer, tmp_path: Path) -> None:
    conv = BankItem(
        kind="generated-content",
        risks=["A1.f"],
        messages=[{"role": "user", "content": "第一问"}, {"role": "user", "content": "第二问"}],
    )
    given = BankItem(
        kind="should-refuse",
        risks=["A1.h"],
        messages=[
            {"role": "user", "content": "扮演"},
            {"role": "assistant", "content": "好"},
            {"role": "user", "content": "最后 #R"},
        ],
    )
    s = run_items([conv, given], upstream.url, "fake", tmp_path, progress=False)
    assert s.http_calls == 3  # two turns + one single call
    r = read_responses(tmp_path)
    assert len(r[conv.id].turns) == 2 and r[conv.id].answer.endswith("（第2轮）")
    assert r[given.id].answer == REFUSAL and r[given.id].turns == []


def test_partial_last_line_is_repaired(upstream: ThreadServer, tmp_path: Path) -> None:
    items = scripted_items(6, 0, 0, 0, 0, 0)
    run_items(items[:3], upstream.url, "fake", tmp_path, progress=False)
    path = tmp_path / "responses.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "half-written", "req_')  # what a crash mid-write leaves
    s = run_items(items, upstream.url, "fake", tmp_path, progress=False)
    assert (s.cached, s.called) == (3, 3)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and all(json.loads(x)["status"] == "ok" for x in lines)


@pytest.mark.slow
def test_kill_9_then_resume_makes_no_repeat_calls(slow_upstream: ThreadServer, tmp_path: Path) -> None:
    """A subprocess run is killed with SIGKILL mid-way; the resumed run only calls what is missing."""
    items = scripted_items(120, 0, 40, 0, 40, 0)
    bank = tmp_path / "bank.jsonl"
    write_bank(items, bank)
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "hegui.cli",
        "assess",
        "run",
        "--endpoint",
        slow_upstream.url,
        "--model",
        "fake",
        "--bank",
        str(bank),
        "--out",
        str(run),
        "--concurrency",
        "4",
        "--no-judge",
        "--no-progress",
        "--generated-size",
        "120",
        "--refuse-size",
        "40",
        "--non-refuse-size",
        "40",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    resp = run / "responses.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:
        if resp.exists() and resp.read_text(encoding="utf-8").count("\n") >= 50:
            break
        if proc.poll() is not None:
            pytest.fail(f"run ended before the kill: {proc.stderr.read().decode()[-800:]}")  # type: ignore[union-attr]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    before = {r.id for r in load_cache(resp).values()}
    assert 50 <= len(before) < len(items), "the kill must land mid-run"
    calls_at_kill = sum(slow_upstream.calls.values())
    text_of = {it.id: it.text for it in items}

    s = execute_run(run, Endpoint(url=slow_upstream.url, model="fake"), concurrency=4, progress=False)
    assert s.cached == len(before)
    assert s.called == len(items) - len(before)
    # no item answered before the kill was asked again
    assert all(slow_upstream.calls[text_of[i]] == 1 for i in before)
    # total calls: one per item, plus at most the requests in flight when the process died
    total = sum(slow_upstream.calls.values())
    assert len(items) <= total <= len(items) + 4
    assert total - calls_at_kill == s.called
    assert len(read_responses(run)) == len(items)
    # and a third pass calls nothing at all
    s3 = execute_run(run, Endpoint(url=slow_upstream.url, model="fake"), concurrency=4, progress=False)
    assert s3.called == 0 and sum(slow_upstream.calls.values()) == total


def test_prepare_run_keeps_its_samples(tmp_path: Path, small_bank: Path) -> None:
    items, plan = prepare_run(
        [small_bank], tmp_path / "r", seed=7, generated_size=10, refuse_size=5, non_refuse_size=5
    )
    again, plan2 = prepare_run([small_bank], tmp_path / "r", seed=99)
    assert [s.ids for s in plan.samples] == [s.ids for s in plan2.samples]
    assert {it.id for it in items} == {it.id for it in again}
