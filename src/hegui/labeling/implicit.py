"""The implicit label of GB 45438-2025 Annex E and the provider codes that fill it.

Annex E fixes seven fields, all strings of printable ASCII without space, double quote or
backslash (so that the JSON value survives every container without escaping):

    {"AIGC":{"Label":"1","ContentProducer":"...","ProduceID":"...","ReservedCode1":"...",
             "ContentPropagator":"...","PropagateID":"...","ReservedCode2":"..."}}

``Label`` is "1" (AI-generated), "2" (possibly generated: the uploader declared it) or "3"
(suspected: explicit mark or traces detected). Containers whose key is itself named ``AIGC``
(XMP ``TC260:AIGC``, the WAV ``AIGC`` chunk, ID3 ``TXXX:AIGC``...) hold the bare object; free-form
places (the text trailer) hold the wrapped one. We parse both everywhere.

Provider codes follow the TC260 practice guide "服务提供者编码规则": 27 characters =
``00`` + 20-character subject code + 5-character service extension. For an organisation the
subject code is ``11`` + its 18-character unified social credit code (GB 32100, whose last
character is a checksum we verify); the extension is ``1``/``2`` + 4 characters, or ``00000``.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FIELDS = (
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
)

# GB 32100-2015: 31-character alphabet (no I, O, S, V, Z) and the weights of positions 1..17.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# printable ASCII 0x21..0x7E minus '"' and '\' (space 0x20 excluded by the range)
_VALUE_RE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]*$")
_EXT_RE = re.compile(r"^(?:00000|[12][0-9A-Za-z]{4})$")


class LabelError(Exception):
    """A file could not be read or labeled; names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a USCC."""
    if len(first17) != 17:
        raise ValueError("need the first 17 characters of the unified social credit code")
    total = 0
    for ch, w in zip(first17.upper(), USCC_WEIGHTS, strict=True):
        idx = USCC_ALPHABET.find(ch)
        if idx < 0:
            raise ValueError(f"character {ch!r} is not allowed in a unified social credit code")
        total += idx * w
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: str) -> None:
    """Raise ValueError unless ``code`` is an 18-character USCC with a correct checksum."""
    if len(code) != 18:
        raise ValueError(f"unified social credit code must have 18 characters, got {len(code)}")
    if not code[2:8].isdigit():
        raise ValueError("unified social credit code characters 3-8 (region code) must be digits")
    expected = uscc_check_char(code[:17])
    if code[17].upper() != expected:
        raise ValueError(f"unified social credit code checksum is {code[17]!r}, expected {expected!r}")


def validate_provider_code(code: str) -> None:
    """Raise ValueError unless ``code`` is a 27-character provider code (TC260 coding rules)."""
    if len(code) != 27:
        raise ValueError(f"provider code must have 27 characters, got {len(code)}")
    if not code.startswith("00"):
        raise ValueError("provider code must start with '00'")
    subject, ext = code[2:22], code[22:]
    if subject.startswith("11"):
        validate_uscc(subject[2:])
    elif not re.fullmatch(r"[0-9A-Za-z]{20}", subject):
        raise ValueError("provider subject code must be 20 letters/digits")
    if not _EXT_RE.match(ext):
        raise ValueError(f"service extension {ext!r} must be '00000' or '1'/'2' + 4 letters/digits")


def make_provider_code(uscc: str, extension: str = "00000") -> str:
    """Build an organisation's 27-character provider code from its USCC and service extension."""
    code = f"0011{uscc.upper()}{extension}"
    validate_provider_code(code)
    return code


def new_produce_id() -> str:
    """A fresh content number: 32 hex digits, unique without coordination."""
    return uuid.uuid4().hex


def provider_code_problem(code: str) -> str | None:
    if not code:
        return None
    try:
        validate_provider_code(code)
    except ValueError as exc:
        return str(exc)
    return None


class ImplicitLabel(BaseModel):
    """One Annex E label. Field names are the Annex E keys (aliases), snake_case in Python."""

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="forbid")

    label: Literal["1", "2", "3"] = Field("1", alias="Label")
    content_producer: str = Field("", alias="ContentProducer")
    produce_id: str = Field("", alias="ProduceID")
    reserved_code1: str = Field("", alias="ReservedCode1")
    content_propagator: str = Field("", alias="ContentPropagator")
    propagate_id: str = Field("", alias="PropagateID")
    reserved_code2: str = Field("", alias="ReservedCode2")

    @field_validator(
        "content_producer",
        "produce_id",
        "reserved_code1",
        "content_propagator",
        "propagate_id",
        "reserved_code2",
    )
    @classmethod
    def _printable(cls, v: str) -> str:
        if len(v) > 1024:
            raise ValueError("value longer than 1024 characters")
        if not _VALUE_RE.match(v):
            raise ValueError("value must be printable ASCII without space, double quote or backslash")
        return v

    @classmethod
    def for_producer(
        cls, producer: str, produce_id: str | None = None, label: Literal["1", "2", "3"] = "1"
    ) -> ImplicitLabel:
        """A producer's first label; the producer code is validated strictly. On first write
        the propagator fields equal the producer's (TC260 guidance: the producer is the first
        propagator), so a platform that re-labels overwrites them."""
        validate_provider_code(producer)
        pid = produce_id or new_produce_id()
        return cls(
            label=label,
            content_producer=producer,
            produce_id=pid,
            content_propagator=producer,
            propagate_id=pid,
        )

    def fields(self) -> dict[str, str]:
        return self.model_dump(by_alias=True)

    def to_json(self, wrapped: bool = True) -> str:
        """Compact JSON; ``wrapped`` gives ``{"AIGC":{...}}``, else the bare object."""
        obj: dict[str, Any] = self.fields()
        if wrapped:
            obj = {"AIGC": obj}
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=True)

    def problems(self) -> list[str]:
        """Code-format problems (a label read from a file is kept even when they exist)."""
        out = []
        for name, value in (
            ("ContentProducer", self.content_producer),
            ("ContentPropagator", self.content_propagator),
        ):
            p = provider_code_problem(value)
            if p:
                out.append(f"{name}: {p}")
        if not self.content_producer:
            out.append("ContentProducer is empty")
        return out

    def signed_payload(self) -> bytes:
        """The bytes a signature covers: every field except the two reserved codes."""
        f = self.fields()
        return "|".join(f[k] for k in FIELDS if not k.startswith("Reserved")).encode("ascii")


def parse_label(value: str | bytes | dict[str, Any], path: str | Path | None = None) -> ImplicitLabel:
    """Parse a label in the wrapped ``{"AIGC":{...}}`` or the bare form; LabelError if invalid."""
    obj: Any
    if isinstance(value, dict):
        obj = value
    else:
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise LabelError(path, f"AIGC value is not UTF-8: {exc}") from None
        text = value.strip().strip("\x00").strip()
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise LabelError(path, f"AIGC value is not JSON: {exc}") from None
    if isinstance(obj, dict) and set(obj) == {"AIGC"}:
        obj = obj["AIGC"]
    if not isinstance(obj, dict):
        raise LabelError(path, "AIGC value is not a JSON object")
    unknown = set(obj) - set(FIELDS)
    if unknown:
        raise LabelError(path, f"AIGC object has unknown keys {sorted(unknown)}")
    if any(not isinstance(v, str) for v in obj.values()):
        raise LabelError(path, "AIGC values must be strings")
    try:
        return ImplicitLabel.model_validate(obj)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise LabelError(path, f"invalid AIGC label: {msgs}") from None
