"""Lexicon moderation throughput: ``LexiconDetector.scan(normalize(text))`` (normalization + every
variant kind: exact, normalized, pinyin, initials, homophone, split) against named baselines
measured in the same run, on ~1 KB messages built from COLD + SWSR comments (read at run time
from ../shared/data, never stored in the project).

    .venv/bin/python benchmarks/bench_moderation.py            # >= 10 MB of text, >= 10k terms
    .venv/bin/python benchmarks/bench_moderation.py --quick    # ~1 MB

Contenders (all on the same messages; rounds are interleaved so machine load hits all alike):
* raw ahocorasick-rs: exact matching of the same terms on the UN-normalized text (target: the
  pipeline reaches >= 0.25x its speed);
* pyahocorasick: the other common C automaton, exact matching (choice-of-automaton evidence);
* python DFA, two forms of the usual Python sensitive-word filter (a dict-of-dicts trie walked
  from every start position, no normalization; target: the pipeline is >= 20x faster than the
  typical form):
  - "typical": the shape the widely copied ``DFAFilter`` takes (for each start, iterate over a
    slice of the rest of the message, test membership then index the child, stop at the first
    complete word and continue after it);
  - "tuned": the same walk written for speed (one ``dict.get`` per step, no slicing, locals),
    and reporting every overlapping match like the automata do;
* houbb/sensitive-word: its published figure (~6 M chars/s, Java, one core), not re-measured;
* Moderator.check (hegui.moderation, if present) with this lexicon detector only.

Every contender gets FRESH str objects each round, as a service gets them from a request: a str
caches its UTF-8 form the first time ahocorasick-rs (or ``str.encode``) asks for it, so
re-scanning the same objects would give the raw matcher a free encoding step that no real
request has (measured ~25% of its time). The raw matcher on the re-scanned (cached) objects is
printed too.

Terms: the seed lexicon (``builtin:seed``, may be empty while it is being written) plus synthetic
terms of 2-4 random CJK characters (rare on purpose; real-looking hits come from 100 extra
four-character terms cut out of the corpus, so that the finding path is exercised too).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence

from _common import messages
from hegui.moderation.lexicon import Lexicon, LexiconDetector, LexiconEntry, LexiconOptions, load_lexicon
from hegui.taxonomy import load_taxonomy
from hegui.text import normalize

HOUBB_CHARS_PER_S = 6.3e6  # 63,000 checks/s of 100-char strings, Java, one core (its README)

PIPE = "hegui pipeline: scan(normalize(t))"
RAW = "raw ahocorasick-rs, exact, un-normalized"
RAW_CACHED = "  same, re-scanned str (UTF-8 cached)"
DFA_TYPICAL = "python DFA filter, typical form (sample)"
DFA_TUNED = "python DFA filter, tuned walk (sample)"


class PythonDFA:
    """The common Python sensitive-word filter, tuned: a dict-of-dicts trie walked from every
    position with one ``dict.get`` per step, every overlapping match reported."""

    END = "\0"

    def __init__(self, terms: Sequence[str]) -> None:
        self.root: dict = {}
        for t in terms:
            node = self.root
            for ch in t:
                node = node.setdefault(ch, {})
            node[self.END] = t

    def find(self, text: str) -> list[tuple[int, int, str]]:
        out = []
        root, end = self.root, self.END
        n = len(text)
        for i in range(n):
            node = root.get(text[i])
            j = i
            while node is not None:
                j += 1
                if end in node:
                    out.append((i, j, node[end]))
                if j >= n:
                    break
                node = node.get(text[j])
        return out


class TypicalPythonDFA:
    """The common Python sensitive-word filter in the form most projects carry (the ``DFAFilter``
    pattern): for each start position iterate over ``message[start:]``, ``in`` then ``[]`` per
    step, stop at the first complete word and continue after it (non-overlapping, shortest)."""

    END = "\0"

    def __init__(self, terms: Sequence[str]) -> None:
        self.chains: dict = {}
        for t in terms:
            level = self.chains
            for ch in t:
                level = level.setdefault(ch, {})
            level[self.END] = t

    def find(self, message: str) -> list[tuple[int, int, str]]:
        out = []
        start = 0
        while start < len(message):
            level = self.chains
            step = 0
            for ch in message[start:]:
                if ch in level:
                    step += 1
                    level = level[ch]
                    if self.END in level:
                        out.append((start, start + step, level[self.END]))
                        start += step - 1
                        break
                else:
                    break
            start += 1
        return out


def fresh(msgs: Sequence[str]) -> list[str]:
    """New str objects with the same text and no cached UTF-8 form (what a request delivers)."""
    return [m.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass") for m in msgs]


def build_terms(n_synthetic: int, corpus: Sequence[str], seed: int = 0) -> list[LexiconEntry]:
    rng = random.Random(seed)
    risks = [r.code for r in load_taxonomy() if r.class_code in ("A1", "A2")]
    seed_lex = load_lexicon(["builtin:seed"])
    entries = list(seed_lex.entries)
    seen = {e.term for e in entries}
    while len(entries) < len(seed_lex) + n_synthetic:
        t = "".join(chr(rng.randint(0x4E00, 0x9FA5)) for _ in range(rng.randint(2, 4)))
        if t not in seen:
            seen.add(t)
            entries.append(LexiconEntry(t, rng.choice(risks), rng.randint(1, 3)))
    # terms that do occur, so that findings, offset maps and homophone checks are exercised
    cjk = [m for m in corpus if m]
    added = 0
    while added < 100:
        m = rng.choice(cjk)
        k = 4
        if len(m) <= k:
            continue
        i = rng.randrange(len(m) - k)
        t = m[i : i + k]
        if all("\u4e00" <= c <= "\u9fa5" for c in t) and t not in seen:
            seen.add(t)
            entries.append(LexiconEntry(t, rng.choice(risks), 2))
            added += 1
    return entries


def interleaved(
    contenders: dict[str, Callable[[Sequence[str]], object]],
    msgs: Sequence[str],
    block: int,
    rounds: int,
    reuse: frozenset[str] = frozenset(),
) -> dict[str, float]:
    """Run every contender over the same blocks, rotating the order per block, ``rounds`` times;
    keep for each block the best time of each contender and sum. The machine is shared: a burst
    of load then hurts every contender, not one. Each call gets fresh copies of the block's
    strings (made outside the timing), except the contenders named in ``reuse``."""
    names = list(contenders)
    total = dict.fromkeys(names, 0.0)
    for b, lo in enumerate(range(0, len(msgs), block)):
        chunk = msgs[lo : lo + block]
        best = dict.fromkeys(names, float("inf"))
        for r in range(rounds):
            order = names[(b + r) % len(names) :] + names[: (b + r) % len(names)]
            for name in order:
                data = chunk if name in reuse else fresh(chunk)
                t0 = time.perf_counter()
                contenders[name](data)
                best[name] = min(best[name], time.perf_counter() - t0)
        for name in names:
            total[name] += best[name]
    return total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="~1 MB of text instead of >= 10 MB")
    ap.add_argument("--terms", type=int, default=10_000, help="synthetic terms added to the seed")
    ap.add_argument("--msg-chars", type=int, default=340, help="message size (340 chars ~ 1 KB UTF-8)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    target_bytes = 1_000_000 if args.quick else 10_500_000
    # ~3 UTF-8 bytes per character of this corpus; top up until the byte target is met
    msgs = messages(target_bytes // 3, args.msg_chars, seed=1)
    while sum(len(m.encode("utf-8")) for m in msgs) < target_bytes:
        msgs += messages(200_000, args.msg_chars, seed=len(msgs))
    n_chars = sum(map(len, msgs))
    n_bytes = sum(len(m.encode("utf-8")) for m in msgs)

    t0 = time.perf_counter()
    entries = build_terms(args.terms, msgs)
    lexicon = Lexicon(entries)
    t_terms = time.perf_counter() - t0
    t0 = time.perf_counter()
    det = LexiconDetector(lexicon, LexiconOptions())
    t_build = time.perf_counter() - t0
    terms = sorted({e.term for e in entries})
    print(
        f"text: {len(msgs):,} messages, {n_chars:,} chars, {n_bytes / 1e6:.1f} MB UTF-8 (COLD train + SWSR)\n"
        f"lexicon: {len(lexicon):,} terms ({len(load_lexicon(['builtin:seed'])):,} from builtin:seed), "
        f"detector build {t_build:.2f} s (first build also loads the Unicode/OpenCC/pinyin tables)"
    )

    import ahocorasick_rs

    raw = ahocorasick_rs.AhoCorasick(terms, implementation=ahocorasick_rs.Implementation.DFA)
    raw_find = raw.find_matches_as_indexes
    # its own automaton: sharing ``raw`` would let it run on the DFA states RAW just warmed (it
    # follows RAW in every rotation), which is worth more than the UTF-8 cache it measures
    cached_find = ahocorasick_rs.AhoCorasick(
        terms, implementation=ahocorasick_rs.Implementation.DFA
    ).find_matches_as_indexes
    contenders: dict[str, Callable[[Sequence[str]], object]] = {
        PIPE: lambda ms: [det.scan(normalize(m)) for m in ms],
        RAW: lambda ms: [raw_find(m, overlapping=True) for m in ms],
        RAW_CACHED: lambda ms: [cached_find(m, overlapping=True) for m in ms],
    }
    try:
        import ahocorasick as pyac

        auto = pyac.Automaton()
        for t in terms:
            auto.add_word(t, t)
        auto.make_automaton()
        contenders["pyahocorasick, exact, un-normalized"] = lambda ms: [list(auto.iter(m)) for m in ms]
    except ImportError:
        print("pyahocorasick not installed: `pip install pyahocorasick` to compare automata")
    moderator = None
    try:
        from hegui.moderation.engine import Moderator

        moderator = Moderator(detectors=[det])
        contenders["Moderator.check (lexicon detector only)"] = lambda ms: [moderator.check(m) for m in ms]
    except Exception as e:  # the engine is optional for this benchmark
        print(f"Moderator not available: {type(e).__name__}: {e}")

    # the Python filters are an order of magnitude slower: they run on every 10th block only
    # (still interleaved with the others, so machine load hits them alike)
    typical, tuned = TypicalPythonDFA(terms), PythonDFA(terms)
    dfa_contenders: dict[str, Callable[[Sequence[str]], object]] = {
        DFA_TYPICAL: lambda ms: [typical.find(m) for m in ms],
        DFA_TUNED: lambda ms: [tuned.find(m) for m in ms],
        PIPE: contenders[PIPE],
    }

    # warm every path once (lazy tables; the re-scanned contender's UTF-8 caches)
    for fn in (*contenders.values(), *dfa_contenders.values()):
        fn(msgs[:50])
    for m in msgs:
        cached_find(m)  # RAW_CACHED re-scans these objects: their UTF-8 form is now cached
    times = interleaved(contenders, msgs, block=200, rounds=args.rounds, reuse=frozenset({RAW_CACHED}))
    sample = [m for i in range(0, len(msgs), 2000) for m in msgs[i : i + 200]]
    dfa_times = interleaved(dfa_contenders, sample, block=200, rounds=args.rounds)
    sample_chars = sum(map(len, sample))
    py_rate = sample_chars / dfa_times[DFA_TYPICAL]
    tuned_rate = sample_chars / dfa_times[DFA_TUNED]
    pipe_sample_rate = sample_chars / dfa_times[PIPE]

    # latency of single ~1 KB messages
    lat = []
    for m in msgs[:3000]:
        t_ns = time.perf_counter_ns()
        det.scan(normalize(m))
        lat.append(time.perf_counter_ns() - t_ns)
    lat.sort()
    p50 = statistics.median(lat) / 1e3
    p99 = lat[int(len(lat) * 0.99) - 1] / 1e3

    pipe = times[PIPE]
    pipe_rate = n_chars / pipe
    rawt = times[RAW]
    n_find = sum(len(det.scan(normalize(m))) for m in msgs[:2000])

    print()
    print(f"{'contender':48s} {'seconds':>9s} {'M chars/s':>10s} {'pipeline speed / this':>22s}")
    for name, secs in times.items():
        print(f"{name:48s} {secs:9.3f} {n_chars / secs / 1e6:10.2f} {secs / pipe:21.2f}x")
    for name, rate in ((DFA_TYPICAL, py_rate), (DFA_TUNED, tuned_rate)):
        print(f"{name:48s} {'':9s} {rate / 1e6:10.2f} {pipe_sample_rate / rate:21.2f}x")
    print(
        f"{'houbb/sensitive-word (published, Java)':48s} {'':9s} {HOUBB_CHARS_PER_S / 1e6:10.2f} "
        f"{pipe_rate / HOUBB_CHARS_PER_S:21.2f}x"
    )
    print()
    ok1 = rawt / pipe >= 0.25
    ok2 = pipe_sample_rate / py_rate >= 20
    ok3 = p99 < 1000
    print(
        f"(1) pipeline / raw ahocorasick-rs = {rawt / pipe:.2f}x   target >= 0.25x  {'OK' if ok1 else 'MISSED'}"
        f"   (vs raw on re-scanned str objects with cached UTF-8: {times[RAW_CACHED] / pipe:.2f}x)"
    )
    print(
        f"(2) pipeline / python DFA         = {pipe_sample_rate / py_rate:.1f}x   target >= 20x    "
        f"{'OK' if ok2 else 'MISSED'}   (vs the tuned walk: {pipe_sample_rate / tuned_rate:.1f}x; "
        f"raw ahocorasick-rs itself is {n_chars / rawt / py_rate:.1f}x the typical filter)"
    )
    print(
        f"(3) latency per ~1 KB message     p50 {p50:.0f} us, p99 {p99:.0f} us   target p99 < 1000 us  "
        f"{'OK' if ok3 else 'MISSED'}"
    )
    print(
        f"(4) pipeline {pipe_rate / 1e6:.1f} M chars/s vs houbb/sensitive-word ~{HOUBB_CHARS_PER_S / 1e6:.1f} M chars/s "
        f"(published, different machine and language)"
    )
    if "pyahocorasick, exact, un-normalized" in times:
        print(
            f"    ahocorasick-rs is {times['pyahocorasick, exact, un-normalized'] / rawt:.2f}x the speed of pyahocorasick"
        )
    print(
        f"    findings in the first 2,000 messages: {n_find}; lexicon terms {len(lexicon)}, "
        f"term build {t_terms:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
