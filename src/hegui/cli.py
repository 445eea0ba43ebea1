"""The ``hegui`` command. Nothing but wiring: each capability registers its own commands.

Every capability module below exposes ``register(app)``; it must import heavy libraries
(torch, ray, av, ...) inside its command functions so that ``hegui moderate`` starts fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="hegui",
    help="Hegui (合规): compliance toolkit for generative-AI services (GB/T 45654, GB 45438).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

_CAPABILITIES = (
    "hegui.moderation.cli",
    "hegui.classify.cli",
    "hegui.gateway.cli",
    "hegui.labeling.cli",
    "hegui.assessment.cli",
    "hegui.console.cli",
    "hegui.corpus.cli",
    "hegui.fairness.cli",
)

for _name in _CAPABILITIES:
    try:
        _mod = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # a capability not built yet
        if exc.name != _name:
            raise
        continue
    _mod.register(app)


@app.command()
def version() -> None:
    """Print Hegui's version."""
    from hegui import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
