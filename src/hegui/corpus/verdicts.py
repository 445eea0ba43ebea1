"""Verdicts on scanned corpora against GB/T 45654 training-data requirements.

- 5 % rule: a source with more than 5 % illegal/harmful content is not used. The point estimate
  alone hides sampling error, so the verdict uses the interval: upper bound <= 5 % passes, point
  <= 5 % < upper bound goes to manual review, point > 5 % fails.
- Technical sample: >= 10 % of the data checked by keywords/classifier, >= 98 % passing.
- Manual sample: >= 4,000 items drawn reproducibly (seeded) from the whole corpus, >= 96 % passing
  once reviewers' verdicts are imported.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

HARMFUL_MAX = 0.05
TECH_SAMPLE_MIN = 0.10
TECH_PASS_MIN = 0.98
MANUAL_SAMPLE_MIN = 4000
MANUAL_PASS_MIN = 0.96


class ReviewError(ValueError):
    """A review file that cannot be used (unknown ids, bad verdict values, missing columns)."""


# --------------------------------------------------------------------------------------------
# intervals


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n."""
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (conservative) binomial interval."""
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import beta

    a = 1 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def interval(
    k: int, n: int, method: str = "clopper-pearson", confidence: float = 0.95
) -> tuple[float, float]:
    if method == "wilson":
        return wilson(k, n, confidence)
    if method == "clopper-pearson":
        return clopper_pearson(k, n, confidence)
    raise ValueError(f"interval method must be 'wilson' or 'clopper-pearson', not {method!r}")


class Rate(BaseModel):
    k: int
    n: int
    rate: float
    low: float
    high: float
    method: str

    @classmethod
    def of(cls, k: int, n: int, method: str = "clopper-pearson", confidence: float = 0.95) -> Rate:
        lo, hi = interval(k, n, method, confidence)
        return cls(k=k, n=n, rate=k / n if n else 0.0, low=lo, high=hi, method=method)


# --------------------------------------------------------------------------------------------
# per-source verdicts


class SourceVerdict(BaseModel):
    source: str
    records: int
    scanned: int
    harmful: Rate
    harmful_wilson: Rate
    by_risk: dict[str, Rate]
    rule_5pct: Literal["pass", "review", "fail", "no-data"]
    tech_coverage: float
    tech_pass_rate: float
    tech_sample: Literal["pass", "fail", "no-data"]
    reasons: list[str] = Field(default_factory=list)


def source_verdicts(
    stats: dict[str, Any],
    method: str = "clopper-pearson",
    confidence: float = 0.95,
    harmful_max: float = HARMFUL_MAX,
) -> list[SourceVerdict]:
    out: list[SourceVerdict] = []
    for name, s in stats["sources"].items():
        n, k = s["scanned"], s["harmful"]
        h = Rate.of(k, n, method, confidence)
        hw = Rate.of(k, n, "wilson", confidence)
        by_risk = {r: Rate.of(c, n, method, confidence) for r, c in sorted(s["risk_harmful"].items())}
        reasons: list[str] = []
        rule: Literal["pass", "review", "fail", "no-data"]
        if n == 0:
            rule = "no-data"
            reasons.append("no record could be scanned")
        elif h.rate > harmful_max:
            rule = "fail"
            reasons.append(f"harmful rate {h.rate:.2%} > {harmful_max:.0%}: do not use this source")
        elif h.high > harmful_max:
            rule = "review"
            reasons.append(
                f"harmful rate {h.rate:.2%} but the {confidence:.0%} upper bound {h.high:.2%} crosses "
                f"{harmful_max:.0%}: manual review"
            )
        else:
            rule = "pass"
        records = s["records"]
        coverage = n / records if records else 0.0
        pass_rate = 1 - h.rate if n else 0.0
        tech: Literal["pass", "fail", "no-data"]
        if not n:
            tech = "no-data"
        elif coverage >= TECH_SAMPLE_MIN and pass_rate >= TECH_PASS_MIN:
            tech = "pass"
        else:
            tech = "fail"
            if coverage < TECH_SAMPLE_MIN:
                reasons.append(f"technical sample covers {coverage:.1%} of records < {TECH_SAMPLE_MIN:.0%}")
            if pass_rate < TECH_PASS_MIN:
                reasons.append(f"technical sample pass rate {pass_rate:.2%} < {TECH_PASS_MIN:.0%}")
        out.append(
            SourceVerdict(
                source=name,
                records=records,
                scanned=n,
                harmful=h,
                harmful_wilson=hw,
                by_risk=by_risk,
                rule_5pct=rule,
                tech_coverage=coverage,
                tech_pass_rate=pass_rate,
                tech_sample=tech,
                reasons=reasons,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# the manual review sample


def sample_key(uid: str, seed: int) -> int:
    """Order of a record in the seeded sample: independent of engine, sharding and file order."""
    h = hashlib.blake2b(uid.encode("utf-8", "surrogatepass"), digest_size=8, key=f"sample:{seed}".encode())
    return int.from_bytes(h.digest(), "little")


def draw_sample(run_dir: str | Path, size: int = MANUAL_SAMPLE_MIN, seed: int = 0) -> list[dict[str, Any]]:
    """The ``size`` records with the smallest seeded keys over the whole corpus (bottom-k sampling),
    with their text read back from the sources. Same run + seed = same sample."""
    import pyarrow.parquet as pq

    from hegui.corpus.readers import Bad, Shard, read_shard
    from hegui.corpus.scan import ScanConfig, _part_files, load_run, uid_of

    run_dir = Path(run_dir)
    meta = load_run(run_dir)
    shards = [Shard.model_validate(s) for s in meta["shards"]]
    cfg = ScanConfig.model_validate(meta["config"])
    best: list[tuple[int, str]] = []  # max-heap via negated keys
    info: dict[str, dict[str, Any]] = {}
    cols = ["uid", "shard", "key", "action", "risks", "harmful"]
    for _, path in _part_files(run_dir, shards):
        t = pq.read_table(path, columns=cols).to_pylist()
        for row in t:
            k = sample_key(row["uid"], seed)
            if len(best) < size:
                heapq.heappush(best, (-k, row["uid"]))
                info[row["uid"]] = row
            elif -best[0][0] > k:
                _, old = heapq.heapreplace(best, (-k, row["uid"]))
                info.pop(old, None)
                info[row["uid"]] = row
    chosen = sorted(((-nk, uid) for nk, uid in best))
    wanted: dict[int, set[int]] = {}
    for _, uid in chosen:
        wanted.setdefault(info[uid]["shard"], set()).add(info[uid]["key"])
    texts: dict[str, str] = {}
    by_id = {s.id: s for s in shards}
    for sid, keys in sorted(wanted.items()):
        shard = by_id[sid]
        for item in read_shard(shard, cfg.read):
            if not isinstance(item, Bad) and item.key in keys:
                texts[uid_of(shard, item)] = item.text
    out = []
    for i, (_, uid) in enumerate(chosen, 1):
        row = info[uid]
        out.append(
            {
                "sample_id": i,
                "uid": uid,
                "source": uid.split(":", 1)[0],
                "text": texts.get(uid, ""),
                "auto_action": row["action"] or "not-scanned",
                "auto_risks": ",".join(row["risks"] or []),
                "verdict": "",
                "risk": "",
                "reviewer": "",
                "note": "",
            }
        )
    return out


SAMPLE_COLUMNS = (
    "sample_id",
    "uid",
    "source",
    "text",
    "auto_action",
    "auto_risks",
    "verdict",
    "risk",
    "reviewer",
    "note",
)
_XLSX_MAX_CELL = 32767  # Excel's limit for one cell


def export_sample(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """``.xlsx`` (with an instructions sheet) or ``.jsonl``, chosen by the extension."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        return path
    if path.suffix.lower() != ".xlsx":
        raise ValueError(f"sample file must end in .xlsx or .jsonl, not {path.name!r}")
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "sample"
    ws.append(list(SAMPLE_COLUMNS))
    for r in rows:
        ws.append([_cell(r[c]) for c in SAMPLE_COLUMNS])
    ws.freeze_panes = "A2"
    ws.column_dimensions["D"].width = 80
    help_ws = wb.create_sheet("说明")
    for line in (
        ["verdict 列填写 pass（合格）或 fail（不合格）；不合格时在 risk 列填写风险编号（如 A2.d）。"],
        ["reviewer 列填写审核人；不要修改 sample_id、uid 列。"],
        ["Fill 'verdict' with pass or fail; for fail give the risk code (e.g. A2.d) in 'risk'."],
    ):
        help_ws.append(line)
    wb.save(path)
    return path


def _cell(v: Any) -> Any:
    if isinstance(v, str):
        # control characters are not allowed in XLSX cells
        v = "".join(ch for ch in v if ch >= " " or ch in "\t\n")
        if len(v) > _XLSX_MAX_CELL:
            v = v[: _XLSX_MAX_CELL - 20] + "…[truncated]"
    return v


_PASS = {"pass", "ok", "合格", "通过", "y", "yes", "1", "true"}
_FAIL = {"fail", "不合格", "不通过", "n", "no", "0", "false"}


def read_review(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        with open(path, encoding="utf-8-sig") as f:
            for i, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as exc:
                        raise ReviewError(f"{path}:{i}: invalid JSON: {exc}") from None
        return rows
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        ws = wb["sample"] if "sample" in wb.sheetnames else wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header = [str(h) if h is not None else "" for h in next(it, ())]
        return [dict(zip(header, r, strict=False)) for r in it if any(v is not None for v in r)]
    if suffix == ".csv":
        import csv

        with open(path, encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    raise ReviewError(f"review file must be .xlsx, .jsonl or .csv, not {path.name!r}")


class ReviewResult(BaseModel):
    reviewed: int
    passed: int
    pass_rate: Rate
    required_size: int
    required_pass: float
    verdict: Literal["pass", "fail", "incomplete"]
    by_source: dict[str, Rate]
    fail_risks: dict[str, int]
    reasons: list[str]


def import_review(
    review_path: str | Path,
    sample_rows: list[dict[str, Any]] | None = None,
    required_size: int = MANUAL_SAMPLE_MIN,
    required_pass: float = MANUAL_PASS_MIN,
    method: str = "clopper-pearson",
) -> ReviewResult:
    """Reviewers' verdicts -> pass rate. Unknown ids (when the exported sample is given), empty or
    unknown verdict values are errors naming the row: a review must not be silently partial."""
    rows = read_review(review_path)
    if not rows:
        raise ReviewError(f"{review_path}: no rows")
    if "verdict" not in rows[0] or "uid" not in rows[0]:
        raise ReviewError(f"{review_path}: columns 'uid' and 'verdict' are required (got {sorted(rows[0])})")
    known = {r["uid"] for r in sample_rows} if sample_rows is not None else None
    seen: set[str] = set()
    passed = 0
    per_src: dict[str, list[int]] = {}
    fail_risks: dict[str, int] = {}
    problems: list[str] = []
    for i, r in enumerate(rows, 2):
        uid = str(r.get("uid") or "")
        v = str(r.get("verdict") or "").strip().lower()
        if known is not None and uid not in known:
            problems.append(f"row {i}: uid {uid!r} is not in the exported sample")
            continue
        if uid in seen:
            problems.append(f"row {i}: uid {uid!r} reviewed twice")
            continue
        if v in _PASS:
            ok = True
        elif v in _FAIL:
            ok = False
        else:
            problems.append(f"row {i}: verdict {r.get('verdict')!r} is not pass/fail")
            continue
        seen.add(uid)
        passed += ok
        src = str(r.get("source") or uid.split(":", 1)[0])
        per_src.setdefault(src, [0, 0])
        per_src[src][0] += ok
        per_src[src][1] += 1
        if not ok:
            risk = str(r.get("risk") or "unspecified").strip() or "unspecified"
            fail_risks[risk] = fail_risks.get(risk, 0) + 1
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ReviewError(f"{review_path}: {shown}")
    n = len(seen)
    rate = Rate.of(passed, n, method)
    reasons = []
    verdict: Literal["pass", "fail", "incomplete"]
    if n < required_size:
        verdict = "incomplete"
        reasons.append(f"{n} items reviewed < {required_size} required")
    elif rate.rate >= required_pass:
        verdict = "pass"
    else:
        verdict = "fail"
        reasons.append(f"pass rate {rate.rate:.2%} < {required_pass:.0%}")
    return ReviewResult(
        reviewed=n,
        passed=passed,
        pass_rate=rate,
        required_size=required_size,
        required_pass=required_pass,
        verdict=verdict,
        by_source={s: Rate.of(k, m, method) for s, (k, m) in sorted(per_src.items())},
        fail_risks=dict(sorted(fail_risks.items())),
        reasons=reasons,
    )
