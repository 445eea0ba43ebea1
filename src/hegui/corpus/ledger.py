"""The source ledger: where each training-data source came from and on what legal basis.

Interim Measures Art. 7 (lawful sources, IP, personal information with consent) and Art. 19
(explain data source, scale and type on inspection) need this on record. The file is YAML
(``sources: [...]``) or CSV (one row per source, same field names). Fields are parsed leniently
and then checked per kind, so one run lists every gap with the source and field it concerns
instead of stopping at the first pydantic error.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

KINDS = ("open-source", "self-collected", "commercial", "user-input", "synthetic")
MODALITIES = ("text", "image", "audio", "video", "multimodal", "code")
_KIND_ALIASES = {
    "open source": "open-source",
    "opensource": "open-source",
    "open_source": "open-source",
    "开源": "open-source",
    "self collected": "self-collected",
    "self_collected": "self-collected",
    "自采": "self-collected",
    "商业": "commercial",
    "user input": "user-input",
    "user_input": "user-input",
    "用户输入": "user-input",
    "合成": "synthetic",
}
# Declares that the source holds no personal information, so no consent basis is needed.
NO_PI = ("none", "no-pi", "无个人信息")


class LedgerError(ValueError):
    """The ledger file cannot be read at all (exit code 2)."""


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str
    kind: str
    licence: str | None = None  # SPDX id or licence text reference (open-source)
    contract_ref: str | None = None  # contract / purchase order number (commercial)
    collection_date: dt.date | None = None
    robots_respected: bool | None = None  # robots.txt and site opt-outs honoured (self-collected)
    opt_out_respected: bool | None = None  # users' opt-out of training honoured (user input)
    pi_consent_basis: str | None = None  # consent / other legal basis for personal information, or "none"
    authorisation_record: str | None = None  # where users' authorisation is recorded (user input)
    generating_model: str | None = None  # synthetic data: model that generated it
    generation_date: dt.date | None = None
    language: str | None = None
    modality: str | None = None
    size: str | None = None  # e.g. "12 GB", "3.4M records"
    path: str | None = None  # where the data lives (used to link scans to the ledger)
    notes: str | None = None


class Problem(BaseModel):
    source: str
    field: str
    message: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        return f"{self.level}: {self.source}: {self.field}: {self.message}"


class LedgerReport(BaseModel):
    path: str
    sources: list[Source]
    problems: list[Problem] = Field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise LedgerError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
        except yaml.YAMLError as exc:
            raise LedgerError(f"{path}: invalid YAML: {exc}") from None
        if isinstance(data, dict):
            data = data.get("sources")
        if not isinstance(data, list):
            raise LedgerError(f"{path}: expected a list of sources under 'sources:'")
        if not all(isinstance(r, dict) for r in data):
            raise LedgerError(f"{path}: every source must be a mapping of fields")
        return data
    if suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            return [{k: (v if v != "" else None) for k, v in r.items() if k} for r in csv.DictReader(f)]
    raise LedgerError(f"{path}: the ledger must be .yaml, .yml or .csv")


def _bool(v: Any) -> Any:
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("yes", "y", "true", "1", "是"):
            return True
        if low in ("no", "n", "false", "0", "否"):
            return False
    return v


def load_ledger(path: str | Path) -> LedgerReport:
    """Parse the ledger; field-type errors become problems (not exceptions) on their source."""
    path = Path(path)
    report = LedgerReport(path=str(path), sources=[])
    for i, raw in enumerate(_rows(path), 1):
        label = str(raw.get("name") or f"#{i}")
        row = {k: _bool(v) if k in ("robots_respected", "opt_out_respected") else v for k, v in raw.items()}
        if isinstance(row.get("kind"), str):
            k = row["kind"].strip().lower()
            row["kind"] = _KIND_ALIASES.get(k, k)
        for k in ("size", "licence", "contract_ref", "language", "name"):
            if row.get(k) is not None and not isinstance(row[k], str):
                row[k] = str(row[k])
        try:
            report.sources.append(Source.model_validate(row))
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(x) for x in err["loc"]) or "?"
                msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
                report.problems.append(Problem(source=label, field=field, message=msg))
    report.problems.extend(check_sources(report.sources))
    return report


def _need(src: Source, field: str, why: str, out: list[Problem]) -> None:
    v = getattr(src, field)
    if v is None or (isinstance(v, str) and not v.strip()):
        out.append(Problem(source=src.name, field=field, message=f"required for {src.kind} sources: {why}"))


def check_sources(sources: list[Source]) -> list[Problem]:
    """Completeness per kind (the errors the standard's inspection would find)."""
    out: list[Problem] = []
    seen: set[str] = set()
    today = dt.date.today()
    for s in sources:
        if s.name in seen:
            out.append(Problem(source=s.name, field="name", message="duplicate source name"))
        seen.add(s.name)
        if s.kind not in KINDS:
            out.append(
                Problem(source=s.name, field="kind", message=f"{s.kind!r} is not one of {', '.join(KINDS)}")
            )
            continue
        for f in ("collection_date", "language", "modality", "size"):
            _need(s, f, "every source records when, what language, what modality and how much", out)
        if s.modality and s.modality not in MODALITIES:
            out.append(
                Problem(
                    source=s.name,
                    field="modality",
                    message=f"{s.modality!r} is not one of {', '.join(MODALITIES)}",
                )
            )
        if s.collection_date and s.collection_date > today:
            out.append(Problem(source=s.name, field="collection_date", message="date is in the future"))
        if s.kind == "open-source":
            _need(s, "licence", "an open-source source without a licence cannot be shown to be lawful", out)
        elif s.kind == "commercial":
            _need(s, "contract_ref", "a commercial source needs its contract or transaction record", out)
        elif s.kind == "self-collected":
            if s.robots_respected is not True:
                out.append(
                    Problem(
                        source=s.name,
                        field="robots_respected",
                        message="self-collected data must record that robots.txt/opt-outs were "
                        "respected (true)"
                        if s.robots_respected is None
                        else "collected without respecting robots.txt/opt-outs",
                    )
                )
            _need(
                s,
                "pi_consent_basis",
                f"personal information needs consent or another legal basis "
                f"(write {NO_PI[0]!r} if the data holds none)",
                out,
            )
        elif s.kind == "user-input":
            _need(
                s, "authorisation_record", "using users' inputs for training needs their authorisation", out
            )
            _need(s, "pi_consent_basis", "users' inputs carry personal information", out)
            if s.opt_out_respected is not True:
                out.append(
                    Problem(
                        source=s.name,
                        field="opt_out_respected",
                        message="users' training opt-out must be honoured and recorded (true)",
                    )
                )
        elif s.kind == "synthetic":
            _need(s, "generating_model", "synthetic data records the model that generated it", out)
            _need(s, "generation_date", "synthetic data records when it was generated", out)
            if s.generation_date and s.generation_date > today:
                out.append(Problem(source=s.name, field="generation_date", message="date is in the future"))
        if s.kind != "self-collected" and s.kind != "user-input" and s.pi_consent_basis is None:
            out.append(
                Problem(
                    source=s.name,
                    field="pi_consent_basis",
                    level="warning",
                    message=f"not recorded; write {NO_PI[0]!r} if the source holds no personal information",
                )
            )
        if s.path is None:
            out.append(
                Problem(
                    source=s.name,
                    field="path",
                    level="warning",
                    message="no data location: scans cannot be linked to this source",
                )
            )
    return out
