"""Moderate a file of texts (JSONL, CSV, TXT) into a JSONL of verdicts, in input order.

A bad record (invalid JSON, missing field, undecodable bytes) becomes an output row with
``error`` and its line number, and the run goes on: nothing is silently dropped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hegui.moderation.engine import Moderator
from hegui.text.files import EncodingError, json_lines, open_text

FORMATS = (".jsonl", ".csv", ".txt")


class InputError(ValueError):
    """The input file as a whole cannot be read (wrong format, unknown encoding, missing column)."""


@dataclass(slots=True)
class Record:
    line: int  # 1-based line number where the record starts
    text: str | None
    error: str | None = None


def read_records(path: Path, text_field: str | None = None) -> Iterator[Record]:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"{path}: unsupported input type {suffix!r}; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        fh = open_text(path)
    except EncodingError as exc:
        raise InputError(str(exc)) from None
    with fh:
        if suffix == ".txt":
            yield from _txt(fh)
        elif suffix == ".jsonl":
            yield from _jsonl(fh, text_field or "text")
        else:
            yield from _csv(fh, path, text_field or "text")


def _txt(fh: TextIO) -> Iterator[Record]:
    for n, line in enumerate(fh, 1):
        yield Record(n, line.rstrip("\r\n"))


def _jsonl(fh: TextIO, field: str) -> Iterator[Record]:
    for jl in json_lines(fh):
        n, obj = jl.line, jl.obj
        if obj is None:
            yield Record(n, None, jl.error)
        elif field not in obj:
            yield Record(n, None, f"no field {field!r} in this JSON line")
        elif not isinstance(obj[field], str):
            yield Record(n, None, f"field {field!r} is {type(obj[field]).__name__}, not a string")
        else:
            yield Record(n, obj[field])


def _csv(fh: TextIO, path: Path, field: str) -> Iterator[Record]:
    reader = csv.DictReader(fh)
    if reader.fieldnames is None or field not in reader.fieldnames:
        cols = ", ".join(reader.fieldnames or [])
        raise InputError(f"{path}: no column {field!r} (columns: {cols}); choose one with --text-field")
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        value = row.get(field)
        if value is None:
            yield Record(start, None, f"row has no value for column {field!r}")
        else:
            yield Record(start, value)


def moderate_records(
    records: Iterator[Record],
    out: TextIO | io.StringIO,
    moderator: Moderator,
    role: str = "output",
    on_record: Callable[[Record, dict[str, Any]], None] | None = None,
) -> dict[str, int]:
    """Write one JSON line per record; returns counts (total, flagged, errors)."""
    counts = {"total": 0, "flagged": 0, "errors": 0}
    for rec in records:
        counts["total"] += 1
        row: dict[str, Any]
        if rec.error is not None or rec.text is None:
            counts["errors"] += 1
            row = {"line": rec.line, "error": rec.error}
        else:
            verdict = moderator.check(rec.text, role=role)
            counts["flagged"] += verdict.flagged
            row = {"line": rec.line, **verdict.to_dict()}
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
        if on_record is not None:
            on_record(rec, row)
    return counts
