"""Labelled data for the classifier: CSV or JSONL files -> ``Example(text, risks)``.

A row says a text is safe (no risk) or carries one or more Appendix A risk codes. Where the
risk comes from is configurable, because public data sets label differently:

* a ``risk`` column holding a code (``A2.e``), or a label column that holds codes directly;
* a binary label plus a topic column mapped to codes (COLD: ``race`` -> A2.a, ...);
* a binary label plus one fixed risk for the whole file (SWSR: sexism -> A2.e).

Known layouts (COLD, SWSR) are recognised by their columns, so ``--data FILE`` just works for
them; anything else names its columns in a :class:`DatasetSpec`.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from hegui.taxonomy import is_known_kind
from hegui.text.files import EncodingError, json_lines, open_text

# COLD topics -> Appendix A codes. Race in COLD covers ethnic groups and skin colour: A2.a.
COLD_TOPICS = {"race": "A2.a", "region": "A2.d", "gender": "A2.e"}

_TRUE = {"1", "true", "yes", "y", "offensive", "unsafe", "toxic", "positive"}
_FALSE = {"0", "false", "no", "n", "safe", "none", "negative", ""}


class DataError(ValueError):
    """Bad training/evaluation input; the message names the file and row."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    risks: frozenset[str]  # empty = safe
    topic: str = ""  # the data set's topic, when it has one (kept for group-discussion metrics)
    source: str = ""


@dataclass(slots=True)
class DatasetSpec:
    """Which columns mean what. ``None`` fields are guessed from the header."""

    text_col: str | None = None
    label_col: str | None = None
    risk_col: str | None = None
    topic_col: str | None = None
    topic_map: dict[str, str] = field(default_factory=dict)
    default_risk: str | None = None  # risk of every positive row when nothing else says
    split_col: str | None = None
    split: str | None = None  # keep only rows whose split column equals this
    # a fixed, documented hash split for files without one (SWSR): "train" or "dev" of
    # ``group_col`` hashed into 5 folds, fold 0 = dev
    hash_split: str | None = None
    group_col: str | None = None


def _open(path: Path) -> TextIO:
    try:
        return open_text(path)
    except EncodingError as exc:
        raise DataError(str(exc)) from None


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """Rows of a CSV (UTF-8, BOM tolerated) or JSONL file as string dicts."""
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        with _open(path) as fh:
            for jl in json_lines(fh):
                if jl.obj is None:
                    raise DataError(f"{path}:{jl.line}: {jl.error}")
                yield {str(k): "" if v is None else str(v) for k, v in jl.obj.items()}
    else:
        with _open(path) as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                raise DataError(f"{path}: empty CSV file")
            for row in reader:
                yield {(k or "").strip(): (v or "") for k, v in row.items()}


def _guess(header: list[str], candidates: tuple[str, ...]) -> str | None:
    lower = {h.lower(): h for h in header}
    for c in candidates:
        if c in lower:
            return lower[c]
    return None


def resolve_spec(header: list[str], spec: DatasetSpec, path: Path) -> DatasetSpec:
    """Fill the unset fields of ``spec`` from the header (COLD and SWSR are recognised)."""
    out = DatasetSpec(**{f: getattr(spec, f) for f in spec.__dataclass_fields__})
    cols = {h.lower() for h in header}
    is_cold = {"text", "label", "topic"} <= cols
    is_swsr = "comment_text" in cols and "label" in cols
    out.text_col = out.text_col or _guess(header, ("text", "comment_text", "content", "sentence", "prompt"))
    out.label_col = out.label_col or _guess(header, ("label", "labels", "y"))
    out.risk_col = out.risk_col or _guess(header, ("risk", "risk_code"))
    if is_cold:
        out.topic_col = out.topic_col or _guess(header, ("topic",))
        out.topic_map = out.topic_map or dict(COLD_TOPICS)
    if is_swsr:
        out.default_risk = out.default_risk or "A2.e"
        out.group_col = out.group_col or _guess(header, ("weibo_id",))
    if out.text_col is None or out.text_col not in header:
        raise DataError(f"{path}: no text column (have {header}); name it with --text-col")
    if out.label_col is None and out.risk_col is None:
        raise DataError(
            f"{path}: no label or risk column (have {header}); name one with --label-col/--risk-col"
        )
    for name in (out.label_col, out.risk_col, out.topic_col, out.split_col, out.group_col):
        if name is not None and name not in header:
            raise DataError(f"{path}: column {name!r} not in header {header}")
    for code in [*out.topic_map.values(), *([out.default_risk] if out.default_risk else [])]:
        if not is_known_kind(code):
            raise DataError(f"unknown risk code {code!r} (expected A1.a ... A5.b)")
    if out.hash_split and out.group_col is None:
        raise DataError(f"{path}: a hash split needs a group column (--group-col)")
    return out


def hash_fold(key: str, folds: int = 5) -> int:
    """Stable fold of a key: CRC-32, so every machine gets the same split."""
    return zlib.crc32(key.encode("utf-8")) % folds


def _risks_of(row: dict[str, str], spec: DatasetSpec, where: str) -> frozenset[str]:
    if spec.risk_col is not None and row.get(spec.risk_col, "").strip():
        codes = [c.strip() for c in row[spec.risk_col].replace(";", ",").split(",") if c.strip()]
        positive = True
        if spec.label_col is not None:
            positive = _truth(row.get(spec.label_col, ""), where)
        if not positive:
            return frozenset()
        for c in codes:
            if not is_known_kind(c):
                raise DataError(f"{where}: unknown risk code {c!r}")
        return frozenset(codes)
    raw = row.get(spec.label_col or "", "").strip()
    if is_known_kind(raw):  # the label column holds a code directly
        return frozenset([raw])
    if not _truth(raw, where):
        return frozenset()
    if spec.topic_col is not None:
        topic = row.get(spec.topic_col, "").strip()
        if topic in spec.topic_map:
            return frozenset([spec.topic_map[topic]])
    if spec.default_risk is not None:
        return frozenset([spec.default_risk])
    raise DataError(f"{where}: positive label but no risk code: add a risk column, --topic-map or --risk")


def _truth(raw: str, where: str) -> bool:
    v = raw.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise DataError(f"{where}: cannot read label {raw!r} (expected 0/1, true/false or a risk code)")


def load_examples(path: str | Path, spec: DatasetSpec | None = None) -> list[Example]:
    """Read one labelled file into examples. Empty texts are skipped; bad labels are errors."""
    p = Path(path)
    rows = read_rows(p)
    first = next(rows, None)
    if first is None:
        raise DataError(f"{p}: no rows")
    s = resolve_spec(list(first.keys()), spec or DatasetSpec(), p)
    out: list[Example] = []
    lineno = 1
    for row in _chain(first, rows):
        lineno += 1
        if s.split_col is not None and s.split is not None and row.get(s.split_col) != s.split:
            continue
        if s.hash_split is not None and s.group_col is not None:
            is_dev = hash_fold(row.get(s.group_col, "")) == 0
            if is_dev != (s.hash_split == "dev"):
                continue
        text = row.get(s.text_col or "", "").strip()
        if not text:
            continue
        risks = _risks_of(row, s, f"{p}:{lineno}")
        topic = row.get(s.topic_col, "").strip() if s.topic_col else ""
        out.append(Example(text=text, risks=risks, topic=topic, source=p.name))
    if not out:
        raise DataError(f"{p}: no usable rows after filtering")
    return out


def _chain(first: dict[str, str], rest: Iterator[dict[str, str]]) -> Iterator[dict[str, str]]:
    yield first
    yield from rest


_SPEC_KEYS = {
    "text_col": "text_col",
    "label_col": "label_col",
    "risk_col": "risk_col",
    "topic_col": "topic_col",
    "risk": "default_risk",
    "split_col": "split_col",
    "split": "split",
    "hash_split": "hash_split",
    "group_col": "group_col",
}


def parse_data_arg(arg: str, base: DatasetSpec | None = None) -> tuple[Path, DatasetSpec]:
    """``PATH`` or ``PATH::key=value,key=value`` (per-file column options, e.g.
    ``SexComment.csv::hash_split=train``). Keys: text_col, label_col, risk_col, topic_col, risk,
    split_col, split, hash_split, group_col."""
    path, _, opts = arg.partition("::")
    b = base or DatasetSpec()
    spec = DatasetSpec(**{f: getattr(b, f) for f in b.__dataclass_fields__})
    spec.topic_map = dict(b.topic_map)
    for part in filter(None, (o.strip() for o in opts.split(","))):
        key, eq, value = part.partition("=")
        if not eq or key.strip() not in _SPEC_KEYS:
            raise DataError(
                f"{arg}: bad option {part!r} (expected one of {', '.join(_SPEC_KEYS)} as key=value)"
            )
        setattr(spec, _SPEC_KEYS[key.strip()], value.strip())
    if spec.hash_split not in (None, "train", "dev"):
        raise DataError(f"{arg}: hash_split must be 'train' or 'dev'")
    return Path(path), spec


def parse_topic_map(items: list[str]) -> dict[str, str]:
    """``["race=A2.a", "region=A2.d"]`` -> mapping, validating the codes."""
    out: dict[str, str] = {}
    for item in items:
        topic, eq, code = item.partition("=")
        if not eq or not topic.strip():
            raise DataError(f"bad --topic-map {item!r}: expected TOPIC=CODE")
        if not is_known_kind(code.strip()):
            raise DataError(f"bad --topic-map {item!r}: unknown risk code {code.strip()!r}")
        out[topic.strip()] = code.strip()
    return out
