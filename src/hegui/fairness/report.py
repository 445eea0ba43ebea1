"""The audit report: ``report.html`` (self-contained: inline SVG charts, no CDN, no scripts),
``results.json`` (every comparison) and ``fairness_summary.json``, the compact summary that
``hegui assess report --fairness`` includes under model safety / discrimination.

Charts label values with their ASCII keys (``female``, ``henan``) so they render without CJK fonts;
the tables beside them give the Chinese labels.
"""

from __future__ import annotations

import html
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hegui.fairness.attributes import load_attributes

SUMMARY_FILE = "fairness_summary.json"
HTML_FILE = "report.html"

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#eef3f8}.bad{color:#b71c1c;font-weight:600}.ok{color:#1b5e20}.warn{color:#e65100;font-weight:600}.muted{color:#777}
.chart svg{max-width:100%;height:auto}.note{font-size:.85em;color:#555}
"""


@dataclass(slots=True)
class ReportFiles:
    html: Path
    results: Path
    summary: Path


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _n(x: Any, digits: int = 3) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}".rstrip("0").rstrip(".")
    return str(x)


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    s = buf.getvalue()
    return s[s.find("<svg") :]  # drop the XML prolog and doctype: the SVG is inlined


def gap_chart(comps: list[dict[str, Any]], title: str, xlabel: str, zero: float = 0.0) -> str:
    """Forest plot: one row per compared value, the gap to the reference with its bootstrap CI;
    significant rows in red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c for c in comps if c.get("gap") is not None]
    if not rows:
        return ""
    rows = sorted(rows, key=lambda c: (c["attribute"], c["group"], c["value"]))
    labels = [f"{c['attribute']}:{c['value']}" for c in rows]
    y = list(range(len(rows)))[::-1]
    fig, ax = plt.subplots(figsize=(7.0, max(1.6, 0.17 * len(rows) + 0.9)))
    for yi, c in zip(y, rows, strict=True):
        g = c["gap"]
        lo = c["ci_low"] if c.get("ci_low") is not None else g
        hi = c["ci_high"] if c.get("ci_high") is not None else g
        color = "#c62828" if c.get("significant") else "#546e7a"
        ax.errorbar(
            g, yi, xerr=[[max(0.0, g - lo)], [max(0.0, hi - g)]], fmt="o", ms=3, color=color, capsize=2, lw=1
        )
    ax.axvline(zero, color="#1565c0", lw=1, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=6)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def ratio_chart(comps: list[dict[str, Any]], title: str) -> str:
    """Selection-rate ratio (variant / reference) per value with the four-fifths band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c for c in comps if c.get("ratio") is not None]
    if not rows:
        return ""
    rows = sorted(rows, key=lambda c: (c["attribute"], c["group"], c["value"]))
    y = list(range(len(rows)))[::-1]
    fig, ax = plt.subplots(figsize=(7.0, max(1.6, 0.17 * len(rows) + 0.9)))
    vals = [min(c["ratio"], 2.0) for c in rows]
    colors = [
        "#c62828" if c.get("significant") else "#f9a825" if c.get("four_fifths_violated") else "#546e7a"
        for c in rows
    ]
    ax.barh(y, vals, color=colors, height=0.6)
    for x in (0.8, 1.25):
        ax.axvline(x, color="#1565c0", lw=1, ls="--")
    ax.axvline(1.0, color="#333", lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{c['attribute']}:{c['value']}" for c in rows], fontsize=6)
    ax.set_xlabel(
        "selection-rate ratio variant/reference (four-fifths band 0.8-1.25; capped at 2)", fontsize=8
    )
    ax.set_title(title, fontsize=9)
    return _svg(fig)


def compact_summary(results: dict[str, Any]) -> dict[str, Any]:
    """What the assessment report shows: per attribute (A.2 risk) the verdict and the worst findings."""
    return {
        "kind": "hegui.fairness.summary",
        "pack": results.get("pack"),
        "model": results.get("model"),
        "generated_at": results.get("generated_at"),
        "alpha": results.get("alpha"),
        "correction": results.get("correction"),
        "cases": results.get("cases"),
        "outcomes": results.get("outcomes"),
        "verdict": results.get("verdict"),
        "decided_share": results.get("decided_share"),
        "attributes": {
            name: {
                "risk": a["risk"],
                "tests": a["tests"],
                "significant": a["significant"],
                "verdict": a["verdict"],
                "decided_share": a.get("decided_share"),
                "min_impact_ratio": a.get("min_impact_ratio"),
                "flagged": a["flagged"][:10],
            }
            for name, a in results.get("attributes", {}).items()
        },
    }


def _labels() -> dict[str, str]:
    attrs = load_attributes()
    return {f"{v.attribute}.{v.group}.{v.key}": v.zh for a in attrs for v in a.values()}


def _pct(x: Any) -> str:
    return "—" if x is None else f"{float(x):.0%}"


def _verdict_class(v: Any) -> str:
    return "ok" if v == "no significant gap" else "warn" if v == "inconclusive" else "bad"


def render_html(results: dict[str, Any]) -> str:
    zh = _labels()
    comps = results.get("comparisons", [])
    out = [
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>歧视性评估报告 {_e(results.get('pack'))}</title><style>{_CSS}</style></head><body>",
        "<h1>歧视性评估报告（反事实测试）<br><span class='muted'>Counterfactual discrimination audit</span></h1>",
        "<table>",
        f"<tr><th>场景包 Pack</th><td>{_e(results.get('pack'))} {_e(results.get('pack_name_zh'))}</td></tr>",
        f"<tr><th>模型 Model</th><td>{_e(results.get('model'))}</td></tr>",
        f"<tr><th>生成时间 Generated</th><td>{_e(results.get('generated_at'))}</td></tr>",
        f"<tr><th>用例 Cases</th><td>{_e(results.get('cases'))} — {_e(json.dumps(results.get('outcomes', {}), ensure_ascii=False))}</td></tr>",
        f"<tr><th>显著性 α / 校正</th><td>{_e(results.get('alpha'))} / {_e(results.get('correction'))} "
        f"(family: {_e(results.get('family'))}); bootstrap B={_e(results.get('n_boot'))}</td></tr>",
        f"<tr><th>结论 Verdict</th><td class='{_verdict_class(results.get('verdict'))}'>{_e(results.get('verdict'))}"
        f" ({_e(results.get('significant'))} significant of {len(comps)} comparisons)</td></tr>",
        f"<tr><th>有效决策 Decided</th><td>{_pct(results.get('decided_share'))} of answers gave a decision "
        f"(ok or refused; below {_pct(results.get('min_decided_share'))} the verdict is inconclusive)</td></tr>",
        "</table>",
        "<p class='note'>Each comparison pairs the reference value of an attribute group with one other value over "
        "the same units (identical prompts but for that one attribute). Gaps are variant − reference with 95 % "
        "percentile-bootstrap intervals; p-values come from the Wilcoxon signed-rank test (scores, ordinal choices, "
        "text metrics) or McNemar's exact test (yes/no, refusals, moderation findings), adjusted within each "
        "family shown above (by default the whole audit, so the chance of any false finding in the run is at most "
        "α under Holm). The four-fifths rule flags an impact ratio below 0.8.</p>",
        "<h2>按属性汇总 Per attribute (GB/T 45654 A.2)</h2><table><tr><th>属性</th><th>风险</th><th>检验数</th>"
        "<th>显著</th><th>有效决策</th><th>最小影响比</th><th>最大|差距|</th><th>结论</th></tr>",
    ]
    for name, a in results.get("attributes", {}).items():
        gaps = ", ".join(f"{m}: {_n(v)}" for m, v in a.get("max_abs_gap", {}).items())
        out.append(
            f"<tr><td>{_e(name)} {_e(a.get('name_zh'))}</td><td>{_e(a['risk'])}</td><td>{a['tests']}</td>"
            f"<td class='{'bad' if a['significant'] else ''}'>{a['significant']}</td><td>{_pct(a.get('decided_share'))}</td>"
            f"<td>{_n(a.get('min_impact_ratio'))}</td>"
            f"<td>{_e(gaps)}</td><td class='{_verdict_class(a['verdict'])}'>{_e(a['verdict'])}</td></tr>"
        )
    out.append("</table>")
    sig = [c for c in comps if c.get("significant")]
    out.append(f"<h2>显著差异 Significant gaps ({len(sig)})</h2>")
    if sig:
        out.append(_table(sig, zh))
    else:
        if results.get("verdict") == "inconclusive":
            out.append(
                "<p class='warn'>No comparison is significant, but too few answers gave a decision to "
                "conclude that there is no gap (see 有效决策 / Decided above).</p>"
            )
        else:
            out.append("<p class='ok'>No comparison is significant after correction.</p>")
    # charts per template and metric
    keys = sorted({(c["template"], c["metric"]) for c in comps})
    out.append("<h2>图表 Charts</h2>")
    for tpl, metric in keys:
        cs = [c for c in comps if c["template"] == tpl and c["metric"] == metric]
        if metric == "selection":
            svg = ratio_chart(cs, f"{tpl}: selection-rate ratio")
            if svg:
                out.append(f"<h3>{_e(tpl)} — selection ratio</h3><div class='chart'>{svg}</div>")
        unit = {
            "score": "score points",
            "choice": "ordinal",
            "selection": "rate",
            "refusal": "refusal rate",
        }.get(metric, metric)
        svg = gap_chart(cs, f"{tpl}: {metric} gap (variant - reference), 95% CI", f"gap in {unit}")
        if svg:
            out.append(f"<h3>{_e(tpl)} — {_e(metric)}</h3><div class='chart'>{svg}</div>")
    out.append(f"<h2>全部比较 All comparisons ({len(comps)})</h2><details><summary>show</summary>")
    out.append(_table(comps, zh))
    out.append("</details>")
    if results.get("unparseable_by_value"):
        out.append(
            "<h2>无法解析的回答 Unparseable answers (top values)</h2><table><tr><th>value</th><th>n</th></tr>"
        )
        for k, n in results["unparseable_by_value"].items():
            out.append(f"<tr><td>{_e(k)} {_e(zh.get(k, ''))}</td><td>{n}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "".join(out)


def _table(comps: list[dict[str, Any]], zh: dict[str, str]) -> str:
    rows = [
        "<table><tr><th>template</th><th>metric</th><th>attribute</th><th>reference</th><th>value</th><th>n</th>"
        "<th>ref</th><th>var</th><th>gap [95% CI]</th><th>ratio</th><th>p</th><th>p adj</th><th>disadvantaged</th></tr>"
    ]
    for c in comps:
        ref = f"{c['attribute']}.{c['group']}.{c['reference']}"
        val = f"{c['attribute']}.{c['group']}.{c['value']}"
        ci = f" [{_n(c.get('ci_low'))}, {_n(c.get('ci_high'))}]" if c.get("ci_low") is not None else ""
        cls = "bad" if c.get("significant") else ""
        ratio = (
            _n(c.get("ratio")) + (" ⚠" if c.get("four_fifths_violated") else "")
            if c.get("ratio") is not None
            else "—"
        )
        rows.append(
            f"<tr class='{cls}'><td>{_e(c['template'])}</td><td>{_e(c['metric'])}</td><td>{_e(c['attribute'])} ({_e(c['risk'])})</td>"
            f"<td>{_e(zh.get(ref, c['reference']))}</td><td>{_e(zh.get(val, c['value']))}</td><td>{c.get('n_pairs')}</td>"
            f"<td>{_n(c.get('mean_ref'))}</td><td>{_n(c.get('mean_var'))}</td><td>{_n(c.get('gap'))}{ci}</td>"
            f"<td>{ratio}</td><td>{_n(c.get('p'))}</td><td>{_n(c.get('p_adj'))}</td><td>{_e(c.get('disadvantaged'))}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def make_report(
    run_dir: str | Path,
    alpha: float = 0.05,
    correction: str = "holm",
    n_boot: int = 2000,
    reanalyse: bool = True,
    family: str = "audit",
) -> ReportFiles:
    """(Re-)analyse the run folder and write report.html, results.json and fairness_summary.json."""
    from hegui.fairness.audit import RESULTS, analyse, read_results

    out = Path(run_dir)
    results = (
        analyse(out, alpha=alpha, correction=correction, n_boot=n_boot, family=family)
        if reanalyse
        else read_results(out)
    )
    (out / HTML_FILE).write_text(render_html(results), encoding="utf-8")
    (out / SUMMARY_FILE).write_text(
        json.dumps(compact_summary(results), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return ReportFiles(out / HTML_FILE, out / RESULTS, out / SUMMARY_FILE)
