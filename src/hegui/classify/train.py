"""Training (needs scikit-learn; run time does not). See docs/classifier.md for the recipe."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from hegui.classify.data import Example
from hegui.classify.evaluate import evaluate_probs, tune_thresholds
from hegui.classify.features import CharNgramHasher, smooth_idf
from hegui.classify.model import NO_RISK, ClassifierModel
from hegui.text import normalize

Progress = Callable[[str], None]


@dataclass(slots=True)
class TrainConfig:
    # chosen by measurement on COLD/SWSR dev (docs/classifier.md, "Model selection")
    kind: Literal["softmax", "ovr"] = "softmax"
    n_min: int = 1
    n_max: int = 3
    n_buckets: int = 1 << 20
    C: float = 8.0  # inverse L2 strength of the logistic regression
    max_iter: int = 1000
    calibration_fraction: float = 0.1  # held out of training to fit the calibration
    normalize_input: bool = True


class TrainError(ValueError):
    pass


def _calib_fold(text: str, fraction: float) -> bool:
    # deterministic held-out split: the same rows on every machine and every run
    return (zlib.crc32(text.encode("utf-8")) % 1000) < int(fraction * 1000)


def _fit_temperature(z: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        s = z / np.exp(log_t)
        s = s - s.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(y)), y].mean())

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(res.x))


def _fit_platt(z: npt.NDArray[np.float64], y: npt.NDArray[np.bool_]) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression

    if y.all() or not y.any():
        return 1.0, 0.0
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(z.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def train(
    examples: Sequence[Example],
    config: TrainConfig | None = None,
    dev: Sequence[Example] | None = None,
    progress: Progress | None = None,
    command: str = "",
) -> ClassifierModel:
    """Fit a model; tune per-risk thresholds on ``dev`` (else on the calibration split)."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    cfg = config or TrainConfig()
    say = progress or (lambda _m: None)
    risks = sorted({r for e in examples for r in e.risks})
    if not risks:
        raise TrainError("the training data has no positive (risky) rows")
    if all(e.risks for e in examples):
        raise TrainError("the training data has no safe rows")
    t0 = time.perf_counter()
    prep = (lambda t: normalize(t).normalized) if cfg.normalize_input else (lambda t: t)
    say(f"normalizing {len(examples)} texts")
    texts = [prep(e.text) for e in examples]
    is_cal = np.array([_calib_fold(t, cfg.calibration_fraction) for t in texts])
    fit_idx = [int(i) for i in np.flatnonzero(~is_cal)]
    cal_idx = [int(i) for i in np.flatnonzero(is_cal)]
    if len(cal_idx) < 20:
        raise TrainError("too few rows to hold out a calibration split (need >= 200 rows)")
    hasher = CharNgramHasher(cfg.n_min, cfg.n_max, cfg.n_buckets)
    say("featurizing")
    df, n_docs = hasher.document_frequency(texts[i] for i in fit_idx)
    idf = smooth_idf(df, n_docs)

    def matrix(rows: Sequence[str]) -> Any:
        d, i, p = hasher.csr(rows, idf)
        return sp.csr_matrix((d, i, p), shape=(len(rows), cfg.n_buckets))

    x_fit = matrix([texts[i] for i in fit_idx])
    x_cal = matrix([texts[i] for i in cal_idx])
    fit_ex = [examples[i] for i in fit_idx]
    cal_ex = [examples[i] for i in cal_idx]
    say(f"fitting {cfg.kind} logistic regression on {len(fit_idx)} rows, {len(risks)} risks")
    platt: list[tuple[float, float]] = []
    temperature = 1.0
    if cfg.kind == "softmax":
        outputs = [NO_RISK, *risks]
        # a row with several risks becomes one row per risk (the softmax cannot say "both")
        rows: list[int] = []
        ys: list[int] = []
        for j, e in enumerate(fit_ex):
            for r in sorted(e.risks) or [NO_RISK]:
                rows.append(j)
                ys.append(outputs.index(r))
        lr = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter)
        lr.fit(x_fit[rows], np.array(ys))
        coef, inter = lr.coef_, lr.intercept_
        if len(outputs) == 2:  # sklearn keeps one row for two classes: split it symmetrically
            coef = np.vstack([-coef / 2, coef / 2])
            inter = np.array([-inter[0] / 2, inter[0] / 2])
        weights = np.asarray(coef, dtype=np.float32)
        bias = np.asarray(inter, dtype=np.float32)
        z_cal = np.asarray(x_cal @ weights.T, dtype=np.float64) + bias
        y_cal = np.array([outputs.index(sorted(e.risks)[0]) if e.risks else 0 for e in cal_ex])
        temperature = _fit_temperature(z_cal, y_cal)
    else:
        outputs = list(risks)
        w_rows = []
        b_rows = []
        for r in risks:
            y = np.array([r in e.risks for e in fit_ex])
            lr = LogisticRegression(C=cfg.C, max_iter=cfg.max_iter, solver="liblinear")
            lr.fit(x_fit, y)
            w_rows.append(lr.coef_[0])
            b_rows.append(lr.intercept_[0])
        weights = np.asarray(np.vstack(w_rows), dtype=np.float32)
        bias = np.asarray(b_rows, dtype=np.float32)
        z_cal = np.asarray(x_cal @ weights.T, dtype=np.float64) + bias
        for k, r in enumerate(risks):
            platt.append(_fit_platt(z_cal[:, k], np.array([r in e.risks for e in cal_ex])))
    model = ClassifierModel(
        kind=cfg.kind,
        outputs=outputs,
        weights=weights,
        bias=bias,
        idf=idf,
        n_min=cfg.n_min,
        n_max=cfg.n_max,
        temperature=temperature,
        platt=platt,
        normalize_input=cfg.normalize_input,
    )
    # thresholds and metrics come from the model as it will be saved (float16 weights)
    model = _roundtrip_precision(model)
    tune_on = list(dev) if dev else cal_ex
    say(f"tuning thresholds on {'dev' if dev else 'the calibration split'} ({len(tune_on)} rows)")
    p_tune = model.predict_proba([e.text for e in tune_on])
    model.thresholds = tune_thresholds(tune_on, model.risks, p_tune)
    rep_half = evaluate_probs(tune_on, model.risks, p_tune, dict.fromkeys(model.risks, 0.5))
    rep_tuned = evaluate_probs(tune_on, model.risks, p_tune, model.thresholds)
    model.meta = {
        "config": asdict(cfg),
        "risks": model.risks,
        "train_rows": len(fit_idx),
        "calibration_rows": len(cal_idx),
        "train_sources": sorted({e.source for e in examples}),
        "tuned_on": sorted({e.source for e in tune_on}) if dev else "calibration split",
        "train_seconds": round(time.perf_counter() - t0, 1),
        "command": command,
        "metrics_at_0.5": _headline(rep_half),
        "metrics_tuned": _headline(rep_tuned),
    }
    return model


def _headline(rep: Any) -> dict[str, Any]:
    return {
        "n": rep.n,
        "accuracy": round(rep.accuracy, 4),
        "macro_f1": round(rep.macro_f1, 4),
        "group_discussion_fpr": None
        if rep.group_discussion_fpr is None
        else round(rep.group_discussion_fpr, 4),
        "ece": round(rep.ece, 4),
    }


def _roundtrip_precision(model: ClassifierModel) -> ClassifierModel:
    model.weights = model.weights.astype(np.float16).astype(np.float32)
    model.idf = model.idf.astype(np.float16).astype(np.float32)
    return model
