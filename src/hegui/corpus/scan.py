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
    cjk = len(_CJK.findall(t))
    latin = len(_LATIN.findall(t)) / 4
    letters = len(_LETTER.findall(t))
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


_WS = re.compile(r"\s+")


def text_hash(text: str) -> int:
    """Exact-duplicate key: 64-bit hash of the text with whitespace runs collapsed."""
    norm = _WS.sub(" ", text).strip()
    return int.from_bytes(
        hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


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
        from datasketch import MinHash
        from datasketch.lsh import _optimal_param
        from datasketch.minhash import _fmix

        self.num_perm = num_perm
        self.bands, self.rows = _optimal_param(threshold, num_perm, 0.5, 0.5)
        template = MinHash(num_perm=num_perm, seed=1, scheme="affine32")
        a, b = template.permutations
        self._a = np.asarray(a, dtype=np.uint32)[None, :]
        self._b = np.asarray(b, dtype=np.uint32)[None, :]
        self._fmix = _fmix
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
        hv = self._fmix(grams, 32)[:, None]
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
        for i in range(self.bands):
            self.cols[f"b{i}"] = []

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
        arrays = {c: pa.array(v, type=types.get(c, pa.uint64())) for c, v in self.cols.items()}
        return pa.table(arrays)


def scan_shard(shard: Shard, cfg: ScanConfig, run_dir: str, parent_pid: int | None = None) -> dict[str, Any]:
    """Scan one shard from its last checkpoint to the end; returns its final state."""
    import pyarrow.parquet as pq

    from hegui.moderation.engine import action_for
    from hegui.moderation.types import Action

    root = Path(run_dir)
    state = load_state(root, shard.id) or {"pos": 0, "parts": 0, "done": False, "stats": Stats().to_dict()}
    if state["done"]:
        return state
    # parts written after the last checkpoint belong to a killed run: their records will be redone
    for orphan in (root / "parts").glob(f"{shard.id:06d}-*.parquet"):
        if int(orphan.stem.split("-")[1]) >= state["parts"]:
            orphan.unlink()
    stats = Stats.from_dict(state["stats"])
    mod = moderator_for(cfg)
    policy = mod.policy
    harmful_at = Action.parse(cfg.harmful_action)
    near = NearDup(cfg.num_perm, cfg.near_threshold, cfg.shingle, cfg.minhash_chars)
    rows = _Rows(near.bands)
    pos, parts = state["pos"], state["parts"]
    pending = 0

    def flush(done: bool) -> None:
        nonlocal parts, pending
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
            _scan_record(item, shard, cfg, mod, policy, action_for, harmful_at, near, rows, stats)
        pending += 1
        if pending >= cfg.checkpoint_every:
            flush(False)
    flush(True)
    return {"pos": pos, "parts": parts, "done": True, "stats": stats.to_dict()}


def _scan_record(
    rec: Record,
    shard: Shard,
    cfg: ScanConfig,
    mod: Any,
    policy: Any,
    action_for: Any,
    harmful_at: Any,
    near: NearDup,
    rows: _Rows,
    stats: Stats,
) -> None:
    text = rec.text
    uid = uid_of(shard, rec)
    lang = language_of(text)
    stats.records += 1
    stats.chars += len(text)
    stats.text_bytes += len(text.encode("utf-8", "surrogatepass"))
    stats.lang[lang] += 1
    c = rows.cols
    c["shard"].append(shard.id)
    c["key"].append(rec.key)
    c["uid"].append(uid)
    c["chars"].append(len(text))
    c["lang"].append(lang)
    c["hash"].append(text_hash(text))
    for i, k in enumerate(near.band_keys(text)):
        c[f"b{i}"].append(k)
    if not in_sample(uid, cfg.sample_fraction, cfg.seed):
        for col in ("action", "risks", "harmful_risks", "pii", "findings"):
            c[col].append(None)
        c["scanned"].append(False)
        c["harmful"].append(False)
        return
    verdict = mod.check(text, role=cfg.role)
    stats.scanned += 1
    stats.actions[str(verdict.action)] += 1
    risks: list[str] = []
    harmful_risks: list[str] = []
    pii: list[str] = []
    found = []
    for f in verdict.findings:
        if f.risk not in risks:
            risks.append(f.risk)
        if action_for(policy, f) >= harmful_at and f.risk not in harmful_risks:
            harmful_risks.append(f.risk)
        d = f.to_dict()
        if f.detector == "pii":
            pii.append(f.rule or f.risk)
            stats.pii[f.rule or f.risk] += 1
            d["matched"] = _mask_pii(f.matched)
        found.append(d)
    harmful = verdict.action >= harmful_at
    if verdict.flagged:
        stats.flagged += 1
    if harmful:
        stats.harmful += 1
    if verdict.masked_text is not None:
        stats.masked += 1
    if pii:
        stats.pii_records += 1
    for r in risks:
        stats.risk_flagged[r] += 1
    for r in harmful_risks:
        stats.risk_harmful[r] += 1
    c["scanned"].append(True)
    c["action"].append(str(verdict.action))
    c["harmful"].append(harmful)
    c["risks"].append(risks)
    c["harmful_risks"].append(harmful_risks)
    c["pii"].append(pii)
    c["findings"].append(json.dumps(found, ensure_ascii=False) if found else None)


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


def _local_worker(args: tuple[str, str, str, int]) -> int:
    shard_json, cfg_json, run_dir, parent = args
    shard = Shard.model_validate_json(shard_json)
    scan_shard(shard, ScanConfig.model_validate_json(cfg_json), run_dir, parent)
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
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
        futures = {
            pool.submit(_local_worker, (s.model_dump_json(), cfg_json, str(run_dir), os.getpid()))
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
    """The same ``scan_shard`` as map tasks of a Ray Dataset.

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
        rd = str(run_dir)

        def task(row: dict[str, Any]) -> dict[str, Any]:
            shard = Shard.model_validate_json(row["shard"])
            scan_shard(shard, ScanConfig.model_validate_json(cfg_json), rd)
            return {"shard": shard.id}

        ds: Any = ray.data.from_items(
            [{"shard": s.model_dump_json()} for s in todo], override_num_blocks=len(todo)
        )
        ds = ds.map(task, num_cpus=1)
        for _ in ds.iter_rows():
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
    from datasketch.lsh import _optimal_param

    bands, _rows = _optimal_param(cfg.near_threshold, cfg.num_perm, 0.5, 0.5)
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
