"""Shared storage: SQLAlchemy 2 models, Alembic migrations shipped in the package, a small repository API.

``Store(url)`` is the one handle; ``store.users / keys / counters / incidents / enforcement / audit``
take and return the pydantic objects of ``hegui.store.schemas``. SQLite (WAL) by default at
``./var/hegui.db``, PostgreSQL through ``HEGUI_DATABASE_URL``.

Adding tables (e.g. the console's complaints and operator accounts): add the model to a module of your
own that uses ``hegui.store.models.Base`` and add an Alembic revision after the latest one in
``hegui/store/migrations/versions``.
"""

from hegui.store.db import StoreUnavailable, make_engine, migrate
from hegui.store.repo import MIN_RETENTION_DAYS, Conflict, NotFound, Store, hash_key
from hegui.store.schemas import (
    ApiKey,
    AuditRecord,
    EnforcementEvent,
    Incident,
    IssuedKey,
    NewIncident,
    NewUser,
    Principal,
    User,
    UserUpdate,
)

__all__ = [
    "MIN_RETENTION_DAYS",
    "ApiKey",
    "AuditRecord",
    "Conflict",
    "EnforcementEvent",
    "Incident",
    "IssuedKey",
    "NewIncident",
    "NewUser",
    "NotFound",
    "Principal",
    "Store",
    "StoreUnavailable",
    "User",
    "UserUpdate",
    "hash_key",
    "make_engine",
    "migrate",
]
