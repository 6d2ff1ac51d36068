"""Geometry of the server-rendered bar charts on the Models pages (templates/models/_bars.html draws them as
inline SVG). Pure: no Django, no database.

The Content-Security-Policy allows no script and no inline style, so the charts are plain SVG elements whose
position and size are presentation attributes (x, y, width, height) and whose colours are CSS classes in
rag/static/rag/portal.css. Each chart is a list of groups (a metric, or a question), each with one bar for run
A and one for run B, drawn horizontally so that long labels fit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
LABEL_WIDTH = 200  # left column: the group's label
VALUE_WIDTH = 70  # right of the longest bar: the value
BAR_HEIGHT = 14
BAR_GAP = 2
GROUP_GAP = 10
TOP = 4


@dataclass(frozen=True)
class Bar:
    series: str  # "a" or "b": the CSS class chart-a / chart-b
    x: float
    y: float
    width: float
    height: float
    value_x: float
    value_y: float
    text: str  # the value as shown ("–" when not measured)


@dataclass(frozen=True)
class Group:
    label: str
    label_y: float
    bars: tuple[Bar, Bar]


@dataclass(frozen=True)
class Chart:
    key: str  # unique on the page: the id of the chart's <title>
    title: str
    width: int
    height: int
    label_x: int
    groups: tuple[Group, ...]


def _text(value: float | None, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}"


def paired_bars(
    key: str,
    title: str,
    groups: Sequence[tuple[str, float | None, float | None]],
    *,
    maximum: float | None = None,
    digits: int = 2,
) -> Chart:
    """A chart of (label, value of A, value of B) groups. Bars scale to ``maximum`` (default: the largest
    value); a missing value (None: not measured) draws no bar and shows "–"."""
    values = [v for _, a, b in groups for v in (a, b) if v is not None]
    top = maximum if maximum is not None else max(values, default=0.0)
    scale = (WIDTH - LABEL_WIDTH - VALUE_WIDTH) / top if top > 0 else 0.0
    drawn = []
    y = float(TOP)
    for label, a, b in groups:
        bars = []
        for series, value in (("a", a), ("b", b)):
            width = max(0.0, min(value or 0.0, top) * scale)
            bars.append(
                Bar(
                    series=series,
                    x=LABEL_WIDTH,
                    y=y,
                    width=round(width, 1),
                    height=BAR_HEIGHT,
                    value_x=round(LABEL_WIDTH + width + 4, 1),
                    value_y=y + BAR_HEIGHT - 3,
                    text=_text(value, digits),
                )
            )
            y += BAR_HEIGHT + BAR_GAP
        drawn.append(Group(label=label, label_y=y - BAR_GAP - BAR_HEIGHT + 3, bars=(bars[0], bars[1])))
        y += GROUP_GAP
    return Chart(
        key=key, title=title, width=WIDTH, height=int(y) + TOP, label_x=LABEL_WIDTH - 8, groups=tuple(drawn)
    )
