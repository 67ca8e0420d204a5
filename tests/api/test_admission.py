"""Load shed at admission (cds/api/admission.py): what could not start with enough of its deadline
left is refused at once, counting the evaluations ahead of it at their typical length."""

from __future__ import annotations

import time

import anyio
import pytest

from cds.api.admission import Admission, DeadlineReached, Overloaded, Slots

pytestmark = pytest.mark.usefixtures("settled_heap")   # timed against the deadline


def test_a_call_that_could_not_start_in_time_is_refused_at_once():
    async def scenario() -> None:
        admission = Admission(slots=1, min_left_s=0.3)
        admission.recent.append(0.5)
        now = time.monotonic()
        admission.admit(now + 0.35, now)                         # nothing ahead: 0.35 s left to start
        await admission.slots.acquire(now)                       # one evaluation in its slot
        with pytest.raises(Overloaded, match="1 evaluations ahead"):
            admission.admit(now + 0.7, now)                      # would start with 0.2 s left
        admission.admit(now + 0.9, now)                          # would start with 0.4 s left

    anyio.run(scenario)


def test_the_typical_length_follows_the_evaluations_run():
    async def scenario() -> Admission:
        admission = Admission(slots=1, min_left_s=0.3)
        for _ in range(3):
            assert await admission.run(lambda: time.sleep(0.02) or "cards", time.monotonic() + 5, 0.0) == "cards"
        return admission

    assert anyio.run(scenario).typical_s > 0.005


def test_a_negative_minimum_never_sheds():
    async def scenario() -> None:
        admission = Admission(slots=1, min_left_s=-1)
        admission.recent.append(10.0)
        await admission.slots.acquire(0.0)
        admission.admit(time.monotonic() - 5, 0.0)

    anyio.run(scenario)


def test_admission_is_decided_in_one_place_for_a_negative_minimum():
    """A negative minimum means "never shed" on arrival and when the slot comes free alike: a call
    past its deadline is then answered (DeadlineReached → service.incomplete), never refused."""
    async def scenario() -> None:
        admission = Admission(slots=1, min_left_s=-1)
        with pytest.raises(DeadlineReached):
            await admission.run(lambda: "cards", time.monotonic() - 1, 0.0)
        shedding = Admission(slots=1, min_left_s=0.3)
        with pytest.raises(Overloaded, match="waited for a free evaluation slot|before the deadline"):
            await shedding.run(lambda: "cards", time.monotonic() + 0.2, 0.0)

    anyio.run(scenario)


def test_a_slot_is_never_held_past_the_deadline():
    """An evaluation still running at its deadline is let go: the call hears DeadlineReached at the
    deadline and the next call gets the slot while the late one is still running."""
    async def scenario() -> None:
        admission = Admission(slots=1, min_left_s=0.0)
        began = time.monotonic()
        with pytest.raises(DeadlineReached):
            await admission.run(lambda: time.sleep(1.0), began + 0.3, began)
        assert time.monotonic() - began < 0.5
        assert await admission.run(lambda: "next", time.monotonic() + 0.5, time.monotonic()) == "next"
        assert time.monotonic() - began < 0.8          # it did not wait for the late evaluation's second

    anyio.run(scenario)


def test_a_large_body_waits_behind_the_calls_of_the_second_after_it():
    """Turns are arrival plus a second per 2 MB: a 2.6 MB body queued first goes after everyday calls
    that arrived up to 1.3 s later, and before those that arrived later still (it is not starved)."""
    async def scenario() -> list[str]:
        slots = Slots(1)
        order: list[str] = []
        await slots.acquire(0.0)                                 # the slot is busy

        async def waiter(name: str, arrived: float, size: int) -> None:
            await slots.acquire(Slots.turn(arrived, size))
            order.append(name)
            slots.release()

        async with anyio.create_task_group() as group:
            for name, arrived, size in (("large", 0.0, 2_600_000), ("soon", 1.0, 9_000), ("first", 0.5, 8_000),
                                        ("much later", 2.0, 8_000)):
                group.start_soon(waiter, name, arrived, size)
                await anyio.sleep(0.01)
            assert slots.ahead_of(Slots.turn(1.2, 0)) == 3
            slots.release()
        return order

    assert anyio.run(scenario) == ["first", "soon", "large", "much later"]


def test_a_cancelled_waiter_leaves_the_queue():
    async def scenario() -> None:
        slots = Slots(1)
        await slots.acquire(0.0)
        with anyio.move_on_after(0.05):
            await slots.acquire(1.0)
        assert slots.ahead_of(2.0) == 1
        slots.release()
        assert slots.busy == 0

    anyio.run(scenario)
