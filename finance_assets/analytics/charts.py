"""Small, dependency-free SVG charts for the dashboard and the Dagster UI.

Every chart is a standalone ``<svg>`` with presentation attributes (no page CSS needed),
so the same markup works inline in the dashboard and as a data-URI image in Markdown
metadata. Figures stay exact: each mark carries its value as the original decimal text in
``data-value`` (geometry alone uses floats). Axes are labelled and money is shown as
``1,234,567.89``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from html import escape

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
TEXT, MUTED, GRID, AXIS = "#1f2937", "#6b7280", "#e5e7eb", "#9ca3af"
BLUE, AMBER, GREEN, RED, GREY, TEAL = (
    "#2563eb",
    "#f59e0b",
    "#16a34a",
    "#dc2626",
    "#94a3b8",
    "#0d9488",
)


def money(value: Decimal | None) -> str:
    """``Decimal('1234567.891')`` -> ``1,234,567.89``; None -> ``n/a``."""
    if value is None:
        return "n/a"
    return f"{Decimal(value).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def percent(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{Decimal(value):,.2f}%"


def tick_money(value: float, step: float) -> str:
    if step >= 1:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def tick_percent(value: float, step: float) -> str:
    return f"{value:,.0f}%" if step >= 1 else f"{value:,.1f}%"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (and 0)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if math.isclose(low, high):
        high = low + 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw - 1e-12)
    start = math.floor(low / step + 1e-9) * step
    end = math.ceil(high / step - 1e-9) * step
    steps = round((end - start) / step)
    return [start + i * step for i in range(steps + 1)]


def _attrs(**attrs) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        parts.append(f'{name}="{escape(str(value), quote=True)}"')
    return " ".join(parts)


def _text(x, y, text, size=12, fill=TEXT, anchor="middle", weight=None, rotate=None, **extra):
    transform = f"rotate({rotate} {x:.1f} {y:.1f})" if rotate is not None else None
    attrs = _attrs(
        x=f"{x:.1f}",
        y=f"{y:.1f}",
        font_size=size,
        fill=fill,
        text_anchor=anchor,
        font_weight=weight,
        transform=transform,
        **extra,
    )
    return f"<text {attrs}>{escape(text)}</text>"


def _mark(tag: str, tip: str, series: str, category: str, value: Decimal, **geometry) -> str:
    """A chart mark carrying its exact value, with a tooltip (data-tip) and an SVG title."""
    attrs = _attrs(
        **geometry,
        data_series=series,
        data_category=category,
        data_value=str(value),
        data_tip=tip,
    )
    return f"<{tag} {attrs}><title>{escape(tip)}</title></{tag}>"


@dataclass
class Series:
    key: str
    label: str
    values: Sequence[Decimal | None]
    color: str
    colors: Sequence[str | None] = field(default_factory=list)  # per-bar override

    def color_at(self, index: int) -> str:
        if index < len(self.colors) and self.colors[index]:
            return self.colors[index]
        return self.color


def _svg(chart_id: str, width: int, height: int, title: str, body: list[str]) -> str:
    head = _attrs(
        xmlns="http://www.w3.org/2000/svg",
        viewBox=f"0 0 {width} {height}",
        width=width,
        height=height,
        role="img",
        font_family=FONT,
        data_chart=chart_id,
    )
    return (
        f"<svg {head}><title>{escape(title)}</title>"
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>'
        + "".join(body)
        + "</svg>"
    )


def _legend(series: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    out = []
    for label, color in series:
        out.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{color}"/>')
        out.append(_text(x + 17, y, label, size=12, anchor="start"))
        x += 30 + 7.2 * len(label)
    return out


def _f(value: Decimal | None) -> float:
    return 0.0 if value is None else float(value)


def bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    y_label: str,
    x_label: str,
    tick: Callable[[float, float], str] = tick_money,
    value_text: Callable[[Decimal | None], str] = money,
    width: int = 660,
    height: int = 340,
    bands: Sequence[tuple[str, int, int]] = (),
    value_labels: bool = False,
    missing_text: str = "n/a",
    missing: Sequence[bool] = (),
) -> str:
    """Vertical grouped bars; negative values go below the zero line.

    ``bands`` are (label, first index, last index) ranges shaded alternately and labelled
    (used to keep years apart); ``missing[i]`` marks a category with no data at all.
    """
    rotate = len(categories) > 8
    left, right, top, bottom = 84, 16, 44 if bands else 34, 78 if rotate else 50
    plot_w, plot_h = width - left - right, height - top - bottom
    numbers = [_f(v) for s in series for v in s.values if v is not None] or [0.0]
    room = 1.12 if value_labels else 1.0  # headroom for the labels beyond the bars
    ticks = nice_ticks(min(numbers) * room, max(numbers) * room)
    low, high = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0

    def y_of(value: float) -> float:
        return top + plot_h * (high - value) / (high - low)

    n = max(len(categories), 1)
    slot = plot_w / n
    bar_w = max(min(slot * 0.8 / max(len(series), 1), 42), 2)
    body: list[str] = []
    for i, (label, first, last) in enumerate(bands):
        x0, x1 = left + first * slot, left + (last + 1) * slot
        fill = "#f8fafc" if i % 2 == 0 else "#eef2f7"
        body.append(
            f'<rect x="{x0:.1f}" y="{top - 14:.1f}" width="{x1 - x0:.1f}" '
            f'height="{plot_h + 14:.1f}" fill="{fill}" data-band="{escape(label)}"/>'
        )
        body.append(_text((x0 + x1) / 2, top - 3, label, size=12, fill=MUTED, weight="600"))
    for t in ticks:
        y = y_of(t)
        color = AXIS if math.isclose(t, 0.0, abs_tol=1e-9) else GRID
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}"/>'
        )
        body.append(_text(left - 6, y + 4, tick(t, step), size=12, fill=MUTED, anchor="end"))
    zero = y_of(0.0)
    for i, category in enumerate(categories):
        x_mid = left + slot * (i + 0.5)
        group_x = x_mid - bar_w * len(series) / 2
        if i < len(missing) and missing[i]:
            body.append(_text(x_mid, zero - 6, "no data", size=10, fill=MUTED))
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            x = group_x + j * bar_w
            if value is None:
                if not (i < len(missing) and missing[i]):
                    body.append(
                        _text(
                            x + bar_w / 2,
                            zero - 6,
                            missing_text,
                            size=10,
                            fill=MUTED,
                            data_series=s.key,
                            data_category=category,
                            data_value="null",
                        )
                    )
                continue
            y_value = y_of(float(value))
            y0, h = min(y_value, zero), max(abs(zero - y_value), 0.5)
            tip = f"{s.label} {category}: {value_text(value)}"
            body.append(
                _mark(
                    "rect",
                    tip,
                    s.key,
                    category,
                    value,
                    x=f"{x:.1f}",
                    y=f"{y0:.1f}",
                    width=f"{bar_w * 0.92:.1f}",
                    height=f"{h:.1f}",
                    fill=s.color_at(i),
                )
            )
            if value_labels:
                ly = y0 - 5 if float(value) >= 0 else y0 + h + 13
                body.append(_text(x + bar_w * 0.46, ly, value_text(value), size=12))
        label_y = top + plot_h + 16
        if rotate:
            body.append(
                _text(x_mid + 4, label_y, category, size=12, fill=TEXT, anchor="end", rotate=-45)
            )
        else:
            body.append(_text(x_mid, label_y, category, size=12))
    body.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="{AXIS}"/>')
    body.append(_text(left + plot_w / 2, height - 8, x_label, size=12, fill=MUTED, weight="600"))
    body.append(_text(16, top + plot_h / 2, y_label, size=12, fill=MUTED, weight="600", rotate=-90))
    if len(series) > 1:
        body += _legend([(s.label, s.color) for s in series], left, 16)
    return _svg(chart_id, width, height, title, body)


def hbar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    notes: Sequence[str] = (),
    note_colors: Sequence[str] = (),
    width: int = 660,
    row_height: int = 34,
    value_text: Callable[[Decimal | None], str] = money,
) -> str:
    """Horizontal grouped bars with the value at the end of each bar and a note per row."""
    left, right, top, bottom = 110, 190, 34, 52
    group_h = row_height * max(len(series), 1) * 0.62 + 14
    plot_h = group_h * max(len(categories), 1)
    height = int(top + plot_h + bottom)
    plot_w = width - left - right
    numbers = [_f(v) for s in series for v in s.values if v is not None] or [0.0]
    ticks = nice_ticks(min(numbers), max(numbers) * 1.05, 4)
    low, high = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0

    def x_of(value: float) -> float:
        return left + plot_w * (value - low) / (high - low)

    body: list[str] = []
    for t in ticks:
        x = x_of(t)
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h:.1f}" stroke="{GRID}"/>'
        )
        body.append(_text(x, top + plot_h + 16, tick_money(t, step), size=12, fill=MUTED))
    zero = x_of(0.0)
    bar_h = (group_h - 14) / max(len(series), 1)
    for i, category in enumerate(categories):
        y_group = top + i * group_h + 7
        body.append(
            _text(left - 8, y_group + (group_h - 14) / 2 + 4, category, size=12, anchor="end")
        )
        for j, s in enumerate(series):
            value = s.values[i] if i < len(s.values) else None
            y = y_group + j * bar_h
            if value is None:
                continue
            x_value = x_of(float(value))
            x0, w = min(x_value, zero), max(abs(x_value - zero), 0.5)
            tip = f"{s.label} {category}: {value_text(value)}"
            body.append(
                _mark(
                    "rect",
                    tip,
                    s.key,
                    category,
                    value,
                    x=f"{x0:.1f}",
                    y=f"{y:.1f}",
                    width=f"{w:.1f}",
                    height=f"{bar_h * 0.9:.1f}",
                    fill=s.color_at(i),
                )
            )
            body.append(
                _text(
                    max(x0 + w, zero) + 5,
                    y + bar_h * 0.45 + 4,
                    value_text(value),
                    size=12,
                    anchor="start",
                    fill=MUTED,
                )
            )
        if i < len(notes) and notes[i]:
            color = note_colors[i] if i < len(note_colors) and note_colors[i] else MUTED
            body.append(
                _text(
                    width - 8,
                    y_group + (group_h - 14) / 2 + 4,
                    notes[i],
                    size=12,
                    anchor="end",
                    fill=color,
                    weight="600",
                    data_note=category,
                )
            )
    body.append(
        f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top}" y2="{top + plot_h:.1f}" '
        f'stroke="{AXIS}"/>'
    )
    body.append(_text(left + plot_w / 2, height - 10, x_label, size=12, fill=MUTED, weight="600"))
    body.append(_text(12, top - 12, y_label, size=12, fill=MUTED, weight="600", anchor="start"))
    if len(series) > 1:
        body += _legend([(s.label, s.color) for s in series], left, 16)
    return _svg(chart_id, width, height, title, body)


def line_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[Decimal | None],
    *,
    y_label: str,
    x_label: str,
    series_key: str,
    series_label: str,
    y_max: float | None = 100.0,
    tick: Callable[[float, float], str] = tick_percent,
    value_text: Callable[[Decimal | None], str] = percent,
    color: str = TEAL,
    width: int = 660,
    height: int = 320,
) -> str:
    """A line over ordered labels (dates); null values break the line."""
    left, right, top, bottom = 64, 20, 24, 72
    plot_w, plot_h = width - left - right, height - top - bottom
    numbers = [_f(v) for v in values if v is not None] or [0.0]
    ticks = nice_ticks(0.0, y_max if y_max is not None else max(numbers))
    low, high = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    n = len(labels)

    def x_of(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y_of(value: float) -> float:
        return top + plot_h * (high - value) / (high - low)

    body: list[str] = []
    for t in ticks:
        y = y_of(t)
        body.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        body.append(_text(left - 6, y + 4, tick(t, step), size=12, fill=MUTED, anchor="end"))
    segments: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(f"{x_of(i):.1f},{y_of(float(value)):.1f}")
    for points in segments:
        if len(points) > 1:
            body.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" '
                f'stroke-width="2" stroke-linejoin="round"/>'
            )
    radius = 3.5 if n <= 60 else 2
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None:
            continue
        tip = f"{series_label} {label}: {value_text(value)}"
        body.append(
            _mark(
                "circle",
                tip,
                series_key,
                label,
                value,
                cx=f"{x_of(i):.1f}",
                cy=f"{y_of(float(value)):.1f}",
                r=radius,
                fill=color,
            )
        )
    every = max(1, math.ceil(n / 8))
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1 and n - 1 - (n - 1) // every * every > every / 2:
            body.append(
                _text(x_of(i) + 4, top + plot_h + 16, label, size=12, anchor="end", rotate=-35)
            )
    body.append(
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{AXIS}"/>'
    )
    body.append(_text(left + plot_w / 2, height - 8, x_label, size=12, fill=MUTED, weight="600"))
    body.append(_text(16, top + plot_h / 2, y_label, size=12, fill=MUTED, weight="600", rotate=-90))
    return _svg(chart_id, width, height, title, body)
