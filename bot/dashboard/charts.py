"""Charts of the dashboard as SVG made on the server: no script, no request elsewhere."""

from __future__ import annotations

from datetime import date
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 18, 28


def _nice_top(value: int) -> int:
    """A round top for the axis, at least the largest value (1, 2, 5, 10, 20, 50…)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(value)) - 1)
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= value)


def trend_svg(days: list[tuple[date, int]], *, title: str, unit_label: str) -> str:
    """Bars of a daily count (households visited per day) over the given days, each with its
    value, dates under every other bar; a title for screen readers. Inline SVG markup."""
    top = _nice_top(max((value for _, value in days), default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = slot * 0.7
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" class="grid"/>'
        )
        parts.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
            f"{round(top * fraction)}</text>"
        )
    for index, (day, value) in enumerate(days):
        x = LEFT + slot * index + (slot - bar_w) / 2
        height = plot_h * value / top if top else 0
        y = TOP + plot_h - height
        label = f"{day:%d/%m}: {value} {unit_label}"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
            f'class="bar"><title>{escape(label)}</title></rect>'
        )
        if value:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'class="value">{value}</text>'
            )
        if index % 2 == (len(days) - 1) % 2:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
                f'class="axis">{day:%d/%m}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
