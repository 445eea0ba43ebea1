"""Streaming readers for training corpora, split into shards that workers can scan independently.

Nothing here loads a whole file: JSONL and plain text are read line by line (with a per-line size
limit, so a 50 MB line is skipped without being held in memory), JSON arrays through ``ijson``,
CSV through the ``csv`` module fed one decoded line at a time, Parquet one row-group batch at a
time. Bad input (malformed lines, corrupt compressed streams, truncated Parquet, undecodable
bytes, oversized records) becomes a ``Bad`` item with its line number; it is never raised.

Every item a reader yields carries ``pos``: the position to resume from after that item. For
byte-range shards (uncompressed JSONL/text) it is a byte offset into the file; for the other
shards it is the number of raw units (lines, rows, array elements) consumed. One raw unit gives
exactly one item, so a checkpoint taken after any item is exact.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, Field

FORMATS = ("jsonl", "json", "csv", "tsv", "parquet", "text")
_EXT_FORMAT = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
    ".text": "text",
    ".md": "text",
}
_COMPRESSION = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}

# Fields tried in order when the caller names none: the usual names in public corpora.
DEFAULT_TEXT_FIELDS = (
    "text",
    "content",
    "TEXT",
    "Text",
    "body",
    "document",
    "prompt",
    "instruction",
    "input",
    "question",
    "response",
    "output",
    "answer",
    "comment_text",
    "review",
)
_CONVERSATION_FIELDS = ("messages", "conversations", "conversation", "dialogue")

DETECT_BYTES = 64 * 1024


class ReadOptions(BaseModel):
    """How records are read. ``text_fields`` empty = auto (DEFAULT_TEXT_FIELDS, else all strings)."""

    text_fields: list[str] = Field(default_factory=list)
    max_record_bytes: int = Field(4 * 1024 * 1024, ge=1024)  # longer records are reported, not scanned
    shard_bytes: int = Field(64 * 1024 * 1024, ge=1024)  # byte-range size for uncompressed line files
    parquet_batch: int = Field(2048, ge=1)


@dataclass(slots=True)
class Record:
    pos: int  # resume position after this record
    key: int  # line number (line formats), element index (JSON), row number (Parquet)
    text: str
    obj: Any = None  # the decoded record (dict/str), for ``clean``
    notes: list[Bad] = field(default_factory=list)  # recovered problems (e.g. re-decoded line)


@dataclass(slots=True)
class Bad:
    """A problem with the input; ``line`` is 1-based where the format has lines."""

    pos: int
    kind: str  # malformed, encoding, oversized, corrupt, truncated, unreadable, no-text, unsupported
    message: str
    line: int | None = None
    fatal: bool = False  # the rest of the file could not be read
    recovered: bool = False  # the record was still read (e.g. decoded with a fallback encoding)

    def to_dict(self, file: str) -> dict[str, Any]:
        return {
            "file": file,
            "line": self.line,
            "kind": self.kind,
            "message": self.message,
            "fatal": self.fatal,
            "recovered": self.recovered,
        }


class Shard(BaseModel):
    """A unit of work. ``kind``: ``bytes`` (a [start, end) byte range of an uncompressed line
    file, starting at a line start), ``file`` (a whole file), ``rowgroup`` (one Parquet row group)."""

    id: int = 0
    source: str
    path: str
    rel: str  # path shown in reports: relative to the source root
    fmt: str
    compression: str = ""
    encoding: str = "utf-8"
    kind: str = "file"
    start: int = 0
    end: int = -1
    first_line: int = 1  # line number of the byte at ``start``
    row_group: int = -1
    row_offset: int = 0  # rows before this row group in the file
    size: int = 0  # bytes of input this shard covers (for progress and throughput)
    error: str = ""  # set when the file could not even be opened while planning

    @property
    def counted(self) -> bool:
        return self.kind != "bytes"


# --------------------------------------------------------------------------------------------
# discovery and planning


def detect_format(path: Path) -> tuple[str, str]:
    """(format, compression) from the file name; format "" when unknown."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = ""
    if suffixes and suffixes[-1] in _COMPRESSION:
        compression = _COMPRESSION[suffixes.pop()]
    fmt = _EXT_FORMAT.get(suffixes[-1], "") if suffixes else ""
    return fmt, compression


def iter_files(root: Path) -> Iterator[Path]:
    """Files under ``root`` in a stable order (sorted), hidden files skipped."""
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def open_binary(path: str | Path, compression: str) -> IO[bytes]:
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard

        return io.BufferedReader(_ZstdRaw(raw, zstandard), buffer_size=1 << 20)
    return raw


class _ZstdRaw(io.RawIOBase):
    """Zstandard frames decoded incrementally. Unlike ``stream_reader``, a stream cut short is an
    error here (``stream_reader`` just ends quietly, which would hide a truncated file)."""

    def __init__(self, raw: IO[bytes], zstd: Any):
        self._raw = raw
        self._zstd = zstd
        self._dobj = zstd.ZstdDecompressor().decompressobj()
        self._fed = False
        self._buf = b""

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()
        super().close()

    def readinto(self, b: Any) -> int:
        while not self._buf:
            chunk = self._raw.read(1 << 17)
            if not chunk:
                if self._fed and not self._dobj.eof:
                    raise self._zstd.ZstdError("zstd stream is truncated (frame not finished)")
                return 0
            while chunk:
                if self._dobj.eof:  # next frame of a multi-frame file
                    self._dobj = self._zstd.ZstdDecompressor().decompressobj()
                self._fed = True
                self._buf += self._dobj.decompress(chunk)
                chunk = self._dobj.unused_data if self._dobj.eof else b""
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error)


def _read_errors() -> tuple[type[BaseException], ...]:
    try:
        import zstandard

        return (*_READ_ERRORS, zstandard.ZstdError)
    except ImportError:  # pragma: no cover - zstandard is a dependency
        return _READ_ERRORS


def detect_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030, from the first bytes of a file.

    A multi-byte character cut at the end of ``head`` is not an error (incremental decode).
    Mixed files are handled per line by the readers, with the other encoding as fallback.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for enc in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(enc)().decode(head, final=False)
            return enc
        except UnicodeDecodeError:
            continue
    return "utf-8"


def _head(path: Path, compression: str) -> bytes:
    """The first bytes, or as many as decompress before a damaged spot (the readers then report
    the damage with the records read up to it); raises only when nothing at all can be read."""
    got = b""
    with open_binary(path, compression) as f:
        try:
            while len(got) < DETECT_BYTES:
                chunk = f.read(min(4096, DETECT_BYTES - len(got)))
                if not chunk:
                    break
                got += chunk
        except _read_errors():
            if not got:
                raise
    return got


def plan_source(name: str, root: Path, opts: ReadOptions) -> tuple[list[Shard], list[dict[str, Any]]]:
    """Shards for one source plus plan-time notes (files skipped because of unknown format)."""
    shards: list[Shard] = []
    skipped: list[dict[str, Any]] = []
    errors = _read_errors()
    if not root.exists():
        raise FileNotFoundError(f"source {name!r}: {root} does not exist")
    for path in iter_files(root):
        rel = path.name if root.is_file() else str(path.relative_to(root))
        fmt, comp = detect_format(path)
        if not fmt:
            skipped.append(
                {
                    "file": rel,
                    "line": None,
                    "kind": "unsupported",
                    "message": f"unknown file type {path.name!r}",
                }
            )
            continue
        size = path.stat().st_size
        base = {"source": name, "path": str(path), "rel": rel, "fmt": fmt, "compression": comp, "size": size}
        if fmt == "parquet":
            shards.extend(_plan_parquet(base))
            continue
        try:
            enc = detect_encoding(_head(path, comp))
        except errors as exc:
            shards.append(Shard(**base, error=f"cannot read: {exc}"))
            continue
        if comp or fmt not in ("jsonl", "text") or size <= opts.shard_bytes:
            shards.append(Shard(**base, encoding=enc))
        else:
            shards.extend(_split_lines(base, enc, opts.shard_bytes))
    return shards, skipped


def _plan_parquet(base: dict[str, Any]) -> list[Shard]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(base["path"]).metadata
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for truncated or foreign files
        return [Shard(**base, error=f"not a readable Parquet file (truncated?): {exc}")]
    out: list[Shard] = []
    offset = 0
    n = meta.num_row_groups
    for rg in range(n):
        rows = meta.row_group(rg).num_rows
        part = dict(base, size=base["size"] // max(n, 1))
        out.append(Shard(**part, kind="rowgroup", row_group=rg, row_offset=offset))
        offset += rows
    if not out:
        out.append(Shard(**base))  # empty file: one shard that yields nothing
    return out


def _split_lines(base: dict[str, Any], enc: str, shard_bytes: int) -> list[Shard]:
    """Byte ranges cut at line starts, with the line number of each start (one pass over the file)."""
    out: list[Shard] = []
    size = base["size"]
    start, line_at_start, lines = 0, 1, 0
    pos = 0
    with open(base["path"], "rb") as f:
        while pos < size:
            target = start + shard_bytes
            # count newlines up to the target, then extend to the next newline
            while pos < target and pos < size:
                chunk = f.read(min(1 << 20, target - pos))
                if not chunk:
                    break
                lines += chunk.count(b"\n")
                pos += len(chunk)
            if pos >= size:
                break
            rest = f.readline()
            pos += len(rest)
            lines += rest.count(b"\n")
            out.append(
                Shard(
                    **dict(base, size=pos - start),
                    encoding=enc,
                    kind="bytes",
                    start=start,
                    end=pos,
                    first_line=line_at_start,
                )
            )
            start, line_at_start = pos, lines + 1
    if start < size or not out:
        out.append(
            Shard(
                **dict(base, size=size - start),
                encoding=enc,
                kind="bytes",
                start=start,
                end=size,
                first_line=line_at_start,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# decoding and text extraction


def _fallback(enc: str) -> str:
    return "gb18030" if enc.startswith("utf-8") else "utf-8"


def decode_line(raw: bytes, enc: str, line: int | None, pos: int) -> tuple[str, Bad | None]:
    """Decode with the file's encoding; on failure try the other one, then replace bad bytes."""
    try:
        return raw.decode(enc), None
    except UnicodeDecodeError as exc:
        alt = _fallback(enc)
        try:
            text = raw.decode(alt)
            return text, Bad(pos, "encoding", f"line is {alt}, file is {enc}", line, recovered=True)
        except UnicodeDecodeError:
            text = raw.decode(enc, "replace")
            return text, Bad(
                pos, "encoding", f"undecodable bytes at {exc.start}: replaced", line, recovered=True
            )


def extract_text(obj: Any, fields: Iterable[str]) -> str | None:
    """The text of a record: named fields joined, else a default field, else every string value."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, list):
        parts = [extract_text(x, fields) for x in obj]
        joined = "\n".join(p for p in parts if p)
        return joined or None
    if not isinstance(obj, dict):
        return None
    names = list(fields)
    if names:
        parts = [_as_text(obj.get(k)) for k in names]
        joined = "\n".join(p for p in parts if p)
        return joined or None
    for k in DEFAULT_TEXT_FIELDS:
        v = obj.get(k)
        if isinstance(v, str) and v:
            return v
    for k in _CONVERSATION_FIELDS:
        v = obj.get(k)
        if isinstance(v, list):
            return extract_text(
                [m.get("content", m.get("value")) if isinstance(m, dict) else m for m in v], ()
            )
    strings = [v for v in obj.values() if isinstance(v, str) and v]
    return "\n".join(strings) or None


def _as_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, list | dict):
        return extract_text(v, ())
    return str(v)


# --------------------------------------------------------------------------------------------
# readers


def read_shard(shard: Shard, opts: ReadOptions, resume: int = 0) -> Iterator[Record | Bad]:
    """Items of one shard from ``resume`` on. Never raises for bad input."""
    if shard.error:
        if resume == 0:
            yield Bad(1, "unreadable", shard.error, None, fatal=True)
        return
    if shard.fmt == "parquet":
        yield from _read_parquet(shard, opts, resume)
        return
    errors = _read_errors()
    try:
        f = open_binary(shard.path, shard.compression)
    except OSError as exc:
        if resume == 0:
            yield Bad(1, "unreadable", f"cannot open: {exc}", None, fatal=True)
        return
    with f:
        gen: Iterator[Record | Bad]
        if shard.fmt == "json":
            gen = _read_json(f, shard, opts)
        elif shard.fmt in ("csv", "tsv"):
            gen = _read_csv(f, shard, opts)
        else:
            gen = _read_lines(f, shard, opts, resume)
        last = resume
        try:
            for item in gen:
                # counted formats re-read from the start and drop what was already done
                if shard.counted and item.pos <= resume:
                    continue
                last = item.pos
                yield item
        except errors as exc:
            yield Bad(
                last + 1 if shard.counted else last, "corrupt", f"stream ended early: {exc}", None, fatal=True
            )


def _raw_lines(
    f: IO[bytes], limit: int, start_line: int, start_pos: int, end: int
) -> Iterator[tuple[int, int, bytes | None]]:
    """(line number, position after the line, bytes or None when longer than ``limit``).

    The oversized line is skipped in ``limit``-sized reads so it is never held whole.
    """
    line, pos = start_line, start_pos
    while end < 0 or pos < end:
        raw = f.readline(limit + 1)
        if not raw:
            return
        pos += len(raw)
        if len(raw) > limit and not raw.endswith(b"\n"):
            while True:
                rest = f.readline(limit)
                pos += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield line, pos, None
        else:
            yield line, pos, raw
        line += 1


def _read_lines(f: IO[bytes], shard: Shard, opts: ReadOptions, resume: int) -> Iterator[Record | Bad]:
    is_json = shard.fmt == "jsonl"
    enc = shard.encoding
    start_line = shard.first_line
    if shard.kind == "bytes":
        start = shard.start
        if resume > start:
            # the line number at ``resume`` is recomputed from the shard start: cheap, and exact
            f.seek(start)
            start_line += f.read(resume - start).count(b"\n")
            start = resume
        f.seek(start)
        if start == 0 and enc == "utf-8-sig":
            bom = f.read(3)
            if bom != codecs.BOM_UTF8:
                f.seek(0)
            else:
                start = 3
        pos0, end = start, shard.end
    else:
        pos0, end = 0, -1
    counted = shard.counted
    n = 0
    line_enc = "utf-8" if enc == "utf-8-sig" else enc
    for line, pos, raw in _raw_lines(f, opts.max_record_bytes, start_line, pos0, end):
        n += 1
        p = n if counted else pos
        if raw is None:
            yield Bad(p, "oversized", f"record longer than {opts.max_record_bytes} bytes: skipped", line)
            continue
        if line == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[3:]
        stripped = raw.strip()
        if not stripped:
            yield Bad(p, "empty", "empty line", line, recovered=True)
            continue
        text, note = decode_line(stripped, line_enc, line, p)
        notes = [note] if note else []
        if not is_json:
            yield Record(p, line, text, text, notes)
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            yield Bad(p, "malformed", f"invalid JSON: {exc}", line)
            continue
        body = extract_text(obj, opts.text_fields)
        if body is None:
            yield Bad(p, "no-text", "record has no text field", line)
            continue
        yield Record(p, line, body, obj, notes)


class _Transcode(io.RawIOBase):
    """A byte stream in some encoding re-encoded to UTF-8 (ijson wants UTF-8 bytes)."""

    def __init__(self, f: IO[bytes], enc: str):
        self._f = f
        self._dec = codecs.getincrementaldecoder(enc)("replace")
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            chunk = self._f.read(1 << 16)
            self._buf = self._dec.decode(chunk, final=not chunk).encode("utf-8")
            if not chunk:
                break
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _ijson() -> Any:
    """ijson's pure-Python backend: the C backend (yajl2_c) is quadratic on very long strings
    (a 50 MB string takes minutes), and JSON decoding is not the bottleneck of a scan."""
    import ijson

    return ijson.get_backend("python")


def _json_prefix(f: IO[bytes]) -> tuple[str, bytes]:
    """``item`` for a top-level array; ``KEY.item`` for the first array value of a top-level object."""
    ijson = _ijson()
    head = f.read(1 << 16)
    first = head.lstrip()[:1]
    if first == b"[":
        return "item", head
    if first == b"{":
        stream = io.BytesIO(head)
        try:
            for prefix, event, _ in ijson.parse(stream):
                if event == "start_array" and prefix and "." not in prefix:
                    return f"{prefix}.item", head
        except Exception:  # undecidable from the head alone: fall through to whole-file items
            pass
        return "", head
    return "item", head


class _Prepend(io.RawIOBase):
    def __init__(self, head: bytes, f: IO[bytes]):
        self._head = head
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._f.read(len(b))
        b[: len(data)] = data
        return len(data)


def _read_json(f: IO[bytes], shard: Shard, opts: ReadOptions) -> Iterator[Record | Bad]:
    import ijson.common

    backend = _ijson()
    src: IO[bytes] = f
    if shard.encoding not in ("utf-8", "utf-8-sig"):
        src = io.BufferedReader(_Transcode(f, shard.encoding))  # type: ignore[arg-type]
    prefix, head = _json_prefix(src)
    if head.startswith(codecs.BOM_UTF8):
        head = head[3:]
    stream = io.BufferedReader(_Prepend(head, src))  # type: ignore[arg-type]
    n = 0
    try:
        for obj in backend.items(stream, prefix, use_float=True):
            n += 1
            body = extract_text(obj, opts.text_fields)
            if body is None:
                yield Bad(n, "no-text", f"element {n} has no text field", None)
            elif len(body) * 3 > opts.max_record_bytes and len(body.encode("utf-8")) > opts.max_record_bytes:
                yield Bad(
                    n, "oversized", f"element {n} longer than {opts.max_record_bytes} bytes: skipped", None
                )
            else:
                yield Record(n, n, body, obj)
    except ijson.common.IncompleteJSONError as exc:
        yield Bad(n + 1, "malformed", f"invalid JSON after element {n}: {exc}", None, fatal=True)
    except ijson.common.JSONError as exc:
        yield Bad(n + 1, "malformed", f"invalid JSON after element {n}: {exc}", None, fatal=True)


def _read_csv(f: IO[bytes], shard: Shard, opts: ReadOptions) -> Iterator[Record | Bad]:
    enc = "utf-8" if shard.encoding == "utf-8-sig" else shard.encoding
    pending: list[Bad] = []
    state = {"line": 0}

    def lines() -> Iterator[str]:
        for line, _pos, raw in _raw_lines(f, opts.max_record_bytes, 1, 0, -1):
            state["line"] = line
            if raw is None:
                pending.append(
                    Bad(0, "oversized", f"line longer than {opts.max_record_bytes} bytes: skipped", line)
                )
                yield "\n"
                continue
            if line == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            text, note = decode_line(raw, enc, line, 0)
            if note:
                pending.append(note)
            yield text

    csv.field_size_limit(max(opts.max_record_bytes, 131072))
    reader = csv.reader(lines(), delimiter="\t" if shard.fmt == "tsv" else ",")
    header: list[str] | None = None
    n = 0
    while True:
        start_line = state["line"] + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            n += 1
            yield Bad(n, "malformed", f"bad CSV row: {exc}", start_line)
            pending.clear()
            continue
        if header is None:
            header = row
            pending.clear()
            continue
        n += 1
        notes = [_at(b, n) for b in pending]
        pending.clear()
        fatal = [b for b in notes if not b.recovered]
        if fatal:
            yield fatal[0]
            continue
        if not row or all(not c.strip() for c in row):
            yield Bad(n, "empty", "empty row", start_line, recovered=True)
            continue
        obj = dict(zip(header, row, strict=False))
        if len(row) != len(header):
            notes.append(
                Bad(
                    n, "malformed", f"{len(row)} fields, header has {len(header)}", start_line, recovered=True
                )
            )
        body = extract_text(obj, opts.text_fields)
        if body is None:
            yield Bad(n, "no-text", "row has no text column", start_line)
            continue
        yield Record(n, start_line, body, obj, notes)


def _at(b: Bad, pos: int) -> Bad:
    b.pos = pos
    return b


def parquet_text_column(schema: Any, fields: list[str]) -> list[str]:
    import pyarrow as pa

    names = list(schema.names)
    if fields:
        missing = [c for c in fields if c not in names]
        if missing:
            raise KeyError(f"column(s) {missing} not in Parquet schema {names}")
        return fields
    for k in DEFAULT_TEXT_FIELDS:
        if k in names and pa.types.is_string(schema.field(k).type) | pa.types.is_large_string(
            schema.field(k).type
        ):
            return [k]
    strings = [
        n
        for n in names
        if pa.types.is_string(schema.field(n).type) or pa.types.is_large_string(schema.field(n).type)
    ]
    return strings


def _read_parquet(shard: Shard, opts: ReadOptions, resume: int) -> Iterator[Record | Bad]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(shard.path)
        cols = parquet_text_column(pf.schema_arrow, opts.text_fields)
    except Exception as exc:
        if resume == 0:
            yield Bad(1, "unreadable", f"cannot read Parquet: {exc}", None, fatal=True)
        return
    if not cols:
        if resume == 0:
            yield Bad(1, "no-text", "Parquet file has no string column", None, fatal=True)
        return
    n = 0
    try:
        groups = [shard.row_group] if shard.row_group >= 0 else list(range(pf.num_row_groups))
        for batch in pf.iter_batches(batch_size=opts.parquet_batch, row_groups=groups, columns=cols):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for values in zip(*columns, strict=True):
                n += 1
                if n <= resume:
                    continue
                row = shard.row_offset + n
                body = "\n".join(v for v in values if isinstance(v, str) and v)
                if not body:
                    yield Bad(n, "no-text", f"row {row} has no text", row)
                elif (
                    len(body) * 3 > opts.max_record_bytes
                    and len(body.encode("utf-8")) > opts.max_record_bytes
                ):
                    yield Bad(
                        n, "oversized", f"row {row} longer than {opts.max_record_bytes} bytes: skipped", row
                    )
                else:
                    yield Record(n, row, body, dict(zip(cols, values, strict=True)))
    except Exception as exc:  # a damaged page/row group: report it, keep the rows already read
        yield Bad(
            n + 1, "corrupt", f"Parquet row group {shard.row_group} unreadable: {exc}", None, fatal=True
        )


def iter_records(
    path: str | Path, opts: ReadOptions | None = None, source: str = ""
) -> Iterator[tuple[Shard, Record | Bad]]:
    """Every item of a file or folder, in order: the simple single-process entry point."""
    opts = opts or ReadOptions()
    root = Path(path)
    shards, _ = plan_source(source or root.name, root, opts)
    for shard in shards:
        for item in read_shard(shard, opts):
            yield shard, item
