"""Report pages (HTML with charts) and ``corpus_summary.json`` for the assessment report.

``corpus_summary.json`` is the contract with the assessment report (schema ``hegui.corpus/1``):
per-source statistics and verdicts, the manual-review result when one was imported, and an
overall clause verdict (符合 / 不符合 / 不适用) with the evidence it rests on.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

from hegui.corpus.verdicts import (
    HARMFUL_MAX,
    MANUAL_PASS_MIN,
    MANUAL_SAMPLE_MIN,
    TECH_PASS_MIN,
    TECH_SAMPLE_MIN,
    source_verdicts,
)

SCHEMA = "hegui.corpus/1"


def build_summary(run_dir: str | Path, method: str = "clopper-pearson") -> dict[str, Any]:
    from hegui.corpus.scan import finalize

    run_dir = Path(run_dir)
    stats_path = run_dir / "stats.json"
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.exists() else finalize(run_dir)
    verdicts = source_verdicts(stats, method)
    review_path = run_dir / "review.json"
    review = json.loads(review_path.read_text(encoding="utf-8")) if review_path.exists() else None
    sources = []
    for v in verdicts:
        s = stats["sources"][v.source]
        sources.append(
            {
                "name": v.source,
                "records": s["records"],
                "scanned": s["scanned"],
                "bad_records": s["bad"],
                "recovered_records": s["recovered"],
                "bad_kinds": s["bad_kinds"],
                "input_bytes": s["input_bytes"],
                "harmful": v.harmful.model_dump(),
                "harmful_wilson": v.harmful_wilson.model_dump(),
                "harmful_by_risk": {k: r.model_dump() for k, r in v.by_risk.items()},
                "flagged_by_risk": s["risk_flagged"],
                "pii_records": s["pii_records"],
                "pii_by_type": s["pii"],
                "exact_duplicates": s["exact_duplicates"],
                "near_duplicates": s["near_duplicates"],
                "language": s["lang"],
                "rule_5pct": v.rule_5pct,
                "technical_sample": {
                    "coverage": v.tech_coverage,
                    "pass_rate": v.tech_pass_rate,
                    "verdict": v.tech_sample,
                },
                "reasons": v.reasons,
            }
        )
    clauses = _clauses(sources, review)
    return {
        "schema": SCHEMA,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run": str(run_dir),
        "thresholds": {
            "harmful_max": HARMFUL_MAX,
            "technical_sample_min": TECH_SAMPLE_MIN,
            "technical_pass_min": TECH_PASS_MIN,
            "manual_sample_min": MANUAL_SAMPLE_MIN,
            "manual_pass_min": MANUAL_PASS_MIN,
            "interval": method,
        },
        "totals": {
            k: sum(s[k] for s in sources)
            for k in (
                "records",
                "scanned",
                "bad_records",
                "pii_records",
                "exact_duplicates",
                "near_duplicates",
            )
        },
        "sources": sources,
        "manual_review": review,
        "clauses": clauses,
    }


def _clauses(sources: list[dict[str, Any]], review: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Per-requirement verdicts in the report's vocabulary (符合 / 不符合 / 不适用 / 待人工复核)."""
    out: list[dict[str, Any]] = []
    if not sources:
        return out
    rules = {s["name"]: s["rule_5pct"] for s in sources}
    if any(r == "fail" for r in rules.values()):
        v5 = "不符合"
    elif any(r in ("review", "no-data") for r in rules.values()):
        v5 = "待人工复核"
    else:
        v5 = "符合"
    out.append(
        {
            "id": "training-data.source-harmful-5pct",
            "verdict": v5,
            "evidence": {
                n: {"rule": r, "harmful": s["harmful"]}
                for (n, r), s in zip(rules.items(), sources, strict=True)
            },
        }
    )
    tech = [s["technical_sample"]["verdict"] for s in sources]
    out.append(
        {
            "id": "training-data.technical-sample",
            "verdict": "符合" if all(t == "pass" for t in tech) else "不符合",
            "evidence": {s["name"]: s["technical_sample"] for s in sources},
        }
    )
    if review is None:
        out.append(
            {
                "id": "training-data.manual-sample",
                "verdict": "待人工复核",
                "evidence": "no reviewers' verdicts imported yet",
            }
        )
    else:
        out.append(
            {
                "id": "training-data.manual-sample",
                "verdict": {"pass": "符合", "fail": "不符合"}.get(review["verdict"], "待人工复核"),
                "evidence": {k: review[k] for k in ("reviewed", "passed", "pass_rate", "verdict", "reasons")},
            }
        )
    pii = sum(s["pii_records"] for s in sources)
    out.append(
        {
            "id": "training-data.personal-information",
            "verdict": "待人工复核" if pii else "符合",
            "evidence": f"{pii} records with personal information: confirm the consent basis in the ledger "
            "or clean them (hegui corpus clean)"
            if pii
            else "no personal information found",
        }
    )
    return out


# --------------------------------------------------------------------------------------------
# charts and HTML


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _charts(summary: dict[str, Any]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    srcs = summary["sources"]
    names = [s["name"] for s in srcs]
    charts: dict[str, str] = {}
    if not srcs:
        return charts
    fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(srcs)))
    rates = [s["harmful"]["rate"] * 100 for s in srcs]
    lo = [max(0.0, (s["harmful"]["rate"] - s["harmful"]["low"]) * 100) for s in srcs]
    hi = [max(0.0, (s["harmful"]["high"] - s["harmful"]["rate"]) * 100) for s in srcs]
    colors = [{"pass": "#3a7", "review": "#e90", "fail": "#c33"}.get(s["rule_5pct"], "#999") for s in srcs]
    ax.barh(names, rates, xerr=[lo, hi], color=colors, capsize=3)
    ax.axvline(HARMFUL_MAX * 100, color="#c33", linestyle="--", label="5 % limit")
    ax.set_xlabel("harmful records, % (95 % interval)")
    ax.invert_yaxis()
    ax.legend(loc="lower right")
    charts["harmful"] = _png(fig)

    risks = sorted({r for s in srcs for r in s["flagged_by_risk"]})
    if risks:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        bottom = [0] * len(risks)
        for s in srcs:
            vals = [s["flagged_by_risk"].get(r, 0) for r in risks]
            ax.bar(risks, vals, bottom=bottom, label=s["name"])
            bottom = [a + b for a, b in zip(bottom, vals, strict=True)]
        ax.set_ylabel("records with a finding")
        ax.tick_params(axis="x", rotation=60)
        ax.legend(fontsize=7)
        charts["risks"] = _png(fig)

    types = sorted({t for s in srcs for t in s["pii_by_type"]})
    if types:
        fig, ax = plt.subplots(figsize=(7, 3))
        totals = [sum(s["pii_by_type"].get(t, 0) for s in srcs) for t in types]
        ax.bar(types, totals, color="#47a")
        ax.set_ylabel("occurrences")
        ax.tick_params(axis="x", rotation=45)
        charts["pii"] = _png(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.6 + 0.45 * len(srcs)))
    langs = ["zh", "en", "mixed", "other"]
    left = [0.0] * len(srcs)
    for lang in langs:
        vals = [s["language"].get(lang, 0) / max(s["records"], 1) * 100 for s in srcs]
        axes[0].barh(names, vals, left=left, label=lang)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    axes[0].set_xlabel("language mix, % of records")
    axes[0].legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    axes[0].invert_yaxis()
    ex = [s["exact_duplicates"] / max(s["records"], 1) * 100 for s in srcs]
    nd = [s["near_duplicates"] / max(s["records"], 1) * 100 for s in srcs]
    axes[1].barh(names, ex, label="exact")
    axes[1].barh(names, nd, left=ex, label="near (MinHash LSH)")
    axes[1].set_xlabel("duplicates, % of records")
    axes[1].legend(fontsize=7)
    axes[1].invert_yaxis()
    charts["mix"] = _png(fig)
    return charts


_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>训练语料审计 Training-data audit</title>
<style>
body{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.pass{color:#282}.review{color:#b60}.fail{color:#c22}
img{max-width:100%}code{background:#f5f5f5;padding:0 3px}
</style></head><body>
<h1>训练语料审计报告 Training-data audit</h1>
<p>Run <code>{{ s.run }}</code>, generated {{ s.generated }}. Interval: {{ s.thresholds.interval }}, 95 %.</p>
<h2>结论 Clauses</h2>
<table><tr><th class="l">requirement</th><th class="l">verdict</th></tr>
{% for c in s.clauses %}<tr><td class="l">{{ c.id }}</td><td class="l">{{ c.verdict }}</td></tr>{% endfor %}
</table>
<h2>来源 Sources</h2>
<table><tr><th class="l">source</th><th>records</th><th>scanned</th><th>bad</th><th>harmful %</th>
<th>95 % interval</th><th class="l">5 % rule</th><th class="l">technical sample</th><th>PII records</th>
<th>exact dup</th><th>near dup</th></tr>
{% for x in s.sources %}<tr><td class="l">{{ x.name }}</td><td>{{ x.records }}</td><td>{{ x.scanned }}</td>
<td>{{ x.bad_records }}</td><td>{{ "%.2f"|format(x.harmful.rate*100) }}</td>
<td>{{ "%.2f"|format(x.harmful.low*100) }} – {{ "%.2f"|format(x.harmful.high*100) }}</td>
<td class="l {{ x.rule_5pct }}">{{ x.rule_5pct }}</td><td class="l {{ x.technical_sample.verdict }}">
{{ x.technical_sample.verdict }} ({{ "%.0f"|format(x.technical_sample.coverage*100) }} % checked,
{{ "%.2f"|format(x.technical_sample.pass_rate*100) }} % pass)</td><td>{{ x.pii_records }}</td>
<td>{{ x.exact_duplicates }}</td><td>{{ x.near_duplicates }}</td></tr>
{% if x.reasons %}<tr><td class="l" colspan="11">{{ x.reasons|join("; ") }}</td></tr>{% endif %}
{% endfor %}</table>
{% for key, title in [("harmful","有害内容比例 Harmful rate by source"),("risks","风险分布 Findings by risk"),
("pii","个人信息 PII by type"),("mix","语言与重复 Language mix and duplicates")] %}
{% if key in charts %}<h2>{{ title }}</h2><img alt="{{ key }}" src="data:image/png;base64,{{ charts[key] }}">{% endif %}
{% endfor %}
{% if s.manual_review %}<h2>人工抽检 Manual review</h2>
<p>{{ s.manual_review.reviewed }} reviewed, {{ s.manual_review.passed }} passed
({{ "%.2f"|format(s.manual_review.pass_rate.rate*100) }} %, 95 % interval
{{ "%.2f"|format(s.manual_review.pass_rate.low*100) }} – {{ "%.2f"|format(s.manual_review.pass_rate.high*100) }} %):
<b>{{ s.manual_review.verdict }}</b>. {{ s.manual_review.reasons|join("; ") }}</p>{% endif %}
<h2>输入问题 Input problems</h2>
{% for x in s.sources %}{% if issues[x.name] %}<h3>{{ x.name }}</h3><table>
<tr><th class="l">file</th><th>line</th><th class="l">kind</th><th class="l">message</th></tr>
{% for i in issues[x.name] %}<tr><td class="l">{{ i.file }}</td><td>{{ i.line or "" }}</td><td class="l">{{ i.kind }}</td>
<td class="l">{{ i.message }}</td></tr>{% endfor %}</table>{% endif %}{% endfor %}
</body></html>
"""


def write_report(
    run_dir: str | Path, out_dir: str | Path | None = None, method: str = "clopper-pearson"
) -> tuple[Path, Path]:
    """Write ``index.html`` and ``corpus_summary.json``; returns their paths."""
    import jinja2

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    summary = build_summary(run_dir, method)
    stats = json.loads((run_dir / "stats.json").read_text(encoding="utf-8"))
    issues = {n: s["issues"][:500] for n, s in stats["sources"].items()}
    env = jinja2.Environment(autoescape=True)
    html = env.from_string(_TEMPLATE).render(s=summary, charts=_charts(summary), issues=issues)
    html_path = out / "index.html"
    html_path.write_text(html, encoding="utf-8")
    json_path = out / "corpus_summary.json"
    json_path.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return html_path, json_path
