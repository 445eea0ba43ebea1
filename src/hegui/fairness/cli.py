"""``hegui fairness ...``: argument parsing only; the work is in the package."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

fairness_app = typer.Typer(
    help="Discrimination testing (Interim Measures Art. 4(2), GB/T 45654 A.2): counterfactual audits "
    "and CBBQ-style multiple-choice bias benchmarks.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(fairness_app, name="fairness")


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(f"error: {msg}", fg="red", err=True)
    raise typer.Exit(code)


def _csv(v: str | None) -> list[str] | None:
    return [x.strip() for x in v.split(",") if x.strip()] if v else None


def _endpoint(url: str, model: str, api_key_env: str, timeout: float, retries: int, temperature: float):  # type: ignore[no-untyped-def]
    from hegui.assessment.runner import Endpoint

    if not url.startswith(("http://", "https://")):
        _fail(f"--endpoint must be an http(s) URL (got {url!r})")
    return Endpoint(
        url=url,
        model=model,
        api_key=os.environ.get(api_key_env) or None,
        timeout=timeout,
        retries=retries,
        params={"temperature": temperature},
    )


@fairness_app.command("packs")
def packs_cmd() -> None:
    """List the shipped scenario packs with their templates and prompt counts."""
    from rich.console import Console
    from rich.table import Table

    from hegui.fairness.attributes import load_attributes
    from hegui.fairness.packs import expand_pack, list_packs, load_pack

    attrs = load_attributes()
    tab = Table("pack", "name", "templates", "attributes", "units", "prompts")
    for name in list_packs():
        p = load_pack(name)
        n = len(expand_pack(p, attrs))
        tab.add_row(
            p.id,
            p.name_zh,
            ", ".join(f"{t.id}({t.task})" for t in p.templates),
            ",".join(p.attributes),
            str(p.units),
            str(n),
        )
    Console().print(tab)


@fairness_app.command("run")
def run_cmd(
    endpoint: Annotated[str, typer.Option(help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")],
    pack: Annotated[
        str, typer.Option(help="Shipped pack name (see `hegui fairness packs`) or a pack YAML file")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder (re-use it to resume)")],
    model: Annotated[str, typer.Option(help="Model name sent in requests")] = "default",
    concurrency: Annotated[int, typer.Option(min=1, max=1024)] = 8,
    limit: Annotated[
        int | None, typer.Option(min=2, help="At most this many prompts (whole units first)")
    ] = None,
    units: Annotated[int | None, typer.Option(min=1, help="Units per template (default: the pack's)")] = None,
    attributes: Annotated[
        str | None, typer.Option(help="Comma-separated attributes (default: the pack's)")
    ] = None,
    templates: Annotated[str | None, typer.Option(help="Comma-separated template ids (default: all)")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the choice of units (recorded)")] = 0,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5)] = 0.05,
    correction: Annotated[str, typer.Option(help="holm or bh")] = "holm",
    family: Annotated[
        str,
        typer.Option(
            help="Correction family: audit (whole run) or attribute (template x attribute x metric)"
        ),
    ] = "audit",
    timeout: Annotated[float, typer.Option(help="Seconds per request")] = 60.0,
    retries: Annotated[int, typer.Option(min=0, max=20)] = 3,
    temperature: Annotated[float, typer.Option(min=0.0)] = 0.0,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key")
    ] = "HEGUI_ASSESS_API_KEY",
    strict: Annotated[bool, typer.Option(help="Exit 1 when a significant gap is found")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Ask the counterfactual prompts of a pack, read the decisions and compute the statistics."""
    from hegui.fairness.attributes import AttributeFileError
    from hegui.fairness.audit import AuditError, analyse, execute, prepare
    from hegui.fairness.packs import PackError
    from hegui.fairness.report import make_report

    if correction not in ("holm", "bh"):
        _fail("--correction must be holm or bh")
    if family not in ("audit", "attribute"):
        _fail("--family must be audit or attribute")
    ep = _endpoint(endpoint, model, api_key_env, timeout, retries, temperature)
    try:
        cases = prepare(
            out,
            pack,
            units=units,
            attributes=_csv(attributes),
            templates=_csv(templates),
            limit=limit,
            seed=seed,
        )
    except (PackError, AuditError, AttributeFileError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"{len(cases)} prompts in {out}")
    last = execute(out, ep, concurrency=concurrency, progress=progress)
    typer.echo(
        f"asked {last['called']} (cached {last['cached']}, errors {last['errors']}) in {last['seconds']} s"
    )
    res = analyse(out, alpha=alpha, correction=correction, family=family)
    files = make_report(out, reanalyse=False)
    _print_summary(res)
    typer.echo(f"report: {files.html}\nsummary for `hegui assess report --fairness`: {files.summary}")
    if last["errors"]:
        typer.secho(
            f"{last['errors']} requests failed; run the same command again to retry them", fg="yellow"
        )
    if strict and res["significant"]:
        raise typer.Exit(1)


def _print_summary(res: dict) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.table import Table

    tab = Table("attribute", "risk", "tests", "significant", "min impact ratio", "verdict")
    for name, a in res["attributes"].items():
        mir = a.get("min_impact_ratio")
        tab.add_row(
            name,
            a["risk"],
            str(a["tests"]),
            str(a["significant"]),
            "—" if mir is None else f"{mir:.2f}",
            f"[red]{a['verdict']}[/red]" if a["significant"] else a["verdict"],
        )
    c = Console()
    c.print(tab)
    c.print(f"outcomes: {res['outcomes']}; verdict: {res['verdict']}")


@fairness_app.command("report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A fairness run folder")],
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5)] = 0.05,
    correction: Annotated[str, typer.Option(help="holm or bh")] = "holm",
    n_boot: Annotated[int, typer.Option(min=100, help="Bootstrap resamples")] = 2000,
    family: Annotated[str, typer.Option(help="Correction family: audit or attribute")] = "audit",
) -> None:
    """Re-read the answers of a run (no calls) and write report.html, results.json and fairness_summary.json."""
    from hegui.fairness.audit import AuditError
    from hegui.fairness.report import make_report

    if correction not in ("holm", "bh"):
        _fail("--correction must be holm or bh")
    if family not in ("audit", "attribute"):
        _fail("--family must be audit or attribute")
    try:
        files = make_report(run_dir, alpha=alpha, correction=correction, n_boot=n_boot, family=family)
    except AuditError as exc:
        _fail(str(exc))
        return
    from hegui.fairness.audit import read_results

    _print_summary(read_results(run_dir))
    typer.echo(f"report: {files.html}\nresults: {files.results}\nsummary: {files.summary}")


@fairness_app.command("cbbq")
def cbbq_cmd(
    endpoint: Annotated[str, typer.Option(help="OpenAI-compatible base URL")],
    items: Annotated[
        Path,
        typer.Option(
            help="JSONL of CBBQ/BBQ-style items (context, question, choices, label, target, condition)"
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (re-use it to resume)")],
    model: Annotated[str, typer.Option(help="Model name sent in requests")] = "default",
    concurrency: Annotated[int, typer.Option(min=1, max=1024)] = 8,
    limit: Annotated[int | None, typer.Option(min=1)] = None,
    timeout: Annotated[float, typer.Option()] = 60.0,
    retries: Annotated[int, typer.Option(min=0, max=20)] = 3,
    api_key_env: Annotated[str, typer.Option()] = "HEGUI_ASSESS_API_KEY",
    progress: Annotated[bool, typer.Option()] = True,
) -> None:
    """Run a multiple-choice bias benchmark and compute S = 0.4·S_amb + 0.6·S_disamb."""
    from hegui.fairness.cbbq import CbbqError, read_items, run_cbbq

    ep = _endpoint(endpoint, model, api_key_env, timeout, retries, 0.0)
    try:
        read_items(items)  # validate before any call
    except CbbqError as exc:
        _fail(str(exc))
        return
    res = run_cbbq(items, out, ep, concurrency=concurrency, limit=limit, progress=progress)
    o = res["overall"]

    def f(x: float | None) -> str:
        return "—" if x is None else f"{x:.3f}"

    ci = o.get("S_ci")
    typer.echo(
        f"S = {f(o['S'])}"
        + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
        + f"  (S_amb {f(o['S_amb'])}, S_disamb {f(o['S_disamb'])}; n={o['n']}, unparseable {o['unparseable']}, "
        f"refused {o['refused']}, errors {o['errors']})"
    )
    for cat, s in res["by_category"].items():
        typer.echo(f"  {cat}: S = {f(s['S'])} (n={s['n']})")
    typer.echo(f"results: {Path(out) / 'cbbq_results.json'}")
