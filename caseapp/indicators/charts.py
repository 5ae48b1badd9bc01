"""Charts drawn on the server as SVG (no script, nothing from the internet): the geometry is
computed here, the templates draw it. Every chart has the same numbers as a table next to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 360  # drawn at about its own size on a phone; the CSS lets it grow on a desk
BAR_GAP = 0.3


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown
    x: float
    y: float
    width: float
    height: float
    tone: str = "primary"  # primary | ok | warn | muted


@dataclass(frozen=True)
class Line:
    label: str
    y: float  # vertical charts; for horizontal ones, the x position
    x1: float
    x2: float


@dataclass
class Chart:
    title: str
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    horizontal: bool = False
    label_width: float = 0.0
    axis_y: float = 0.0


def columns(
    title: str,
    points: Sequence[tuple[str, float | None, str]],
    *,
    top: float | None = None,
    targets: Sequence[tuple[str, float]] = (),
    height: int = 200,
) -> Chart:
    """Vertical bars, one per (label, value, shown text); None is drawn as no bar."""
    plot_top, plot_bottom = 20.0, height - 26.0
    values = [v for _l, v, _t in points if v is not None]
    scale_top = top if top is not None else max([*values, *(t for _n, t in targets), 1.0]) * 1.1
    chart = Chart(title, WIDTH, height, axis_y=plot_bottom)
    slot = (WIDTH - 16) / max(len(points), 1)
    for index, (label, value, text) in enumerate(points):
        size = (
            0.0 if value is None else (plot_bottom - plot_top) * min(value, scale_top) / scale_top
        )
        chart.bars.append(
            Bar(
                label,
                value or 0.0,
                text,
                x=8 + index * slot + slot * BAR_GAP / 2,
                y=plot_bottom - size,
                width=slot * (1 - BAR_GAP),
                height=size,
                tone="muted" if value is None else "primary",
            )
        )
    for name, target in targets:
        y = plot_bottom - (plot_bottom - plot_top) * min(target, scale_top) / scale_top
        chart.lines.append(Line(name, y, 8, WIDTH - 8))
    return chart


def rows(
    title: str,
    points: Sequence[tuple[str, float | None, str, str]],
    *,
    top: float | None = None,
    target: tuple[str, float] | None = None,
    label_width: float = 142,
) -> Chart:
    """Horizontal bars, one per (label, value, shown text, tone): readable on a phone."""
    row_height = 24.0
    height = int(14 + row_height * len(points))
    values = [v for _l, v, _t, _o in points if v is not None]
    scale_top = top if top is not None else max([*values, 1.0]) * 1.1
    plot_left, plot_right = label_width + 6, WIDTH - 50.0
    chart = Chart(title, WIDTH, height, horizontal=True, label_width=label_width)
    for index, (label, value, text, tone) in enumerate(points):
        size = (
            0.0 if value is None else (plot_right - plot_left) * min(value, scale_top) / scale_top
        )
        chart.bars.append(
            Bar(
                label,
                value or 0.0,
                text,
                x=plot_left,
                y=6 + index * row_height,
                width=size,
                height=row_height * 0.7,
                tone=tone,
            )
        )
    if target is not None:
        x = plot_left + (plot_right - plot_left) * min(target[1], scale_top) / scale_top
        chart.lines.append(Line(target[0], x, 2, height - 2))
    return chart
