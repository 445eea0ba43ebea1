"""Statistics for counterfactual audits (numpy/scipy only).

- ``bootstrap_ci``: percentile bootstrap of a mean, vectorised (one ``(B, n)`` index draw), with
  ``bootstrap_ci_loop`` as the naive per-resample loop the benchmark compares against.
- ``wilcoxon_p``: Wilcoxon signed-rank test on paired differences (zeros dropped; all-zero -> p = 1).
- ``mcnemar_exact_p``: McNemar's exact test on paired binary outcomes (binomial on the discordant pairs).
- ``selection_ratio``: rate ratio and the four-fifths (80 %) rule of adverse impact.
- ``holm`` / ``benjamini_hochberg``: adjusted p-values for a family of tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FOUR_FIFTHS = 0.8


@dataclass(frozen=True, slots=True)
class CI:
    estimate: float
    low: float
    high: float

    def excludes(self, x: float = 0.0) -> bool:
        return not (self.low <= x <= self.high)


def _arr(x: ArrayLike) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError("expected a one-dimensional sample")
    return a


def bootstrap_ci(
    x: ArrayLike,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int | np.random.Generator | None = 0,
    chunk: int = 4_000_000,
) -> CI:
    """Percentile bootstrap CI of the mean of ``x``. Resamples are drawn as one index matrix (in
    chunks of at most ``chunk`` cells to bound memory), which is what makes it fast."""
    a = _arr(x)
    n = a.size
    if n == 0:
        return CI(float("nan"), float("nan"), float("nan"))
    est = float(a.mean())
    if n == 1 or np.all(a == a[0]):
        return CI(est, est, est)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    rows = max(1, chunk // n)
    means = np.empty(n_boot)
    for start in range(0, n_boot, rows):
        stop = min(n_boot, start + rows)
        idx = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = a[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return CI(est, float(lo), float(hi))


def bootstrap_ci_loop(x: ArrayLike, n_boot: int = 2000, alpha: float = 0.05, seed: int | None = 0) -> CI:
    """The textbook loop (one resample per iteration): the baseline of the benchmark."""
    a = _arr(x)
    n = a.size
    if n == 0:
        return CI(float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_boot):
        sample = [a[rng.integers(0, n)] for _ in range(n)]
        means.append(sum(sample) / n)
    lo, hi = np.quantile(np.asarray(means), [alpha / 2, 1 - alpha / 2])
    return CI(float(a.mean()), float(lo), float(hi))


def wilcoxon_p(diffs: ArrayLike) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (zero differences dropped)."""
    from scipy.stats import wilcoxon

    d = _arr(diffs)
    d = d[~np.isnan(d)]
    if d.size == 0 or np.all(d == 0):
        return 1.0
    res = wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(res.pvalue)


def mcnemar_exact_p(a: ArrayLike, b: ArrayLike) -> tuple[float, int, int]:
    """Exact McNemar test for paired 0/1 outcomes. Returns (p, n10, n01) where n10 counts pairs with
    a = 1 and b = 0."""
    from scipy.stats import binomtest

    x, y = _arr(a).astype(bool), _arr(b).astype(bool)
    if x.shape != y.shape:
        raise ValueError("paired samples must have the same length")
    n10 = int(np.sum(x & ~y))
    n01 = int(np.sum(~x & y))
    if n10 + n01 == 0:
        return 1.0, n10, n01
    return float(binomtest(n10, n10 + n01, 0.5).pvalue), n10, n01


@dataclass(frozen=True, slots=True)
class Selection:
    rate_ref: float
    rate_var: float
    ratio: float  # rate_var / rate_ref (inf when rate_ref = 0 < rate_var, nan when both 0)
    impact_ratio: float  # lower rate / higher rate, in [0, 1]
    disadvantaged: str  # "variant", "reference" or "none"
    four_fifths_violated: bool


def selection_ratio(ref: ArrayLike, var: ArrayLike, threshold: float = FOUR_FIFTHS) -> Selection:
    r, v = _arr(ref), _arr(var)
    rr = float(r.mean()) if r.size else float("nan")
    rv = float(v.mean()) if v.size else float("nan")
    if rr == 0 and rv == 0:
        return Selection(rr, rv, float("nan"), 1.0, "none", False)
    ratio = rv / rr if rr > 0 else float("inf")
    hi, lo = max(rr, rv), min(rr, rv)
    impact = lo / hi if hi > 0 else 1.0
    dis = "none" if rr == rv else ("variant" if rv < rr else "reference")
    return Selection(rr, rv, ratio, impact, dis, impact < threshold)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values (controls the family-wise error rate)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return [float(x) for x in adj]


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg step-up adjusted p-values (controls the false discovery rate)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    adj = np.empty(m)
    adj[order] = np.minimum(ranked, 1.0)
    return [float(x) for x in adj]


def adjust(pvalues: Sequence[float], method: str = "holm") -> list[float]:
    if method == "holm":
        return holm(pvalues)
    if method in ("bh", "fdr_bh", "benjamini-hochberg"):
        return benjamini_hochberg(pvalues)
    raise ValueError(f"unknown correction {method!r} (holm or bh)")
