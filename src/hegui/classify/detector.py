"""The classifier as a moderation detector: one whole-text finding per risk over threshold."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from hegui.classify.model import ClassifierModel, ModelError
from hegui.moderation.types import Finding

if TYPE_CHECKING:
    from typing import Self

    from hegui.policy import Policy
    from hegui.text import NormalizedText

BUILTIN_PREFIX = "builtin:"
DEFAULT_MODEL = "builtin:default"
HIGH_SEVERITY_PROB = 0.9  # at or above this calibrated probability a finding is severity 3


def resolve_model_path(ref: str) -> Path:
    """``builtin:NAME`` -> the shipped ``data/models/classifier-NAME.npz``; else a file path."""
    if ref.startswith(BUILTIN_PREFIX):
        name = ref[len(BUILTIN_PREFIX) :]
        res = resources.files("hegui.data").joinpath("models", f"classifier-{name}.npz")
        path = Path(str(res))
        if not path.exists():
            raise ModelError(f"no built-in classifier model {name!r} (looked for {path})")
        return path
    return Path(ref).expanduser()


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> ClassifierModel:
    # keyed on mtime so a retrained file at the same path is picked up
    return ClassifierModel.load(path)


def load_model(ref: str = DEFAULT_MODEL) -> ClassifierModel:
    """Load (once per process) a model by ``builtin:NAME`` or path."""
    path = resolve_model_path(ref)
    if not path.exists():
        raise ModelError(f"classifier model not found: {path}")
    return _load_cached(str(path.resolve()), path.stat().st_mtime)


class ClassifierDetector:
    """Detector protocol implementation. ``max_lookback = 0``: it judges whole texts, so the
    stream moderator runs it when a segment or the stream closes."""

    name = "classifier"
    max_lookback = 0

    def __init__(
        self,
        model: ClassifierModel,
        thresholds: dict[str, float] | None = None,
        threshold: float = 0.5,
    ) -> None:
        self.model = model
        self.thresholds = {r: model.threshold_for(r, thresholds or {}, threshold) for r in model.risks}

    @classmethod
    def from_policy(cls, policy: Policy) -> Self:
        cfg = policy.detectors.classifier
        return cls(load_model(cfg.model), thresholds=dict(cfg.thresholds), threshold=cfg.threshold)

    def probabilities(self, text: NormalizedText) -> dict[str, float]:
        m = self.model
        src = text.normalized if m.normalize_input else text.original
        p = m.proba_from_logits(m.logits(src))
        return {r: float(v) for r, v in zip(m.risks, p, strict=True)}

    def scan(self, text: NormalizedText) -> list[Finding]:
        original = text.original
        if not original.strip():
            return []
        out: list[Finding] = []
        for risk, p in self.probabilities(text).items():
            if p >= self.thresholds[risk]:
                out.append(
                    Finding(
                        risk=risk,
                        detector=self.name,
                        start=0,
                        end=len(original),
                        matched=original,
                        severity=3 if p >= max(HIGH_SEVERITY_PROB, self.thresholds[risk]) else 2,
                        score=round(p, 4),
                        rule=f"classifier>={self.thresholds[risk]:.2f}",
                        variant="model",
                    )
                )
        out.sort(key=lambda f: -f.score)
        return out
