"""Rates with Wilson score intervals, threshold verdicts, per-risk breakdowns, Cohen's kappa.

A rate is reported with its 95 % Wilson interval and one of three verdicts against the
threshold: ``safely-met`` (the whole interval is on the right side), ``met`` (the point estimate
is, the interval is not: more samples would settle it) and ``not-met``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials. (0, 1) when n == 0."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    z2 = z * z
    den = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    k: int
    n: int
    threshold: float | None = None
    direction: Literal[">=", "<="] = ">="
    min_n: int = 0  # the sample size the standard asks for

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else 0.0

    @property
    def ci(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    @property
    def enough(self) -> bool:
        return self.n >= self.min_n

    @property
    def verdict(self) -> str:
        if self.n == 0:
            return "no-data"
        if self.threshold is None:
            return "info"
        lo, hi = self.ci
        if self.direction == ">=":
            if lo >= self.threshold:
                return "safely-met"
            return "met" if self.value >= self.threshold else "not-met"
        if hi <= self.threshold:
            return "safely-met"
        return "met" if self.value <= self.threshold else "not-met"

    @property
    def passed(self) -> bool:
        return self.verdict in ("safely-met", "met") and self.enough

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = asdict(self)
        lo, hi = self.ci
        d.update(
            value=self.value,
            ci_low=lo,
            ci_high=hi,
            verdict=self.verdict,
            enough=self.enough,
            passed=self.passed,
        )
        return d

    def fmt(self) -> str:
        lo, hi = self.ci
        return f"{self.value:.1%} [{lo:.1%}, {hi:.1%}] ({self.k}/{self.n})"


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa for two raters over the same items. 1.0 when both agree and use one label."""
    if len(a) != len(b):
        raise ValueError("both raters must label the same items")
    n = len(a)
    if n == 0:
        raise ValueError("no items to compare")
    labels = sorted(set(a) | set(b))
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pe = sum((list(a).count(lab) / n) * (list(b).count(lab) / n) for lab in labels)
    if pe == 1.0:
        return 1.0
    return (po - pe) / (1 - pe)


def per_group(
    pairs: Iterable[tuple[Iterable[str], bool]],
    name: str,
    threshold: float | None,
    direction: Literal[">=", "<="] = ">=",
    min_n: int = 0,
) -> dict[str, Rate]:
    """Group (keys, success) pairs into one Rate per key (an item with two risks counts in both)."""
    k: dict[str, int] = {}
    n: dict[str, int] = {}
    for keys, ok in pairs:
        for key in set(keys):
            n[key] = n.get(key, 0) + 1
            k[key] = k.get(key, 0) + int(ok)
    return {key: Rate(f"{name}:{key}", k[key], n[key], threshold, direction, min_n) for key in sorted(n)}
