"""The card log tallied per hour (the card_hours table): for each hour, service, rule, pack version and
silent flag, the cards issued, their distinct patient keys, the cards accepted and overridden, the
override reasons, and each answered card's first feedback delay.

Kept exact as cards are logged and feedback stored (FeedbackStore calls `add` in the same transaction),
so a report reads one row per hour and rule whatever the number of cards, and still counts distinct
patients and the median delay exactly. Feedback counts once its card is in the log: feedback stored
before its card was logged is tallied when the card comes (`claim_feedback`). `rebuild` makes the same
tally from the raw log (migration 0006; the tests compare the two).
"""

from __future__ import annotations

import json
import sys
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from itertools import chain
from typing import Any

from sqlalchemy import ColumnElement, Connection, Insert, Select, and_, bindparam, delete, select, tuple_, update

from cds.store.database import insert_ignoring_duplicates
from cds.store.tables import as_utc, card_hours, feedback, hour_of, issued_cards

HourKey = tuple[datetime, str, str, str, bool]   # hour, service, rule, pack version ('' for none), silent
ReasonKey = tuple[str | None, str]                # the override reason's system and code
KEY_COLUMNS = (card_hours.c.hour, card_hours.c.service_id, card_hours.c.rule_id, card_hours.c.pack_version,
               card_hours.c.silent)
CARD_COLUMNS = (issued_cards.c.card_uuid, issued_cards.c.issued_at, issued_cards.c.service_id,
                issued_cards.c.rule_id, issued_cards.c.pack_version, issued_cards.c.silent,
                issued_cards.c.patient_key)
FEEDBACK_COLUMNS = (feedback.c.card_uuid, feedback.c.outcome, feedback.c.outcome_at, feedback.c.override_system,
                    feedback.c.override_code, feedback.c.override_display)
REBUILD_BATCH = 10_000
KEYS_PER_STATEMENT = 1_000       # rows locked per statement (PostgreSQL takes at most 65,535 parameters)
ROWS_PER_PARSE = 500             # reason lists parsed at once (a few ms: the GIL passes to calls in between)


@dataclass
class Tally:
    """Some cards and their feedback: how many, their distinct patient keys, how many were accepted and
    overridden, the override reasons (count, and the greatest display seen), and the first feedback
    delay of each answered card in milliseconds (a multiset; a change may take delays away)."""

    cards: int = 0
    patients: set[int] = field(default_factory=set)
    accepted: int = 0
    overridden: int = 0
    reasons: Counter[ReasonKey] = field(default_factory=Counter)
    displays: dict[ReasonKey, str] = field(default_factory=dict)
    delays: Counter[int] = field(default_factory=Counter)

    def merge(self, other: Tally) -> None:
        self.cards += other.cards
        self.patients |= other.patients
        self.accepted += other.accepted
        self.overridden += other.overridden
        self.reasons.update(other.reasons)
        for reason, display in other.displays.items():
            _keep_greatest(self.displays, reason, display)
        self.delays.update(other.delays)
        for delay in [delay for delay, count in self.delays.items() if count <= 0]:
            del self.delays[delay]

    def stored(self) -> dict[str, Any]:
        """The tally as card_hours' columns (its key apart)."""
        return {"cards": self.cards, "patients": _packed(sorted(self.patients)), "accepted": self.accepted,
                "overridden": self.overridden,
                "reasons": [[system, code, count, self.displays.get((system, code))]
                            for (system, code), count in sorted(self.reasons.items(), key=str)] or None,
                "delays": _packed(sorted(self.delays.elements())) or None}

    def as_added(self) -> tuple[int, bytes, int, int, str | None, bytes | None]:
        """The tally as Totals.add takes it."""
        stored = self.stored()
        return (stored["cards"], stored["patients"], stored["accepted"], stored["overridden"],
                json.dumps(stored["reasons"]) if stored["reasons"] else None, stored["delays"])

    @classmethod
    def from_stored(cls, row: Any) -> Tally:
        """The tally of a card_hours row (read with every column of `stored`)."""
        reasons = row.reasons or []
        return cls(cards=row.cards, patients=set(_unpacked(row.patients)), accepted=row.accepted,
                   overridden=row.overridden,
                   reasons=Counter({(system, code): count for system, code, count, _ in reasons}),
                   displays={(system, code): display for system, code, _, display in reasons if display is not None},
                   delays=Counter(_unpacked(row.delays)))


@dataclass
class Totals:
    """Tallies summed for a report, as stored (`add`: card_hours' columns, the reasons as JSON text): the
    patient keys, reasons and delays are decoded once, when asked for."""

    cards: int = 0
    accepted: int = 0
    overridden: int = 0
    patient_keys: list[bytes] = field(default_factory=list)
    reason_lists: list[str] = field(default_factory=list)
    delay_lists: list[bytes] = field(default_factory=list)

    def add(self, cards: int, patients: bytes | None, accepted: int, overridden: int, reasons: str | None,
            delays: bytes | None) -> None:
        self.cards += cards
        self.accepted += accepted
        self.overridden += overridden
        for found, kept in ((patients, self.patient_keys), (reasons, self.reason_lists), (delays, self.delay_lists)):
            if found:
                kept.append(found)  # type: ignore[arg-type]

    def merge(self, other: Totals) -> None:
        self.add(other.cards, None, other.accepted, other.overridden, None, None)
        self.patient_keys += other.patient_keys
        self.reason_lists += other.reason_lists
        self.delay_lists += other.delay_lists

    def patients(self) -> int:
        """How many distinct patient keys."""
        seen: set[int] = set()
        for keys in self.patient_keys:   # a row at a time: between rows the GIL can pass to a service call
            seen.update(_unpacked(keys))
        return len(seen)

    def reasons(self) -> list[tuple[str | None, str, int, str | None]]:
        """Each override reason: system, code, count, and the greatest display seen."""
        counts: Counter[ReasonKey] = Counter()
        displays: dict[ReasonKey, str] = {}
        texts = self.reason_lists
        parsed = (json.loads(f"[{','.join(texts[start:start + ROWS_PER_PARSE])}]")
                  for start in range(0, len(texts), ROWS_PER_PARSE))
        for system, code, count, display in chain.from_iterable(chain.from_iterable(parsed)):
            counts[system, code] += count
            if display is not None:
                _keep_greatest(displays, (system, code), display)
        return [(system, code, count, displays.get((system, code))) for (system, code), count in counts.items()]

    def median_seconds(self) -> float | None:
        """The median first delay in seconds (the mean of the two middle ones for an even count)."""
        delays = sorted(_unpacked(b"".join(self.delay_lists)))
        return (delays[(len(delays) - 1) // 2] + delays[len(delays) // 2]) / 2000 if delays else None


def hour_key(card: Mapping[str, Any]) -> HourKey:
    """The card_hours key of a card-log row."""
    return (hour_of(card["issued_at"]), card["service_id"], card["rule_id"], card["pack_version"] or "",
            bool(card["silent"]))


def card_tallies(cards: Iterable[Mapping[str, Any]]) -> dict[HourKey, Tally]:
    """Card-log rows (CARD_COLUMNS) tallied per hour key: cards and distinct patient keys."""
    tallies: dict[HourKey, Tally] = {}
    for card in cards:
        tally = tallies.setdefault(hour_key(card), Tally())
        tally.cards += 1
        if card["patient_key"] is not None:
            tally.patients.add(card["patient_key"])
    return tallies


def feedback_tallies(added: Iterable[Mapping[str, Any]], cards: Mapping[str, Mapping[str, Any]],
                     earlier: Mapping[str, list[datetime]]) -> dict[HourKey, Tally]:
    """Feedback rows (FEEDBACK_COLUMNS) newly counted, tallied per their card's hour key: outcomes,
    reasons, and each card's first delay moved from what its `earlier` counted feedback gave (their
    outcome times) to what it gives with the new rows. `cards`: each card's card-log row by uuid."""
    tallies: dict[HourKey, Tally] = {}
    new_times: dict[str, list[datetime]] = {}
    for row in added:
        card = cards[row["card_uuid"]]
        tally = tallies.setdefault(hour_key(card), Tally())
        if row["outcome"] == "accepted":
            tally.accepted += 1
        else:
            tally.overridden += 1
            if row["override_code"] is not None:
                reason = (row["override_system"], row["override_code"])
                tally.reasons[reason] += 1
                if row["override_display"] is not None:
                    _keep_greatest(tally.displays, reason, row["override_display"])
        if row["outcome_at"] is not None:
            new_times.setdefault(row["card_uuid"], []).append(as_utc(row["outcome_at"]))
    for uuid, times in new_times.items():
        card, before = cards[uuid], earlier.get(uuid, [])
        delays = tallies[hour_key(card)].delays
        if before:
            delays[_delay_ms(card["issued_at"], min(before))] -= 1
        delays[_delay_ms(card["issued_at"], min(before + times))] += 1
    return tallies


def add(connection: Connection, tallies: Mapping[HourKey, Tally], locked: dict[HourKey, Tally] | None = None) -> None:
    """Add tallies to their card_hours rows (made when missing), each row locked while it changes
    (`locked`: what `lock` gave for them earlier in the transaction)."""
    if not tallies:
        return
    stored = lock(connection, tallies) if locked is None else locked
    for key, counted in tallies.items():
        stored[key].merge(counted)
    connection.execute(_UPDATE, [{**_key_params("key_", key), **stored[key].stored()} for key in sorted(tallies)])


def lock(connection: Connection, keys: Iterable[HourKey]) -> dict[HourKey, Tally]:
    """The card_hours rows of `keys` (made empty when missing), locked for the transaction in key order
    (PostgreSQL; an SQLite writer holds the database): two writers cannot lose each other's change."""
    wanted = sorted(set(keys))
    if wanted:
        connection.execute(_insert_ignoring_duplicates(connection.dialect.name),
                           [{**_key_params("", key), **_EMPTY} for key in wanted])
    locked: dict[HourKey, Tally] = {}
    for start in range(0, len(wanted), KEYS_PER_STATEMENT):
        for row in connection.execute(_LOCK, {"keys": wanted[start:start + KEYS_PER_STATEMENT]}):
            locked[hour_of(row.hour), row.service_id, row.rule_id, row.pack_version, bool(row.silent)] = (
                Tally.from_stored(row))
    return locked


def claim_feedback(connection: Connection, uuids: Collection[str] | None = None,
                   received_since: datetime | None = None) -> list[dict[str, Any]]:
    """Feedback stored before its card was logged, now that the card is (of these cards; received since
    then; or all): each row given its card's rule, pack version, indicator and issue time, and returned
    (FEEDBACK_COLUMNS) for the caller to tally. A row is claimed once, however many writers look."""
    if uuids is not None:
        return [dict(row) for row in connection.execute(_CLAIM_CARDS, {"uuids": list(uuids)}).mappings()]
    since = () if received_since is None else (feedback.c.received_at >= received_since,)
    return [dict(row) for row in connection.execute(_CLAIM.where(*since)).mappings()]


def counted_outcome_times(connection: Connection, uuids: Collection[str],
                          leaving_out: Collection[tuple[str, str]] = ()) -> dict[str, list[datetime]]:
    """The outcome times of the feedback already counted for these cards, by card, but for the (card,
    outcome) pairs left out (the rows being added)."""
    times: dict[str, list[datetime]] = {}
    for uuid, outcome, at in connection.execute(_COUNTED, {"uuids": list(uuids)}):
        if (uuid, outcome) not in leaving_out:
            times.setdefault(uuid, []).append(as_utc(at))
    return times


def rebuild(connection: Connection) -> None:
    """Make card_hours again from the card log and its counted feedback, an hour at a time (memory
    stays bounded by the busiest hour)."""
    connection.execute(delete(card_hours))
    cards = connection.execute(select(*CARD_COLUMNS).order_by(issued_cards.c.issued_at)
                               .execution_options(yield_per=REBUILD_BATCH)).mappings()
    _add_by_hour(connection, cards, card_tallies)
    answered = connection.execute(answered_cards().order_by(issued_cards.c.issued_at)
                                  .execution_options(yield_per=REBUILD_BATCH)).mappings()
    _add_by_hour(connection, answered, answered_tallies)


def answered_cards(*where: ColumnElement[bool]) -> Select[Any]:
    """Counted feedback (FEEDBACK_COLUMNS) with its card's columns (CARD_COLUMNS), matching `where`."""
    return (select(*FEEDBACK_COLUMNS, *(column for column in CARD_COLUMNS if column.name != "card_uuid"))
            .join_from(feedback, issued_cards, and_(issued_cards.c.card_uuid == feedback.c.card_uuid,
                                                    issued_cards.c.service_id == feedback.c.service_id))
            .where(feedback.c.card_issued_at.is_not(None), *where))


def answered_tallies(rows: list[Mapping[str, Any]]) -> dict[HourKey, Tally]:
    """Rows of `answered_cards`, holding every counted feedback of their cards, tallied per hour key."""
    return feedback_tallies(rows, {row["card_uuid"]: row for row in rows}, {})


def _add_by_hour(connection: Connection, rows: Iterable[Mapping[str, Any]],
                 tallied: Callable[[list[Mapping[str, Any]]], dict[HourKey, Tally]]) -> None:
    """Tally rows ordered by issue time and add them an hour at a time."""
    pending: list[Mapping[str, Any]] = []
    for row in rows:
        if pending and hour_of(row["issued_at"]) != hour_of(pending[-1]["issued_at"]):
            add(connection, tallied(pending))
            pending = []
        pending.append(dict(row))
    add(connection, tallied(pending))


def _keep_greatest(displays: dict[ReasonKey, str], reason: ReasonKey, display: str) -> None:
    """Keep the greatest display seen for a reason, as SQL's max() would (one display per reason shown)."""
    displays[reason] = max(display, displays.get(reason, display))


def _key_params(prefix: str, key: HourKey) -> dict[str, Any]:
    return {f"{prefix}{column.name}": value for column, value in zip(KEY_COLUMNS, key, strict=True)}


@cache
def _insert_ignoring_duplicates(dialect: str) -> Insert:
    return insert_ignoring_duplicates(dialect, card_hours)


def _delay_ms(issued_at: datetime, outcome_at: datetime) -> int:
    return round((as_utc(outcome_at) - as_utc(issued_at)).total_seconds() * 1000)


def _packed(numbers: list[int]) -> bytes:
    """Signed 64-bit integers as bytes, little-endian whatever the machine."""
    packed = array("q", numbers)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _unpacked(data: bytes | None) -> array[int]:
    numbers = array("q", data or b"")
    if sys.byteorder == "big":
        numbers.byteswap()
    return numbers


_EMPTY = Tally().stored()
_LOCK = (select(card_hours).where(tuple_(*KEY_COLUMNS).in_(bindparam("keys", expanding=True)))
         .order_by(*KEY_COLUMNS).with_for_update())
_UPDATE = update(card_hours).where(*(column == bindparam(f"key_{column.name}") for column in KEY_COLUMNS))
_CLAIM = (update(feedback)
          .where(feedback.c.card_uuid == issued_cards.c.card_uuid, feedback.c.service_id == issued_cards.c.service_id,
                 feedback.c.card_issued_at.is_(None))
          .values(card_issued_at=issued_cards.c.issued_at, rule_id=issued_cards.c.rule_id,
                  pack_version=issued_cards.c.pack_version, indicator=issued_cards.c.indicator)
          .returning(*FEEDBACK_COLUMNS))
_CLAIM_CARDS = _CLAIM.where(feedback.c.card_uuid.in_(bindparam("uuids", expanding=True)))
_COUNTED = (select(feedback.c.card_uuid, feedback.c.outcome, feedback.c.outcome_at)
            .where(feedback.c.card_uuid.in_(bindparam("uuids", expanding=True)), feedback.c.card_issued_at.is_not(None),
                   feedback.c.outcome_at.is_not(None)))
