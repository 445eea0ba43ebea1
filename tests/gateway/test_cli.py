"""``hegui users``, ``hegui audit``, ``hegui db`` and ``hegui serve`` error handling."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from hegui.cli import app
from hegui.store import AuditRecord, Store

runner = CliRunner()


@pytest.fixture
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("HEGUI_DATABASE_URL", url)
    monkeypatch.delenv("HEGUI_CONFIG", raising=False)
    return url


def test_users_add_prints_key_once_and_list(db):
    r = runner.invoke(app, ["users", "add", "alice", "--age-band", "14_17", "--verified", "--rpm", "5"])
    assert r.exit_code == 0, r.output
    key = re.search(r"(hg-\S+)", r.output).group(1)
    store = Store(db)
    p = store.keys.authenticate(key)
    assert p is not None and p.user.is_minor and p.user.verified and p.key.rpm == 5
    r = runner.invoke(app, ["users", "list", "--json"])
    listed = json.loads(r.output)
    assert listed[0]["name"] == "alice" and key not in r.output  # only the prefix is ever shown again
    assert runner.invoke(app, ["users", "add", "alice"]).exit_code == 2  # duplicate
    assert runner.invoke(app, ["users", "add", "bob", "--age-band", "12"]).exit_code == 2
    r = runner.invoke(app, ["users", "set", "alice", "--age-band", "adult", "--unverified"])
    assert r.exit_code == 0 and json.loads(r.output)["age_band"] == "adult"
    assert runner.invoke(app, ["users", "set", "nobody", "--note", "x"]).exit_code == 2
    r = runner.invoke(app, ["users", "set-key", str(p.key.id), "--no-labels"])
    assert r.exit_code == 0 and json.loads(r.output)["labels_enabled"] is False


def test_enforce_and_reverse(db):
    runner.invoke(app, ["users", "add", "u"])
    r = runner.invoke(
        app, ["users", "enforce", "u", "suspend", "--reason", "abuse", "--actor", "op", "--hours", "2"]
    )
    ev = json.loads(r.output)
    assert Store(db).users.by_name("u").status == "suspended"
    r = runner.invoke(app, ["users", "reverse", str(ev["id"]), "--reason", "appeal", "--actor", "op2"])
    assert r.exit_code == 0 and Store(db).users.by_name("u").status == "active"
    assert (
        runner.invoke(app, ["users", "reverse", str(ev["id"]), "--reason", "x", "--actor", "y"]).exit_code
        == 2
    )
    r = runner.invoke(app, ["users", "events", "u"])
    assert [json.loads(x)["action"] for x in r.output.splitlines()] == ["reinstate", "suspend"]


def test_audit_purge_and_export(db, tmp_path):
    runner.invoke(app, ["db", "migrate"])
    store = Store(db)
    now = datetime.now(UTC)
    store.audit.add_many(
        [
            AuditRecord(
                request_id=f"r{d}",
                created_at=now - timedelta(days=d),
                route="/v1/chat/completions",
                status_code=200,
                outcome="ok",
            )
            for d in (1, 100, 200)
        ]
    )
    r = runner.invoke(app, ["audit", "purge", "--dry-run"])
    assert r.exit_code == 0 and "would delete 1" in r.output and store.audit.count() == 3
    assert "deleted 1" in runner.invoke(app, ["audit", "purge"]).output
    assert store.audit.count() == 2
    out = tmp_path / "x.csv"
    r = runner.invoke(
        app, ["audit", "export", str(out), "--since", (now - timedelta(days=2)).date().isoformat()]
    )
    assert r.exit_code == 0 and "wrote 1" in r.output
    assert runner.invoke(app, ["audit", "export", str(tmp_path / "x.txt")]).exit_code == 2
    assert runner.invoke(app, ["audit", "export", str(out), "--since", "yesterday"]).exit_code == 2
    bad = tmp_path / "short.yaml"
    bad.write_text("audit: {retention_days: 30}\n", encoding="utf-8")
    r = runner.invoke(app, ["audit", "purge", "--policy", str(bad)])
    assert r.exit_code == 2 and store.audit.count() == 2  # the policy loader refuses < 183 days


def test_serve_without_upstream_or_local_model_fails_clearly(db, monkeypatch):
    import importlib

    real = importlib.import_module

    def no_local_model(name, *a, **kw):  # type: ignore[no-untyped-def]
        if name == "hegui.gateway.local_model":
            raise ModuleNotFoundError(name=name)
        return real(name, *a, **kw)

    monkeypatch.setattr(importlib, "import_module", no_local_model)
    monkeypatch.delenv("HEGUI_UPSTREAM_URL", raising=False)
    r = runner.invoke(app, ["serve"])
    assert r.exit_code == 2 and "local model" in r.output


def test_bad_settings_are_named(db, monkeypatch):
    monkeypatch.setenv("HEGUI_PORT", "notaport")
    r = runner.invoke(app, ["serve"])
    assert r.exit_code == 2 and "port" in r.output
