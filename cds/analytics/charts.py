"""Inline SVG charts for the console pages, drawn here so the pages need no script and no network.

Every value placed in the SVG goes through `Markup.format`, which escapes it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

from markupsafe import Markup

from cds.analytics.alarms import Judged
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
    plot = _Plot(width, len(bars), top)
    parts = plot.axes(first, last, f"cards per {'day' if step == 1 else f'{step} days'}")
    for index, (start, count) in enumerate(bars):
        if count:
            parts.append(plot.bar(index, count, "bar", f"{_period_label(start, step)}: {_cards(count)}"))
    if not any(count for _, count in bars):
        parts.append(_empty("No cards fired in this period", width / 2, plot.middle))
    return _svg(title, width, FIRING_HEIGHT, Markup("").join(parts), "chart firing")


def control_chart(days: Sequence[Judged], first: date, last: date, title: str, width: int = WIDTH * 2) -> Markup:
    """A rule's live cards per day from `first` to `last` against its control limits: the band of counts a day
    may have within them and the baseline's daily rate (a tick), where a day was judged; a day out of control
    is drawn as flagged, a day the rule was not live is left blank."""
    span = (last - first).days + 1
    judged = {day.day: day for day in days if first <= day.day <= last}
    top = nice_ceiling(max([0, *(max(day.count, day.upper or 0) for day in judged.values())]))
    plot = _Plot(width, span, top)
    parts = plot.axes(first, last, "live cards per day; band: control limits")
    for index in range(span):
        day = judged.get(first + timedelta(days=index))
        if day is None or not day.live:
            continue
        if day.lower is not None and day.upper is not None and day.expected is not None:
            parts.append(plot.band(index, day.lower, day.upper))
            parts.append(plot.tick(index, day.expected))
        said = f"{day.day.isoformat()}: {_cards(day.count)}"
        if day.expected is not None:
            limits = f", limits {day.lower}–{day.upper}" if day.lower is not None else ""
            said += f" (expected {day.expected:.1f}{limits})"
        if day.flagged:
            said += f": out of control ({day.flagged})"
        parts.append(plot.bar(index, day.count, "bar flagged" if day.flagged else "bar", said, 3 if day.flagged else 0))
    if not any(day.live for day in judged.values()):
        parts.append(_empty("The rule was not live in this period", width / 2, plot.middle))
    return _svg(title, width, FIRING_HEIGHT, Markup("").join(parts), "chart control")


class _Plot:
    """The plot area of a chart of `slots` columns over counts from 0 to `top`."""

    def __init__(self, width: int, slots: int, top: int):
        self.width, self.top = width, top
        self.height = FIRING_HEIGHT - PLOT_TOP - PLOT_BOTTOM
        self.base = PLOT_TOP + self.height
        self.middle = PLOT_TOP + self.height / 2
        self.slot = (width - PLOT_LEFT - PLOT_RIGHT) / slots

    def y(self, value: float) -> float:
        return self.base - self.height * value / self.top

    def axes(self, first: date, last: date, unit: str) -> list[Markup]:
        """The base line, grid lines at the top and its half, the first and last day and the unit."""
        right = self.width - PLOT_RIGHT
        parts = [Markup('<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}"/>').format(PLOT_LEFT, self.base, right,
                                                                                       self.base)]
        for value in (self.top, self.top // 2) if self.top > 1 else (self.top,):
            parts.append(Markup('<line class="grid" x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}"/>'
                                '<text class="tick" x="{}" y="{:.1f}" text-anchor="end">{}</text>')
                         .format(PLOT_LEFT, self.y(value), right, self.y(value), PLOT_LEFT - 6, self.y(value) + 4,
                                 value))
        for anchor, x, day in (("start", PLOT_LEFT, first), ("end", right, last)):
            parts.append(Markup('<text class="tick" x="{}" y="{}" text-anchor="{}">{}</text>')
                         .format(x, FIRING_HEIGHT - 8, anchor, day.isoformat()))
        parts.append(Markup('<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>')
                     .format(self.width / 2, FIRING_HEIGHT - 8, unit))
        return parts

    def bar(self, index: int, count: int, css_class: str, said: str, least: float = 0) -> Markup:
        """A bar of `count`, at least `least` high (a day out of control with no card is still seen)."""
        height = max(self.height * count / self.top, least)
        return Markup('<rect class="{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"><title>{}</title></rect>'
                      ).format(css_class, PLOT_LEFT + index * self.slot + self.slot * 0.1, self.base - height,
                               max(self.slot * 0.8, 1), height, said)

    def band(self, index: int, lower: int, upper: int) -> Markup:
        return Markup('<rect class="limits" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"/>').format(
            PLOT_LEFT + index * self.slot, self.y(upper), self.slot, self.y(lower) - self.y(upper))

    def tick(self, index: int, value: float) -> Markup:
        x = PLOT_LEFT + index * self.slot
        return Markup('<line class="expected" x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}"/>').format(
            x, self.y(value), x + self.slot, self.y(value))


def _cards(count: int) -> str:
    return f"{count} card{'' if count == 1 else 's'}"


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
