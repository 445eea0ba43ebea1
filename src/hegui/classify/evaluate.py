"""Metrics of a classifier on labelled examples: per-class precision/recall/F1, the binary
"any risk" view (accuracy, macro-F1, false positives on texts that discuss a group without
attacking it) and a reliability table of the calibrated probabilities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hegui.classify.data import Example


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int  # true members of the class


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    lo: float
    hi: float
    count: int
    mean_predicted: float
    observed: float  # fraction that truly carried the risk


@dataclass(slots=True)
class EvalReport:
    n: int
    thresholds: dict[str, float]
    per_class: list[ClassMetrics]
    accuracy: float  # binary: any risk vs none
    macro_f1: float  # binary, mean of the F1 of "safe" and "risky"
    group_discussion_fpr: float | None  # safe texts with a topic that were flagged
    group_discussion_n: int
    calibration: list[CalibrationBin] = field(default_factory=list)
    ece: float = 0.0  # expected calibration error over the bins

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def binary_metrics(truth: npt.NDArray[np.bool_], pred: npt.NDArray[np.bool_]) -> tuple[float, float]:
    """(accuracy, macro-F1 over the two classes)."""
    acc = float((truth == pred).mean()) if len(truth) else 0.0
    f_pos = _prf(int((truth & pred).sum()), int((~truth & pred).sum()), int((truth & ~pred).sum()))[2]
    f_neg = _prf(int((~truth & ~pred).sum()), int((truth & ~pred).sum()), int((~truth & pred).sum()))[2]
    return acc, (f_pos + f_neg) / 2


def truth_matrix(examples: Sequence[Example], risks: Sequence[str]) -> npt.NDArray[np.bool_]:
    return np.array([[r in e.risks for r in risks] for e in examples], dtype=bool).reshape(
        len(examples), len(risks)
    )


def evaluate_probs(
    examples: Sequence[Example],
    risks: Sequence[str],
    probs: npt.NDArray[np.float64],
    thresholds: dict[str, float],
    bins: int = 10,
) -> EvalReport:
    """Score precomputed probabilities (n_examples x n_risks) at the given thresholds."""
    truth = truth_matrix(examples, risks)
    th = np.array([thresholds[r] for r in risks])
    pred = probs >= th
    per_class: list[ClassMetrics] = []
    for k, r in enumerate(risks):
        t, p = truth[:, k], pred[:, k]
        prec, rec, f1 = _prf(int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum()))
        per_class.append(ClassMetrics(r, prec, rec, f1, int(t.sum())))
    # risks in the data the model does not know count as misses of the binary view only
    any_true = np.array([bool(e.risks) for e in examples])
    any_pred: npt.NDArray[np.bool_] = np.asarray(pred.any(axis=1), dtype=bool)
    prec, rec, f1 = _prf(
        int((~any_true & ~any_pred).sum()),
        int((any_true & ~any_pred).sum()),
        int((~any_true & any_pred).sum()),
    )
    per_class.insert(0, ClassMetrics("(none)", prec, rec, f1, int((~any_true).sum())))
    acc, macro = binary_metrics(any_true, any_pred)
    group = np.array([bool(e.topic) and not e.risks for e in examples])
    g_n = int(group.sum())
    g_fpr = float(any_pred[group].mean()) if g_n else None
    cal, ece = reliability(probs.ravel(), truth.ravel(), bins)
    return EvalReport(
        n=len(examples),
        thresholds={r: float(thresholds[r]) for r in risks},
        per_class=per_class,
        accuracy=acc,
        macro_f1=macro,
        group_discussion_fpr=g_fpr,
        group_discussion_n=g_n,
        calibration=cal,
        ece=ece,
    )


def reliability(
    probs: npt.NDArray[np.float64], truth: npt.NDArray[np.bool_], bins: int = 10
) -> tuple[list[CalibrationBin], float]:
    """Equal-width reliability bins and the expected calibration error."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1], right=False), 0, bins - 1)
    out: list[CalibrationBin] = []
    ece = 0.0
    n = max(len(probs), 1)
    for b in range(bins):
        m = which == b
        c = int(m.sum())
        mp = float(probs[m].mean()) if c else 0.0
        ob = float(truth[m].mean()) if c else 0.0
        ece += c / n * abs(mp - ob)
        out.append(CalibrationBin(float(edges[b]), float(edges[b + 1]), c, mp, ob))
    return out, float(ece)


def tune_thresholds(
    examples: Sequence[Example],
    risks: Sequence[str],
    probs: npt.NDArray[np.float64],
    grid: npt.NDArray[np.float64] | None = None,
) -> dict[str, float]:
    """Per risk, the threshold with the best F1 for that risk on these examples."""
    g = grid if grid is not None else np.round(np.arange(0.05, 0.951, 0.01), 2)
    truth = truth_matrix(examples, risks)
    out: dict[str, float] = {}
    for k, r in enumerate(risks):
        t = truth[:, k]
        if not t.any():
            out[r] = 0.5
            continue
        best = (-1.0, 0.5)
        for th in g:
            p = probs[:, k] >= th
            f = _prf(int((t & p).sum()), int((~t & p).sum()), int((t & ~p).sum()))[2]
            if f > best[0]:
                best = (f, float(th))
        out[r] = best[1]
    return out
