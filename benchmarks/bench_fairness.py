"""Fairness audit statistics: the vectorised bootstrap against the textbook loop, and the whole
analysis of a full pack.

1. Bootstrap CI of a paired mean gap (B = 2000 resamples) for the sample sizes an audit sees
   (40, 100, 400 units). Baseline (named ``loop-bootstrap``): one resample per Python iteration,
   ``bootstrap_ci_loop`` in the same module, measured in the same run. Both give the same interval
   up to resampling noise (checked below).
2. ``compare_rows`` over the full hiring pack (all 9 attributes, 40 units: 13,520 answers from the
   scripted model of the tests, about 330 comparisons x 2-3 metrics), to show what a report costs.

Run: .venv/bin/python benchmarks/bench_fairness.py [--boot 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from _common import best_of  # noqa: E402
from hegui.fairness.stats import bootstrap_ci, bootstrap_ci_loop  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boot", type=int, default=2000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"bootstrap CI of a mean gap, B={a.boot}")
    print(
        f"{'units':>6}{'loop-bootstrap (ms)':>22}{'vectorised (ms)':>18}{'ratio':>9}{'  CI loop / vectorised'}"
    )
    for n in (40, 100, 400):
        x = np.round(rng.normal(-0.5, 1.7, n))
        t_loop = best_of(lambda x=x: bootstrap_ci_loop(x, a.boot, seed=1), repeat=2)
        t_vec = best_of(lambda x=x: bootstrap_ci(x, a.boot, seed=1), repeat=5)
        cl, cv = bootstrap_ci_loop(x, a.boot, seed=1), bootstrap_ci(x, a.boot, seed=1)
        print(
            f"{n:>6}{t_loop * 1e3:>22.1f}{t_vec * 1e3:>18.2f}{t_loop / t_vec:>9.0f}x"
            f"  [{cl.low:.2f}, {cl.high:.2f}] / [{cv.low:.2f}, {cv.high:.2f}]"
        )

    from tests.fairness.fake_model import FakeModel

    from hegui.fairness.audit import Row, _template_meta, compare_rows, decide_one
    from hegui.fairness.packs import expand_pack, load_pack

    pack = load_pack("hiring")
    cases = expand_pack(pack, units=40)
    metas = {t.id: _template_meta(t) for t in pack.templates}
    fake = FakeModel(seed=0, score_bonus={"性别：男": 1.0})
    t0 = time.perf_counter()
    rows = []
    for c in cases:
        ans = fake.answer(c.prompt)
        rows.append(Row(c, decide_one(c, metas[c.template], ans), ans, {}))
    t_extract = time.perf_counter() - t0
    t0 = time.perf_counter()
    comps = compare_rows(rows, metas, n_boot=a.boot)
    t_stats = time.perf_counter() - t0
    print(
        f"\nfull hiring pack: {len(cases):,} answers (scripted), {len(comps)} comparisons; "
        f"decision extraction {len(cases) / t_extract:,.0f} answers/s (incl. the fake's hashing), "
        f"statistics {t_stats:.2f} s ({t_stats / len(comps) * 1e3:.1f} ms per comparison)"
    )


if __name__ == "__main__":
    main()
