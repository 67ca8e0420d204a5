"""The console's chart arithmetic and number formats: axis tops, day buckets, rates and durations."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cds.analytics.charts import MAX_BARS, buckets, firing_chart, nice_ceiling
from cds.analytics.figures import DayCount
from cds.analytics.view import duration, percent

FIRST = date(2026, 11, 1)


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (2, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 20),
                                            (41, 60), (1000, 1000), (1001, 2000)])
def test_the_axis_top_is_a_round_count_at_least_the_largest_bar(value, top):
    assert nice_ceiling(value) == top


def test_days_without_cards_are_zero_bars_and_days_outside_the_period_are_left_out():
    step, bars = buckets([DayCount(FIRST + timedelta(days=2), 3), DayCount(FIRST - timedelta(days=1), 9)],
                         FIRST, FIRST + timedelta(days=3))
    assert step == 1 and bars == [(FIRST, 0), (FIRST + timedelta(days=1), 0), (FIRST + timedelta(days=2), 3),
                                  (FIRST + timedelta(days=3), 0)]


def test_a_long_period_is_drawn_in_buckets_of_days_that_keep_every_card():
    last = FIRST + timedelta(days=364)
    days = [DayCount(FIRST + timedelta(days=offset), 1) for offset in range(365)]
    step, bars = buckets(days, FIRST, last)
    assert step == 4 and len(bars) <= MAX_BARS and sum(count for _, count in bars) == 365
    assert "cards per 4 days" in firing_chart(days, FIRST, last, "a year")
    assert f"{FIRST.isoformat()} to {(FIRST + timedelta(days=3)).isoformat()}: 4 cards" in firing_chart(
        days, FIRST, last, "a year")


@pytest.mark.parametrize(("seconds", "text"), [(None, "—"), (0, "< 1 s"), (0.4, "< 1 s"), (1, "1 s"), (89, "89 s"),
                                               (150, "2.5 min"), (5400, "1.5 h"), (36 * 3600, "1.5 d")])
def test_durations_read_in_the_largest_readable_unit(seconds, text):
    assert duration(seconds) == text


@pytest.mark.parametrize(("rate", "text"), [(None, "—"), (0.0, "0%"), (0.4, "40%"), (2 / 3, "67%"), (1.0, "100%")])
def test_rates_read_as_whole_percentages(rate, text):
    assert percent(rate) == text
