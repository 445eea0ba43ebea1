from __future__ import annotations

import csv
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hegui.store import (
    AuditRecord,
    Conflict,
    NewIncident,
    NewUser,
    NotFound,
    Store,
    UserUpdate,
)
from hegui.store.db import current_revision, migrations_dir
from hegui.store.models import Base
from hegui.store.retention import export, purge


def test_migrations_match_the_models(store: Store):
    from alembic.script import ScriptDirectory

    import hegui.console.models  # noqa: F401  (the console's tables are part of Base.metadata)

    head = ScriptDirectory(migrations_dir()).get_current_head()
    assert head is not None and current_revision(store.engine) == head
    with store.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert diff == []
    store.migrate()  # idempotent


def test_sqlite_uses_wal(tmp_path):
    s = Store(f"sqlite:///{tmp_path}/w.db", auto_migrate=True)
    with s.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_users_and_keys(store: Store):
    u = store.users.add(NewUser(name="张三", age_band="14_17", verified=True))
    assert u.is_minor and u.status == "active" and u.created_at.tzinfo is not None
    with pytest.raises(Conflict):
        store.users.add(NewUser(name="张三"))
    issued = store.keys.issue(u.id, name="k", rpm=10, labels_enabled=False)
    assert issued.secret.startswith("hg-") and issued.secret[:10] == issued.key.prefix
    p = store.keys.authenticate(issued.secret)
    assert p is not None and p.user.name == "张三" and p.key.rpm == 10 and not p.key.labels_enabled
    assert store.keys.authenticate("hg-wrong") is None
    store.keys.revoke(issued.key.id)
    assert store.keys.authenticate(issued.secret) is None
    u2 = store.users.update(u.id, UserUpdate(age_band="adult"))
    assert not u2.is_minor and u2.updated_at >= u.updated_at
    assert [x.name for x in store.users.list()] == ["张三"]
    with pytest.raises(NotFound):
        store.users.get(999)
    with pytest.raises(NotFound):
        store.keys.issue(999)


def test_counters_are_atomic_under_concurrency(store: Store):
    def work() -> None:
        for _ in range(25):
            store.counters.incr("user:1:req", "2026-12-01", timedelta(days=2))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.counters.get("user:1:req", "2026-12-01") == 200
    assert store.counters.purge_expired(datetime.now(UTC) + timedelta(days=3)) == 1


def _incident(uid: int, action: str = "block", when: datetime | None = None) -> NewIncident:
    return NewIncident(
        user_id=uid,
        api_key_id=None,
        request_id="r",
        stage="input",
        action=action,
        risks=["A1.d"],
        content_policy="hash",
        offending_text=None,
        offending_sha256="ab",
        created_at=when,
    )


def test_incidents_count_and_review(store: Store):
    uid = store.users.add(NewUser(name="u")).id
    now = datetime.now(UTC)
    store.incidents.add(_incident(uid, when=now - timedelta(hours=30)))
    a = store.incidents.add(_incident(uid))
    store.incidents.add(_incident(uid, action="refuse"))
    since = now - timedelta(hours=24)
    assert store.incidents.count(uid, since) == 2
    assert store.incidents.count(uid, since, actions=("block",)) == 1
    store.incidents.review(a.id, "dismissed", "op", "false positive")
    assert store.incidents.count(uid, since, actions=("block",)) == 0
    with pytest.raises(ValueError):
        store.incidents.review(a.id, "maybe", "op")
    assert store.incidents.list(uid, review_state="dismissed")[0].reviewed_by == "op"


def test_enforcement_is_recorded_and_reversible(store: Store):
    uid = store.users.add(NewUser(name="u")).id
    until = datetime.now(UTC) + timedelta(hours=72)
    ev = store.enforcement.record(uid, "suspend", "10 incidents", ladder_step=2, until=until)
    u = store.users.get(uid)
    assert u.status == "suspended" and abs((u.status_until - until).total_seconds()) < 1
    back = store.enforcement.reverse(ev.id, actor="op", reason="appeal upheld")
    assert back.action == "reinstate" and back.reverses_id == ev.id and back.actor == "op"
    assert store.users.get(uid).status == "active"
    with pytest.raises(Conflict):
        store.enforcement.reverse(ev.id, actor="op", reason="again")
    with pytest.raises(Conflict):
        store.enforcement.reverse(back.id, actor="op", reason="undo the undo")
    assert store.enforcement.last_reinstated_at(uid) is not None
    assert [e.action for e in store.enforcement.list(uid)] == ["reinstate", "suspend"]
    # a time-boxed suspension ends by itself, on record
    store.enforcement.record(uid, "suspend", "again", until=datetime.now(UTC) - timedelta(seconds=1))
    assert store.enforcement.lift_expired_suspension(uid).status == "active"
    with pytest.raises(ValueError):
        store.enforcement.record(uid, "ban", "x")


def _record(i: int, when: datetime) -> AuditRecord:
    return AuditRecord(
        request_id=f"r{i}",
        created_at=when,
        route="/v1/chat/completions",
        status_code=200,
        outcome="ok",
        risks=["A4.c"] if i % 2 else [],
        model="模型",
        user_id=1,
        source_ip="10.0.0.1",
        source_port=5000 + i,
    )


def test_purge_never_deletes_records_inside_retention(store: Store):
    now = datetime.now(UTC)
    ages = [0, 10, 182, 183.5, 400]
    store.audit.add_many([_record(i, now - timedelta(days=d)) for i, d in enumerate(ages)])
    with pytest.raises(ValueError, match="183"):
        purge(store, 30, now=now)
    assert store.audit.count() == 5
    dry = purge(store, 183, now=now, dry_run=True)
    assert dry.audit_records == 2 and store.audit.count() == 5
    res = purge(store, 183, now=now)
    assert res.audit_records == 2
    left = sorted(r.request_id for r in store.audit.iter())
    assert left == ["r0", "r1", "r2"]
    assert all(r.created_at >= now - timedelta(days=183) for r in store.audit.iter())
    assert purge(store, 365, now=now).audit_records == 0


def test_export_jsonl_and_csv(store: Store, tmp_path):
    now = datetime.now(UTC)
    store.audit.add_many([_record(i, now - timedelta(minutes=i)) for i in range(5)])
    n = export(store, tmp_path / "a.jsonl", since=now - timedelta(minutes=2, seconds=30))
    lines = (tmp_path / "a.jsonl").read_text(encoding="utf-8").splitlines()
    assert n == len(lines) == 3
    first = json.loads(lines[0])
    assert first["model"] == "模型" and first["source_port"] == 5000
    assert datetime.fromisoformat(first["created_at"].replace("Z", "+00:00")).tzinfo is not None
    assert export(store, tmp_path / "a.csv") == 5
    rows = list(csv.DictReader((tmp_path / "a.csv").open(encoding="utf-8-sig")))
    assert len(rows) == 5 and rows[1]["risks"] == "A4.c" and rows[0]["model"] == "模型"
    with pytest.raises(ValueError):
        export(store, tmp_path / "a.txt")
    # keyset paging across batches returns every record exactly once
    assert [r.request_id for r in store.audit.iter(batch=2)] == [f"r{i}" for i in range(5)]


def test_store_unavailable_is_reported(tmp_path):
    from hegui.store import StoreUnavailable

    s = Store(f"sqlite:///{tmp_path}/x.db", auto_migrate=True)
    s.sessions.configure(bind=Store(f"sqlite:///{tmp_path}/y.db").engine)  # no tables there
    with pytest.raises(StoreUnavailable):
        s.users.list()


def test_sqlite_try_incr_never_waits_for_the_write_lock(tmp_path) -> None:
    import sqlite3

    import anyio

    from hegui.gateway.counters import SQLCounters

    st = Store(f"sqlite:///{tmp_path}/c.db", auto_migrate=True)
    ttl = timedelta(seconds=60)
    assert st.counters.try_incr("k", "p", ttl) == 1
    other = sqlite3.connect(tmp_path / "c.db")
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    assert st.counters.try_incr("k", "p", ttl) is None  # at once, and nothing counted
    counters = SQLCounters(st)
    assert counters.inline

    async def incr_while_locked() -> int:
        async with anyio.create_task_group() as tg:
            result: list[int] = []

            async def incr() -> None:
                result.append(await counters.incr("k", "p", 60))

            tg.start_soon(incr)
            await anyio.sleep(0.2)  # the increment waits in a thread; the loop is free
            other.rollback()
        return result[0]

    assert anyio.run(incr_while_locked) == 2
    assert st.counters.get("k", "p") == 2
    # the inline connection has its own zero busy timeout; every other connection keeps its own,
    # and so does the inline one once it is back in the pool
    with st.engine.connect() as conn:
        assert conn.connection.driver_connection.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    st.counters.close_inline()
    conns = [st.engine.connect() for _ in range(st.engine.pool.size())]
    try:
        timeouts = [
            c.connection.driver_connection.execute("PRAGMA busy_timeout").fetchone()[0] for c in conns
        ]
    finally:
        for c in conns:
            c.close()
    assert min(timeouts) > 0, timeouts
    st.close()
