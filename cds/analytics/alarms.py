"""Firing alarms: is a live rule's daily firing still what its own history says it should be?

The method (docs/lifecycle.md, "Watch"): each day a rule was live is compared with its baseline, the
`baseline_days` most recent earlier live days that were not themselves out of control. The last 1, 2, …
`window_days` live days up to the day are each tested against the baseline with the exact conditional test
for two Poisson counts: if the rule's rate had not changed, the x cards of the k recent days and the b cards
of the n baseline days are spread over those n + k days at random, so x is Binomial(x + b, k / (n + k)).
When the chance of so few cards (a drop; none at all: stopped) or of so many (a jump) is below `p_value`,
the window's days are flagged and kept out of later baselines, so a rule that stops keeps its alarm until it
fires within its limits again. A drop or jump that lasts a whole baseline with cards enough to judge by is
the rule's new level: those days become its baseline. A baseline with fewer than `min_baseline_cards` cards
is too rare to judge. Days the rule was not live (not yet written, silent, removed) are neither judged nor
baseline.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from cds.config import Settings

Direction = Literal["drop", "jump"]
Status = Literal["stopped", "dropped", "jumped"]
MAX_HISTORY_DAYS = 400   # the card log's default retention: the most history a chart reads


@dataclass(frozen=True)
class AlarmSettings:
    """The alarm_* settings of cds.config (their defaults are written there only)."""

    baseline_days: int
    window_days: int
    p_value: float
    min_baseline_cards: int
    history_days: int = MAX_HISTORY_DAYS   # days read before the day judged: a long stop keeps its baseline

    @classmethod
    def of(cls, settings: Settings) -> AlarmSettings:
        return cls(settings.alarm_baseline_days, settings.alarm_window_days, settings.alarm_p_value,
                   settings.alarm_min_baseline_cards, min(settings.card_log_retention_days, MAX_HISTORY_DAYS))


@dataclass(frozen=True)
class Judged:
    """One day of a rule's control chart: its cards, and (when judged) the baseline rate, the control limits
    of a single day's count and whether the day is out of control."""

    day: date
    count: int
    live: bool
    expected: float | None = None        # baseline cards per day; None: not judged
    lower: int | None = None             # fewest cards a day within limits
    upper: int | None = None             # most cards a day within limits
    flagged: Direction | None = None


@dataclass(frozen=True)
class Excursion:
    """The run of out-of-control days that reaches the last day judged; a drop whose last days have no card, and
    would have had some at the baseline's rate (their absence alone below p_value), is a stop since the first of
    them."""

    status: Status
    since: date
    last: date
    observed: int                        # cards on its days
    expected: float                      # what the baseline rate gives for as many days
    p_value: float                       # of the window that first flagged it
    baseline: tuple[date, date]          # first and last day of that window's baseline


@dataclass(frozen=True)
class Watch:
    days: list[Judged]
    excursion: Excursion | None
    judged: bool                         # the last live day had a baseline to be judged by


def watch(counts: dict[date, int], live: set[date], first: date, last: date, settings: AlarmSettings,
          limits: bool = False) -> Watch:
    """A rule's chart from `first` to `last` (its live days `live`, its cards per day `counts`) and the
    excursion it is in on `last`, if any; with `limits`, each judged day's control limits too."""
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    live_days = [day for day in days if day in live]
    too_rare = sum(counts.values()) < settings.min_baseline_cards     # no baseline of it can hold cards enough
    flagged: dict[date, Direction] = {}       # every day found out of control (the chart's)
    excluded: dict[date, Direction] = {}      # those kept out of later baselines
    first_flag: dict[date, tuple[float, tuple[date, date], float]] = {}   # day → p, baseline, rate
    baselines: dict[date, tuple[float | None, int | None, int | None]] = {}
    for index, day in enumerate([] if too_rare else live_days):
        _accept_new_level(live_days[:index], excluded, counts, settings)
        for k in range(1, min(settings.window_days, index + 1) + 1):
            window = live_days[index - k + 1: index + 1]
            baseline = _baseline(live_days[: index - k + 1], excluded, settings.baseline_days)
            if baseline is None:
                break
            total = sum(counts.get(d, 0) for d in baseline)
            if total < settings.min_baseline_cards:   # too rare to judge by; a wider window's baseline is earlier
                continue
            if k == 1:
                baselines[day] = (total / len(baseline), *(_limits(total, len(baseline), settings.p_value)
                                                           if limits else (None, None)))
            observed = sum(counts.get(d, 0) for d in window)
            share = k / (k + len(baseline))
            drop = lower_tail(observed, observed + total, share, settings.p_value)
            jump = upper_tail(observed, observed + total, share, settings.p_value)
            if min(drop, jump) < settings.p_value:
                direction: Direction = "drop" if drop < jump else "jump"
                for d in window:
                    flagged.setdefault(d, direction)
                    excluded.setdefault(d, direction)
                first_flag.setdefault(window[0], (min(drop, jump), (baseline[0], baseline[-1]), total / len(baseline)))
                break
    judged = [Judged(day, counts.get(day, 0), day in live, *baselines.get(day, (None, None, None)), flagged.get(day))
              for day in days]
    latest = live_days[-1] if live_days else None
    return Watch(judged, _excursion(live_days, counts, flagged, first_flag, settings.p_value),
                 latest is not None and (latest in baselines or latest in flagged))


def _accept_new_level(before: list[date], excluded: dict[date, Direction], counts: dict[date, int],
                      settings: AlarmSettings) -> None:
    """When the last `baseline_days` live days are all out of control the same way with cards enough to judge
    by, the rule has a new level: those days become its baseline (a stop, or a drop too rare to judge, is never
    accepted: it stays flagged until the rule fires within its old limits again)."""
    recent = before[-settings.baseline_days:]
    if (len(recent) == settings.baseline_days and all(day in excluded for day in recent)
            and len({excluded[day] for day in recent}) == 1
            and sum(counts.get(day, 0) for day in recent) >= settings.min_baseline_cards):
        for day in recent:
            del excluded[day]


def _baseline(before: list[date], excluded: dict[date, Direction], size: int) -> list[date] | None:
    """The `size` most recent in-control days of `before`, oldest first; None when there are not so many."""
    chosen: list[date] = []
    for day in reversed(before):
        if day not in excluded:
            chosen.append(day)
            if len(chosen) == size:
                return chosen[::-1]
    return None


def _excursion(live_days: list[date], counts: dict[date, int], flagged: dict[date, Direction],
               first_flag: dict[date, tuple[float, tuple[date, date], float]],
               p_value_limit: float) -> Excursion | None:
    """The flagged run of live days ending at the last live day."""
    if not live_days or live_days[-1] not in flagged:
        return None
    direction = flagged[live_days[-1]]
    run: list[date] = []
    for day in reversed(live_days):
        if flagged.get(day) != direction:
            break
        run.append(day)
    run.reverse()
    start = next((day for day in run if day in first_flag), run[0])
    p_value, baseline, rate = first_flag.get(start, (math.nan, (run[0], run[0]), math.nan))
    status: Status = "jumped" if direction == "jump" else "dropped"
    silent = list(itertools.takewhile(lambda day: not counts.get(day, 0), reversed(run)))[::-1]
    if status == "dropped" and silent and math.exp(-rate * len(silent)) < p_value_limit:
        status, run = "stopped", silent
    return Excursion(status, run[0], run[-1], sum(counts.get(day, 0) for day in run), rate * len(run), p_value,
                     baseline)


def _limits(total: int, baseline_days: int, p_value: float) -> tuple[int, int]:
    """The fewest and the most cards one day may have without being flagged, against this baseline
    (the smallest count whose drop test passes, the largest whose jump test passes: each by bisection)."""
    share = 1 / (baseline_days + 1)
    mean = math.ceil(total / baseline_days)
    low, high = 0, mean                      # the fewest within limits lies in [0, mean]
    while low < high:
        middle = (low + high) // 2
        if lower_tail(middle, middle + total, share, p_value) < p_value:
            low = middle + 1
        else:
            high = middle
    fewest = low
    step = max(1, math.isqrt(mean) + 1)      # the most within limits: past it the jump test fails
    top = mean + step
    while upper_tail(top, top + total, share, p_value) >= p_value:
        top += step
    low, high = mean, top - 1
    while low < high:
        middle = (low + high + 1) // 2
        if upper_tail(middle, middle + total, share, p_value) >= p_value:
            low = middle
        else:
            high = middle - 1
    return fewest, low


def lower_tail(x: int, n: int, p: float, enough: float = math.inf) -> float:
    """P(X ≤ x) for X ~ Binomial(n, p); 1 when x is at least the mean (no drop to test). With `enough`, a sum
    that reaches it is returned as it stands (only whether the tail is below `enough` is wanted)."""
    if x >= n * p:
        return 1.0
    return min(1.0, _sum_terms(x, n, p, -1, enough))


def upper_tail(x: int, n: int, p: float, enough: float = math.inf) -> float:
    """P(X ≥ x) for X ~ Binomial(n, p); 1 when x is at most the mean (no jump to test); `enough` as above."""
    if x <= n * p:
        return 1.0
    return min(1.0, _sum_terms(x, n, p, +1, enough))


def _sum_terms(x: int, n: int, p: float, step: int, enough: float) -> float:
    """The binomial probabilities from x away from the mean (step -1: down to 0; +1: up to n), summed until
    the terms no longer matter (they shrink geometrically beyond the mean) or the sum reaches `enough`; each
    term from the last by the ratio of neighbouring probabilities."""
    odds = p / (1 - p)
    term = math.exp(math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1) + x * math.log(p)
                    + (n - x) * math.log1p(-p))
    total, i = term, x
    while term > total * 1e-15 and total < enough:
        if step < 0:
            if i == 0:
                break
            term *= i / ((n - i + 1) * odds)    # P(i - 1) / P(i)
        else:
            if i == n:
                break
            term *= (n - i) * odds / (i + 1)    # P(i + 1) / P(i)
        total += term
        i += step
    return total
