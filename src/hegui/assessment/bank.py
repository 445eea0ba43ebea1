"""Question banks: the item model and reading/writing JSONL, CSV and XLSX.

One ``BankItem`` is one test question. It is either a single ``prompt`` or a multi-turn
``messages`` list (OpenAI chat format). ``kind`` says how the answer is judged:

- ``generated-content``: the answer must not contain risky content (a refusal also passes);
- ``should-refuse``: the model must refuse (or deflect / redirect safely);
- ``should-not-refuse``: the model must answer; ``topic`` names the protected topic of the
  standard (China's system, beliefs, ... personal health) the item covers.

Every reader reports bad rows with the file, the row number and the reason (``BankError``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hegui.taxonomy import load_taxonomy
from hegui.text.files import json_lines, open_text

Kind = Literal["generated-content", "should-refuse", "should-not-refuse"]
KINDS: tuple[str, ...] = ("generated-content", "should-refuse", "should-not-refuse")

# The should-not-refuse topics the standard lists; value = Chinese name used in reports.
NON_REFUSE_TOPICS: dict[str, str] = {
    "system": "我国制度",
    "belief": "信仰",
    "image": "国家形象",
    "culture": "文化",
    "customs": "习俗",
    "ethnic": "民族",
    "geography": "地理",
    "history": "历史",
    "heroes": "英雄烈士",
    "gender": "个人性别",
    "age": "个人年龄",
    "occupation": "个人职业",
    "health": "个人健康",
}
# Chinese names accepted in input files too (operators' spreadsheets are in Chinese).
_TOPIC_ALIASES = {v: k for k, v in NON_REFUSE_TOPICS.items()} | {
    "制度": "system",
    "形象": "image",
    "英烈": "heroes",
    "性别": "gender",
    "年龄": "age",
    "职业": "occupation",
    "健康": "health",
}
_KIND_ALIASES = {
    "生成内容": "generated-content",
    "应拒答": "should-refuse",
    "非拒答": "should-not-refuse",
    "不应拒答": "should-not-refuse",
}

COLUMNS = ("id", "kind", "prompt", "messages", "risks", "topic", "reference", "source", "added")


class BankError(ValueError):
    """A bank file has problems; ``problems`` lists (row, reason) pairs."""

    def __init__(self, source: str, problems: list[tuple[int | None, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}:{row}: {msg}" if row is not None else f"{source}: {msg}" for row, msg in problems]
        super().__init__("invalid question bank\n" + "\n".join(lines[:50]))


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str


class BankItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = ""
    kind: Kind
    prompt: str | None = None
    messages: list[Message] | None = None
    risks: list[str] = Field(default_factory=list)
    topic: str | None = None
    reference: str | None = None
    source: str = ""
    added: date = Field(default_factory=date.today)

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip()
            return _KIND_ALIASES.get(v, v)
        return v

    @field_validator("risks", mode="before")
    @classmethod
    def _split_risks(cls, v: object) -> object:
        if v is None:
            return []
        if isinstance(v, str):
            return [p.strip() for p in v.replace("；", ";").replace(",", ";").split(";") if p.strip()]
        return v

    @field_validator("risks")
    @classmethod
    def _known_risks(cls, v: list[str]) -> list[str]:
        tax = load_taxonomy()
        for code in v:
            if code not in tax:
                raise ValueError(f"unknown risk code {code!r} (expected A1.a ... A5.b)")
        return v

    @field_validator("topic", mode="before")
    @classmethod
    def _topic(cls, v: object) -> object:
        if isinstance(v, str):
            v = v.strip()
            if not v:
                return None
            return _TOPIC_ALIASES.get(v, v)
        return v

    @model_validator(mode="after")
    def _check(self) -> BankItem:
        if self.prompt is not None and not self.prompt.strip():
            self.prompt = None
        if (self.prompt is None) == (not self.messages):
            raise ValueError("give exactly one of 'prompt' or 'messages'")
        if self.messages and self.messages[-1].role != "user":
            raise ValueError("the last message of a multi-turn item must be from the user")
        if self.kind == "should-not-refuse":
            if self.topic not in NON_REFUSE_TOPICS:
                raise ValueError(
                    f"should-not-refuse items need a topic, one of {', '.join(NON_REFUSE_TOPICS)}"
                    f" (got {self.topic!r})"
                )
        elif not self.risks:
            raise ValueError(f"{self.kind} items need at least one risk code")
        if not self.id:
            self.id = item_id(self.kind, self.chat_messages())
        return self

    def chat_messages(self) -> list[dict[str, str]]:
        """The conversation to send, in OpenAI chat format."""
        if self.messages:
            return [m.model_dump() for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]

    @property
    def text(self) -> str:
        """The question as one string (the last user turn for multi-turn items)."""
        if self.prompt is not None:
            return self.prompt
        return self.chat_messages()[-1]["content"]

    @property
    def category(self) -> str:
        """Risk codes or the topic, for tables."""
        return self.topic if self.kind == "should-not-refuse" and self.topic else ";".join(self.risks)


def item_id(kind: str, messages: Sequence[dict[str, str]]) -> str:
    """Stable id from the content, so the same question keeps its id across files and runs."""
    blob = json.dumps([kind, list(messages)], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------- reading


def _row_to_item(row: dict[str, Any]) -> BankItem:
    data = {k: v for k, v in row.items() if k in COLUMNS and v not in (None, "")}
    unknown = [k for k in row if k not in COLUMNS and k and row[k] not in (None, "")]
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(map(str, unknown))}; expected {', '.join(COLUMNS)}")
    msgs = data.get("messages")
    if isinstance(msgs, str):
        try:
            data["messages"] = json.loads(msgs)
        except json.JSONDecodeError as exc:
            raise ValueError(f"'messages' is not valid JSON: {exc}") from None
    if isinstance(data.get("added"), str):
        data["added"] = data["added"].strip()[:10]
    if "id" in data:
        data["id"] = str(data["id"])
    return BankItem.model_validate(data)


def _rows_jsonl(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open_text(path) as fh:
        for jl in json_lines(fh):
            yield jl.line, jl.obj if jl.obj is not None else {"__error__": jl.error}


def _rows_csv(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        for n, row in enumerate(reader, 2):
            yield n, {(k or "").strip(): v for k, v in row.items()}


def _rows_xlsx(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    ws = wb.active
    if ws is None:
        return
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        return
    names = [str(h).strip() if h is not None else "" for h in header]
    for n, values in enumerate(rows, 2):
        if all(v is None or v == "" for v in values):
            continue
        row = {}
        for k, v in zip(names, values, strict=False):
            if isinstance(v, date):
                v = v.isoformat()[:10]
            row[k] = v if v is None or isinstance(v, str) else str(v)
        yield n, row


def read_bank(path: str | Path) -> list[BankItem]:
    """Read a bank file (``.jsonl``, ``.csv``, ``.xlsx``). Raises ``BankError`` listing every bad row."""
    p = Path(path)
    if not p.exists():
        raise BankError(str(p), [(None, "file not found")])
    suffix = p.suffix.lower()
    readers = {".jsonl": _rows_jsonl, ".csv": _rows_csv, ".xlsx": _rows_xlsx}
    if suffix not in readers:
        raise BankError(str(p), [(None, f"unsupported bank format {suffix!r}; use .jsonl, .csv or .xlsx")])
    items: list[BankItem] = []
    problems: list[tuple[int | None, str]] = []
    for n, row in readers[suffix](p):
        if "__error__" in row:
            problems.append((n, row["__error__"]))
            continue
        try:
            items.append(_row_to_item(row))
        except ValidationError as exc:
            msgs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'item'}: {e['msg']}" for e in exc.errors())
            problems.append((n, msgs))
        except ValueError as exc:
            problems.append((n, str(exc)))
    if problems:
        raise BankError(str(p), problems)
    return items


def read_banks(paths: Iterable[str | Path]) -> list[BankItem]:
    """Read several banks (files or directories of bank files and ``*.yaml`` templates).

    Items with the same id are kept once: the same question in two files counts once.
    """
    from hegui.assessment.templates import expand_template_file

    out: dict[str, BankItem] = {}
    for raw in paths:
        p = Path(raw)
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for f in files:
            suffix = f.suffix.lower()
            if suffix in (".yaml", ".yml"):
                got = expand_template_file(f)
            elif suffix in (".jsonl", ".csv", ".xlsx") or not p.is_dir():
                got = read_bank(f)
            else:
                continue
            for it in got:
                out.setdefault(it.id, it)
    return list(out.values())


def starter_bank_dir() -> Path:
    """The shipped starter bank (hand-written items + templates)."""
    from importlib import resources

    return Path(str(resources.files("hegui.data").joinpath("banks")))


# ---------------------------------------------------------------- writing


def _as_row(it: BankItem) -> dict[str, str]:
    return {
        "id": it.id,
        "kind": it.kind,
        "prompt": it.prompt or "",
        "messages": json.dumps([m.model_dump() for m in it.messages], ensure_ascii=False)
        if it.messages
        else "",
        "risks": ";".join(it.risks),
        "topic": it.topic or "",
        "reference": it.reference or "",
        "source": it.source,
        "added": it.added.isoformat(),
    }


def write_bank(items: Iterable[BankItem], path: str | Path) -> int:
    """Write items in the format the suffix names. Returns the number written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = p.suffix.lower()
    items = list(items)
    if suffix == ".jsonl":
        with p.open("w", encoding="utf-8") as fh:
            for it in items:
                fh.write(json.dumps(it.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n")
    elif suffix == ".csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(COLUMNS))
        w.writeheader()
        for it in items:
            w.writerow(_as_row(it))
        # BOM so that Excel opens Chinese CSV correctly
        p.write_text(buf.getvalue(), encoding="utf-8-sig")
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        assert ws is not None
        ws.title = "bank"
        ws.append(list(COLUMNS))
        for it in items:
            row = _as_row(it)
            ws.append([row[c] for c in COLUMNS])
        ws.freeze_panes = "A2"
        wb.save(p)
    else:
        raise BankError(str(p), [(None, f"unsupported bank format {suffix!r}; use .jsonl, .csv or .xlsx")])
    return len(items)
