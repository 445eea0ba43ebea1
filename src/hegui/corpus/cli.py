"""``hegui corpus ...``: argument parsing and printing only; the work is in the package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

corpus_app = typer.Typer(
    help="Training-data audit: source ledger, scan, samples, cleaning, annotation QA.", no_args_is_help=True
)
ledger_app = typer.Typer(
    help="The source ledger (licences, contracts, consent, authorisation).", no_args_is_help=True
)
annotation_app = typer.Typer(
    help="Annotation QA: rules coverage, reviewer assignment, batch checks.", no_args_is_help=True
)
corpus_app.add_typer(ledger_app, name="ledger")
corpus_app.add_typer(annotation_app, name="annotation")


def register(app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")


def _fail(msg: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {msg}", err=True)
    return typer.Exit(code)


@ledger_app.command("check")
def ledger_check(
    path: Annotated[Path, typer.Argument(help="Ledger file (.yaml or .csv)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Validate the ledger's completeness per source kind. Exit 1 when a source is incomplete."""
    from hegui.corpus.ledger import LedgerError, load_ledger

    try:
        rep = load_ledger(path)
    except LedgerError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": rep.ok,
                    "sources": len(rep.sources),
                    "problems": [p.model_dump() for p in rep.problems],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    else:
        for p in rep.problems:
            typer.echo(str(p), err=p.level == "error")
        typer.echo(f"{len(rep.sources)} sources, {len(rep.errors)} errors, {len(rep.warnings)} warnings")
    if not rep.ok:
        raise typer.Exit(1)


def _config(
    policy: Path | None,
    detectors: str | None,
    text_field: list[str] | None,
    sample_fraction: float,
    max_record_bytes: int,
    shard_mb: int,
    role: str,
):  # type: ignore[no-untyped-def]
    from hegui.corpus.readers import ReadOptions
    from hegui.corpus.scan import ScanConfig

    if policy is not None and not policy.is_file():
        raise _fail(f"policy file {policy} does not exist")
    if role not in ("input", "output"):
        raise _fail("--role must be 'input' or 'output'")
    try:
        return ScanConfig(
            policy=str(policy.resolve()) if policy else None,
            detectors=detectors,
            role=role,
            sample_fraction=sample_fraction,
            read=ReadOptions(
                text_fields=text_field or [],
                max_record_bytes=max_record_bytes,
                shard_bytes=shard_mb * 1024 * 1024,
            ),
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None


@corpus_app.command("scan")
def scan_cmd(
    sources: Annotated[list[str], typer.Argument(help="Files or folders, optionally NAME=PATH")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (resumed if it exists)")],
    policy: Annotated[Path | None, typer.Option(help="Policy YAML (default: shipped policy)")] = None,
    engine: Annotated[str, typer.Option(help="local (multiprocessing) or ray")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (engine ray)")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (0 = all cores)")] = 0,
    text_field: Annotated[
        list[str] | None, typer.Option(help="Field/column with the text (repeatable)")
    ] = None,
    sample_fraction: Annotated[
        float, typer.Option(help="Share of records moderated (technical sample)")
    ] = 1.0,
    max_record_bytes: Annotated[int, typer.Option(help="Longer records are reported, not scanned")] = 4 << 20,
    shard_mb: Annotated[int, typer.Option(help="Byte-range shard size for large uncompressed files")] = 64,
    role: Annotated[str, typer.Option(help="Moderator role: output (content) or input (prompts)")] = "output",
    fresh: Annotated[bool, typer.Option(help="Discard an existing run in --out and start over")] = False,
    checkpoint_every: Annotated[int, typer.Option(help="Records between checkpoints")] = 2000,
    detectors: Annotated[str | None, typer.Option(hidden=True, help="module:callable detector list")] = None,
) -> None:
    """Scan sources with the moderation engine; per-record findings and per-source statistics."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from hegui.corpus.scan import ScanError, scan

    cfg = _config(policy, detectors, text_field, sample_fraction, max_record_bytes, shard_mb, role)
    if checkpoint_every < 1:
        raise _fail("--checkpoint-every must be at least 1")
    cfg.checkpoint_every = checkpoint_every
    err = Console(stderr=True)
    with Progress(
        TextColumn("scanning"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rec]} records"),
        TimeRemainingColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("scan", total=None, rec=0)

        def tick(done: int, total: int, records: int) -> None:
            bar.update(task, completed=done, total=total, rec=records)

        try:
            stats = scan(
                sources, out, cfg, engine=engine, workers=workers, address=address, fresh=fresh, on_tick=tick
            )
        except (ScanError, FileNotFoundError, KeyError) as exc:
            raise _fail(str(exc)) from None
    _print_stats(err, stats)
    typer.echo(str(out / "stats.json"))


def _print_stats(con, stats) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    from hegui.corpus.verdicts import source_verdicts

    t = Table(title="sources")
    for c in (
        "source",
        "records",
        "bad",
        "harmful %",
        "95 % upper",
        "5 % rule",
        "PII",
        "exact dup",
        "near dup",
    ):
        t.add_column(c)
    for v in source_verdicts(stats):
        s = stats["sources"][v.source]
        t.add_row(
            v.source,
            str(s["records"]),
            str(s["bad"]),
            f"{v.harmful.rate:.2%}",
            f"{v.harmful.high:.2%}",
            v.rule_5pct,
            str(s["pii_records"]),
            str(s["exact_duplicates"]),
            str(s["near_duplicates"]),
        )
    con.print(t)


@corpus_app.command("sample")
def sample_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory of a finished scan")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Sample file (.xlsx or .jsonl)")],
    size: Annotated[int, typer.Option(help="Items in the sample (the standard asks >= 4000)")] = 4000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same sample")] = 0,
) -> None:
    """Draw the reproducible manual-review sample and export it for reviewers."""
    from hegui.corpus.scan import ScanError
    from hegui.corpus.verdicts import MANUAL_SAMPLE_MIN, draw_sample, export_sample

    if out.suffix.lower() not in (".xlsx", ".jsonl"):
        raise _fail("--out must end in .xlsx or .jsonl")
    try:
        rows = draw_sample(run, size, seed)
    except ScanError as exc:
        raise _fail(str(exc)) from None
    export_sample(rows, out)
    # keep the exported list so the import can reject rows that were never in the sample
    (run / "sample.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    if len(rows) < MANUAL_SAMPLE_MIN:
        typer.echo(
            f"warning: only {len(rows)} items (the corpus is smaller than {size} or --size < "
            f"{MANUAL_SAMPLE_MIN})",
            err=True,
        )
    typer.echo(f"{len(rows)} items -> {out}")


@corpus_app.command("import-review")
def import_review_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory the sample came from")],
    review: Annotated[Path, typer.Argument(help="Reviewed sample (.xlsx, .jsonl or .csv)")],
    required_size: Annotated[int, typer.Option(help="Minimum reviewed items")] = 4000,
    required_pass: Annotated[float, typer.Option(help="Minimum pass rate")] = 0.96,
) -> None:
    """Import reviewers' verdicts; exit 1 when the sample is incomplete or the pass rate is too low."""
    from hegui.corpus.verdicts import ReviewError, import_review

    sample_path = run / "sample.jsonl"
    rows = None
    if sample_path.exists():
        rows = [json.loads(line) for line in sample_path.read_text(encoding="utf-8").splitlines() if line]
    try:
        res = import_review(review, rows, required_size=required_size, required_pass=required_pass)
    except ReviewError as exc:
        raise _fail(str(exc)) from None
    (run / "review.json").write_text(res.model_dump_json(indent=1), encoding="utf-8")
    typer.echo(
        f"{res.reviewed} reviewed, {res.passed} passed ({res.pass_rate.rate:.2%}, 95 % interval "
        f"{res.pass_rate.low:.2%}-{res.pass_rate.high:.2%}): {res.verdict}"
    )
    for r in res.reasons:
        typer.echo(f"  {r}")
    if res.verdict != "pass":
        raise typer.Exit(1)


@corpus_app.command("clean")
def clean_cmd(
    sources: Annotated[list[str], typer.Argument(help="Files or folders, optionally NAME=PATH")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for the filtered copy")],
    policy: Annotated[Path | None, typer.Option(help="Policy YAML (default: shipped policy)")] = None,
    drop_action: Annotated[str, typer.Option(help="Remove records whose action is at least this")] = "refuse",
    workers: Annotated[int, typer.Option(help="Worker processes (0 = all cores)")] = 0,
    text_field: Annotated[
        list[str] | None, typer.Option(help="Field/column with the text (repeatable)")
    ] = None,
    max_record_bytes: Annotated[int, typer.Option(help="Longer records are removed as bad input")] = 4 << 20,
    detectors: Annotated[str | None, typer.Option(hidden=True, help="module:callable detector list")] = None,
) -> None:
    """Write a filtered copy: harmful records removed, personal information masked, with a manifest."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from hegui.corpus.clean import clean
    from hegui.corpus.scan import ScanError

    cfg = _config(policy, detectors, text_field, 1.0, max_record_bytes, 64, "output")
    try:
        from hegui.moderation.types import Action

        Action.parse(drop_action)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    with Progress(
        TextColumn("cleaning"), BarColumn(), MofNCompleteColumn(), console=Console(stderr=True)
    ) as bar:
        task = bar.add_task("clean", total=None)
        try:
            res = clean(
                sources,
                out,
                cfg,
                workers=workers,
                drop_action=drop_action,
                on_tick=lambda i, n: bar.update(task, completed=i, total=n),
            )
        except (ScanError, FileNotFoundError) as exc:
            raise _fail(str(exc)) from None
    typer.echo(f"kept {res.kept} (masked {res.masked}), removed {res.removed} -> {out / 'manifest.json'}")


@annotation_app.command("check")
def annotation_check(
    rules: Annotated[
        Path | None, typer.Option(help="Annotation rules YAML (default: the shipped template)")
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(help="Labels (.csv/.jsonl): item_id, batch, kind, label, annotator, reviewer"),
    ] = None,
    roster: Annotated[
        Path | None, typer.Option(help="Roster (.csv/.yaml): person, trained, exam_passed")
    ] = None,
    verified: Annotated[
        Path | None, typer.Option(help="Checker's labels (.csv/.jsonl): item_id, verified_label")
    ] = None,
    min_accuracy: Annotated[float, typer.Option(help="Batch accuracy needed to pass")] = 0.95,
    sample_out: Annotated[
        Path | None, typer.Option(help="Write the per-batch verification sample (JSON)")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the verification sample")] = 0,
) -> None:
    """Audit the rules' coverage of the 31 risks, reviewer assignment and batch accuracy. Exit 1 on failure."""
    from hegui.corpus.annotation import (
        AnnotationError,
        audit_rules,
        check_assignment,
        load_labels,
        load_table,
        verification_sample,
        verify_batches,
    )

    failed = False
    try:
        audit = audit_rules(rules)
        typer.echo(
            f"rules {audit.path}: {len(audit.covered)}/31 risks covered, {audit.functional_rules} "
            "functional rules"
        )
        for p in audit.problems:
            typer.echo(f"  {p}")
        failed |= not audit.ok
        if labels is not None:
            labs = load_labels(labels)
            rep = check_assignment(labs, load_table(roster) if roster else None)
            typer.echo(f"labels: {rep.labels} in {rep.batches} batches")
            for p in rep.problems:
                typer.echo(f"  {p}")
            failed |= not rep.ok
            if sample_out is not None:
                sample_out.write_text(
                    json.dumps(verification_sample(labs, seed=seed), ensure_ascii=False, indent=1),
                    encoding="utf-8",
                )
                typer.echo(f"verification sample -> {sample_out}")
            if verified is not None:
                for b in verify_batches(labs, load_table(verified), min_accuracy):
                    typer.echo(
                        f"  batch {b.batch}: {b.correct}/{b.checked} correct ({b.accuracy:.1%}, "
                        f"95 % {b.low:.1%}-{b.high:.1%}): {b.verdict} {b.reason}"
                    )
                    failed |= b.verdict != "pass"
        elif verified is not None or roster is not None:
            raise _fail("--verified and --roster need --labels")
    except AnnotationError as exc:
        raise _fail(str(exc)) from None
    if failed:
        raise typer.Exit(1)


@corpus_app.command("report")
def report_cmd(
    run: Annotated[Path, typer.Argument(help="Run directory of a finished scan")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default RUN/report)")
    ] = None,
    interval: Annotated[str, typer.Option(help="clopper-pearson or wilson")] = "clopper-pearson",
) -> None:
    """HTML report with charts and corpus_summary.json for the assessment report."""
    from hegui.corpus.report import write_report
    from hegui.corpus.scan import ScanError

    if interval not in ("clopper-pearson", "wilson"):
        raise _fail("--interval must be clopper-pearson or wilson")
    try:
        html, summary = write_report(run, out, interval)
    except ScanError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{html}\n{summary}")
