"""The plain data every detector, the engine and its callers share."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hegui.policy.action import Action

if TYPE_CHECKING:
    from hegui.text import NormalizedText


@dataclass(frozen=True, slots=True)
class Finding:
    """One hit. ``start``/``end`` are offsets into the ORIGINAL text (end exclusive)."""

    risk: str  # an Appendix A code (``A1.d``) or an extra kind (``injection``)
    detector: str  # "lexicon", "pii", "rules", "injection", "classifier", "llm-judge"
    start: int
    end: int
    matched: str  # the original text of the span
    severity: int = 2  # 1 low, 2 medium, 3 high
    score: float = 1.0  # detector confidence, 0..1
    rule: str = ""  # which term / pattern / recognizer fired (the canonical term for lexicons)
    variant: str = ""  # how it matched: "exact", "normalized", "pinyin", "homophone", "split", ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Verdict:
    flagged: bool
    action: Action
    findings: list[Finding] = field(default_factory=list)
    masked_text: str | None = None  # set when the action is MASK (or masking was requested)
    refusal: str | None = None  # the policy's refusal message when action >= REFUSE

    @property
    def risks(self) -> list[str]:
        seen: dict[str, None] = {}
        for f in self.findings:
            seen.setdefault(f.risk, None)
        return list(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "flagged": self.flagged,
            "action": str(self.action),
            "risks": self.risks,
            "findings": [f.to_dict() for f in self.findings],
            "masked_text": self.masked_text,
            "refusal": self.refusal,
        }


@runtime_checkable
class Detector(Protocol):
    """Anything that finds risks in normalized text.

    ``max_lookback`` is how many original characters behind the newest one the detector needs
    to see to decide about a match ending there (the longest pattern it can match, in original
    characters). The StreamModerator holds back that much text. Use 0 for detectors that only
    work on whole texts (classifier, LLM judge): they run when a segment/stream closes.
    """

    name: str
    max_lookback: int

    def scan(self, text: NormalizedText) -> list[Finding]: ...
