"""``hegui console add-operator`` / ``list-operators`` / ``audit``: argument parsing only."""

from __future__ import annotations

from pathlib import Path

import typer

console_app = typer.Typer(
    help="Governance console: operator accounts and the operator audit trail.", no_args_is_help=True
)

ConfigOpt = typer.Option(None, "--config", "-c", help="Settings YAML (default: $HEGUI_CONFIG).")
DbOpt = typer.Option(None, "--database-url", help="Overrides HEGUI_DATABASE_URL.")


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _service(config: Path | None, database_url: str | None):  # type: ignore[no-untyped-def]
    from hegui.config import SettingsError, load_settings
    from hegui.console.config import ConsoleSettingsError, load_console_settings
    from hegui.console.service import ConsoleService
    from hegui.store import Store, StoreUnavailable

    try:
        s = load_settings(config, database_url=database_url)
        cs = load_console_settings()
    except (SettingsError, ConsoleSettingsError) as exc:
        _fail(str(exc))
        raise
    try:
        return ConsoleService(Store(s.database_url, auto_migrate=True), cs)
    except StoreUnavailable as exc:
        _fail(str(exc), 1)
        raise


@console_app.command("add-operator")
def add_operator(
    username: str,
    role: str = typer.Option("admin", help="admin, reviewer or viewer."),
    password: str | None = typer.Option(
        None,
        help="At least 10 characters; prompted (hidden) when omitted. Prefer the prompt or $HEGUI_CONSOLE_PASSWORD.",
    ),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Create an operator account (use it once to create the first admin)."""
    import os

    from hegui.console.service import ConsoleError

    pw = password or os.environ.get("HEGUI_CONSOLE_PASSWORD")
    if not pw:
        pw = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    svc = _service(config, database_url)
    try:
        op = svc.add_operator(username, pw, role, actor="cli")
    except ConsoleError as exc:
        _fail(str(exc))
        return
    typer.echo(f"operator {op.id} {op.username} ({op.role}) created")


@console_app.command("list-operators")
def list_operators(config: Path | None = ConfigOpt, database_url: str | None = DbOpt) -> None:
    """List operator accounts."""
    svc = _service(config, database_url)
    for op in svc.operators():
        flags = " disabled" if op.disabled else ""
        typer.echo(f"{op.id}\t{op.username}\t{op.role}{flags}")


@console_app.command("audit")
def audit(
    limit: int = typer.Option(50, min=1, max=100_000),
    config: Path | None = ConfigOpt,
    database_url: str | None = DbOpt,
) -> None:
    """Print the operator audit trail (newest first) as JSON lines."""
    import json

    svc = _service(config, database_url)
    for e in svc.audit_trail(limit):
        typer.echo(json.dumps(e.model_dump(mode="json"), ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.add_typer(console_app, name="console")
