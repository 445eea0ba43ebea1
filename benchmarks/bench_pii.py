"""PII detector throughput on >= 1 MB of Chinese text with synthetic PII, against a baseline.

Text: real comments from ../shared/data (COLD, SWSR; read at run time, never copied) cut into
messages of ~200 characters; every third message gets one synthetic PII value (valid ID numbers,
phones, cards, e-mails, plates, IPs, addresses, with random digits so checksums are exercised).

Baseline (named ``re-digits``): one ``re.finditer(r"\\d{7,}", text)`` over the same messages — the
cheapest thing that could pretend to find numbers. The ratio says how many times slower the full
validated detector (10 recognizers, checksums, original-offset findings) is than that floor.

Run: .venv/bin/python benchmarks/bench_pii.py [--mb 1.0]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_of, messages  # noqa: E402
from hegui.moderation.pii import PIIDetector, id_check_char, recognizers  # noqa: E402
from hegui.text import NormalizedText, normalize  # noqa: E402


def _luhn(prefix: str) -> str:
    for d in "0123456789":
        s = prefix + d
        total = sum(
            (v - 9 if (v := int(c) * (2 if i % 2 else 1)) > 9 else v) for i, c in enumerate(reversed(s))
        )
        if total % 10 == 0:
            return s
    raise AssertionError


def synthetic_pii(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        base = f"{rng.choice(['11', '31', '44', '51'])}{rng.randrange(10**4):04d}{rng.randrange(1950, 2005)}"
        base += f"{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(1000):03d}"
        return f"身份证号{base}{id_check_char(base)}"
    if kind == 1:
        return f"电话1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
    if kind == 2:
        return f"卡号{_luhn('6222' + ''.join(rng.choice('0123456789') for _ in range(14)))}"
    if kind == 3:
        return f"邮箱user{rng.randrange(10**5)}@example.com"
    if kind == 4:
        return f"车牌京A{rng.randrange(10**5):05d}"
    if kind == 5:
        return f"IP 10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if kind == 6:
        return f"住在上海市徐汇区漕溪北路{rng.randrange(1, 999)}号{rng.randrange(1, 30)}栋{rng.randrange(101, 2999)}室"
    return f"座机010-{rng.randrange(2, 9)}{rng.randrange(10**7):07d}"


INSERTED: dict[int, str] = {}  # message index -> the synthetic PII put into it


def corpus(total_chars: int) -> list[str]:
    rng = random.Random(11)
    out = []
    INSERTED.clear()
    for i, m in enumerate(messages(total_chars, 200, seed=3)):
        if i % 3 == 0:
            cut = rng.randrange(len(m) + 1)
            pii = synthetic_pii(rng)
            # a separator keeps the value from fusing with digits or letters of the comment
            m = m[:cut] + "，" + pii + "，" + m[cut:]
            INSERTED[i] = pii
        out.append(m)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=1.0, help="megabytes (UTF-8) of text, at least 1")
    args = ap.parse_args()
    target = max(1.0, args.mb) * 1_000_000
    chars = int(target / 2.5)  # mixed Chinese (3 bytes) and ASCII; grow until the bytes suffice
    while True:
        texts = corpus(chars)
        nbytes = sum(len(t.encode()) for t in texts)
        if nbytes >= target:
            break
        chars = int(chars * target / nbytes) + 1000
    det = PIIDetector(recognizers())
    digits = re.compile(r"\d{7,}")

    # PII reads the original text for every recognizer but the address one, which reads the
    # normalized view; time the detector on pre-normalized texts (normalization is shared by all
    # detectors in the engine and has its own benchmark) and, separately, end to end.
    normed = [normalize(t) for t in texts]
    identity = [NormalizedText(t, t) for t in texts]

    def baseline() -> int:
        return sum(1 for t in texts for _ in digits.finditer(t))

    def detector() -> int:
        return sum(len(det.scan(nt)) for nt in normed)

    def detector_identity() -> int:
        return sum(len(det.scan(nt)) for nt in identity)

    def end_to_end() -> int:
        return sum(len(det.scan(normalize(t))) for t in texts)

    found = detector()
    t_base = best_of(baseline)
    t_det = best_of(detector)
    t_id = best_of(detector_identity)
    t_e2e = best_of(end_to_end, repeat=1)
    per_rule: dict[str, int] = {}
    recalled = 0
    for i, nt in enumerate(normed):
        fs = det.scan(nt)
        for f in fs:
            per_rule[f.rule] = per_rule.get(f.rule, 0) + 1
        if i in INSERTED and any(f.matched in INSERTED[i] and len(f.matched) >= 7 for f in fs):
            recalled += 1
    mb = nbytes / 1e6
    print(f"corpus: {len(texts)} messages, {mb:.2f} MB UTF-8, {sum(map(len, texts))} characters")
    print(f"findings: {found} {dict(sorted(per_rule.items()))}")
    print(
        f"synthetic PII values found: {recalled}/{len(INSERTED)} (the rest of the findings are in the comments)"
    )
    print(f"{'what':<40} {'seconds':>8} {'MB/s':>8}")
    label = "baseline re-digits (finditer \\d{7,})"
    print(f"{label:<40} {t_base:8.3f} {mb / t_base:8.1f}")
    print(f"{'PIIDetector.scan (pre-normalized)':<40} {t_det:8.3f} {mb / t_det:8.1f}")
    print(f"{'PIIDetector.scan (identity text)':<40} {t_id:8.3f} {mb / t_id:8.1f}")
    print(f"{'normalize + PIIDetector.scan':<40} {t_e2e:8.3f} {mb / t_e2e:8.1f}")
    print(f"ratio PIIDetector / baseline re-digits: {t_det / t_base:.1f}x slower")


if __name__ == "__main__":
    main()
