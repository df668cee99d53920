"""Charts as PNG bytes (matplotlib, Agg backend). Synchronous: call through asyncio.to_thread."""

from __future__ import annotations

import io
import threading

# One figure at a time: pyplot's state is global, and charts are rare and small.
_LOCK = threading.Lock()


def targets_png(title: str, rows: list[tuple[str, float | None, float]], goal_label: str) -> bytes:
    """Horizontal bars: each target's value (in %) with its goal marked, one row per target."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    with _LOCK:
        figure = Figure(figsize=(9, 0.9 * len(rows) + 1.4), dpi=100)
        axes = figure.add_subplot()
        labels = [label for label, _value, _goal in rows][::-1]
        values = [100 * (value or 0.0) for _label, value, _goal in rows][::-1]
        goals = [100 * goal for _label, _value, goal in rows][::-1]
        positions = range(len(rows))
        colours = ["#2e7d32" if v >= g else "#f9a825" for v, g in zip(values, goals, strict=True)]
        axes.barh(positions, values, color=colours, height=0.55)
        axes.scatter(
            goals, positions, marker="|", s=900, color="#c62828", label=goal_label, zorder=3
        )
        shown = [value for _label, value, _goal in rows][::-1]
        for y, value, raw in zip(positions, values, shown, strict=True):
            text = "—" if raw is None else f"{value:.1f}%".replace(".", ",")
            axes.text(min(value, 100) + 1, y, text, va="center", fontsize=9)
        axes.set_yticks(list(positions), labels=labels, fontsize=9)
        axes.set_xlim(0, 110)
        axes.set_xlabel("%")
        axes.set_title(title, fontsize=11)
        axes.legend(loc="lower right", fontsize=8, markerscale=0.3)
        axes.grid(axis="x", alpha=0.3)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png")
        return out.getvalue()
