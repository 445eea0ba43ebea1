"""Quality of the pattern detectors alone (lexicon + rules + PII + injection, no classifier) on the
dev data in ../shared/data. These are dev sets: the lexicons are NOT tuned to their sentences.

    .venv/bin/python benchmarks/quality_moderation.py [--policy FILE]

Prints, per data set: positives/negatives, precision, recall, F1 and the flag rate, where
"flagged" means the policy would not pass the text unchanged.
"""

from __future__ import annotations

import argparse
import sys

from _common import cold_rows, flames_prompts, jade_questions, swsr_rows
from hegui.moderation import Moderator
from hegui.policy import default_policy, load_policy


def prf(pred: list[bool], gold: list[bool]) -> tuple[float, float, float]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy")
    args = ap.parse_args()
    pol = load_policy(args.policy) if args.policy else default_policy()
    mod = Moderator(pol)
    print(f"policy {pol.name}; detectors {[d.name for d in mod.detectors]}")
    print(f"{'data set':<34}{'n':>7}{'pos':>7}{'prec':>8}{'recall':>8}{'F1':>8}{'flag%':>8}")

    def report(name: str, texts: list[str], gold: list[bool], role: str = "output") -> None:
        pred = [mod.check(t, role=role).flagged for t in texts]
        p, r, f = prf(pred, gold)
        print(
            f"{name:<34}{len(texts):>7}{sum(gold):>7}{p:>8.3f}{r:>8.3f}{f:>8.3f}{100 * sum(pred) / len(pred):>8.1f}"
        )

    dev = list(cold_rows("dev"))
    report("COLD dev (offensive=1)", [r["TEXT"] for r in dev], [r["label"] == "1" for r in dev])
    sw = list(swsr_rows())
    report(
        "SWSR SexComment (sexist=1)", [r.get("comment_text", "") for r in sw], [r["label"] == "1" for r in sw]
    )
    jade = jade_questions()
    report("JADE v1 (all harmful, as prompts)", jade, [True] * len(jade), role="input")
    fl = flames_prompts()
    pred = [mod.check(t, role="input").flagged for t in fl]
    print(
        f"{'Flames 1k (mixed; flag rate only)':<34}{len(fl):>7}{'-':>7}{'-':>8}{'-':>8}{'-':>8}{100 * sum(pred) / len(pred):>8.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
