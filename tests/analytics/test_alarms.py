"""The firing alarms' control chart (cds.analytics.alarms) on simulated daily firing counts.

Measured with the default settings (28-day baseline, windows of 1 to 14 days, p < 1e-5, at least 28 cards in
the baseline) over 2,000 seeded 60-day logs of pure Poisson noise per rate (32 judged days each): logs with any
flag 0.05% at 2 cards a day, 0.1% at 5 and 10, 0.35% at 50 and 200; alarms raised per judged rule-day 1.6e-5
to 1.1e-4 (about one false alarm per rule every 25 to 175 years of steady Poisson firing). A rule that stops on
day 45 was flagged, over 500 seeds per rate: at 10 cards a day within 1 to 2 days, at 5 within 2 to 4 (94% by
day 3), at 2 within 4 to 11; at 1 a day within 5 to 14 days when its baseline holds 28 cards, and never when
it does not (too rare to judge). The tests below run fewer seeds and hold those figures to bounds.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, timedelta

import pytest

from cds.analytics.alarms import AlarmSettings, Watch, lower_tail, upper_tail, watch
from cds.config import Settings
from tests.firing import firing_log

FIRST = date(2026, 1, 1)
SETTINGS = AlarmSettings.of(Settings())   # the service's defaults, as measured above


def _day(number: int) -> date:
    """Day `number` of a simulated log (day 1 is FIRST)."""
    return FIRST + timedelta(days=number - 1)


def _judge(counts: dict[date, int], last: int, live: set[date] | None = None, **limits: bool) -> Watch:
    return watch(counts, set(counts) if live is None else live, FIRST, _day(last), SETTINGS, **limits)


def _first_alarm(counts: dict[date, int], from_day: int, to_day: int) -> int | None:
    """The first day from `from_day` on whose judgement, as of that day, is an alarm."""
    return next((day for day in range(from_day, to_day + 1) if _judge(counts, day).excursion), None)


@pytest.mark.parametrize("rate", [10, 30])
def test_a_rule_that_stops_on_day_45_is_flagged_within_3_days(rate):
    delays = []
    for seed in range(100):
        counts = firing_log(seed, FIRST, 60, rate, stop_day=45)
        flagged = _first_alarm(counts, 45, 60)
        assert flagged is not None, seed
        delays.append(flagged - 44)
        excursion = _judge(counts, 47).excursion    # by then it has stopped, not merely dropped
        assert (excursion.status, excursion.since, excursion.observed) == ("stopped", _day(45), 0), seed
    assert max(delays) <= 3 and min(delays) >= 1


def test_a_log_of_poisson_noise_is_seldom_flagged_and_the_rate_is_as_documented():
    """The false-alarm rate of the module docstring, measured again on 600 seeds at the rates where it is
    highest: a log with any flagged day must stay under 1% (2,000 seeds measured 0.35%)."""
    for rate in (10, 50):
        flagged = sum(any(day.flagged for day in _judge(firing_log(seed, FIRST, 60, rate), 60).days)
                      for seed in range(600))
        assert flagged / 600 < 0.01, (rate, flagged)


def test_no_day_before_a_full_baseline_is_judged():
    result = _judge(firing_log(1, FIRST, 60, 20), 60)
    assert [day.expected is None for day in result.days] == [True] * 28 + [False] * 32
    assert result.judged


def test_a_rule_too_rare_for_its_baseline_is_not_judged_and_not_flagged_when_it_stops():
    counts = firing_log(3, FIRST, 60, 0.5, stop_day=45)
    assert sum(counts[_day(n)] for n in range(17, 45)) < SETTINGS.min_baseline_cards
    result = _judge(counts, 60)
    assert result.excursion is None and not result.judged and not any(day.flagged for day in result.days)


def test_a_rare_rule_that_stops_is_flagged_by_a_wider_window():
    counts = firing_log(7, FIRST, 60, 2, stop_day=45)
    flagged = _first_alarm(counts, 45, 60)
    assert flagged is not None and 3 < flagged - 44 <= SETTINGS.window_days
    narrow = replace(SETTINGS, window_days=3)           # windows of at most 3 days never see enough of the stop
    assert not any(day.flagged for day in watch(counts, set(counts), FIRST, _day(60), narrow).days)


def test_a_tripling_is_flagged_within_3_days_and_a_new_level_that_lasts_a_whole_baseline_becomes_the_baseline():
    counts = {day: count + (firing_log(11, _day(45), 56, 20)[day] if day >= _day(45) else 0)
              for day, count in firing_log(5, FIRST, 100, 10).items()}
    flagged = _first_alarm(counts, 45, 100)
    assert flagged is not None and flagged - 44 <= 3
    assert _judge(counts, flagged).excursion.status == "jumped"
    assert _judge(counts, 45 + SETTINGS.baseline_days - 1).excursion is not None     # still new after 27 days
    settled = _judge(counts, 100)
    assert settled.excursion is None and settled.days[-1].expected > 20      # judged by the new level


def test_a_stop_is_never_accepted_as_a_new_level():
    counts = firing_log(2, FIRST, 120, 10, stop_day=45)
    result = _judge(counts, 120)
    assert result.excursion is not None and result.excursion.since == _day(45)
    assert result.excursion.baseline == (_day(17), _day(44))


def test_days_the_rule_was_not_live_are_neither_judged_nor_baseline():
    counts = firing_log(4, FIRST, 90, 10)
    silent = {_day(n) for n in range(40, 60)}            # silent for 20 days: its live cards were none
    counts.update({day: 0 for day in silent})
    live = set(counts) - silent
    result = _judge(counts, 90, live)
    assert result.excursion is None and not any(day.flagged for day in result.days)
    assert all(day.expected is None and not day.live for day in result.days if day.day in silent)
    assert any(day.flagged == "drop" for day in _judge(counts, 90).days)   # judged as if live: a stop


def test_the_control_limits_are_the_fewest_and_most_cards_a_day_passes_with():
    counts = firing_log(9, FIRST, 40, 12)
    for day in _judge(counts, 40, limits=True).days[28:]:
        baseline = [counts[d] for d in counts if day.day - timedelta(days=28) <= d < day.day]
        total, share = sum(baseline), 1 / 29

        def flagged(count: int, total: int = total, share: float = share) -> bool:
            return min(lower_tail(count, count + total, share), upper_tail(count, count + total, share)) < 1e-5

        assert day.lower is not None and day.upper is not None and day.lower <= day.expected <= day.upper
        assert not flagged(day.lower) and not flagged(day.upper) and flagged(day.upper + 1)
        assert day.lower == 0 or flagged(day.lower - 1)


@pytest.mark.parametrize(("n", "p"), [(10, 0.3), (40, 1 / 29), (200, 0.1), (57, 0.5)])
def test_the_binomial_tails_are_the_exact_sums(n, p):
    def exact(k: int) -> float:
        return math.comb(n, k) * p ** k * (1 - p) ** (n - k)

    mean = n * p
    for x in range(n + 1):
        below = 1.0 if x >= mean else sum(exact(k) for k in range(x + 1))
        above = 1.0 if x <= mean else sum(exact(k) for k in range(x, n + 1))
        assert lower_tail(x, n, p) == pytest.approx(below, rel=1e-9, abs=1e-300)
        assert upper_tail(x, n, p) == pytest.approx(above, rel=1e-9, abs=1e-300)
