"""Alembic environment: runs on the connection the caller hands over (``hegui.store.db.migrate``),
or on ``HEGUI_DATABASE_URL`` when invoked through the ``alembic`` command line."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from hegui.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
    )
    with context.begin_transaction():
        context.run_migrations()


conn = config.attributes.get("connection")
if conn is not None:
    _run(conn)
else:
    url = os.environ.get("HEGUI_DATABASE_URL", "sqlite:///./var/hegui.db")
    with create_engine(url).begin() as c:
        _run(c)
