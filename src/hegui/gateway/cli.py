"""``hegui serve``, ``hegui users ...``, ``hegui audit ...``, ``hegui db migrate``: argument parsing only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from hegui.config import Settings
    from hegui.store import Store

users_app = typer.Typer(help="Users and API keys of the gateway.", no_args_is_help=True)
audit_app = typer.Typer(
    help="The audit log: retention purge and export for inspections.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="Settings YAML (default: $HEGUI_CONFIG).")
DbOpt = typer.Option(None, "--database-url", help="Overrides HEGUI_DATABASE_URL.")


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _settings(config: Path | None, **over: Any) -> Settings:
    from hegui.config import SettingsError, load_settings

    try:
        return load_settings(config, **over)
    except SettingsError as exc:
        _fail(str(exc))
        raise  # unreachable


def _store(config: Path | None, database_url: str | None) -> Store:
    from hegui.store import Store, StoreUnavailable

    s = _settings(config, database_url=database_url)
    try:
        return Store(s.database_url, auto_migrate=True)
    except StoreUnavailable as exc:
        _fail(str(exc), 1)
        raise


def _user(store: Store, ref: str):  # type: ignore[no-untyped-def]
    from hegui.store import NotFound

    try:
        return store.users.get(int(ref)) if ref.isdigit() else store.users.by_name(ref)
    except NotFound as exc:
        _fail(str(exc))


def serve(
    config: Path | None = ConfigOpt,
    host: str | None = typer.Option(None, help="Listen address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Listen port (default 8080)."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy YAML (default: shipped policy)."),
    upstream_url: str | None = typer.Option(
        None, help="OpenAI-compatible base URL, e.g. http://host:8000/v1."
    ),
    database_url: str | None = DbOpt,
    log_level: str = typer.Option("info"),
) -> None:
    """Run the compliance gateway (starts the embedded local model when no upstream is set)."""
    from hegui.gateway.server import ServeError
    from hegui.gateway.server import serve as run
    from hegui.policy import PolicyError

    s = _settings(
        config,
        host=host,
        port=port,
        policy_path=str(policy) if policy else None,
        upstream_url=upstream_url,
        database_url=database_url,
    )
    try:
        run(s, log_level=log_level)
    except (ServeError, PolicyError) as exc:
        _fail(str(exc))


@users_app.command("add")
def users_add(
    name: str,
    verified: bool = typer.Option(False, "--verified", help="Real-name verification done by the provider."),
    age_band: str = typer.Option("unknown", help="unknown, under_14, 14_17 or adult."),
    external_ref: str | None = typer.Option(None, help="The provider's own account id."),
    rpm: int | None = typer.Option(None, help="Requests per minute for the key (default: gateway default)."),
    labels: bool = typer.Option(True, "--labels/--no-labels", help="AI-generated labels on answers."),
    note: str | None = typer.Option(None),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Create a user and an API key; the key is printed once and never stored."""
    from pydantic import ValidationError

    from hegui.store import Conflict, NewUser

    store = _store(config, database_url)
    try:
        new = NewUser(name=name, verified=verified, age_band=age_band, external_ref=external_ref, note=note)  # type: ignore[arg-type]
        user = store.users.add(new)
    except ValidationError as exc:
        _fail(f"invalid user: {exc.errors(include_url=False)[0]['msg']}")
        return
    except Conflict as exc:
        _fail(str(exc))
        return
    issued = store.keys.issue(user.id, name="default", labels_enabled=labels, rpm=rpm)
    typer.echo(f"user {user.id} {user.name} created")
    typer.echo(f"API key (shown once, store it now): {issued.secret}")


@users_app.command("key")
def users_key(
    user: str,
    name: str = typer.Option("", help="A label for the key."),
    rpm: int | None = typer.Option(None),
    labels: bool = typer.Option(True, "--labels/--no-labels"),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Issue another API key for a user (printed once)."""
    store = _store(config, database_url)
    u = _user(store, user)
    issued = store.keys.issue(u.id, name=name, labels_enabled=labels, rpm=rpm)
    typer.echo(f"key {issued.key.id} for user {u.name}; API key (shown once): {issued.secret}")


@users_app.command("list")
def users_list(
    status: str | None = typer.Option(None, help="Only users with this status."),
    as_json: bool = typer.Option(False, "--json"),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """List users with their keys (prefixes only)."""
    store = _store(config, database_url)
    users = store.users.list(status=status)
    keys = store.keys.list()
    if as_json:
        out = [
            u.model_dump(mode="json")
            | {"keys": [k.model_dump(mode="json") for k in keys if k.user_id == u.id]}
            for u in users
        ]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("id", "name", "verified", "age band", "status", "keys")
    for u in users:
        ks = ", ".join(
            f"{k.id}:{k.prefix}…{' (revoked)' if k.revoked_at else ''}" for k in keys if k.user_id == u.id
        )
        t.add_row(str(u.id), u.name, "yes" if u.verified else "no", u.age_band, u.status, ks)
    Console().print(t)


@users_app.command("set")
def users_set(
    user: str,
    verified: bool | None = typer.Option(None, "--verified/--unverified"),
    age_band: str | None = typer.Option(None),
    external_ref: str | None = typer.Option(None),
    note: str | None = typer.Option(None),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Change a user's verification flag, age band, reference or note."""
    from pydantic import ValidationError

    from hegui.store import UserUpdate

    store = _store(config, database_url)
    u = _user(store, user)
    changes = {
        k: v
        for k, v in dict(verified=verified, age_band=age_band, external_ref=external_ref, note=note).items()
        if v is not None
    }
    if not changes:
        _fail("nothing to change: give --verified/--unverified, --age-band, --external-ref or --note")
    try:
        updated = store.users.update(u.id, UserUpdate(**changes))  # type: ignore[arg-type]
    except ValidationError as exc:
        _fail(f"invalid value: {exc.errors(include_url=False)[0]['msg']}")
        return
    typer.echo(json.dumps(updated.model_dump(mode="json"), ensure_ascii=False))


@users_app.command("set-key")
def users_set_key(
    key_id: int,
    labels: bool | None = typer.Option(None, "--labels/--no-labels"),
    rpm: int | None = typer.Option(None, help="Requests per minute; 0 = unlimited."),
    revoke: bool = typer.Option(False, "--revoke"),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Change or revoke an API key."""
    from hegui.store import NotFound

    store = _store(config, database_url)
    try:
        if revoke:
            k = store.keys.revoke(key_id)
        else:
            k = store.keys.set(key_id, labels_enabled=labels, **({"rpm": rpm} if rpm is not None else {}))
    except NotFound as exc:
        _fail(str(exc))
        return
    typer.echo(json.dumps(k.model_dump(mode="json")))


@users_app.command("enforce")
def users_enforce(
    user: str,
    action: str = typer.Argument(..., help="warn, restrict, suspend or terminate"),
    reason: str = typer.Option(..., help="Why (kept on record)."),
    actor: str = typer.Option(..., help="Operator name (kept on record)."),
    hours: float | None = typer.Option(None, help="Suspension length."),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Apply an enforcement step by hand (recorded like automatic ones)."""
    from datetime import timedelta

    store = _store(config, database_url)
    u = _user(store, user)
    if action not in ("warn", "restrict", "suspend", "terminate"):
        _fail("action must be warn, restrict, suspend or terminate")
    until = datetime.now(UTC) + timedelta(hours=hours) if hours else None
    ev = store.enforcement.record(u.id, action, reason, actor=actor, until=until)
    typer.echo(json.dumps(ev.model_dump(mode="json"), ensure_ascii=False))


@users_app.command("reverse")
def users_reverse(
    event_id: int,
    reason: str = typer.Option(...),
    actor: str = typer.Option(...),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Reverse an enforcement step (the user gets the previous status back; both are recorded)."""
    from hegui.store import Conflict, NotFound

    store = _store(config, database_url)
    try:
        ev = store.enforcement.reverse(event_id, actor=actor, reason=reason)
    except (NotFound, Conflict) as exc:
        _fail(str(exc))
        return
    typer.echo(json.dumps(ev.model_dump(mode="json"), ensure_ascii=False))


@users_app.command("events")
def users_events(user: str, config: Path | None = ConfigOpt, database_url: str | None = DbOpt) -> None:
    """Enforcement history of a user, newest first."""
    store = _store(config, database_url)
    u = _user(store, user)
    for ev in store.enforcement.list(u.id):
        typer.echo(json.dumps(ev.model_dump(mode="json"), ensure_ascii=False))


def _date(v: str | None, name: str) -> datetime | None:
    if v is None:
        return None
    try:
        d = datetime.fromisoformat(v)
    except ValueError:
        _fail(f"{name} must be an ISO date or datetime, not {v!r}")
        raise
    return d if d.tzinfo else d.replace(tzinfo=UTC)


@audit_app.command("purge")
def audit_purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count only."),
    policy: Path | None = typer.Option(None, "--policy", help="Policy with audit.retention_days."),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Delete audit records older than policy.audit.retention_days (never under 183 days)."""
    from hegui.gateway.server import load_policy_for
    from hegui.policy import PolicyError
    from hegui.store.retention import purge

    s = _settings(config, database_url=database_url, policy_path=str(policy) if policy else None)
    try:
        pol = load_policy_for(s)
    except PolicyError as exc:
        _fail(str(exc))
        return
    store = _store(config, database_url)
    res = purge(store, pol.audit.retention_days, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    typer.echo(
        f"{verb} {res.audit_records} audit records older than {res.cutoff.isoformat()}"
        + ("" if dry_run else f" and {res.counters} expired counters")
    )


@audit_app.command("export")
def audit_export(
    path: Path,
    fmt: str | None = typer.Option(None, "--format", help="jsonl or csv (default: from the suffix)."),
    since: str | None = typer.Option(None, help="ISO date/datetime, inclusive (UTC if no zone)."),
    until: str | None = typer.Option(None, help="ISO date/datetime, exclusive."),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Export audit records to JSONL or CSV for an inspection (Interim Measures Art. 19)."""
    from hegui.store.retention import export

    store = _store(config, database_url)
    try:
        n = export(store, path, fmt, _date(since, "--since"), _date(until, "--until"))  # type: ignore[arg-type]
    except ValueError as exc:
        _fail(str(exc))
        return
    typer.echo(f"wrote {n} audit records to {path}")


@db_app.command("migrate")
def db_migrate(config: Path | None = ConfigOpt, database_url: str | None = DbOpt) -> None:
    """Create or upgrade the database schema."""
    from hegui.store.db import current_revision

    store = _store(config, database_url)
    typer.echo(f"schema at revision {current_revision(store.engine)}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
    app.add_typer(db_app, name="db")
