"""Reading user-supplied text files: encoding detection (UTF-8 with or without BOM, GB18030) and
JSON Lines with per-line errors. Every capability that reads a file of texts (moderation batches,
question banks, training sets, benchmark items) uses these, so a GB18030 file or a broken line is
handled the same way everywhere.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

ENCODINGS = ("utf-8-sig", "gb18030")


class EncodingError(ValueError):
    """The file is neither UTF-8 nor GB18030."""


def detect_encoding(path: Path, chunk: int = 1 << 20) -> str:
    """``utf-8-sig`` when the whole file is valid UTF-8 (BOM or not), else ``gb18030``.

    The whole file is decoded incrementally (constant memory): a file that is UTF-8 for its first
    megabyte and GB18030 later must not be misread. A file that is neither fails with the byte
    offset of the first bad byte.
    """
    bad_at = 0
    for enc in ENCODINGS:
        dec = codecs.getincrementaldecoder(enc)()
        offset = 0
        try:
            with path.open("rb") as fh:
                while block := fh.read(chunk):
                    dec.decode(block)
                    offset += len(block)
                dec.decode(b"", final=True)
            return enc
        except UnicodeDecodeError as exc:
            bad_at = offset + exc.start
            continue
    raise EncodingError(f"{path}: neither UTF-8 nor GB18030 (first undecodable byte near offset {bad_at})")


def open_text(path: Path) -> TextIO:
    """Open a text file for reading in its detected encoding (universal newlines off, for CSV)."""
    return path.open("r", encoding=detect_encoding(path), newline="")


@dataclass(slots=True)
class JsonLine:
    line: int  # 1-based line number
    obj: dict[str, Any] | None  # the parsed object, or None when ``error`` says why not
    error: str | None = None


def json_lines(lines: Iterable[str]) -> Iterator[JsonLine]:
    """Parse JSON Lines: one object per non-blank line; a bad line becomes an error, not an exception."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield JsonLine(n, None, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if isinstance(obj, dict):
            yield JsonLine(n, obj)
        else:
            yield JsonLine(n, None, "each line must be a JSON object")
