"""Shared fixtures. External services are found through environment variables that .ci/run sets:
HEGUI_TEST_POSTGRES_URL, HEGUI_TEST_REDIS_URL. Locally the defaults below match the machines'
pre-started services; a test that needs a service that is not reachable is skipped with the reason
(CI sets HEGUI_REQUIRE_SERVICES=1, which turns those skips into failures)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
# The workplace's shared data sets (licences in their README): HEGUI_SHARED_DATA, else next to the checkout.
SHARED_DATA = Path(os.environ.get("HEGUI_SHARED_DATA", ROOT.parent / "shared" / "data"))
ARTIFACTS = ROOT / "artifacts"

POSTGRES_URL = os.environ.get("HEGUI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HEGUI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _need(host: str, port: int, what: str) -> None:
    if not _reachable(host, port):
        if os.environ.get("HEGUI_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{what} is required (HEGUI_REQUIRE_SERVICES=1) but {host}:{port} is not reachable")
        pytest.skip(f"{what} not reachable at {host}:{port}")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    _need("127.0.0.1", 5432, "PostgreSQL")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    _need("127.0.0.1", 6379, "Redis")
    return REDIS_URL


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def pg_schema_url(base: str, schema: str) -> str:
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def fresh_pg(postgres_url: str) -> Iterator[str]:
    schema = "hg_" + uuid.uuid4().hex[:12]
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield pg_schema_url(postgres_url, schema)
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
