"""Small SVG charts drawn on the server: no chart library to ship, nothing to run in the browser, and a chart
reads the same in a screenshot. Bars for counts per day, a line for a latency over time."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD = 560, 180, 28


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, unit: str = "") -> str:
    """Vertical bars, one per label (a day), each with its value above it."""
    if not values:
        return _empty(title)
    top = max(values) or 1
    step = (WIDTH - 2 * PAD) / len(values)
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = (HEIGHT - 2 * PAD) * value / top
        x, y = PAD + i * step + step * 0.1, HEIGHT - PAD - height
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{height:.1f}" class="bar">'
            f"<title>{escape(label)}: {value:g}{unit}</title></rect>"
            f'<text x="{x + step * 0.4:.1f}" y="{y - 3:.1f}" class="value">{value:g}</text>'
        )
    ticks = _ticks(labels, step)
    return _svg(title, "".join(bars) + ticks)


def line_chart(labels: Sequence[str], values: Sequence[float], title: str, unit: str = "") -> str:
    """A line through the values in order (telemetry reports), with the highest marked."""
    if not values:
        return _empty(title)
    top = max(values) or 1
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)
    points = [(PAD + i * step, HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top) for i, value in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    peak = max(range(len(values)), key=values.__getitem__)
    label = f"max {values[peak]:g}{unit}"
    body = (
        f'<polyline points="{path}" class="line"/>'
        f'<text x="{points[peak][0]:.1f}" y="{points[peak][1] - 4:.1f}" class="value">{escape(label)}</text>'
    )
    ends = (
        f'<text x="{PAD}" y="{HEIGHT - 8}" class="tick">{escape(labels[0])}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" class="tick end">{escape(labels[-1])}</text>'
    )
    return _svg(title, body + ends)


def _ticks(labels: Sequence[str], step: float) -> str:
    every = max(1, len(labels) // 7)  # at most about seven labels under the axis
    return "".join(
        f'<text x="{PAD + i * step + step / 2:.1f}" y="{HEIGHT - 8}" class="tick">{escape(label[-5:])}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    )


def _svg(title: str, body: str) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" class="chart">'
        f'<text x="{PAD}" y="16" class="title">{escape(title)}</text>'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class="axis"/>{body}</svg>'
    )


def _empty(title: str) -> str:
    return _svg(title, f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" class="tick">-</text>')
