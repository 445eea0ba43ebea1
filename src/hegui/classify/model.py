"""The classifier model at run time: hashed char n-gram TF-IDF -> linear layer -> calibrated
probabilities, one per risk code the model was trained for.

Runs on numpy alone (no scikit-learn import at run time). The file format is one ``.npz``
(loaded with ``allow_pickle=False``, so a model file can carry numbers and JSON text but never
code) holding:

* ``weights`` (n_outputs x n_buckets, float16), ``bias`` (n_outputs), ``idf`` (n_buckets, float16);
* ``meta``: UTF-8 JSON as a uint8 array: format version, ``kind``, ``outputs``, featurizer
  parameters, calibration, tuned thresholds, training command and metrics.

``kind`` is ``softmax`` (outputs are ``["", risk, ...]``: one class for "no risk" plus one per
risk; calibrated by a temperature) or ``ovr`` (one sigmoid per risk, Platt-calibrated).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hegui.classify.features import CharNgramHasher
from hegui.text import normalize

FORMAT = "hegui-classifier/1"
NO_RISK = ""  # the softmax class meaning "none of the risks"


class ModelError(ValueError):
    """A model file that is missing, not ours, or inconsistent."""


@dataclass(slots=True)
class ClassifierModel:
    kind: str  # "softmax" | "ovr"
    outputs: list[str]  # softmax: ["", risks...]; ovr: [risks...]
    weights: npt.NDArray[np.float32]  # (n_outputs, n_buckets)
    bias: npt.NDArray[np.float32]  # (n_outputs,)
    idf: npt.NDArray[np.float32]  # (n_buckets,)
    n_min: int = 1
    n_max: int = 3
    temperature: float = 1.0  # softmax calibration
    platt: list[tuple[float, float]] = field(default_factory=list)  # ovr calibration (a, b)
    thresholds: dict[str, float] = field(default_factory=dict)  # tuned on a dev set
    meta: dict[str, Any] = field(default_factory=dict)  # provenance, metrics (free-form)
    normalize_input: bool = True
    _hasher: CharNgramHasher | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in ("softmax", "ovr"):
            raise ModelError(f"unknown model kind {self.kind!r}")
        n_out, n_buckets = self.weights.shape
        if n_out != len(self.outputs) or self.bias.shape != (n_out,) or self.idf.shape != (n_buckets,):
            raise ModelError("model arrays do not match its outputs/buckets")
        if self.kind == "softmax" and (not self.outputs or self.outputs[0] != NO_RISK):
            raise ModelError("a softmax model's first output must be the no-risk class")
        if self.kind == "ovr" and len(self.platt) != n_out:
            self.platt = [(1.0, 0.0)] * n_out
        self._hasher = CharNgramHasher(self.n_min, self.n_max, n_buckets)

    @property
    def risks(self) -> list[str]:
        return [o for o in self.outputs if o != NO_RISK]

    @property
    def hasher(self) -> CharNgramHasher:
        assert self._hasher is not None
        return self._hasher

    # --- scoring -----------------------------------------------------------------------------
    def prepare(self, text: str) -> str:
        """The text the features are computed on: the project normalizer's output, so that
        width/variant/separator evasion reads the same as the plain spelling."""
        return normalize(text).normalized if self.normalize_input else text

    def logits(self, prepared: str) -> npt.NDArray[np.float64]:
        idx, val = self.hasher.transform(prepared, self.idf)
        z: npt.NDArray[np.float64] = (self.weights[:, idx].astype(np.float64) @ val) + self.bias
        return z

    def proba_from_logits(self, z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Calibrated probability per risk (order of :attr:`risks`)."""
        if self.kind == "softmax":
            s = z / self.temperature
            s = s - s.max(axis=-1, keepdims=True)
            e = np.exp(s)
            p = e / e.sum(axis=-1, keepdims=True)
            out: npt.NDArray[np.float64] = p[..., 1:]
            return out
        a = np.array([c[0] for c in self.platt])
        b = np.array([c[1] for c in self.platt])
        res: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-(a * z + b)))
        return res

    def predict_proba_one(self, text: str, *, prepared: bool = False) -> dict[str, float]:
        p = self.proba_from_logits(self.logits(text if prepared else self.prepare(text)))
        return {r: float(v) for r, v in zip(self.risks, p, strict=True)}

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float64]:
        """(n_texts, n_risks) calibrated probabilities."""
        if not texts:
            return np.zeros((0, len(self.risks)))
        z = np.stack([self.logits(self.prepare(t)) for t in texts])
        return self.proba_from_logits(z)

    def threshold_for(self, risk: str, policy_thresholds: dict[str, float], fallback: float) -> float:
        """Policy per-risk value > this model's tuned value > the policy's general threshold."""
        if risk in policy_thresholds:
            return policy_thresholds[risk]
        return self.thresholds.get(risk, fallback)

    # --- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        p = Path(path)
        if p.suffix != ".npz":
            p = p.with_name(p.name + ".npz")
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "kind": self.kind,
            "outputs": self.outputs,
            "n_min": self.n_min,
            "n_max": self.n_max,
            "n_buckets": int(self.weights.shape[1]),
            "temperature": self.temperature,
            "platt": [list(c) for c in self.platt],
            "thresholds": self.thresholds,
            "normalize_input": self.normalize_input,
            "info": self.meta,
        }
        blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
        np.savez_compressed(
            p,
            weights=self.weights.astype(np.float16),
            bias=self.bias.astype(np.float32),
            idf=self.idf.astype(np.float16),
            meta=blob,
        )
        return p

    @classmethod
    def load(cls, path: str | Path) -> ClassifierModel:
        p = Path(path)
        if not p.exists():
            raise ModelError(f"classifier model not found: {p}")
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode("utf-8"))
                weights = z["weights"].astype(np.float32)
                bias = z["bias"].astype(np.float32)
                idf = z["idf"].astype(np.float32)
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{p}: not a Hegui classifier model ({exc})") from None
        if meta.get("format") != FORMAT:
            raise ModelError(f"{p}: unsupported model format {meta.get('format')!r} (expected {FORMAT})")
        for name in ("kind", "outputs", "n_min", "n_max"):
            if name not in meta:
                raise ModelError(f"{p}: model metadata lacks {name!r}")
        return cls(
            kind=meta["kind"],
            outputs=list(meta["outputs"]),
            weights=weights,
            bias=bias,
            idf=idf,
            n_min=int(meta["n_min"]),
            n_max=int(meta["n_max"]),
            temperature=float(meta.get("temperature", 1.0)),
            platt=[(float(a), float(b)) for a, b in meta.get("platt", [])],
            thresholds={str(k): float(v) for k, v in meta.get("thresholds", {}).items()},
            meta=dict(meta.get("info", {})),
            normalize_input=bool(meta.get("normalize_input", True)),
        )


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
