"""Charts rendered on the server as inline SVG: no chart library, no JavaScript, no CDN, and they
print. Every chart carries a text alternative (``<title>`` and ``aria-label``) and per-bar tooltips."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

W, H = 640, 220
PAD_L, PAD_R, PAD_T, PAD_B = 40, 10, 14, 34


def _nice_max(v: int) -> int:
    if v <= 5:
        return 5
    mag = 10 ** (len(str(v)) - 1)
    for step in (1, 2, 5, 10):
        if v <= step * mag:
            return step * mag
    return v


def stacked_bars(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int], str]]
) -> Markup:
    """Columns per label, the series stacked; ``series`` = (name, values, css class)."""
    n = max(len(labels), 1)
    totals = [sum(s[1][i] for s in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    bw = plot_w / n
    out = [
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for frac in (0, 0.5, 1):
        y = PAD_T + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="axis" x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{int(top * frac)}</text>'
        )
    for i, label in enumerate(labels):
        x = PAD_L + i * bw + bw * 0.15
        y_base = float(PAD_T + plot_h)
        for name, values, css in series:
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / top
            y_base -= h
            out.append(
                f'<rect class="{escape(css)}" x="{x:.1f}" y="{y_base:.1f}" width="{bw * 0.7:.1f}" '
                f'height="{h:.1f}"><title>{escape(label)} {escape(name)}: {v}</title></rect>'
            )
        if n <= 16 or i % 2 == 0:
            out.append(
                f'<text class="axis" x="{PAD_L + i * bw + bw / 2:.1f}" y="{H - PAD_B + 14}" '
                f'text-anchor="middle">{escape(label[5:])}</text>'
            )
    lx = PAD_L
    for name, _values, css in series:
        out.append(f'<rect class="{escape(css)}" x="{lx}" y="{H - 12}" width="10" height="10"/>')
        out.append(f'<text class="legend" x="{lx + 14}" y="{H - 3}">{escape(name)}</text>')
        lx += 24 + 9 * len(name)
    out.append("</svg>")
    return Markup("".join(out))


def hbars(title: str, items: Sequence[tuple[str, int]], css: str = "s1") -> Markup:
    """Horizontal bars, one per item (e.g. incidents per risk)."""
    rows = max(len(items), 1)
    h = PAD_T + rows * 22 + 10
    top = _nice_max(max((v for _, v in items), default=0))
    label_w = 230
    plot_w = W - label_w - 50
    out = [
        f'<svg class="chart" viewBox="0 0 {W} {h}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    if not items:
        out.append(f'<text class="axis" x="10" y="{PAD_T + 12}">—</text>')
    for i, (name, v) in enumerate(items):
        y = PAD_T + i * 22
        w = plot_w * v / top
        out.append(
            f'<text class="axis" x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(name[:28])}</text>'
        )
        out.append(
            f'<rect class="{escape(css)}" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="15">'
            f"<title>{escape(name)}: {v}</title></rect>"
        )
        out.append(f'<text class="axis" x="{label_w + w + 4:.1f}" y="{y + 14}">{v}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def ring(title: str, part: int, whole: int) -> Markup:
    """A ring showing part/whole as a percentage (e.g. complaints resolved within the time limit)."""
    pct = 100.0 * part / whole if whole else 100.0
    r, c = 52, 2 * 3.14159265 * 52
    dash = c * pct / 100
    text = f"{pct:.0f}%" if whole else "—"
    return Markup(
        f'<svg class="chart ring" viewBox="0 0 140 140" role="img" aria-label="{escape(title)}: {text}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}: {part}/{whole}</title>'
        f'<circle class="ring-bg" cx="70" cy="70" r="{r}"/>'
        f'<circle class="ring-fg{" bad" if whole and pct < 90 else ""}" cx="70" cy="70" r="{r}" '
        f'stroke-dasharray="{dash:.1f} {c:.1f}" transform="rotate(-90 70 70)"/>'
        f'<text class="ring-text" x="70" y="77" text-anchor="middle">{text}</text></svg>'
    )
