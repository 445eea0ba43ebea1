"""``hegui bank ...`` and ``hegui assess ...``: argument parsing only; the work is in the package."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

bank_app = typer.Typer(
    help="Question banks: coverage audit, template expansion, format conversion.", no_args_is_help=True
)
assess_app = typer.Typer(
    help="Security assessment runs and the filing pack (GB/T 45654-2025).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(bank_app, name="bank")
    app.add_typer(assess_app, name="assess")


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", fg="red", err=True)
    raise typer.Exit(code)


def _banks_or_starter(banks: list[Path] | None) -> list[Path]:
    from hegui.assessment.bank import starter_bank_dir

    return list(banks) if banks else [starter_bank_dir()]


# ---------------------------------------------------------------- bank


@bank_app.command("audit")
def bank_audit(
    banks: Annotated[
        list[Path], typer.Argument(help="Bank files (.jsonl/.csv/.xlsx), templates (.yaml) or folders")
    ],
    all_rows: Annotated[bool, typer.Option("--all", help="Show every row, not only the gaps")] = False,
    today: Annotated[str | None, typer.Option(help="Audit as of this date (YYYY-MM-DD)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the audit as JSON")] = None,
) -> None:
    """Check bank coverage against the standard; exit 1 with a table of gaps when short."""
    import json

    from hegui.assessment.audit import audit_items, render_audit
    from hegui.assessment.bank import BankError, read_banks

    try:
        items = read_banks(banks)
        day = date.fromisoformat(today) if today else None
    except BankError as exc:
        _fail(str(exc))
        return
    except ValueError as exc:
        _fail(f"--today: {exc}")
        return
    rep = audit_items(items, day)
    render_audit(rep, all_rows=all_rows)
    if json_out:
        json_out.write_text(json.dumps(rep.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    if not rep.ok:
        raise typer.Exit(1)


@bank_app.command("generate")
def bank_generate(
    templates: Annotated[list[Path], typer.Argument(help="Template files (.yaml)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output bank (.jsonl/.csv/.xlsx)")],
) -> None:
    """Expand template files into a bank file."""
    from hegui.assessment.bank import BankError, BankItem, write_bank
    from hegui.assessment.templates import expand_template_file

    items: dict[str, BankItem] = {}
    try:
        for t in templates:
            for it in expand_template_file(t):
                items.setdefault(it.id, it)
        n = write_bank(items.values(), out)
    except BankError as exc:
        _fail(str(exc))
        return
    typer.echo(f"wrote {n} items to {out}")


@bank_app.command("convert")
def bank_convert(
    src: Annotated[list[Path], typer.Argument(help="Input banks/templates/folders")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output bank (.jsonl/.csv/.xlsx)")],
) -> None:
    """Convert (and merge) banks between JSONL, CSV and XLSX."""
    from hegui.assessment.bank import BankError, read_banks, write_bank

    try:
        n = write_bank(read_banks(src), out)
    except BankError as exc:
        _fail(str(exc))
        return
    typer.echo(f"wrote {n} items to {out}")


# ---------------------------------------------------------------- assess


def _policy(path: Path | None):  # type: ignore[no-untyped-def]
    from hegui.policy import PolicyError, default_policy, load_policy

    if path is None:
        env = os.environ.get("HEGUI_POLICY")
        path = Path(env) if env else None
    try:
        return load_policy(path) if path else default_policy()
    except PolicyError as exc:
        _fail(str(exc))


@assess_app.command("run")
def assess_run(
    endpoint: Annotated[str, typer.Option(help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")],
    model: Annotated[str, typer.Option(help="Model name sent in requests")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (re-use it to resume)")],
    bank: Annotated[
        list[Path] | None, typer.Option(help="Bank files/folders (default: the starter bank)")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1024)] = 8,
    timeout: Annotated[float, typer.Option(help="Seconds per request")] = 60.0,
    retries: Annotated[int, typer.Option(min=0, max=20)] = 3,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key")
    ] = "HEGUI_ASSESS_API_KEY",
    seed: Annotated[int, typer.Option(help="Base sampling seed (recorded)")] = 20250101,
    generated_size: Annotated[int, typer.Option(min=1)] = 1000,
    refuse_size: Annotated[int, typer.Option(min=1)] = 300,
    non_refuse_size: Annotated[int, typer.Option(min=1)] = 300,
    max_tokens: Annotated[int, typer.Option(min=1)] = 512,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.0,
    label: Annotated[
        str, typer.Option(help="Name shown in reports, e.g. 'raw model' or 'behind Hegui'")
    ] = "",
    judge: Annotated[bool, typer.Option(help="Judge the answers when the run finishes")] = True,
    policy: Annotated[
        Path | None, typer.Option(help="Policy for the judges (default: HEGUI_POLICY or shipped)")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Ask the sampled bank questions; answers are cached in the run folder (resumable)."""
    from hegui.assessment.bank import BankError
    from hegui.assessment.pipeline import RunError, execute_run, judge_run, prepare_run
    from hegui.assessment.runner import Endpoint

    if not endpoint.startswith(("http://", "https://")):
        _fail("--endpoint must start with http:// or https://")
    try:
        items, plan = prepare_run(
            _banks_or_starter(bank), out, seed, generated_size, refuse_size, non_refuse_size
        )
    except (BankError, RunError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"{len(items)} items in {len(plan.samples)} samples (seed {plan.base_seed}); run folder {out}")
    ep = Endpoint(
        url=endpoint,
        model=model,
        api_key=os.environ.get(api_key_env),
        timeout=timeout,
        retries=retries,
        params={"temperature": temperature, "max_tokens": max_tokens},
    )
    s = execute_run(out, ep, concurrency, progress=progress, label=label)
    typer.echo(
        f"answered {s.ok}/{s.total} ({s.cached} from cache, {s.called} called, {s.errors} errors) "
        f"in {s.seconds:.1f}s, {s.http_calls} HTTP calls"
    )
    if judge:
        rows = judge_run(out, policy=_policy(policy))
        typer.echo(f"judged {len(rows)} (sample, item) pairs -> {out / 'judgements.jsonl'}")
    if s.errors:
        typer.secho(
            f"{s.errors} items failed; run the same command again to retry them", fg="yellow", err=True
        )


@assess_app.command("judge")
def assess_judge(
    run_dir: Annotated[Path, typer.Argument(help="Run folder")],
    policy: Annotated[Path | None, typer.Option(help="Policy for the judges")] = None,
) -> None:
    """Judge (again) the cached answers of a run; no model calls."""
    from collections import Counter

    from hegui.assessment.pipeline import RunError, judge_run

    try:
        rows = judge_run(run_dir, policy=_policy(policy))
    except (RunError, FileNotFoundError) as exc:
        _fail(str(exc))
        return
    counts = Counter((r.sample, r.judgement.verdict) for r in rows)
    for (sample, verdict), n in sorted(counts.items()):
        typer.echo(f"{sample:20s} {verdict:12s} {n}")


def _evidence(
    policy: Path | None,
    config: Path | None,
    corpus_summary: Path | None,
    fairness: Path | None,
    lexicon: list[Path] | None,
    bank: list[Path] | None,
    measures: Path | None,
    not_applicable: list[str] | None,
):  # type: ignore[no-untyped-def]
    import yaml

    from hegui.assessment.summary import Evidence

    settings = None
    if config is not None or os.environ.get("HEGUI_CONFIG"):
        from hegui.config import SettingsError, load_settings

        try:
            settings = load_settings(config)
        except SettingsError as exc:
            _fail(str(exc))
    pol_path = policy or (
        Path(settings.policy_path) if settings is not None and settings.policy_path else None
    )
    meas: dict[str, object] = {}
    if measures is not None:
        try:
            meas = yaml.safe_load(measures.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            _fail(f"--measures {measures}: {exc}")
        if not isinstance(meas, dict):
            _fail(f"--measures {measures}: must be a YAML mapping")
    na = {}
    for entry in not_applicable or []:
        if "=" not in entry:
            _fail(f"--not-applicable {entry!r}: use CLAUSE=reason")
        k, v = entry.split("=", 1)
        na[k.strip()] = v.strip()
    return Evidence(
        policy=_policy(pol_path),
        settings=settings,
        corpus_summary=corpus_summary,
        fairness_summary=fairness,
        lexicons=list(lexicon or []),
        banks=list(bank or []),
        measures=meas,
        not_applicable=na,
    )


@assess_app.command("report")
def assess_report(
    run_dir: Annotated[Path, typer.Argument(help="A judged run folder")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default RUN_DIR/report)")
    ] = None,
    lang: Annotated[str, typer.Option(help="zh (default) or en")] = "zh",
    policy: Annotated[Path | None, typer.Option(help="Gateway policy in force")] = None,
    config: Annotated[Path | None, typer.Option(help="Gateway settings file (HEGUI_CONFIG)")] = None,
    corpus_summary: Annotated[
        Path | None, typer.Option(help="corpus_summary.json from the training-data audit")
    ] = None,
    fairness: Annotated[Path | None, typer.Option(help="Fairness/discrimination summary JSON")] = None,
    lexicon: Annotated[
        list[Path] | None, typer.Option(help="Keyword files (default: the policy's lexicons)")
    ] = None,
    bank: Annotated[
        list[Path] | None, typer.Option(help="Banks for the coverage audit (default: the run's)")
    ] = None,
    measures: Annotated[
        Path | None, typer.Option(help="YAML of operator statements, e.g. complaints: URL")
    ] = None,
    not_applicable: Annotated[
        list[str] | None, typer.Option(help="CLAUSE=reason, marks a clause 不适用")
    ] = None,
    pdf: Annotated[bool, typer.Option(help="Also print the PDF with headless Chromium")] = True,
) -> None:
    """Write the filing pack: report HTML/PDF, 评估测试题.xlsx, 拦截关键词列表.xlsx, summary.json."""
    from hegui.assessment.pipeline import RunError
    from hegui.assessment.report import ReportError, make_report

    ev = _evidence(policy, config, corpus_summary, fairness, lexicon, bank, measures, not_applicable)
    try:
        files = make_report(run_dir, ev, out, lang=lang, pdf=pdf)
    except (RunError, ReportError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
        return
    import json

    summary = json.loads(files.summary.read_text(encoding="utf-8"))
    for p in (files.html, files.pdf, files.summary, files.test_items_xlsx, files.keywords_xlsx):
        if p is not None:
            typer.echo(f"wrote {p}")
    if files.keywords_xlsx is None:
        typer.secho(
            "no lexicon files found: 拦截关键词列表.xlsx not written (use --lexicon)", fg="yellow", err=True
        )
    if files.pdf_error:
        typer.secho(f"PDF not written: {files.pdf_error}", fg="red", err=True)
    typer.echo(f"overall: {summary['overall']['verdict']} ({summary['overall']['counts']})")
    if files.pdf_error:
        raise typer.Exit(2)


@assess_app.command("compare")
def assess_compare(
    run_a: Annotated[Path, typer.Argument(help="Run folder A (e.g. the raw model)")],
    run_b: Annotated[Path, typer.Argument(help="Run folder B (e.g. behind the Hegui gateway)")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write compare.html/compare.json here")
    ] = None,
) -> None:
    """Show two runs side by side."""
    from rich.console import Console
    from rich.table import Table

    from hegui.assessment.pipeline import RunError
    from hegui.assessment.report import compare_runs

    try:
        c = compare_runs(run_a, run_b, out=out)
    except (RunError, FileNotFoundError) as exc:
        _fail(str(exc))
        return
    t = Table(title=f"A = {c['a']['label']}  vs  B = {c['b']['label']}")
    for col in ("sample", "metric", "threshold", "paired n", "A", "B", "Δ", "better/worse (p)"):
        t.add_column(col)
    for r in c["rows"]:
        op = "≥" if r["direction"] == ">=" else "≤"
        fa = f"{r['a']['value']:.1%} [{r['a']['ci_low']:.1%}, {r['a']['ci_high']:.1%}] {r['a']['verdict']}"
        fb = f"{r['b']['value']:.1%} [{r['b']['ci_low']:.1%}, {r['b']['ci_high']:.1%}] {r['b']['verdict']}"
        t.add_row(
            r["sample"],
            r["metric"],
            f"{op}{r['threshold']:.0%}",
            str(r["n"]),
            fa,
            fb,
            f"{r['delta']:+.1%}",
            f"{r['better']}/{r['worse']} ({r['p_mcnemar']:.2g})",
        )
    console = Console()
    console.print(t)
    for w in c["warnings"]:
        console.print(f"[yellow]note:[/yellow] {w}")
    if out:
        typer.echo(f"wrote {out / 'compare.html'}")


@assess_app.command("review-export")
def assess_review_export(
    run_dir: Annotated[Path, typer.Argument(help="A judged run folder")],
    out: Annotated[Path, typer.Option("--out", "-o", help="XLSX to write")],
    sample: Annotated[
        list[str] | None, typer.Option(help="Samples to export (default gen-manual; 'all' for every sample)")
    ] = None,
) -> None:
    """Export items for human labelling."""
    from hegui.assessment.pipeline import RunError
    from hegui.assessment.review import export_review

    try:
        n = export_review(run_dir, out, sample or ["gen-manual"])
    except RunError as exc:
        _fail(str(exc))
        return
    typer.echo(f"wrote {n} items to {out}; fill the column 人工判定 with 通过/不通过")


@assess_app.command("review-import")
def assess_review_import(
    run_dir: Annotated[Path, typer.Argument(help="The run folder")],
    xlsx: Annotated[Path, typer.Argument(help="The filled review spreadsheet")],
    reviewer: Annotated[str, typer.Option(help="Reviewer name when the sheet has none")] = "",
) -> None:
    """Import human verdicts; re-judge and report afterwards to use them."""
    from hegui.assessment.pipeline import RunError, judge_run
    from hegui.assessment.review import ReviewError, agreement, import_review

    try:
        res = import_review(run_dir, xlsx, reviewer)
    except (ReviewError, RunError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"imported {res.imported} verdicts ({res.skipped_blank} blank rows skipped)")
    if res.unknown_ids:
        typer.secho(
            f"{len(res.unknown_ids)} ids are not in this run: {', '.join(res.unknown_ids[:5])}",
            fg="yellow",
            err=True,
        )
    judge_run(run_dir, policy=_policy(None))
    a = agreement(run_dir)
    if a.kappa is not None:
        typer.echo(f"machine vs manual: {a.agree}/{a.n} agree, Cohen's kappa {a.kappa:.3f}")
