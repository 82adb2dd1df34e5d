"""Small SVG charts rendered on the server (no scripts, no inline styles: CSP allows neither).

Colours are presentation attributes (fill=, stroke=) and classes, which the CSP permits.
Every chart has a <title> and the page shows the same numbers as a table.
"""

from markupsafe import Markup, escape

PALETTE = {
    "SEV1": "#b42318",
    "SEV2": "#dc6803",
    "SEV3": "#c4a000",
    "SEV4": "#667085",
    "incident": "#b42318",
    "near-miss": "#dc6803",
    "game-day": "#1570ef",
    "median": "#1570ef",
    "p90": "#98a2b3",
    "value": "#1570ef",
}
FALLBACK = ["#1570ef", "#12b76a", "#dc6803", "#7a5af8", "#b42318", "#667085"]


def _colour(name, index):
    return PALETTE.get(name, FALLBACK[index % len(FALLBACK)])


def _num(value):
    return f"{value:.1f}".rstrip("0").rstrip(".")


def sparkline(counts, *, width=120, height=28, label="per month"):
    """Bars for a short series of counts (oldest first)."""
    top = max(counts, default=0) or 1
    step = width / max(len(counts), 1)
    bars = []
    for i, count in enumerate(counts):
        h = 0 if not count else max(2.0, (height - 2) * count / top)
        bars.append(
            f'<rect x="{_num(i * step + 1)}" y="{_num(height - h)}" '
            f'width="{_num(max(step - 2, 1))}" height="{_num(h)}" fill="#1570ef"/>'
        )
    baseline = f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#d0d5dd"/>'
    title = escape(f"{label}: " + ", ".join(str(c) for c in counts))
    return Markup(  # noqa: S704 (every text in it went through escape())
        f'<svg class="sparkline" width="{width}" height="{height + 1}" '
        f'viewBox="0 0 {width} {height + 1}" role="img" aria-label="{title}">'
        f"<title>{title}</title>{baseline}{''.join(bars)}</svg>"
    )


def bar_chart(labels, series, *, title, width=640, height=200, unit=""):
    """Stacked bars: `labels` along the bottom, `series` {name: [value per label]}."""
    pad_left, pad_bottom, pad_top = 36, 22, 8
    plot_w, plot_h = width - pad_left - 4, height - pad_bottom - pad_top
    totals = [sum((s[i] or 0) for s in series.values()) for i in range(len(labels))]
    top = _nice(max(totals, default=0))
    step = plot_w / max(len(labels), 1)
    parts = _axes(labels, top, width, height, pad_left, pad_bottom, pad_top, step, unit)
    for i in range(len(labels)):
        y = height - pad_bottom
        for j, (name, values) in enumerate(series.items()):
            value = values[i] or 0
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect x="{_num(pad_left + i * step + step * 0.15)}" y="{_num(y)}" '
                f'width="{_num(step * 0.7)}" height="{_num(h)}" fill="{_colour(name, j)}">'
                f"<title>{escape(labels[i])} {escape(name)}: {_num(value)}{unit}</title></rect>"
            )
    return _svg(parts, title, width, height, series)


def line_chart(labels, series, *, title, width=640, height=200, unit=""):
    """Lines with points; None values leave a gap."""
    pad_left, pad_bottom, pad_top = 36, 22, 8
    plot_h = height - pad_bottom - pad_top
    values = [v for s in series.values() for v in s if v is not None]
    top = _nice(max(values, default=0))
    step = (width - pad_left - 4) / max(len(labels), 1)
    parts = _axes(labels, top, width, height, pad_left, pad_bottom, pad_top, step, unit)
    for j, (name, points) in enumerate(series.items()):
        colour = _colour(name, j)
        runs, run = [], []
        for i, value in enumerate(points):
            if value is None:
                runs.append(run)
                run = []
                continue
            x = pad_left + i * step + step / 2
            y = height - pad_bottom - plot_h * value / top
            run.append((x, y))
            parts.append(
                f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3" fill="{colour}">'
                f"<title>{escape(labels[i])} {escape(name)}: {_num(value)}{unit}</title></circle>"
            )
        runs.append(run)
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{_num(x)},{_num(y)}" for x, y in run)
                parts.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
    return _svg(parts, title, width, height, series)


def _nice(value):
    """A round upper bound for an axis."""
    if value <= 0:
        return 1
    for bound in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if value <= bound:
            return bound
    magnitude = 10 ** (len(str(int(value))) - 1)
    return -(-value // magnitude) * magnitude


def _axes(labels, top, width, height, pad_left, pad_bottom, pad_top, step, unit):
    parts = []
    for fraction in (0, 0.5, 1):
        y = height - pad_bottom - (height - pad_bottom - pad_top) * fraction
        parts.append(
            f'<line x1="{pad_left}" y1="{_num(y)}" x2="{width - 4}" y2="{_num(y)}" '
            f'stroke="#eaecf0"/>'
            f'<text x="{pad_left - 4}" y="{_num(y + 4)}" text-anchor="end" font-size="12" '
            f'fill="#667085">{_num(top * fraction)}{escape(unit)}</text>'
        )
    every = max(1, round(len(labels) / 12))
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(
                f'<text x="{_num(pad_left + i * step + step / 2)}" y="{height - 6}" '
                f'text-anchor="middle" font-size="12" fill="#667085">{escape(label)}</text>'
            )
    return parts


def _svg(parts, title, width, height, series):
    legend = "".join(
        f'<span class="legend-item"><svg width="10" height="10" aria-hidden="true">'
        f'<rect width="10" height="10" fill="{_colour(name, j)}"/></svg> {escape(name)}</span>'
        for j, name in enumerate(series)
    )
    return Markup(  # noqa: S704 (every text in it went through escape())
        f'<figure class="chart"><svg viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f"{''.join(parts)}</svg><figcaption>{escape(title)} "
        f'<span class="legend">{legend}</span></figcaption></figure>'
    )
