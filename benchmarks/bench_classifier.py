"""Benchmark of the learned detectors (issue 4). Ratios are against baselines measured in the
same run.

    .venv/bin/python benchmarks/bench_classifier.py            # throughput, engine F1, judge latency
    .venv/bin/python benchmarks/bench_classifier.py --select   # the model-selection table

1. Classifier throughput (texts/s, one core) on COLD dev texts, as a ratio to the lexicon
   detector on the same texts (``hegui.moderation.lexicon.LexiconDetector``; when it does not
   exist yet, to ``hegui.text.normalize`` alone). Both include normalization.
2. Engine F1 on COLD dev (binary: flagged vs label): the default policy (lexicon & co.) versus the
   same policy with the classifier enabled (``hegui.moderation.Moderator``), when the engine exists.
3. LLM-judge added latency: a fake upstream model with a fixed delay, a fake guard with its own
   fixed delay; the judge's added time as a ratio to the upstream's own latency, and the judge's
   own overhead (time beyond the guard's delay), cold and cached.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # "one core": keep BLAS single-threaded
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("HEGUI_SHARED_DATA", ROOT.parent / "shared" / "data"))

import numpy as np  # noqa: E402

from hegui.classify.data import DatasetSpec, Example, load_examples  # noqa: E402
from hegui.classify.evaluate import binary_metrics, evaluate_probs, tune_thresholds  # noqa: E402


def _cold_dev() -> list[Example]:
    return load_examples(DATA / "COLD" / "dev.csv")


def _rate(fn, texts: list[str], min_s: float = 2.0) -> float:  # type: ignore[no-untyped-def]
    """Texts per second of ``fn`` over ``texts`` (repeated until ``min_s`` elapsed)."""
    fn(texts[0])  # warm caches/imports
    n = 0
    t0 = time.perf_counter()
    while True:
        for t in texts:
            fn(t)
        n += len(texts)
        el = time.perf_counter() - t0
        if el >= min_s:
            return n / el


def bench_throughput(dev: list[Example], n: int) -> None:
    from hegui.classify import ClassifierDetector, load_model
    from hegui.text import normalize

    texts = [e.text for e in dev[:n]]
    t0 = time.perf_counter()
    model = load_model("builtin:default")
    load_s = time.perf_counter() - t0
    det = ClassifierDetector(model)
    try:
        from hegui.moderation.lexicon import LexiconDetector
        from hegui.policy import default_policy

        lex = LexiconDetector.from_policy(default_policy())
        base_name = "lexicon detector (normalize + scan)"

        def base(t: str) -> object:
            return lex.scan(normalize(t))
    except ImportError:
        base_name = "normalize() only (lexicon detector not built yet)"

        def base(t: str) -> object:
            return normalize(t)

    def clf(t: str) -> object:
        return det.scan(normalize(t))

    r_base = _rate(base, texts)
    r_clf = _rate(clf, texts)
    print(f"\n[1] throughput on {len(texts)} COLD dev texts, one core (model load {load_s * 1000:.0f} ms)")
    print(f"    baseline  {base_name}: {r_base:,.0f} texts/s")
    print(f"    classifier (normalize + scan): {r_clf:,.0f} texts/s")
    print(f"    ratio classifier / baseline = {r_clf / r_base:.3f}")


def bench_engine(dev: list[Example]) -> None:
    print("\n[2] engine F1 on COLD dev (binary: verdict.flagged vs label)")
    try:
        from hegui.moderation import Moderator
        from hegui.policy import default_policy
    except ImportError as exc:
        print(f"    skipped: the moderation engine is not importable yet ({exc})")
        return
    truth = np.array([bool(e.risks) for e in dev])
    base_pol = default_policy()
    with_clf = base_pol.model_copy(deep=True)
    with_clf.detectors.classifier.enabled = True
    rows = []
    for name, pol in (("default policy (lexicon etc.)", base_pol), ("default + classifier", with_clf)):
        try:
            mod = Moderator(pol)
            t0 = time.perf_counter()
            pred = np.array([mod.check(e.text, role="output").flagged for e in dev])
        except Exception as exc:  # an engine still under construction: report, do not invent
            print(f"    {name}: engine failed ({type(exc).__name__}: {exc})")
            return
        el = time.perf_counter() - t0
        acc, mf1 = binary_metrics(truth, pred)
        group = np.array([not e.risks for e in dev])
        rows.append((name, acc, mf1, float(pred[group].mean()), len(dev) / el))
    for name, acc, mf1, fpr, rate in rows:
        print(
            f"    {name:32s} accuracy {acc:.4f}  macro-F1 {mf1:.4f}  group-discussion FPR {fpr:.4f}  {rate:,.0f} texts/s"
        )
    if len(rows) == 2 and rows[0][2] > 0:
        print(f"    ratio macro-F1 (with classifier / lexicon alone) = {rows[1][2] / rows[0][2]:.3f}")


def bench_judge(upstream_ms: float, guard_ms: float, n: int) -> None:
    import httpx

    from hegui.classify.judge import LLMJudgeDetector
    from hegui.classify.testing import FakeOpenAIServer, Reply
    from hegui.policy.model import LLMJudgeConfig

    up = FakeOpenAIServer([Reply("这是上游模型的回答。", delay_s=upstream_ms / 1000)]).start()
    guard = FakeOpenAIServer(
        [Reply("Safety: Safe\nCategories: None\nRefusal: No", delay_s=guard_ms / 1000)]
    ).start()
    try:
        client = httpx.Client(timeout=30)
        det = LLMJudgeDetector(
            LLMJudgeConfig(enabled=True, endpoint=guard.url, model="g", family="qwen3guard", cache_size=0)
        )
        cached = LLMJudgeDetector(
            LLMJudgeConfig(enabled=True, endpoint=guard.url, model="g", family="qwen3guard")
        )
        body = {"model": "m", "messages": [{"role": "user", "content": "你好"}]}
        client.post(f"{up.url}/chat/completions", json=body)  # warm connections
        det.check("warm")
        up_t, judge_t, hit_t = [], [], []
        for i in range(n):
            t0 = time.perf_counter()
            ans = client.post(f"{up.url}/chat/completions", json=body).json()["choices"][0]["message"][
                "content"
            ]
            t1 = time.perf_counter()
            det.check(f"{ans}{i}")
            t2 = time.perf_counter()
            cached.check(ans)  # same answer every time: cache hits after the first
            t3 = time.perf_counter()
            up_t.append(t1 - t0)
            judge_t.append(t2 - t1)
            hit_t.append(t3 - t2)
        u, j, h = (float(np.median(x)) * 1000 for x in (up_t, judge_t, hit_t))
        print(
            f"\n[3] LLM-judge latency, {n} requests, medians (fake upstream {upstream_ms:.0f} ms, fake guard {guard_ms:.0f} ms)"
        )
        print(f"    upstream alone: {u:.1f} ms; judge (cold): {j:.1f} ms; judge (cache hit): {h:.3f} ms")
        print(f"    ratio added latency / upstream latency = {j / u:.3f} (cache hit: {h / u:.5f})")
        print(f"    judge overhead beyond the guard's own delay: {j - guard_ms:.1f} ms")
        client.close()
    finally:
        up.stop()
        guard.stop()


def select_models() -> None:
    """Compare model families on the same hashed features (needs scikit-learn)."""
    import scipy.sparse as sp
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from hegui.classify.features import CharNgramHasher, smooth_idf
    from hegui.text import normalize

    train = load_examples(DATA / "COLD" / "train.csv") + load_examples(
        DATA / "SWSR" / "SWSR" / "SexComment.csv", DatasetSpec(hash_split="train")
    )
    dev = _cold_dev()
    sw_dev = load_examples(DATA / "SWSR" / "SWSR" / "SexComment.csv", DatasetSpec(hash_split="dev"))
    risks = ["A2.a", "A2.d", "A2.e"]
    print(f"train {len(train)} (COLD train + SWSR hash-train), COLD dev {len(dev)}, SWSR dev {len(sw_dev)}")
    print(
        "| model | features | fit s | COLD dev acc @0.5 | macro-F1 @0.5 | acc (tuned) | macro-F1 (tuned) | group FPR (tuned) | SWSR dev macro-F1 (tuned) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    norm = [normalize(e.text).normalized for e in train]
    for n_max in (3, 4):
        h = CharNgramHasher(1, n_max, 1 << 20)
        df, nd = h.document_frequency(norm)
        idf = smooth_idf(df, nd)

        def mat(texts: list[str], h: CharNgramHasher = h, idf: np.ndarray = idf) -> sp.csr_matrix:
            d, i, p = h.csr(texts, idf)
            return sp.csr_matrix((d, i, p), shape=(len(texts), h.n_buckets))

        x_tr = mat(norm)
        x_dev = mat([normalize(e.text).normalized for e in dev])
        x_sw = mat([normalize(e.text).normalized for e in sw_dev])
        y_multi = np.array([0 if not e.risks else 1 + risks.index(sorted(e.risks)[0]) for e in train])
        families = ["softmax-LR", "OvR-LR", "OvR-LinearSVC+Platt"] if n_max == 3 else ["softmax-LR"]
        for fam in families:
            t0 = time.perf_counter()
            if fam == "softmax-LR":
                m = LogisticRegression(C=8.0, max_iter=1000).fit(x_tr, y_multi)
                p_dev, p_sw = m.predict_proba(x_dev)[:, 1:], m.predict_proba(x_sw)[:, 1:]
            else:
                p_dev, p_sw = np.zeros((len(dev), 3)), np.zeros((len(sw_dev), 3))
                for k, r in enumerate(risks):
                    y = np.array([r in e.risks for e in train])
                    if fam == "OvR-LR":
                        mk = LogisticRegression(C=8.0, max_iter=1000, solver="liblinear").fit(x_tr, y)
                    else:
                        mk = CalibratedClassifierCV(LinearSVC(C=0.5), method="sigmoid", cv=3).fit(x_tr, y)
                    p_dev[:, k], p_sw[:, k] = mk.predict_proba(x_dev)[:, 1], mk.predict_proba(x_sw)[:, 1]
            fit_s = time.perf_counter() - t0
            half = evaluate_probs(dev, risks, p_dev, dict.fromkeys(risks, 0.5))
            both = dev + sw_dev
            th = tune_thresholds(both, risks, np.vstack([p_dev, p_sw]))
            tuned = evaluate_probs(dev, risks, p_dev, th)
            sw = evaluate_probs(sw_dev, risks, p_sw, th)
            print(f"| {fam} | char 1-{n_max}, 2^20 | {fit_s:.0f} | {half.accuracy:.4f} | {half.macro_f1:.4f} | "
                  f"{tuned.accuracy:.4f} | {tuned.macro_f1:.4f} | {tuned.group_discussion_fpr:.4f} | {sw.macro_f1:.4f} |",
                  flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--select", action="store_true", help="run the model-selection comparison instead")
    ap.add_argument("--n", type=int, default=2000, help="texts for the throughput test")
    ap.add_argument("--upstream-ms", type=float, default=200.0)
    ap.add_argument("--guard-ms", type=float, default=50.0)
    ap.add_argument("--judge-n", type=int, default=30)
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"shared data not found at {DATA}")
    if args.select:
        select_models()
        return
    dev = _cold_dev()
    bench_throughput(dev, args.n)
    bench_engine(dev)
    bench_judge(args.upstream_ms, args.guard_ms, args.judge_n)


if __name__ == "__main__":
    main()
