"""Inline SVG charts for the console pages, drawn here so the pages need no script and no network.

Every value placed in the SVG goes through `Markup.format`, which escapes it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

from markupsafe import Markup

from cds.analytics.figures import DayCount, ReasonCount

MAX_BARS = 92            # a longer period is drawn in buckets of several days
WIDTH = 640              # viewBox units; the SVG scales to its container (a full-width chart asks for more)
FIRING_HEIGHT = 180
PLOT_LEFT, PLOT_RIGHT, PLOT_TOP, PLOT_BOTTOM = 40, 8, 12, 28
REASON_ROW, REASON_LABEL, REASON_COUNT = 28, 330, 40


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 4, 6, 8, 10, 20, 40… that is at least `value`: the top of a count axis, even
    above 1 so its half is a whole count too."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 4, 6, 8, 10) if step * power >= value)


def buckets(days: Sequence[DayCount], first: date, last: date) -> tuple[int, list[tuple[date, int]]]:
    """Days per bar, and (first day, cards) per bar from `first` to `last`, days without cards as zero."""
    counts: dict[date, int] = {}
    for day in days:
        counts[day.day] = counts.get(day.day, 0) + day.count
    span = (last - first).days + 1
    step = math.ceil(span / MAX_BARS)
    daily = [counts.get(first + timedelta(days=offset), 0) for offset in range(span)]
    return step, [(first + timedelta(days=start), sum(daily[start:start + step])) for start in range(0, span, step)]


def _svg(title: str, width: int, height: int, body: Markup, css_class: str) -> Markup:
    return Markup('<svg class="{}" role="img" aria-label="{}" viewBox="0 0 {} {}" '
                  'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
                  '<title>{}</title>{}</svg>').format(css_class, title, width, height, title, body)


def _empty(message: str, x: float, y: float) -> Markup:
    return Markup('<text class="empty" x="{}" y="{}" text-anchor="middle">{}</text>').format(x, y, message)


def firing_chart(days: Sequence[DayCount], first: date, last: date, title: str, width: int = WIDTH) -> Markup:
    """Vertical bars of cards fired per day (or per bucket of days) from `first` to `last`, inclusive."""
    step, bars = buckets(days, first, last)
    top = nice_ceiling(max(count for _, count in bars))
    plot_width = width - PLOT_LEFT - PLOT_RIGHT
    plot_height = FIRING_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    base = PLOT_TOP + plot_height
    slot = plot_width / len(bars)
    unit = "day" if step == 1 else f"{step} days"
    parts = [Markup('<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>').format(PLOT_LEFT, base, width - PLOT_RIGHT,
                                                                                   base)]
    for value in (top, top // 2) if top > 1 else (top,):
        y = base - plot_height * value / top
        parts.append(Markup('<line class="grid" x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}"/>'
                            '<text class="tick" x="{}" y="{:.1f}" text-anchor="end">{}</text>')
                     .format(PLOT_LEFT, y, width - PLOT_RIGHT, y, PLOT_LEFT - 6, y + 4, value))
    for index, (start, count) in enumerate(bars):
        if count:
            height = plot_height * count / top
            parts.append(Markup('<rect class="bar" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}">'
                                '<title>{}: {} card{}</title></rect>')
                         .format(PLOT_LEFT + index * slot + slot * 0.1, base - height, max(slot * 0.8, 1), height,
                                 _period_label(start, step), count, "" if count == 1 else "s"))
    for anchor, x, day in (("start", PLOT_LEFT, first), ("end", width - PLOT_RIGHT, last)):
        parts.append(Markup('<text class="tick" x="{}" y="{}" text-anchor="{}">{}</text>')
                     .format(x, FIRING_HEIGHT - 8, anchor, day.isoformat()))
    parts.append(Markup('<text class="tick" x="{}" y="{}" text-anchor="middle">cards per {}</text>')
                 .format(width / 2, FIRING_HEIGHT - 8, unit))
    if not any(count for _, count in bars):
        parts.append(_empty("No cards fired in this period", width / 2, PLOT_TOP + plot_height / 2))
    return _svg(title, width, FIRING_HEIGHT, Markup("").join(parts), "chart firing")


def _period_label(start: date, step: int) -> str:
    if step == 1:
        return start.isoformat()
    return f"{start.isoformat()} to {(start + timedelta(days=step - 1)).isoformat()}"


def reasons_chart(reasons: Sequence[ReasonCount], title: str) -> Markup:
    """Horizontal bars of overrides per reason, the reason's display (or code) on the left."""
    if not reasons:
        return _svg(title, WIDTH, REASON_ROW * 2, _empty("No overrides in this period", WIDTH / 2, REASON_ROW + 4),
                    "chart reasons")
    top = max(reason.count for reason in reasons)
    bar_space = WIDTH - REASON_LABEL - REASON_COUNT
    parts = []
    for index, reason in enumerate(reasons):
        y = index * REASON_ROW + 4
        width = max(bar_space * reason.count / top, 1)
        label = reason.display or reason.code
        parts.append(Markup('<text class="label" x="{}" y="{}" text-anchor="end">{}<title>{}</title></text>'
                            '<rect class="bar" x="{}" y="{}" width="{:.1f}" height="{}">'
                            '<title>{}: {} override{}</title></rect>'
                            '<text class="count" x="{:.1f}" y="{}">{}</text>')
                     .format(REASON_LABEL - 8, y + 14, _shorten(label), f"{label} ({reason.code})",
                             REASON_LABEL, y, width, REASON_ROW - 8, label, reason.count,
                             "" if reason.count == 1 else "s", REASON_LABEL + width + 6, y + 14, reason.count))
    return _svg(title, WIDTH, len(reasons) * REASON_ROW + 4, Markup("").join(parts), "chart reasons")


def _shorten(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
