"""``hegui label``, ``hegui detect``, ``hegui propagate``. Wiring only: logic lives in files.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _fail(msg: str, code: int = 2) -> None:
    typer.secho(msg, err=True, fg="red")
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    @app.command("label")
    def label_cmd(
        files: Annotated[list[Path], typer.Argument(help="Files or folders (recursed) to label.")],
        producer: Annotated[
            str, typer.Option("--producer", help="27-character provider code (00 + subject + extension).")
        ],
        explicit: Annotated[
            bool, typer.Option("--explicit/--no-explicit", help="Also add the visible/audible mark.")
        ] = True,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write labeled copies here instead of in place.")
        ] = None,
        produce_id: Annotated[
            str | None, typer.Option("--produce-id", help="Content number (default: a fresh UUID per file).")
        ] = None,
        notice: Annotated[
            str, typer.Option("--notice", help="Explicit notice for text files.")
        ] = "本内容由人工智能生成",
        watermark: Annotated[
            bool,
            typer.Option(
                "--watermark/--no-watermark", help="Also embed the invisible watermark (images, WAV/FLAC)."
            ),
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    ) -> None:
        """Add the GB 45438 implicit label (and explicit mark) to files."""
        from hegui.labeling.files import label_file, run_batch
        from hegui.labeling.implicit import ImplicitLabel, validate_provider_code

        try:
            validate_provider_code(producer)
        except ValueError as exc:
            _fail(f"--producer: {exc}")
        results = run_batch(
            files,
            lambda f: label_file(
                f,
                ImplicitLabel.for_producer(producer, produce_id),
                explicit=explicit,
                out_dir=out,
                watermark=watermark,
            ),
            progress=not as_json,
        )
        _report(results, as_json, ("format", "explicit", "output"))

    @app.command("detect")
    def detect_cmd(
        files: Annotated[list[Path], typer.Argument(help="Files or folders (recursed) to inspect.")],
        declared: Annotated[
            bool,
            typer.Option("--declared/--not-declared", help="The uploader declared the content AI-generated."),
        ] = False,
        watermark: Annotated[
            bool,
            typer.Option(
                "--watermark/--no-watermark", help="Also look for the invisible watermark (images, audio)."
            ),
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    ) -> None:
        """Report implicit label, explicit mark, watermark and the platform verdict (1/2/3/none)."""
        from hegui.labeling.files import detect_file, run_batch

        results = run_batch(
            files,
            lambda f: detect_file(f, declared=declared, watermark=watermark),
            progress=not as_json,
            description="detecting",
        )
        _report(results, as_json, ("modality", "implicit_valid", "explicit", "watermark", "verdict"))

    @app.command("propagate")
    def propagate_cmd(
        file: Annotated[Path, typer.Argument(help="The uploaded file.")],
        platform: Annotated[
            str, typer.Option("--platform", help="Our 27-character provider code as propagator.")
        ],
        declared: Annotated[
            bool,
            typer.Option("--declared/--not-declared", help="The uploader declared the content AI-generated."),
        ] = False,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write the re-labeled copy here instead of in place.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Platform side (Labeling Measures Art. 6): decide the notice and write propagator fields."""
        from hegui.labeling.files import propagate_file
        from hegui.labeling.implicit import LabelError, validate_provider_code

        try:
            validate_provider_code(platform)
        except ValueError as exc:
            _fail(f"--platform: {exc}")
        try:
            r = propagate_file(file, platform, declared, out_dir=out)
        except LabelError as exc:
            _fail(str(exc))
            return
        if as_json:
            typer.echo(json.dumps(r.model_dump(), ensure_ascii=False))
        else:
            typer.echo(
                f"{r.path}: verdict {r.verdict or 'none'}"
                + (f" — {r.notice}" if r.notice else " — nothing written")
            )


def _report(results: list, as_json: bool, cols: tuple[str, ...]) -> None:  # type: ignore[type-arg]
    bad = [r for r in results if not r.ok]
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in results], ensure_ascii=False, indent=1))
    else:
        from rich.console import Console
        from rich.table import Table

        t = Table("file", *cols, "error")
        for r in results:
            res = r.result or {}
            t.add_row(
                r.path, *[str(res.get(c, "")) if res.get(c) is not None else "-" for c in cols], r.error or ""
            )
        Console().print(t)
        typer.echo(f"{len(results) - len(bad)} ok, {len(bad)} skipped")
    if results and len(bad) == len(results):
        raise typer.Exit(2)
