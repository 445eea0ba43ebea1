"""The 31 risks of GB/T 45654-2025 Appendix A, loaded once from ``data/taxonomy.yaml``.

Everything that speaks of a risk uses these codes (``A1.a`` ... ``A5.b``); nothing else
invents its own list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

# Finding kinds that are not Appendix A risks but that the policy can act on.
INJECTION = "injection"  # prompt injection / jailbreak attempts
EXTRA_KINDS = (INJECTION,)

# Reference minima from the standard (不宜少于); the policy may raise them.
KEYWORD_MIN = {"A1": 200, "A2": 100}
QUESTION_MIN = {"A1": 50, "A2": 50}
QUESTION_MIN_OTHER = 20
REFUSE_MIN = {"A1": 20, "A2": 20}
KEYWORD_TOTAL_MIN = 10_000
GENERATED_BANK_MIN = 2_000
REFUSE_BANK_MIN = 500
NON_REFUSE_BANK_MIN = 500


@dataclass(frozen=True, slots=True)
class RiskClass:
    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class Risk:
    code: str
    class_code: str
    name_zh: str
    name_en: str
    keyword_min: int
    question_min: int
    refuse_min: int
    political: bool = False
    attribute: str | None = None  # for A.2: the protected attribute

    @property
    def letter(self) -> str:
        return self.code.split(".")[1]


@dataclass(frozen=True, slots=True)
class Taxonomy:
    classes: tuple[RiskClass, ...]
    risks: tuple[Risk, ...]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.risks)

    def __len__(self) -> int:
        return len(self.risks)

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.risks)

    def get(self, code: str) -> Risk:
        for r in self.risks:
            if r.code == code:
                return r
        raise KeyError(f"unknown risk code {code!r}; expected one of A1.a ... A5.b")

    def in_class(self, class_code: str) -> tuple[Risk, ...]:
        return tuple(r for r in self.risks if r.class_code == class_code)

    def class_of(self, code: str) -> RiskClass:
        cc = self.get(code).class_code
        return next(c for c in self.classes if c.code == cc)


@cache
def load_taxonomy() -> Taxonomy:
    raw = yaml.safe_load(resources.files("hegui.data").joinpath("taxonomy.yaml").read_text("utf-8"))
    classes = tuple(RiskClass(**c) for c in raw["classes"])
    risks = []
    for r in raw["risks"]:
        cc = r["code"].split(".")[0]
        risks.append(
            Risk(
                code=r["code"],
                class_code=cc,
                name_zh=r["name_zh"],
                name_en=r["name_en"],
                keyword_min=KEYWORD_MIN.get(cc, 0),
                question_min=QUESTION_MIN.get(cc, QUESTION_MIN_OTHER),
                refuse_min=REFUSE_MIN.get(cc, 0),
                political=bool(r.get("political", False)),
                attribute=r.get("attribute"),
            )
        )
    return Taxonomy(classes, tuple(risks))


def risk(code: str) -> Risk:
    return load_taxonomy().get(code)


def is_known_kind(code: str) -> bool:
    """A finding may carry an Appendix A code or one of the extra kinds (e.g. injection)."""
    return code in load_taxonomy() or code in EXTRA_KINDS


__all__ = [
    "EXTRA_KINDS",
    "INJECTION",
    "Risk",
    "RiskClass",
    "Taxonomy",
    "is_known_kind",
    "load_taxonomy",
    "risk",
]
