"""Charts drawn on the server as SVG: no JavaScript, no CDN, nothing fetched.

Every label is escaped; each chart carries a ``<title>`` and a ``<desc>``
that say what it shows, and the pages print the same numbers in a table
beside it (for screen readers and for copying).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

COLOURS = ("#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed")


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 5 × 10^n)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def line_chart(
    series: Sequence[tuple[str, Sequence[float]]],
    x_labels: Sequence[str],
    *,
    title: str,
    chart_id: str,
    width: int = 640,
    height: int = 220,
) -> Markup:
    """Lines over time (one per series), scaled to the largest value; x labels thinned to fit."""
    left, right, top, bottom = 44, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max((len(values) for _, values in series), default=0)
    peak = _nice_max(max((max(values, default=0) for _, values in series), default=0))
    parts = [
        (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
         f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">'),
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(_describe(series))}</desc>',
    ]
    for i in range(5):  # grid and y labels
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
                     f'{escape(_short(peak * i / 4))}</text>')
    step = plot_w / max(n - 1, 1)
    every = max(1, -(-n // 8))
    for i, label in enumerate(x_labels[:n]):
        if i % every == 0 or i == n - 1:
            x = left + i * step
            parts.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" class="axis">{escape(label)}</text>')
    for k, (name, values) in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(f"{left + i * step:.1f},{top + plot_h - plot_h * v / peak:.1f}" for i, v in enumerate(values))
        if points:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}">'
                         f'<title>{escape(name)}</title></polyline>')
    parts.append("</svg>")
    legend = "".join(
        f'<span class="key"><span class="swatch c{k % len(COLOURS)}"></span>'
        f"{escape(name)}</span>"
        for k, (name, _) in enumerate(series)
    )
    return Markup("".join(parts) + f'<p class="legend">{legend}</p>')


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, chart_id: str, width: int = 640) -> Markup:
    """Horizontal bars (e.g. the rating distribution), labelled with their values."""
    row, left, right = 26, 70, 56
    height = row * len(bars) + 8
    peak = max((v for _, v in bars), default=0) or 1
    parts = [
        (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
         f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">'),
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape("; ".join(f"{label}: {_short(v)}" for label, v in bars))}</desc>',
    ]
    for i, (label, value) in enumerate(bars):
        y = 4 + i * row
        w = (width - left - right) * value / peak
        parts.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end" class="axis">{escape(label)}</text>')
        parts.append(f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{COLOURS[0]}"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 17}" class="axis">{escape(_short(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _describe(series: Sequence[tuple[str, Sequence[float]]]) -> str:
    return "; ".join(f"{name}: total {_short(sum(values))}, peak {_short(max(values, default=0))}"
                     for name, values in series)
