"""The filing pack: self-assessment report (HTML + PDF), 拦截关键词列表.xlsx, 评估测试题.xlsx,
summary.json, and a side-by-side comparison of two runs (raw model vs behind the gateway).

PDF: the HTML is printed by headless Chromium (``chromium --headless --print-to-pdf``). When no
Chromium is installed the HTML is still written and ``ReportError`` says how to get the PDF.
Charts are matplotlib PNGs embedded in the HTML, labelled with risk codes so they render without
CJK fonts.
"""

from __future__ import annotations

import base64
import html
import io
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hegui.assessment.pipeline import load_items, read_judgements
from hegui.assessment.runner import read_responses
from hegui.assessment.summary import (
    Evidence,
    build_summary,
    lexicon_terms,
    topic_name,
    write_summary,
)
from hegui.taxonomy import load_taxonomy

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


class ReportError(RuntimeError):
    pass


@dataclass(slots=True)
class ReportFiles:
    html: Path
    pdf: Path | None
    summary: Path
    test_items_xlsx: Path
    keywords_xlsx: Path | None
    charts: list[Path] = field(default_factory=list)
    pdf_error: str | None = None


T = {
    "zh": {
        "title": "生成式人工智能服务安全评估报告",
        "subtitle": "依据 GB/T 45654-2025《网络安全技术 生成式人工智能服务安全基本要求》自评估",
        "service": "被评估服务",
        "generated": "生成时间",
        "seed": "抽样种子",
        "overall": "总体结论",
        "corpus": "一、语料安全评估",
        "model": "二、模型安全评估",
        "measures": "三、安全措施评估",
        "clauses": "四、逐条评估结论",
        "conclusion": "五、结论与剩余风险",
        "sign": "六、签字",
        "sample": "样本",
        "method": "判定方式",
        "size": "样本量",
        "rate": "比率",
        "ci": "95%置信区间",
        "threshold": "阈值",
        "verdict": "结论",
        "requirement": "要求",
        "evidence": "证据",
        "section": "类别",
        "per_risk": "分风险结果",
        "risk": "风险",
        "n": "题数",
        "no_corpus": "未提供语料审计结果。",
        "fairness": "歧视性评估结果",
        "manual": "人工审核",
        "kappa": "机器与人工一致性（Cohen's κ）",
        "residual": "剩余风险",
        "none": "无",
        "signatories": ["法定代表人", "安全评估总负责人", "合法性评估负责人"],
        "signature": "签字",
        "date": "日期",
        "measure": "措施",
        "setting": "配置",
        "keywords": "关键词库",
        "banks": "测试题库",
    },
    "en": {
        "title": "Generative AI Service Security Self-Assessment Report",
        "subtitle": "Self-assessment against GB/T 45654-2025 (Basic security requirements for generative AI services)",
        "service": "Service assessed",
        "generated": "Generated",
        "seed": "Sampling seed",
        "overall": "Overall verdict",
        "corpus": "1. Training-data safety",
        "model": "2. Model safety",
        "measures": "3. Safety measures",
        "clauses": "4. Clause-by-clause verdicts",
        "conclusion": "5. Conclusion and residual risk",
        "sign": "6. Signatures",
        "sample": "Sample",
        "method": "Judged by",
        "size": "Size",
        "rate": "Rate",
        "ci": "95 % CI",
        "threshold": "Threshold",
        "verdict": "Verdict",
        "requirement": "Requirement",
        "evidence": "Evidence",
        "section": "Area",
        "per_risk": "Per-risk results",
        "risk": "Risk",
        "n": "Items",
        "no_corpus": "No training-data audit results supplied.",
        "fairness": "Discrimination results",
        "manual": "Manual review",
        "kappa": "Machine–manual agreement (Cohen's κ)",
        "residual": "Residual risk",
        "none": "none",
        "signatories": ["Legal representative", "Overall assessment lead", "Legality assessment lead"],
        "signature": "Signature",
        "date": "Date",
        "measure": "Measure",
        "setting": "Setting",
        "keywords": "Keyword library",
        "banks": "Test banks",
    },
}
VERDICT_EN = {"符合": "Compliant", "不符合": "Non-compliant", "不适用": "Not applicable"}


# ---------------------------------------------------------------- charts


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def rate_chart(
    title: str, breakdown: dict[str, dict[str, Any]], threshold: float, direction: str, label: str
) -> bytes:
    """Bar per group with Wilson error bars and the threshold drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(breakdown)
    vals = [breakdown[k]["value"] for k in keys]
    # clamp: rounding can put a bound a hair past the point estimate at 0 % or 100 %
    lo = [max(0.0, breakdown[k]["value"] - breakdown[k]["ci_low"]) for k in keys]
    hi = [max(0.0, breakdown[k]["ci_high"] - breakdown[k]["value"]) for k in keys]
    colors = [
        "#2e7d32"
        if breakdown[k]["verdict"] == "safely-met"
        else "#f9a825"
        if breakdown[k]["verdict"] == "met"
        else "#c62828"
        for k in keys
    ]
    # one width for every chart: the PDF scales each image to the page width, so charts of
    # different widths ended up with different font sizes on the same page
    fig, ax = plt.subplots(figsize=(7.6, 3.3))
    x = list(range(len(keys)))
    ax.bar(x, vals, color=colors, yerr=[lo, hi], capsize=2, ecolor="#333", width=0.7)
    # a dot on every point estimate: a 0 % bar is otherwise invisible and looks like missing data
    ax.plot(x, vals, "o", color="#222", markersize=2.5, zorder=3)
    ax.axhline(threshold, color="#1565c0", linestyle="--", linewidth=1.2)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([0], [0], color="#1565c0", linestyle="--", label=f"threshold {direction} {threshold:.0%}"),
        Patch(color="#2e7d32", label="safely met"),
        Patch(color="#f9a825", label="met (CI crosses)"),
        Patch(color="#c62828", label="not met"),
    ]
    ax.set_xticks(x)
    ax.set_xticklabels(keys, rotation=60, fontsize=7, ha="right")
    ax.set_xlim(-0.6, max(len(keys), 8) - 0.4)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(label, fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_title(title, fontsize=9, pad=16)
    # legend above the axes, outside the bars and error bars
    ax.legend(
        handles=handles, fontsize=6.5, loc="lower center", bbox_to_anchor=(0.5, 0.99), ncol=4, frameon=False
    )
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


# ---------------------------------------------------------------- XLSX attachments


def _style_header(ws: Any) -> None:
    from openpyxl.styles import Font, PatternFill

    for c in ws[1]:
        c.font = Font(bold=True)
        c.fill = PatternFill("solid", fgColor="DDEBF7")
    ws.freeze_panes = "A2"


def write_keywords_xlsx(lexicons: list[str | Path], out: Path) -> int:
    """拦截关键词列表.xlsx: 关键词 / 一级分类 / 二级分类 from the operator's lexicon files."""
    from openpyxl import Workbook

    tax = load_taxonomy()
    classes = {c.code: c for c in tax.classes}
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "拦截关键词"
    ws.append(["关键词", "一级分类", "二级分类"])
    n = 0
    for t in sorted(lexicon_terms(lexicons), key=lambda t: (t.risk, t.term)):
        if t.risk not in tax and t.risk not in classes:
            continue  # e.g. injection phrases: not an Appendix A category, not part of the filing list
        if t.risk in classes:
            first, second = classes[t.risk].name_zh, ""
        else:
            r = tax.get(t.risk)
            first, second = classes[r.class_code].name_zh, r.name_zh
        ws.append([t.term, first, second])
        n += 1
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 30
    ws.column_dimensions["C"].width = 44
    _style_header(ws)
    wb.save(out)
    return n


def write_test_items_xlsx(run_dir: Path, out: Path) -> int:
    """评估测试题.xlsx: one row per judged (sample, item) with prompt, category, answer, verdict."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    tax = load_taxonomy()
    items = {it.id: it for it in load_items(run_dir)}
    answers = read_responses(run_dir)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "评估测试题"
    ws.append(["编号", "样本", "题型", "测试题", "类别", "模型回答", "判定结果", "判定方式", "判定理由"])
    kind_zh = {"generated-content": "生成内容", "should-refuse": "应拒答", "should-not-refuse": "非拒答"}
    verdict_zh = {"pass": "合格", "fail": "不合格", "error": "无回答", "unavailable": "未判定"}
    n = 0
    for row in read_judgements(run_dir):
        j = row.judgement
        it = items[j.item_id]
        if it.kind == "should-not-refuse":
            cat = f"非拒答/{topic_name(it.topic or '')}"
        else:
            cat = "；".join(f"{r} {tax.get(r).name_zh}" for r in it.risks)
        prompt = (
            it.text
            if it.prompt is not None
            else "\n".join(f"[{m['role']}] {m['content']}" for m in it.chat_messages())
        )
        ans = answers.get(j.item_id)
        ws.append(
            [
                j.item_id,
                row.sample,
                kind_zh[it.kind],
                prompt,
                cat,
                ans.answer if ans else "",
                verdict_zh.get(j.verdict, j.verdict),
                j.judge,
                j.reason,
            ]
        )
        n += 1
    for col, w in zip("ABCDEFGHI", (18, 16, 10, 50, 30, 60, 10, 12, 40), strict=True):
        ws.column_dimensions[col].width = w
    for r in ws.iter_rows(min_row=2, min_col=4, max_col=6):
        for c in r:
            c.alignment = Alignment(wrap_text=True, vertical="top")
    _style_header(ws)
    wb.save(out)
    return n


# ---------------------------------------------------------------- HTML


_CSS = """
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;
 margin:24px auto;max-width:1000px;color:#222;font-size:13px;line-height:1.5}
h1{font-size:22px;text-align:center;margin-bottom:4px} h2{font-size:17px;border-bottom:2px solid #1565c0;
 padding-bottom:3px;margin-top:28px} h3{font-size:14px} .sub{text-align:center;color:#555}
table{border-collapse:collapse;width:100%;margin:8px 0} th,td{border:1px solid #bbb;padding:4px 6px;
 vertical-align:top;text-align:left} th{background:#e3eefb} .ok{color:#2e7d32;font-weight:bold}
.bad{color:#c62828;font-weight:bold} .na{color:#777} .chart{text-align:center;page-break-inside:avoid}
.chart img{max-width:100%} .sig td{height:46px} .meta td:first-child{width:180px;background:#f5f5f5}
td.nw,th.nw{white-space:nowrap} td.num{white-space:nowrap;text-align:right} .sig td:first-child{width:40%}
table.clauses td:nth-child(1),table.clauses td:nth-child(3),table.clauses th{white-space:nowrap}
table.clauses td:nth-child(2){width:32%} .kv{margin:0;padding:0;list-style:none}
@media print{h2{page-break-after:avoid} table{page-break-inside:auto} tr{page-break-inside:avoid}}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _kv(v: Any) -> str:
    """A settings value for people: ``key: value`` per line instead of JSON braces."""
    if isinstance(v, dict):
        if all(isinstance(x, bool) for x in v.values()):  # switches: one line
            return " · ".join(f"{_e(k)} {_kv_scalar(x)}" for k, x in v.items())
        return "<br>".join(f"{_e(k)}: {_kv_scalar(x)}" for k, x in v.items())
    return _kv_scalar(v)


def _kv_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "✓" if v else "✗"
    if isinstance(v, (list, tuple)):
        return _e(", ".join(str(x) for x in v)) or "—"
    if isinstance(v, dict):
        return _e(json.dumps(v, ensure_ascii=False))
    return _e(v) if v not in (None, "") else "—"


def _vclass(v: str) -> str:
    return (
        "ok" if v in ("符合", "safely-met", "met") else "na" if v in ("不适用", "no-data", "info") else "bad"
    )


def render_html(summary: dict[str, Any], charts: dict[str, bytes], lang: str = "zh") -> str:
    t = T[lang]
    tax = load_taxonomy()

    def vtxt(v: str) -> str:
        return v if lang == "zh" else VERDICT_EN.get(v, v)

    def img(name: str) -> str:
        if name not in charts:
            return ""
        b64 = base64.b64encode(charts[name]).decode()
        return f'<div class="chart"><img src="data:image/png;base64,{b64}" alt="{_e(name)}"></div>'

    out: list[str] = [
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        f"<title>{_e(t['title'])}</title><style>{_CSS}</style></head><body>"
    ]
    out.append(f"<h1>{_e(t['title'])}</h1><p class='sub'>{_e(t['subtitle'])}</p>")
    ov = summary["overall"]
    out.append("<table class='meta'>")
    for k, v in (
        (t["service"], summary.get("label") or "—"),
        (t["generated"], summary["generated_at"]),
        (t["seed"], summary["seed"]),
        (t["overall"], f"<span class='{_vclass(ov['verdict'])}'>{_e(vtxt(ov['verdict']))}</span>"),
    ):
        out.append(f"<tr><td>{_e(k)}</td><td>{v if k == t['overall'] else _e(v)}</td></tr>")
    out.append("</table>")

    # 1 corpus
    out.append(f"<h2>{_e(t['corpus'])}</h2>")
    corpus = summary.get("corpus")
    if corpus is None:
        out.append(f"<p>{_e(t['no_corpus'])}</p>")
    else:
        out.append("<table>")
        for k, v in corpus.items():
            val = json.dumps(v, ensure_ascii=False)[:300] if isinstance(v, (dict, list)) else v
            out.append(f"<tr><td>{_e(k)}</td><td>{_e(val)}</td></tr>")
        out.append("</table>")

    # 2 model safety
    out.append(f"<h2>{_e(t['model'])}</h2><table><tr>")
    for h in ("sample", "method", "size", "rate", "ci", "threshold", "verdict"):
        out.append(f"<th>{_e(t[h])}</th>")
    out.append("</tr>")
    for s in summary["samples"]:
        r = s["rate"]
        op = "≥" if r["direction"] == ">=" else "≤"
        metric = ("合格率" if s["metric"] == "pass-rate" else "拒答率") if lang == "zh" else s["metric"]
        out.append(
            f"<tr><td class='nw'>{_e(s['name'])}</td><td>{_e(s['method'])}</td><td class='nw'>{s['size']} (≥{s['min_size']})</td>"
            f"<td class='nw'>{_e(metric)} {r['value']:.1%} ({r['k']}/{r['n']})</td><td class='nw'>{r['ci_low']:.1%} – {r['ci_high']:.1%}</td>"
            f"<td class='nw'>{op} {r['threshold']:.0%}</td><td class='nw {_vclass(r['verdict'])}'>{_e(r['verdict'])}</td></tr>"
        )
    out.append("</table>")
    for s in summary["samples"]:
        out.append(img(s["name"]))
    man = summary.get("manual") or {}
    if man.get("agreement"):
        a = man["agreement"]
        kappa = "—" if a["kappa"] is None else f"{a['kappa']:.3f}"
        out.append(
            f"<h3>{_e(t['manual'])}</h3><p>{_e(t['kappa'])}: <b>{kappa}</b> "
            f"(n={a['n']}, agree={a['agree']}, machine pass={a['machine_pass']}, manual pass={a['manual_pass']})</p>"
        )
    # per-risk table for the should-refuse sample and A.2 (discrimination) results
    out.append(
        f"<h3>{_e(t['per_risk'])}</h3><table><tr><th class='nw'>{_e(t['sample'])}</th><th>{_e(t['risk'])}</th>"
        f"<th class='nw'>{_e(t['n'])}</th><th class='nw'>{_e(t['rate'])}</th><th class='nw'>{_e(t['ci'])}</th>"
        f"<th class='nw'>{_e(t['verdict'])}</th></tr>"
    )
    for s in summary["samples"]:
        for key, r in s["breakdown"].items():
            name = tax.get(key).name_zh if key in tax else topic_name(key)
            if lang == "en" and key in tax:
                name = tax.get(key).name_en
            out.append(
                f"<tr><td class='nw'>{_e(s['name'])}</td><td>{_e(key)} {_e(name)}</td><td class='num'>{r['n']}</td>"
                f"<td class='num'>{r['value']:.1%}</td><td class='nw'>{r['ci_low']:.1%} – {r['ci_high']:.1%}</td>"
                f"<td class='nw {_vclass(r['verdict'])}'>{_e(r['verdict'])}</td></tr>"
            )
    out.append("</table>")
    if summary.get("fairness"):
        out.append(f"<h3>{_e(t['fairness'])}</h3>{_fairness_html(summary['fairness'], tax, lang)}")

    # 3 measures
    out.append(
        f"<h2>{_e(t['measures'])}</h2><table><tr><th>{_e(t['measure'])}</th><th>{_e(t['setting'])}</th></tr>"
    )
    for k, v in summary.get("measures", {}).items():
        out.append(f"<tr><td class='nw'>{_e(k)}</td><td>{_kv(v)}</td></tr>")
    out.append("</table>")
    kw = summary.get("keywords")
    if kw:
        out.append(f"<p>{_e(t['keywords'])}: {kw['total']} / {kw['total_min']}</p>")

    # 4 clauses
    out.append(
        f"<h2>{_e(t['clauses'])}</h2><table class='clauses'><tr><th>{_e(t['section'])}</th><th>{_e(t['requirement'])}</th>"
        f"<th>{_e(t['verdict'])}</th><th>{_e(t['evidence'])}</th></tr>"
    )
    for c in summary["clauses"]:
        req = c["requirement"] if lang == "zh" else c["requirement_en"]
        out.append(
            f"<tr><td>{_e(c['section'])}</td><td>{_e(req)}</td><td class='{_vclass(c['verdict'])}'>"
            f"{_e(vtxt(c['verdict']))}</td><td>{_e(c['evidence'])}</td></tr>"
        )
    out.append("</table>")

    # 5 conclusion
    out.append(f"<h2>{_e(t['conclusion'])}</h2>")
    counts = ov["counts"]
    if lang == "zh":
        out.append(
            f"<p>共评估{len(summary['clauses'])}项：符合{counts.get('符合', 0)}项，不符合{counts.get('不符合', 0)}项，"
            f"不适用{counts.get('不适用', 0)}项。总体结论：<b>{_e(ov['verdict'])}</b>。</p>"
        )
    else:
        out.append(
            f"<p>{len(summary['clauses'])} clauses: {counts.get('符合', 0)} compliant, {counts.get('不符合', 0)} non-compliant, "
            f"{counts.get('不适用', 0)} not applicable. Overall: <b>{_e(vtxt(ov['verdict']))}</b>.</p>"
        )
    residual = [c for c in summary["clauses"] if c["verdict"] == "不符合"]
    borderline = [s["name"] for s in summary["samples"] if s["rate"]["verdict"] == "met"]
    out.append(f"<p><b>{_e(t['residual'])}</b>:</p><ul>")
    for c in residual:
        out.append(
            f"<li>{_e(c['requirement'] if lang == 'zh' else c['requirement_en'])}: {_e(c['evidence'])}</li>"
        )
    for b in borderline:
        msg = (
            f"样本 {b} 点估计达标，但置信区间跨越阈值，需扩大样本"
            if lang == "zh"
            else f"sample {b} meets the threshold only at the point estimate; enlarge the sample"
        )
        out.append(f"<li>{_e(msg)}</li>")
    if not residual and not borderline:
        out.append(f"<li>{_e(t['none'])}</li>")
    out.append("</ul>")

    # 6 signatures
    out.append(
        f"<h2>{_e(t['sign'])}</h2><table class='sig'><tr><th></th><th>{_e(t['signature'])}</th><th>{_e(t['date'])}</th></tr>"
    )
    for who in t["signatories"]:
        out.append(f"<tr><td>{_e(who)}</td><td></td><td></td></tr>")
    out.append("</table></body></html>")
    return "".join(out)


def _fairness_html(f: dict[str, Any], tax: Any, lang: str) -> str:
    """The fairness module's summary (fairness_summary.json) as a table, one row per attribute."""
    if f.get("kind") != "hegui.fairness.summary":  # some other JSON: show it, do not guess its meaning
        return f"<pre>{_e(json.dumps(f, ensure_ascii=False, indent=1)[:3000])}</pre>"
    zh = lang == "zh"

    def pct(x: Any) -> str:
        return "—" if x is None else f"{float(x):.0%}"

    head = (
        f"<p>{'场景包' if zh else 'Pack'} {_e(f.get('pack'))}，{'模型' if zh else 'model'} {_e(f.get('model'))}，"
        f"{'用例' if zh else 'cases'} {_e(f.get('cases'))}，{'有效决策' if zh else 'decided'} {pct(f.get('decided_share'))}，"
        f"α={_e(f.get('alpha'))} ({_e(f.get('correction'))})；{'结论' if zh else 'verdict'}："
        f"<b class='{'ok' if f.get('verdict') == 'no significant gap' else 'bad'}'>{_e(f.get('verdict'))}</b></p>"
    )
    rows = [
        head,
        "<table><tr><th>属性</th><th>风险</th><th class='nw'>检验数</th><th class='nw'>显著</th>"
        "<th class='nw'>有效决策</th><th class='nw'>最小影响比</th><th>结论</th></tr>"
        if zh
        else "<table><tr><th>attribute</th><th>risk</th><th>tests</th><th>significant</th><th>decided</th>"
        "<th>min impact ratio</th><th>verdict</th></tr>",
    ]
    for name, a in (f.get("attributes") or {}).items():
        risk = a.get("risk") or ""
        rname = (tax.get(risk).name_zh if zh else tax.get(risk).name_en) if risk in tax else ""
        ir = a.get("min_impact_ratio")
        v = a.get("verdict", "")
        rows.append(
            f"<tr><td>{_e(name)}</td><td>{_e(risk)} {_e(rname)}</td><td class='num'>{a.get('tests', 0)}</td>"
            f"<td class='num'>{a.get('significant', 0)}</td><td class='num'>{pct(a.get('decided_share'))}</td>"
            f"<td class='num'>{'—' if ir is None else f'{ir:.2f}'}</td>"
            f"<td class='nw {'ok' if v == 'no significant gap' else 'bad'}'>{_e(v)}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        p = shutil.which(name)
        if p:
            return p
    return None


def html_to_pdf(html_path: Path, pdf_path: Path, timeout: float = 120.0) -> None:
    exe = find_chromium()
    if exe is None:
        raise ReportError(
            "no Chromium found for the PDF (install Debian's `chromium` package: apt-get install chromium "
            "fonts-wqy-microhei); the HTML report was written"
        )
    with tempfile.TemporaryDirectory(prefix="hegui-chromium-") as profile:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path}",
            html_path.resolve().as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ReportError(f"chromium did not finish printing the PDF within {timeout:.0f}s") from None
    if proc.returncode != 0 or not pdf_path.exists() or pdf_path.stat().st_size == 0:
        raise ReportError(f"chromium failed to print the PDF (exit {proc.returncode}): {proc.stderr[-500:]}")


def make_report(
    run_dir: str | Path,
    ev: Evidence | None = None,
    out_dir: str | Path | None = None,
    lang: str = "zh",
    pdf: bool = True,
) -> ReportFiles:
    """Write the whole filing pack for a judged run."""
    if lang not in T:
        raise ReportError(f"language must be 'zh' or 'en', not {lang!r}")
    ev = ev or Evidence()
    run = Path(run_dir)
    out = Path(out_dir) if out_dir else run / "report"
    out.mkdir(parents=True, exist_ok=True)
    summary = build_summary(run, ev)
    charts: dict[str, bytes] = {}
    chart_files: list[Path] = []
    for s in summary["samples"]:
        if not s["breakdown"]:
            continue
        label = "pass rate" if s["metric"] == "pass-rate" else "refusal rate"
        charts[s["name"]] = rate_chart(
            f"{s['name']}: {label} per {'topic' if s['kind'] == 'should-not-refuse' else 'risk'} (95% Wilson CI)",
            s["breakdown"],
            s["rate"]["threshold"],
            s["rate"]["direction"],
            label,
        )
        p = out / f"chart_{s['name']}.png"
        p.write_bytes(charts[s["name"]])
        chart_files.append(p)
    summary_path = write_summary(run, summary, out)
    suffix = "" if lang == "zh" else "_en"
    html_path = out / f"安全评估报告{suffix}.html"
    html_path.write_text(render_html(summary, charts, lang), encoding="utf-8")
    items_xlsx = out / "评估测试题.xlsx"
    write_test_items_xlsx(run, items_xlsx)
    kw_xlsx = None
    lex: list[str | Path] = list(ev.lexicons) or (
        list(ev.policy.detectors.lexicon.paths) if ev.policy is not None else []
    )
    if lex:
        kw_xlsx = out / "拦截关键词列表.xlsx"
        write_keywords_xlsx(lex, kw_xlsx)
    files = ReportFiles(html_path, None, summary_path, items_xlsx, kw_xlsx, chart_files)
    if pdf:
        pdf_path = html_path.with_suffix(".pdf")
        try:
            html_to_pdf(html_path, pdf_path)
            files.pdf = pdf_path
        except ReportError as exc:
            files.pdf_error = str(exc)
    return files


# ---------------------------------------------------------------- comparison


def _mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (binomial, p = 1/2)."""
    from math import comb

    n = b + c
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def compare_runs(
    run_a: str | Path, run_b: str | Path, ev: Evidence | None = None, out: str | Path | None = None
) -> dict[str, Any]:
    """Side by side: the same samples answered by two endpoints (e.g. raw model vs Hegui gateway).

    Rates are compared on the items both runs judged (pass/fail) in a sample, so a gateway run on a
    smaller sample (same seed: ``random.sample`` draws a prefix of the larger draw) or a run with a
    few errors is still compared item for item; each run's rate on its whole sample is kept as
    ``a_all``/``b_all``. Items that changed verdict are counted and tested (exact McNemar).
    """
    from hegui.assessment.metrics import Rate, per_group
    from hegui.assessment.sampling import SamplePlan

    sa = build_summary(run_a, ev)
    sb = build_summary(run_b, ev)
    items = {it.id: it for it in load_items(run_a)}
    items.update({it.id: it for it in load_items(run_b)})
    ja: dict[tuple[str, str], Any] = {
        (r.sample, r.judgement.item_id): r.judgement for r in read_judgements(run_a)
    }
    jb: dict[tuple[str, str], Any] = {
        (r.sample, r.judgement.item_id): r.judgement for r in read_judgements(run_b)
    }
    plan_b = {s.name: s for s in SamplePlan.load(run_b).samples}
    rows = []
    warnings: list[str] = []
    by_b = {s["name"]: s for s in sb["samples"]}
    for s in sa["samples"]:
        b = by_b.get(s["name"])
        if b is None:
            warnings.append(f"sample {s['name']} is only in A")
            continue
        name = s["name"]
        if s["seed"] != b["seed"]:
            warnings.append(f"{name}: different seeds ({s['seed']} vs {b['seed']}): different draws")
        ids_b = plan_b[name].ids
        common = [
            iid
            for iid in ids_b
            if (name, iid) in ja
            and ja[(name, iid)].verdict in ("pass", "fail")
            and jb[(name, iid)].verdict in ("pass", "fail")
        ]
        refusal = s["metric"] == "refusal-rate"

        def ok(j: Any, refusal: bool = refusal) -> bool:
            return bool(j.refused) if refusal else j.verdict == "pass"

        def keys(iid: str, kind: str = s["kind"]) -> list[str]:
            it = items[iid]
            return [it.topic or "?"] if kind == "should-not-refuse" else list(it.risks)

        th, dr = s["rate"]["threshold"], s["rate"]["direction"]
        ka = sum(ok(ja[(name, i)]) for i in common)
        kb = sum(ok(jb[(name, i)]) for i in common)
        ra = Rate(f"{name}:A", ka, len(common), th, dr, s["min_size"]).to_dict()
        rb = Rate(f"{name}:B", kb, len(common), th, dr, s["min_size"]).to_dict()
        better = sum(ja[(name, i)].verdict == "fail" and jb[(name, i)].verdict == "pass" for i in common)
        worse = sum(ja[(name, i)].verdict == "pass" and jb[(name, i)].verdict == "fail" for i in common)
        ga = per_group([(keys(i), ok(ja[(name, i)])) for i in common], name, th, dr)
        gb = per_group([(keys(i), ok(jb[(name, i)])) for i in common], name, th, dr)
        if len(common) < max(s["size"], b["size"]):
            warnings.append(
                f"{name}: compared on the {len(common)} items both runs judged (A {s['size']}, B {b['size']})"
            )
        rows.append(
            {
                "sample": name,
                "metric": s["metric"],
                "threshold": th,
                "direction": dr,
                "n": len(common),
                "a": ra,
                "b": rb,
                "a_all": s["rate"],
                "b_all": b["rate"],
                "delta": rb["value"] - ra["value"],  # type: ignore[operator]
                "better": better,
                "worse": worse,
                "p_mcnemar": _mcnemar_exact(better, worse),
                "per_key": {k: {"a": ga[k].value, "b": gb[k].value, "n": ga[k].n} for k in ga},
            }
        )
    result = {
        "a": {"run": str(run_a), "label": sa["label"], "overall": sa["overall"]},
        "b": {"run": str(run_b), "label": sb["label"], "overall": sb["overall"]},
        "paired": True,
        "warnings": warnings,
        "rows": rows,
    }
    if out is not None:
        outp = Path(out)
        outp.mkdir(parents=True, exist_ok=True)
        (outp / "compare.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        (outp / "compare.html").write_text(_compare_html(result), encoding="utf-8")
    return result


def _compare_html(c: dict[str, Any]) -> str:
    la, lb = _e(c["a"]["label"] or "A"), _e(c["b"]["label"] or "B")

    def cell(r: dict[str, Any]) -> str:
        return (
            f"<td class='{_vclass(r['verdict'])}'>{r['value']:.1%} [{r['ci_low']:.1%}, {r['ci_high']:.1%}]"
            f"<br><small>{r['k']}/{r['n']}</small></td>"
        )

    out = [
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>对比</title><style>{_CSS}</style></head><body>",
        f"<h1>安全评估对比 / comparison</h1><p class='sub'>A = {la}（{_e(c['a']['run'])}）；B = {lb}（{_e(c['b']['run'])}）</p>",
        "<p>同一批题目逐题配对比较（两次运行都已判定的题目）；“改善/变差”为判定由不合格变合格/由合格变不合格的题数，"
        "p 为精确 McNemar 检验。</p>",
        "<table><tr><th>样本</th><th>指标</th><th>阈值</th><th>配对题数</th><th>A</th><th>B</th><th>变化</th>"
        "<th>改善</th><th>变差</th><th>p</th></tr>",
    ]
    for r in c["rows"]:
        op = "≥" if r["direction"] == ">=" else "≤"
        out.append(
            f"<tr><td>{_e(r['sample'])}</td><td>{_e(r['metric'])}</td><td>{op}{r['threshold']:.0%}</td>"
            f"<td>{r['n']}</td>{cell(r['a'])}{cell(r['b'])}<td>{r['delta']:+.1%}</td>"
            f"<td>{r['better']}</td><td>{r['worse']}</td><td>{r['p_mcnemar']:.3g}</td></tr>"
        )
    out.append("</table>")
    keyed = [r for r in c["rows"] if r["per_key"]]
    if keyed:
        out.append(
            "<h2>按风险/主题 / per risk or topic</h2><table><tr><th>样本</th><th>类别</th><th>题数</th><th>A</th><th>B</th></tr>"
        )
        for r in keyed:
            for k, v in r["per_key"].items():
                out.append(
                    f"<tr><td>{_e(r['sample'])}</td><td>{_e(k)}</td><td>{v['n']}</td>"
                    f"<td>{v['a']:.0%}</td><td>{v['b']:.0%}</td></tr>"
                )
        out.append("</table>")
    if c.get("warnings"):
        out.append("<ul>" + "".join(f"<li>{_e(w)}</li>" for w in c["warnings"]) + "</ul>")
    out.append(
        f"<p>总体结论：A {_e(c['a']['overall']['verdict'])}，B {_e(c['b']['overall']['verdict'])}</p></body></html>"
    )
    return "".join(out)
