"""``hegui moderate`` and ``hegui lexicon ...``: argument parsing only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

lexicon_app = typer.Typer(
    help="Keyword libraries: audit against GB/T 45654, expand variants.", no_args_is_help=True
)


def _moderator(policy: Path | None):  # type: ignore[no-untyped-def]
    from hegui.moderation import Moderator
    from hegui.policy import PolicyError, default_policy, load_policy

    try:
        return Moderator(load_policy(policy) if policy else default_policy())
    except (PolicyError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def moderate(
    text: Annotated[str | None, typer.Argument(help="Text to check (omit with --input).")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help=".jsonl, .csv or .txt file")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="JSONL of verdicts")] = None,
    text_field: Annotated[str | None, typer.Option(help="JSON field / CSV column holding the text")] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy YAML (default: shipped policy)")] = None,
    role: Annotated[str, typer.Option(help="input (a prompt) or output (a model answer)")] = "output",
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON")] = False,
) -> None:
    """Check a text, or a file of texts, against the policy."""
    from rich.console import Console

    from hegui.moderation.batch import InputError, moderate_records, read_records

    if (text is None) == (input is None):
        typer.echo("error: give either a TEXT argument or --input FILE", err=True)
        raise typer.Exit(2)
    if role not in ("input", "output"):
        typer.echo("error: --role must be 'input' or 'output'", err=True)
        raise typer.Exit(2)
    mod = _moderator(policy)
    if text is not None:
        verdict = mod.check(text, role=role)
        if as_json:
            typer.echo(json.dumps(verdict.to_dict(), ensure_ascii=False, indent=2))
        else:
            _print_verdict(Console(), text, verdict)
        return
    assert input is not None
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    err = Console(stderr=True)
    size = input.stat().st_size if input.exists() else 0
    out_fh = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        with Progress(
            TextColumn("moderating"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=output is None or size < 1_000_000,
        ) as bar:
            task = bar.add_task("moderate", total=size or None)
            done = [0]

            def tick(rec, row):  # type: ignore[no-untyped-def]
                if row.get("error"):
                    typer.echo(f"{input}:{rec.line}: skipped: {row['error']}", err=True)
                done[0] += len((rec.text or "").encode("utf-8")) + 1
                bar.update(task, completed=min(done[0], size))

            counts = moderate_records(read_records(input, text_field), out_fh, mod, role, tick)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        if output:
            out_fh.close()
    typer.echo(
        f"{counts['total']} texts, {counts['flagged']} flagged, {counts['errors']} bad records", err=True
    )


def _print_verdict(console, text: str, verdict) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    from hegui.taxonomy import is_known_kind, load_taxonomy

    tax = load_taxonomy()
    colour = {"allow": "green", "flag": "yellow", "mask": "cyan"}.get(str(verdict.action), "red")
    console.print(f"[bold {colour}]{str(verdict.action).upper()}[/]  flagged={verdict.flagged}")
    if verdict.findings:
        table = Table("risk", "name", "detector", "span", "matched", "via", "severity")
        for f in verdict.findings:
            name = (
                tax.get(f.risk).name_zh if f.risk in tax else ("注入/越狱" if is_known_kind(f.risk) else "")
            )
            table.add_row(
                f.risk, name, f.detector, f"{f.start}-{f.end}", f.matched, f.variant, str(f.severity)
            )
        console.print(table)
    if verdict.masked_text is not None:
        console.print(f"masked: {verdict.masked_text}")
    if verdict.refusal:
        console.print(f"refusal: {verdict.refusal}")


@lexicon_app.command("audit")
def lexicon_audit(
    paths: Annotated[list[str], typer.Argument(help="Lexicon files (TSV/CSV/YAML) or builtin:seed")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check a keyword library against GB/T 45654 (>= 10,000 terms, per-risk minima, quality)."""
    from rich.console import Console

    from hegui.moderation.lexicon import LexiconError, load_lexicon
    from hegui.moderation.lexicon_audit import audit_lexicon, print_audit

    try:
        report = audit_lexicon(load_lexicon(paths))
    except (LexiconError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_audit(report, Console())
    raise typer.Exit(0 if report.passed else 1)


@lexicon_app.command("expand")
def lexicon_expand(
    paths: Annotated[list[str], typer.Argument(help="Lexicon files or builtin:seed")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="TSV file (default stdout)")] = None,
) -> None:
    """Write the variant forms the normalizer covers for each term, for review."""
    from hegui.moderation.lexicon import LexiconError, load_lexicon
    from hegui.moderation.lexicon_audit import expand_lexicon

    try:
        lex = load_lexicon(paths)
    except (LexiconError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    fh = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        fh.write("term\tvariant_kind\tform\n")
        for term, kind, form in expand_lexicon(lex):
            fh.write(f"{term}\t{kind}\t{form}\n")
    finally:
        if output:
            fh.close()


def register(app: typer.Typer) -> None:
    app.command("moderate")(moderate)
    app.add_typer(lexicon_app, name="lexicon")
