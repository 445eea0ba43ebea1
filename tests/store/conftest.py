"""Storage tests run on SQLite and on PostgreSQL (a fresh schema per test, dropped afterwards)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hegui.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return request.getfixturevalue("fresh_pg")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url, auto_migrate=True)
    yield s
    s.close()
