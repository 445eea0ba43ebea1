"""Scan corpora with the shared moderation engine: per-record findings, per-source statistics.

Layout of a run directory::

    run.json                 config + shard plan (a resumed run reuses it, never re-plans)
    shards/000012.json       checkpoint of shard 12: resume position, parts written, partial stats
    parts/000012-00003.parquet   per-record rows of shard 12, 4th checkpoint interval
    stats.json               merged per-source statistics (written by ``finalize``)

Checkpoints are exact: a worker writes the part file for the records since the last checkpoint,
then atomically replaces the shard's JSON with the new position, part count and cumulative
statistics. A part numbered at or beyond the recorded count is an orphan of a killed run and is
deleted before the shard continues, so nothing is counted twice.

Statistics are sums over records, and duplicates are decided in a canonical order (shard id,
then record order), so the result does not depend on the engine, the number of workers, or
where a run was interrupted.

Records go through a worker in batches (``_ShardScanner``): language and MinHash are computed
for a whole batch with numpy, and every batch is finished before a checkpoint is written, so
batching changes neither the part files nor the statistics (tests/corpus/test_corpus_batch.py).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from hegui.corpus.readers import Bad, ReadOptions, Record, Shard, plan_source, read_shard

MAX_ISSUES_PER_SHARD = 200
LANGS = ("zh", "en", "mixed", "other")


class ScanError(ValueError):
    """Bad input to the scan as a whole (missing source, changed plan, incomplete run)."""


class ScanConfig(BaseModel):
    policy: str | None = None  # policy file; None = the built-in default policy
    # "module:callable" returning list[Detector], passed to Moderator(policy, detectors=...).
    # For plug-in detectors and tests; None = the detectors the policy turns on.
    detectors: str | None = None
    role: str = "output"
    read: ReadOptions = Field(default_factory=ReadOptions)
    harmful_action: str = "refuse"  # a record is harmful when its verdict action is at least this
    sample_fraction: float = Field(1.0, gt=0.0, le=1.0)  # technical sample: share of records moderated
    seed: int = 0
    num_perm: int = Field(64, ge=16, le=512)
    near_threshold: float = Field(0.8, gt=0.0, lt=1.0)
    shingle: int = Field(3, ge=1, le=10)
    minhash_chars: int = Field(4000, ge=16)  # near-duplicate signature from the first N characters
    checkpoint_every: int = Field(2000, ge=1)


class SourceSpec(BaseModel):
    name: str
    path: str


# --------------------------------------------------------------------------------------------
# statistics


class Stats:
    """Mergeable per-source counters (all sums, so merge order does not matter)."""

    INT_FIELDS = (
        "records",
        "scanned",
        "bad",
        "recovered",
        "empty",
        "chars",
        "text_bytes",
        "flagged",
        "harmful",
        "masked",
        "pii_records",
    )
    DICT_FIELDS = ("actions", "risk_harmful", "risk_flagged", "pii", "lang", "bad_kinds")
    # declared for the type checker; __init__ sets them from the tuples above
    records: int
    scanned: int
    bad: int
    recovered: int
    empty: int
    chars: int
    text_bytes: int
    flagged: int
    harmful: int
    masked: int
    pii_records: int
    actions: Counter[str]
    risk_harmful: Counter[str]
    risk_flagged: Counter[str]
    pii: Counter[str]
    lang: Counter[str]
    bad_kinds: Counter[str]

    def __init__(self) -> None:
        for k in self.INT_FIELDS:
            setattr(self, k, 0)
        for k in self.DICT_FIELDS:
            setattr(self, k, Counter())
        self.issues: list[dict[str, Any]] = []
        self.issues_dropped = 0

    def issue(self, item: dict[str, Any]) -> None:
        if len(self.issues) < MAX_ISSUES_PER_SHARD:
            self.issues.append(item)
        else:
            self.issues_dropped += 1

    def merge(self, other: Stats) -> None:
        for k in self.INT_FIELDS:
            setattr(self, k, getattr(self, k) + getattr(other, k))
        for k in self.DICT_FIELDS:
            getattr(self, k).update(getattr(other, k))
        self.issues.extend(other.issues)
        self.issues_dropped += other.issues_dropped

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in self.INT_FIELDS}
        for k in self.DICT_FIELDS:
            d[k] = dict(sorted(getattr(self, k).items()))
        d["issues"] = sorted(self.issues, key=lambda i: (i["file"], i["line"] or 0, i["kind"], i["message"]))
        d["issues_dropped"] = self.issues_dropped
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Stats:
        s = cls()
        for k in cls.INT_FIELDS:
            setattr(s, k, int(d.get(k, 0)))
        for k in cls.DICT_FIELDS:
            setattr(s, k, Counter(d.get(k, {})))
        s.issues = list(d.get("issues", []))
        s.issues_dropped = int(d.get("issues_dropped", 0))
        return s


# --------------------------------------------------------------------------------------------
# per-record features

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_LATIN = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")


def language_of(text: str, sample: int = 2000) -> str:
    """zh / en / mixed / other by script ratio over the first ``sample`` characters.

    A cheap heuristic on purpose: it runs on every record. Latin letters count per word-ish
    unit would be fairer to English, so Latin letters are weighted 1/4 against Han characters
    (a Chinese character carries about as much as a short English word).
    """
    t = text[:sample]
    return _language(len(_CJK.findall(t)), len(_LATIN.findall(t)), len(_LETTER.findall(t)))


def _language(cjk: int, latin_letters: int, letters: int) -> str:
    latin = latin_letters / 4
    other = max(letters - cjk - latin * 4, 0) / 2
    total = cjk + latin + other
    if total == 0:
        return "other"
    if cjk / total >= 0.7:
        return "zh"
    if latin / total >= 0.7:
        return "en"
    if (cjk + latin) / total >= 0.5:
        return "mixed"
    return "other"


_CLASS_BMP: np.ndarray | None = None  # per BMP code point: bit 0 letter, bit 1 Han, bit 2 Latin


def _class_table() -> np.ndarray:
    """The three character classes of ``language_of`` for every BMP code point, from its regexes."""
    global _CLASS_BMP
    if _CLASS_BMP is None:
        bmp = "".join(map(chr, range(0x10000)))
        tbl = np.zeros(0x10000, dtype=np.uint8)
        for bit, rx in ((1, _LETTER), (2, _CJK), (4, _LATIN)):
            tbl[[m.start() for m in rx.finditer(bmp)]] |= bit
        _CLASS_BMP = tbl
    return _CLASS_BMP


def languages_of(texts: list[str], sample: int = 2000) -> list[str]:
    """``language_of`` for many texts at once: one table look-up over all their code points.

    Three regex ``findall`` per record were a tenth of the scan's time. Texts with characters
    outside the BMP (rare; the table covers the BMP only) go through ``language_of``.
    """
    if not texts:
        return []
    parts = [t[:sample] for t in texts]
    lens = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    cp = np.frombuffer("".join(parts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    ends = np.cumsum(lens)
    starts = ends - lens
    cls = _class_table()[np.minimum(cp, 0xFFFF)]
    counts = np.zeros((len(cp) + 1, 4), dtype=np.int64)
    np.cumsum(cls[:, None] & np.array([1, 2, 4], dtype=np.uint8) != 0, axis=0, out=counts[1:, :3])
    np.cumsum(cp >= 0x10000, out=counts[1:, 3])
    per = (counts[ends] - counts[starts]).tolist()
    return [
        language_of(t, sample) if astral else _language(cjk, latin, letters)
        for t, (letters, cjk, latin, astral) in zip(texts, per, strict=True)
    ]


_WS = re.compile(r"\s+")


def text_hash(text: str) -> int:
    """Exact-duplicate key: 64-bit hash of the text with whitespace runs collapsed."""
    norm = " ".join(text.split())  # == _WS.sub(" ", text).strip(), without the regex
    return int.from_bytes(
        hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


_LSH_PARAMS: dict[tuple[float, int], tuple[int, int]] = {}


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) of datasketch's ``MinHashLSH`` for the threshold (equal weights).

    datasketch integrates with scipy, whose import is ~0.7 s of CPU: the scan's driver computes
    the parameters once and hands them to its workers (``set_lsh_params``).
    """
    key = (threshold, num_perm)
    got = _LSH_PARAMS.get(key)
    if got is None:
        from datasketch.lsh import _optimal_param

        b, r = _optimal_param(threshold, num_perm, 0.5, 0.5)
        got = _LSH_PARAMS[key] = (int(b), int(r))
    return got


def set_lsh_params(threshold: float, num_perm: int, params: tuple[int, int]) -> None:
    _LSH_PARAMS[(threshold, num_perm)] = (int(params[0]), int(params[1]))


def affine32_permutations(num_perm: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` of ``datasketch.MinHash(num_perm, seed, scheme="affine32").permutations``.

    The same draws from numpy's legacy ``RandomState`` (whose streams numpy keeps stable), so
    that the workers need not import datasketch; a test holds it equal to datasketch's.
    """
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's ``_fmix(hv, 32)``) on a uint32 array."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))  # type: ignore[no-any-return]


class NearDup:
    """MinHash signatures and LSH band keys for one worker.

    Character ``shingle``-grams are hashed to 32 bits with numpy (an FNV-style combination of the
    code points) and permuted with datasketch's own ``affine32`` permutations and MurmurHash3
    pre-mix, all vectorised: hashing each gram through a Python callback, as
    ``MinHash.update_batch`` does, was half of the scan's time per record.

    The LSH index itself is built at merge time from the band keys stored per record: two records
    are near-duplicate candidates when any band key is equal, which is what datasketch's
    ``MinHashLSH`` does with its hash tables, but as sortable columns that scale past memory.
    """

    def __init__(self, num_perm: int, threshold: float, shingle: int, max_chars: int):
        self.num_perm = num_perm
        self.bands, self.rows = lsh_params(threshold, num_perm)
        a, b = affine32_permutations(num_perm, seed=1)
        self._a = a[None, :]
        self._b = b[None, :]
        self._fmix = fmix32
        self.shingle = shingle
        self.max_chars = max_chars

    def signature(self, text: str) -> np.ndarray:
        t = _WS.sub("", text[: self.max_chars])
        cp = np.frombuffer(t.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        k = self.shingle
        if len(cp) <= k:
            grams = np.array([0x811C9DC5], dtype=np.uint32)
            for c in cp:
                grams = (grams * np.uint32(0x01000193)) ^ c
        else:
            n = len(cp) - k + 1
            grams = np.full(n, 0x811C9DC5, dtype=np.uint32)
            for j in range(k):
                grams = (grams * np.uint32(0x01000193)) ^ cp[j : j + n]
        hv = self._fmix(grams)[:, None]
        return (hv * self._a + self._b).min(axis=0)  # type: ignore[no-any-return]

    def band_keys(self, text: str) -> list[int]:
        hv = self.signature(text)
        r = self.rows
        return [
            int.from_bytes(
                hashlib.blake2b(hv[i * r : (i + 1) * r].tobytes(), digest_size=8).digest(), "little"
            )
            for i in range(self.bands)
        ]

    def signatures(self, texts: list[str], budget: int = 32768) -> np.ndarray:
        """``signature`` of many texts as rows of one array, computed a group at a time.

        The shingles of a group of texts are hashed in one pass over their concatenated code
        points (grams that straddle two texts are dropped) and reduced per text with
        ``np.minimum.reduceat``: the per-call overhead of numpy on ~150-character texts was
        most of the time of ``signature``. ``budget`` bounds the grams per group, so the
        ``grams x num_perm`` matrix stays small (8 MiB at 64 permutations).
        """
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        k = self.shingle
        group: list[int] = []
        stripped: list[str] = []
        grams = 0
        for i, text in enumerate(texts):
            t = "".join(text[: self.max_chars].split())  # == _WS.sub("", ...), checked in tests
            if len(t) <= k:
                out[i] = self.signature(text)
                continue
            group.append(i)
            stripped.append(t)
            grams += len(t) - k + 1
            if grams >= budget:
                self._signature_group(group, stripped, out)
                group, stripped, grams = [], [], 0
        if group:
            self._signature_group(group, stripped, out)
        return out

    def _signature_group(self, idx: list[int], texts: list[str], out: np.ndarray) -> None:
        k = self.shingle
        cp = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        lens = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        n = len(cp) - k + 1
        grams = np.full(n, 0x811C9DC5, dtype=np.uint32)
        for j in range(k):
            grams = (grams * np.uint32(0x01000193)) ^ cp[j : j + n]
        per = lens - k + 1  # grams of each text (>= 2: shorter texts are not grouped)
        first = np.cumsum(per) - per  # where each text's grams start among the kept grams
        starts = np.cumsum(lens) - lens
        keep = np.arange(int(per.sum())) + np.repeat(starts - first, per)
        hv = self._fmix(grams[keep])[None, :]
        # permutations x grams, so that the reduction runs along contiguous memory (4x faster)
        perm = self._a.T * hv
        perm += self._b.T
        out[idx] = np.minimum.reduceat(perm, first, axis=1).T

    def band_keys_many(self, texts: list[str]) -> np.ndarray:
        """``band_keys`` of many texts: a ``(len(texts), bands)`` uint64 array."""
        r, b = self.rows, self.bands
        buf = memoryview(np.ascontiguousarray(self.signatures(texts)[:, : b * r]).tobytes())
        step = r * 4
        blake = hashlib.blake2b
        digests = b"".join(
            [blake(buf[o : o + step], digest_size=8).digest() for o in range(0, len(buf), step)]
        )
        return np.frombuffer(digests, dtype="<u8").astype(np.uint64).reshape(len(texts), b)


def uid_of(shard: Shard, rec: Record) -> str:
    return f"{shard.source}:{shard.rel}:{rec.key}"


def in_sample(uid: str, fraction: float, seed: int) -> bool:
    if fraction >= 1.0:
        return True
    h = hashlib.blake2b(uid.encode("utf-8", "surrogatepass"), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(h, "little") / 2**64 < fraction


def _mask_pii(s: str) -> str:
    # The findings file is an audit artefact; it must not become a copy of the personal data.
    if len(s) <= 2:
        return "*" * len(s)
    return s[0] + "*" * (len(s) - 2) + s[-1]


# --------------------------------------------------------------------------------------------
# the worker

_MODERATORS: dict[str, Any] = {}


def load_factory(spec: str) -> Callable[[], list[Any]]:
    import importlib

    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise ScanError(f"detectors must be 'module:callable', not {spec!r}")
    fn = getattr(importlib.import_module(mod), attr)
    return fn  # type: ignore[no-any-return]


def moderator_for(cfg: ScanConfig) -> Any:
    """One Moderator per process and config (building detectors is the expensive part)."""
    key = cfg.model_dump_json(include={"policy", "detectors"})
    mod = _MODERATORS.get(key)
    if mod is None:
        from hegui.moderation.engine import Moderator
        from hegui.policy import default_policy, load_policy

        policy = load_policy(cfg.policy) if cfg.policy else default_policy()
        detectors = load_factory(cfg.detectors)() if cfg.detectors else None
        mod = Moderator(policy, detectors=detectors)
        _MODERATORS[key] = mod
    return mod


_NEAR: dict[tuple[int, float, int, int], NearDup] = {}


def near_for(cfg: ScanConfig) -> NearDup:
    key = (cfg.num_perm, cfg.near_threshold, cfg.shingle, cfg.minhash_chars)
    near = _NEAR.get(key)
    if near is None:
        near = _NEAR[key] = NearDup(*key)
    return near


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def state_path(run_dir: Path, shard_id: int) -> Path:
    return run_dir / "shards" / f"{shard_id:06d}.json"


def part_path(run_dir: Path, shard_id: int, part: int) -> Path:
    return run_dir / "parts" / f"{shard_id:06d}-{part:05d}.parquet"


def load_state(run_dir: Path, shard_id: int) -> dict[str, Any] | None:
    p = state_path(run_dir, shard_id)
    if not p.exists():
        return None
    return json.loads(p.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


class _Rows:
    COLUMNS = (
        "shard",
        "key",
        "uid",
        "chars",
        "lang",
        "scanned",
        "action",
        "harmful",
        "risks",
        "harmful_risks",
        "pii",
        "findings",
        "hash",
    )

    def __init__(self, bands: int):
        self.bands = bands
        self.clear()

    def clear(self) -> None:
        self.cols: dict[str, list[Any]] = {c: [] for c in self.COLUMNS}
        self.band_blocks: list[np.ndarray] = []  # (records, bands) uint64 per batch

    def __len__(self) -> int:
        return len(self.cols["uid"])

    def table(self) -> Any:
        import pyarrow as pa

        types = {
            "shard": pa.int32(),
            "key": pa.int64(),
            "uid": pa.string(),
            "chars": pa.int64(),
            "lang": pa.string(),
            "scanned": pa.bool_(),
            "action": pa.string(),
            "harmful": pa.bool_(),
            "risks": pa.list_(pa.string()),
            "harmful_risks": pa.list_(pa.string()),
            "pii": pa.list_(pa.string()),
            "findings": pa.string(),
            "hash": pa.uint64(),
        }
        arrays = {c: pa.array(v, type=types[c]) for c, v in self.cols.items()}
        bands = (
            np.concatenate(self.band_blocks)
            if self.band_blocks
            else np.empty((0, self.bands), dtype=np.uint64)
        )
        for i in range(self.bands):
            arrays[f"b{i}"] = pa.array(bands[:, i], type=pa.uint64())
        return pa.table(arrays)


BATCH = 256  # records per batch through language, MinHash and the bookkeeping
OUTCOME_CACHE_SIZE = 4096  # texts whose moderation outcome is remembered per shard
OUTCOME_CACHE_CHARS = 2000  # ... when no longer than this
_FINDING_FIELDS: tuple[str, ...] = ()


class _ShardScanner:
    """The per-record work of a shard, a batch of records at a time.

    Language and MinHash are vectorised over the batch; the moderation engine still sees one
    text at a time (``Moderator.check``), so verdicts are those of any other caller.
    """

    def __init__(self, shard: Shard, cfg: ScanConfig, stats: Stats):
        from dataclasses import fields

        from hegui.moderation.types import Action, Finding

        global _FINDING_FIELDS
        if not _FINDING_FIELDS:
            _FINDING_FIELDS = tuple(f.name for f in fields(Finding))
        self.shard, self.cfg, self.stats = shard, cfg, stats
        self.mod = moderator_for(cfg)
        self.harmful_at = Action.parse(cfg.harmful_action)
        self.near = near_for(cfg)
        self.rows = _Rows(self.near.bands)
        self.batch: list[Record] = []
        # action_for(policy, finding) depends on (risk, severity, score) only; the policy's
        # rule look-up builds objects, so remember it per key
        self._actions: dict[tuple[str, int, float], Any] = {}
        # Exact re-posts are common in crawled corpora: the engine is deterministic, so a text
        # seen lately gets the outcome it had (a bounded, oldest-out memo of short texts).
        self._outcomes: dict[str, tuple[Any, ...]] = {}

    def add(self, rec: Record) -> None:
        self.batch.append(rec)
        if len(self.batch) >= BATCH:
            self.run()

    def _action(self, f: Any) -> Any:
        key = (f.risk, f.severity, f.score)
        a = self._actions.get(key)
        if a is None:
            from hegui.moderation.engine import action_for

            a = self._actions[key] = action_for(self.mod.policy, f)
        return a

    def run(self) -> None:
        """Process the pending batch (before every checkpoint, so a checkpoint covers it)."""
        recs, self.batch = self.batch, []
        if not recs:
            return
        shard, cfg, stats, c = self.shard, self.cfg, self.stats, self.rows.cols
        n = len(recs)
        texts = [r.text for r in recs]
        keys = [r.key for r in recs]
        prefix = f"{shard.source}:{shard.rel}:"  # uid_of
        uids = [prefix + str(k) for k in keys]
        chars = list(map(len, texts))
        langs = languages_of(texts)
        self.rows.band_blocks.append(self.near.band_keys_many(texts))
        stats.records += n
        stats.chars += sum(chars)
        stats.text_bytes += sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
        stats.lang.update(langs)
        c["shard"].extend([shard.id] * n)
        c["key"].extend(keys)
        c["uid"].extend(uids)
        c["chars"].extend(chars)
        c["lang"].extend(langs)
        c["hash"].extend(map(text_hash, texts))

        fraction, seed = cfg.sample_fraction, cfg.seed
        scanned, action_col, harmful_col = c["scanned"], c["action"], c["harmful"]
        risks_col, harmful_risks_col, pii_col, findings_col = (
            c["risks"],
            c["harmful_risks"],
            c["pii"],
            c["findings"],
        )
        actions, outcomes, outcome_of = stats.actions, self._outcomes, self._outcome
        for text, uid in zip(texts, uids, strict=True):
            if fraction < 1.0 and not in_sample(uid, fraction, seed):
                scanned.append(False)
                harmful_col.append(False)
                for col in (action_col, risks_col, harmful_risks_col, pii_col, findings_col):
                    col.append(None)
                continue
            o = outcomes.get(text)
            if o is None:
                o = outcome_of(text)
                if len(text) <= OUTCOME_CACHE_CHARS:
                    if len(outcomes) >= OUTCOME_CACHE_SIZE:
                        del outcomes[next(iter(outcomes))]  # oldest first
                    outcomes[text] = o
            action, harmful, flagged, masked, risks, harmful_risks, pii, findings = o
            stats.scanned += 1
            actions[action] += 1
            scanned.append(True)
            action_col.append(action)
            harmful_col.append(harmful)
            risks_col.append(risks)
            harmful_risks_col.append(harmful_risks)
            pii_col.append(pii)
            findings_col.append(findings)
            if harmful:
                stats.harmful += 1
            if flagged:
                stats.flagged += 1
            if masked:
                stats.masked += 1
            if findings is not None:
                if pii:
                    stats.pii_records += 1
                    stats.pii.update(pii)
                stats.risk_flagged.update(risks)
                stats.risk_harmful.update(harmful_risks)

    def _outcome(self, text: str) -> tuple[Any, ...]:
        """What the scan keeps of a record's verdict: the columns of its row, and its counts."""
        verdict = self.mod.check(text, role=self.cfg.role)
        harmful_at = self.harmful_at
        action = str(verdict.action)
        harmful = verdict.action >= harmful_at
        masked = verdict.masked_text is not None
        if not verdict.findings:  # most records: nothing more to build
            return action, harmful, verdict.flagged, masked, [], [], [], None
        risks: list[str] = []
        harmful_risks: list[str] = []
        pii: list[str] = []
        found = []
        for f in verdict.findings:
            if f.risk not in risks:
                risks.append(f.risk)
            if f.risk not in harmful_risks and self._action(f) >= harmful_at:
                harmful_risks.append(f.risk)
            # what Finding.to_dict (dataclasses.asdict) gives, without its deep copy
            d = {k: getattr(f, k) for k in _FINDING_FIELDS}
            if f.detector == "pii":
                pii.append(f.rule or f.risk)
                d["matched"] = _mask_pii(f.matched)
            found.append(d)
        findings = json.dumps(found, ensure_ascii=False)
        return action, harmful, verdict.flagged, masked, risks, harmful_risks, pii, findings


def scan_shard(shard: Shard, cfg: ScanConfig, run_dir: str, parent_pid: int | None = None) -> dict[str, Any]:
    """Scan one shard from its last checkpoint to the end; returns its final state."""
    import pyarrow.parquet as pq

    root = Path(run_dir)
    state = load_state(root, shard.id) or {"pos": 0, "parts": 0, "done": False, "stats": Stats().to_dict()}
    if state["done"]:
        return state
    # parts written after the last checkpoint belong to a killed run: their records will be redone
    for orphan in (root / "parts").glob(f"{shard.id:06d}-*.parquet"):
        if int(orphan.stem.split("-")[1]) >= state["parts"]:
            orphan.unlink()
    stats = Stats.from_dict(state["stats"])
    scanner = _ShardScanner(shard, cfg, stats)
    rows = scanner.rows
    pos, parts = state["pos"], state["parts"]
    pending = 0

    def flush(done: bool) -> None:
        nonlocal parts, pending
        scanner.run()  # the records up to ``pos`` must be in the part and the stats
        if parent_pid is not None and os.getppid() != parent_pid:
            os._exit(3)  # the scan that started us is gone; a resumed run redoes this interval
        if len(rows):
            tbl = rows.table()
            tmp = part_path(root, shard.id, parts).with_suffix(".tmp")
            pq.write_table(tbl, tmp, compression="zstd")
            os.replace(tmp, part_path(root, shard.id, parts))
            parts += 1
            rows.clear()
        new = {"pos": pos, "parts": parts, "done": done, "stats": stats.to_dict(), "time": time.time()}
        _atomic_write(state_path(root, shard.id), json.dumps(new, ensure_ascii=False).encode("utf-8"))
        pending = 0

    def note(b: Bad) -> None:
        stats.bad_kinds[b.kind] += 1
        stats.issue(b.to_dict(shard.rel))

    for item in read_shard(shard, cfg.read, pos):
        pos = item.pos
        if isinstance(item, Bad):
            if item.kind == "empty":
                stats.empty += 1
            else:
                if item.recovered:
                    stats.recovered += 1
                else:
                    stats.bad += 1
                note(item)
        else:
            for b in item.notes:
                stats.recovered += 1
                note(b)
            scanner.add(item)
        pending += 1
        if pending >= cfg.checkpoint_every:
            flush(False)
    flush(True)
    return {"pos": pos, "parts": parts, "done": True, "stats": stats.to_dict()}


# --------------------------------------------------------------------------------------------
# planning and running


def parse_sources(specs: list[str]) -> list[SourceSpec]:
    """``NAME=PATH`` or ``PATH`` (the name is then the file or folder name)."""
    out: list[SourceSpec] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or "/" in name or not name:
            name, path = Path(spec).name or spec, spec
        if not Path(path).exists():
            raise ScanError(f"source {name!r}: {path} does not exist")
        if any(s.name == name for s in out):
            raise ScanError(f"two sources named {name!r}: name them with NAME=PATH")
        out.append(SourceSpec(name=name, path=str(Path(path).resolve())))
    if not out:
        raise ScanError("no source given")
    return out


def plan(sources: list[SourceSpec], cfg: ScanConfig) -> tuple[list[Shard], dict[str, list[dict[str, Any]]]]:
    shards: list[Shard] = []
    skipped: dict[str, list[dict[str, Any]]] = {}
    for src in sources:
        found, skip = plan_source(src.name, Path(src.path), cfg.read)
        shards.extend(found)
        skipped[src.name] = skip
    for i, s in enumerate(shards):
        s.id = i
    return shards, skipped


def prepare_run(
    sources: list[SourceSpec], cfg: ScanConfig, run_dir: Path, fresh: bool = False
) -> list[Shard]:
    """Create the run directory or reopen it. A resumed run must have the same sources and config."""
    run_dir.mkdir(parents=True, exist_ok=True)
    meta_path = run_dir / "run.json"
    if meta_path.exists() and not fresh:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta["sources"] != [s.model_dump() for s in sources]:
            raise ScanError(f"{run_dir} holds a scan of other sources; use another --out or --fresh")
        if meta["config"] != cfg.model_dump(mode="json"):
            raise ScanError(f"{run_dir} was scanned with another configuration; use another --out or --fresh")
        return [Shard.model_validate(s) for s in meta["shards"]]
    if fresh:
        import shutil

        for sub in ("shards", "parts"):
            shutil.rmtree(run_dir / sub, ignore_errors=True)
        for f in ("stats.json", "run.json"):
            (run_dir / f).unlink(missing_ok=True)
    shards, skipped = plan(sources, cfg)
    (run_dir / "shards").mkdir(exist_ok=True)
    (run_dir / "parts").mkdir(exist_ok=True)
    meta = {
        "version": 1,
        "sources": [s.model_dump() for s in sources],
        "config": cfg.model_dump(mode="json"),
        "shards": [s.model_dump() for s in shards],
        "skipped": skipped,
        "created": time.time(),
    }
    _atomic_write(meta_path, json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))
    return shards


def load_run(run_dir: Path) -> dict[str, Any]:
    meta_path = run_dir / "run.json"
    if not meta_path.exists():
        raise ScanError(f"{run_dir} is not a scan run directory (no run.json)")
    return json.loads(meta_path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def progress_of(run_dir: Path, shards: list[Shard]) -> tuple[int, int]:
    """(bytes done, records done) from the checkpoints on disk, for progress bars."""
    done_bytes = records = 0
    for s in shards:
        st = load_state(run_dir, s.id)
        if not st:
            continue
        records += st["stats"].get("records", 0) + st["stats"].get("bad", 0)
        if st["done"]:
            done_bytes += s.size
        elif s.kind == "bytes":
            done_bytes += max(0, min(st["pos"], s.end) - s.start)
        else:
            done_bytes += min(s.size, st["stats"].get("text_bytes", 0))
    return done_bytes, records


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _shard_task(args: tuple[str, str, str, int | None, tuple[int, int]]) -> int:
    """One shard, in a worker process of the local pool or a Ray task (parent: the pool's pid)."""
    shard_json, cfg_json, run_dir, parent, lsh = args
    shard = Shard.model_validate_json(shard_json)
    cfg = ScanConfig.model_validate_json(cfg_json)
    set_lsh_params(cfg.near_threshold, cfg.num_perm, lsh)
    scan_shard(shard, cfg, run_dir, parent)
    return shard.id


def run_local(
    todo: list[Shard], cfg: ScanConfig, run_dir: Path, workers: int, on_tick: Callable[[], None] | None = None
) -> None:
    """Shards over a process pool (``spawn``: no state inherited, same as a fresh cluster worker)."""
    if not todo:
        return
    if workers <= 1:
        for s in todo:
            scan_shard(s, cfg, str(run_dir))
            if on_tick:
                on_tick()
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    cfg_json = cfg.model_dump_json()
    lsh = lsh_params(cfg.near_threshold, cfg.num_perm)
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
        futures = {
            pool.submit(_shard_task, (s.model_dump_json(), cfg_json, str(run_dir), os.getpid(), lsh))
            for s in todo
        }
        while futures:
            done, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
            for f in done:
                f.result()  # re-raise a worker's error here
            if on_tick:
                on_tick()


def run_ray(
    todo: list[Shard],
    cfg: ScanConfig,
    run_dir: Path,
    workers: int,
    address: str | None,
    on_tick: Callable[[], None] | None = None,
) -> None:
    """The same ``scan_shard`` as Ray tasks, one per shard, one CPU each.

    Plain tasks, not a Ray Dataset: a shard is already the unit of work and each task writes its
    own output, so Ray Data's streaming executor only added scheduling between the two (a 200 MB
    scan on 2 CPUs took 25.1 s through it against 17.6 s for the local engine; see
    ``benchmarks/bench_corpus.py --ray``). Ray reuses its worker processes across tasks, so each
    builds its moderator once per job (``moderator_for`` keeps it per process).

    Workers write checkpoints and parts into ``run_dir``, so on a multi-machine cluster the run
    directory must be on storage every node mounts at the same path (NFS, a shared volume).
    """
    if not todo:
        return
    import ray

    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers or None, include_dashboard=False, log_to_driver=False)
        started_here = True
    try:
        cfg_json = cfg.model_dump_json()
        lsh = lsh_params(cfg.near_threshold, cfg.num_perm)
        task = ray.remote(num_cpus=1, max_retries=2)(_shard_task)
        pending = [task.remote((s.model_dump_json(), cfg_json, str(run_dir), None, lsh)) for s in todo]
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            ray.get(done)  # re-raise a task's error here
            if on_tick:
                on_tick()
    finally:
        if started_here:
            ray.shutdown()


def scan(
    sources: list[str] | list[SourceSpec],
    run_dir: str | Path,
    cfg: ScanConfig | None = None,
    *,
    engine: str = "local",
    workers: int = 0,
    address: str | None = None,
    fresh: bool = False,
    on_tick: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    """Scan (or resume scanning) the sources into ``run_dir`` and return the merged statistics.

    ``on_tick(done_bytes, total_bytes, records)`` is called while it runs (progress bars).
    """
    cfg = cfg or ScanConfig()
    specs = [s if isinstance(s, SourceSpec) else None for s in sources]
    srcs = [s for s in specs if s is not None] if all(specs) else parse_sources([str(s) for s in sources])
    run_dir = Path(run_dir)
    shards = prepare_run(srcs, cfg, run_dir, fresh=fresh)
    (run_dir / "stats.json").unlink(missing_ok=True)
    todo = [s for s in shards if not (load_state(run_dir, s.id) or {}).get("done")]
    workers = workers or default_workers()
    total = sum(s.size for s in shards)

    def tick() -> None:
        if on_tick:
            b, r = progress_of(run_dir, shards)
            on_tick(b, total, r)

    if engine == "local":
        run_local(todo, cfg, run_dir, workers, tick)
    elif engine == "ray":
        run_ray(todo, cfg, run_dir, workers, address, tick)
    else:
        raise ScanError(f"engine must be 'local' or 'ray', not {engine!r}")
    tick()
    return finalize(run_dir)


# --------------------------------------------------------------------------------------------
# merging


def _part_files(run_dir: Path, shards: list[Shard]) -> Iterator[tuple[Shard, Path]]:
    for s in shards:
        st = load_state(run_dir, s.id)
        if not st or not st["done"]:
            raise ScanError(f"shard {s.id} ({s.rel}) is not finished: resume the scan first")
        for p in range(st["parts"]):
            yield s, part_path(run_dir, s.id, p)


def mark_duplicates(
    run_dir: Path, shards: list[Shard], bands: int, budget_bytes: int = 128 * 1024 * 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact, near, shard-of-record) flags over all records in canonical order.

    A record is an exact duplicate when an earlier record has the same text hash, a near
    duplicate when an earlier record shares an LSH band key (and it is not an exact one). Keys
    are processed one column and one hash partition at a time, so memory is bounded by
    ``budget_bytes`` plus two flags per record.
    """
    import pyarrow.parquet as pq

    files = list(_part_files(run_dir, shards))
    counts = [pq.ParquetFile(p).metadata.num_rows for _, p in files]
    n = int(sum(counts))
    exact = np.zeros(n, dtype=bool)
    near = np.zeros(n, dtype=bool)
    shard_of = np.empty(n, dtype=np.int32)
    base = np.cumsum([0, *counts])
    for (s, _), b0, b1 in zip(files, base[:-1], base[1:], strict=True):
        shard_of[b0:b1] = s.id
    passes = max(1, math.ceil(n * 16 / budget_bytes))
    for col, target in [("hash", exact)] + [(f"b{i}", near) for i in range(bands)]:
        for p in range(passes):
            keys, idx = [], []
            for (_, path), b0 in zip(files, base[:-1], strict=True):
                k = pq.read_table(path, columns=[col]).column(0).to_numpy()
                sel = (k % passes == p) if passes > 1 else slice(None)
                keys.append(k[sel])
                idx.append(np.arange(b0, b0 + len(k))[sel])
            if not keys:
                continue
            kk = np.concatenate(keys)
            ii = np.concatenate(idx)
            order = np.lexsort((ii, kk))
            ks = kk[order]
            later = np.zeros(len(ks), dtype=bool)
            later[1:] = ks[1:] == ks[:-1]
            target[ii[order][later]] = True
    near &= ~exact
    return exact, near, shard_of


def finalize(run_dir: str | Path) -> dict[str, Any]:
    """Merge shard statistics per source, decide duplicates, write and return ``stats.json``."""
    run_dir = Path(run_dir)
    meta = load_run(run_dir)
    shards = [Shard.model_validate(s) for s in meta["shards"]]
    cfg = ScanConfig.model_validate(meta["config"])
    per: dict[str, Stats] = {s["name"]: Stats() for s in meta["sources"]}
    input_bytes: Counter[str] = Counter()
    for s in shards:
        st = load_state(run_dir, s.id)
        if not st or not st["done"]:
            raise ScanError(f"shard {s.id} ({s.source}/{s.rel}) is not finished: resume the scan first")
        per[s.source].merge(Stats.from_dict(st["stats"]))
        input_bytes[s.source] += s.size
    for name, skipped in meta.get("skipped", {}).items():
        for item in skipped:
            per[name].bad_kinds[item["kind"]] += 1
            per[name].issues.append(item)
    bands, _rows = lsh_params(cfg.near_threshold, cfg.num_perm)
    exact, near, shard_of = mark_duplicates(run_dir, shards, bands)
    src_of_shard = np.array([list(per).index(s.source) for s in shards] or [0], dtype=np.int32)
    names = list(per)
    ex_counts: Any = np.bincount(src_of_shard[shard_of[exact]], minlength=len(names)) if len(shard_of) else []
    nd_counts: Any = np.bincount(src_of_shard[shard_of[near]], minlength=len(names)) if len(shard_of) else []
    sources: dict[str, Any] = {}
    for i, name in enumerate(names):
        d = per[name].to_dict()
        d["input_bytes"] = input_bytes[name]
        d["exact_duplicates"] = int(ex_counts[i]) if len(ex_counts) else 0
        d["near_duplicates"] = int(nd_counts[i]) if len(nd_counts) else 0
        d["files"] = len({s.rel for s in shards if s.source == name})
        sources[name] = d
    out = {
        "run": str(run_dir),
        "config": meta["config"],
        "sources": sources,
        "minhash": {"num_perm": cfg.num_perm, "threshold": cfg.near_threshold, "bands": bands, "rows": _rows},
    }
    _atomic_write(run_dir / "stats.json", json.dumps(out, ensure_ascii=False, indent=1).encode("utf-8"))
    return out


def comparable(stats: dict[str, Any]) -> dict[str, Any]:
    """The engine-independent part of a stats result (drops paths), for comparing two runs."""
    return {"sources": stats["sources"], "minhash": stats["minhash"]}
