"""Load shed at admission (cds/api/admission.py): what could not start with enough of its deadline
left is refused at once, counting the evaluations ahead of it at their typical length."""

from __future__ import annotations

import time

import anyio
import pytest

from cds.api.admission import Admission
from cds.pipeline import Overloaded


def test_a_call_that_could_not_start_in_time_is_refused_at_once():
    async def scenario() -> None:
        admission = Admission(slots=1, min_left_s=0.3)
        admission.typical_s = 0.5
        admission.admit(time.monotonic() + 0.35)                 # nothing ahead: 0.35 s left to start
        async with admission.slots:                              # one evaluation in its slot
            with pytest.raises(Overloaded, match="1 evaluations ahead"):
                admission.admit(time.monotonic() + 0.7)          # would start with 0.2 s left
            admission.admit(time.monotonic() + 0.9)              # would start with 0.4 s left

    anyio.run(scenario)


def test_the_typical_length_follows_the_evaluations_run():
    async def scenario() -> Admission:
        admission = Admission(slots=1, min_left_s=0.3)
        for _ in range(3):
            assert await admission.run(lambda: time.sleep(0.02) or "cards") == "cards"
        return admission

    assert anyio.run(scenario).typical_s > 0.005


def test_a_negative_minimum_never_sheds():
    async def scenario() -> None:
        admission = Admission(slots=1, min_left_s=-1)
        admission.typical_s = 10.0
        async with admission.slots:
            admission.admit(time.monotonic() - 5)

    anyio.run(scenario)
