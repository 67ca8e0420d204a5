"""Closed-loop load generator: `concurrency` client processes, one keep-alive connection each.

Each client sends the same body again as soon as its answer is read. Answers that complete during
the warm-up are not counted; after `duration_s` no new request starts, so a cell is bounded by
warm-up + duration + one request. Clients are separate processes (started once, reused), so their
own work never waits for one GIL; their CPU time per request is reported to show the generator
is not the bottleneck. Every 200 answer is checked for the expected cards.
"""

from __future__ import annotations

import http.client
import json
import math
import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

START_SLACK_S = 0.1     # time for the clients to pick up a cell before its warm-up starts
TIMEOUT_S = 60.0        # per request
INCOMPLETE = "service.incomplete"   # the card of an answer cut short by the deadline


@dataclass(frozen=True)
class Target:
    """What a cell sends where, and the card topics every 200 answer must carry."""

    port: int
    path: str
    body: bytes
    expected: frozenset[str]


@dataclass
class CellResult:
    """One load cell: latencies of the 200 answers, every status seen, wrong answers, generator CPU."""

    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)   # 0: no answer (connection error, timeout)
    missing_cards: int = 0                                    # 200 answers without an expected card
    incomplete: int = 0                                       # 200 answers cut short by the deadline
    generator_cpu_s: float = 0.0
    requests_sent: int = 0

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def per_second(self) -> float:
        """200 answers per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def not_ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != 200)

    @property
    def shed(self) -> int:
        """503s: load refused at admission."""
        return self.statuses.get(503, 0)

    @property
    def generator_cpu_ms(self) -> float:
        """Client CPU time per request sent."""
        return 1000 * self.generator_cpu_s / self.requests_sent if self.requests_sent else 0.0

    def percentile(self, q: float) -> float | None:
        """Percentile of the 200 answers' latency (ms); None without answers."""
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        return {"concurrency": self.concurrency, "seconds": round(self.seconds, 3), "ok": self.ok,
                "per_second": round(self.per_second, 1),
                **{f"p{q}_ms": _rounded(self.percentile(q)) for q in (50, 95, 99)},
                "not_ok": self.not_ok, "shed_503": self.shed,
                "statuses": {str(status): count for status, count in sorted(self.statuses.items())},
                "missing_cards": self.missing_cards, "incomplete": self.incomplete,
                "generator_cpu_ms_per_request": round(self.generator_cpu_ms, 3)}


class LoadGenerator:
    """A pool of client processes, started once and reused for every cell."""

    def __init__(self, max_concurrency: int):
        self.max_concurrency = max_concurrency
        self._pool = ProcessPoolExecutor(max_concurrency, mp_context=multiprocessing.get_context("spawn"))
        for started in [self._pool.submit(time.sleep, 0.2) for _ in range(max_concurrency)]:
            started.result()   # every process is up before the first cell

    def __enter__(self) -> LoadGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(cancel_futures=True)

    def start(self, target: Target, concurrency: int, warmup_s: float, duration_s: float) -> Cell:
        """Start a cell; `Cell.result()` waits for it."""
        if concurrency > self.max_concurrency:
            raise ValueError(f"concurrency {concurrency} above the pool's {self.max_concurrency}")
        warm_until = time.monotonic() + START_SLACK_S + warmup_s
        futures = [self._pool.submit(_client, target, warm_until, warm_until + duration_s)
                   for _ in range(concurrency)]
        return Cell(concurrency, warm_until, futures)

    def run(self, target: Target, concurrency: int, warmup_s: float, duration_s: float) -> CellResult:
        return self.start(target, concurrency, warmup_s, duration_s).result()


@dataclass
class Cell:
    """A running cell."""

    concurrency: int
    warm_until: float
    futures: list[Future[_ClientResult]]

    def result(self) -> CellResult:
        clients = [future.result() for future in self.futures]
        last = max((client.last_end for client in clients), default=self.warm_until)
        result = CellResult(self.concurrency, max(0.0, last - self.warm_until))
        for client in clients:
            result.latencies_ms += client.latencies_ms
            for status, count in client.statuses.items():
                result.statuses[status] = result.statuses.get(status, 0) + count
            result.missing_cards += client.missing_cards
            result.incomplete += client.incomplete
            result.generator_cpu_s += client.cpu_s
            result.requests_sent += client.sent
        return result


@dataclass
class _ClientResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    missing_cards: int = 0
    incomplete: int = 0
    cpu_s: float = 0.0
    sent: int = 0
    last_end: float = 0.0


def _client(target: Target, warm_until: float, stop_at: float) -> _ClientResult:
    """One closed-loop client: send, read, check, repeat; at least one request is measured."""
    result, cpu = _ClientResult(), time.process_time()
    headers = {"Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=TIMEOUT_S)
    while result.sent == 0 or time.monotonic() < stop_at:
        started = time.perf_counter()
        try:
            connection.request("POST", target.path, target.body, headers)
            response = connection.getresponse()
            status, answer = response.status, response.read()
        except (OSError, http.client.HTTPException):
            status, answer = 0, b""
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", target.port, timeout=TIMEOUT_S)
        latency_ms, ended = (time.perf_counter() - started) * 1000, time.monotonic()
        result.sent += 1
        if ended < warm_until:
            continue
        result.statuses[status] = result.statuses.get(status, 0) + 1
        result.last_end = ended
        if status == 200:
            result.latencies_ms.append(latency_ms)
            topics = _topics(answer)
            result.missing_cards += not target.expected <= topics
            result.incomplete += INCOMPLETE in topics
    connection.close()
    result.cpu_s = time.process_time() - cpu
    return result


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] if ordered else None


def card_topics(cards: list[dict[str, Any]]) -> set[str]:
    """The topic codes of a CDS Hooks answer's cards."""
    return {card["source"]["topic"]["code"] for card in cards}


def _topics(answer: bytes) -> set[str]:
    try:
        return card_topics(json.loads(answer)["cards"])
    except (ValueError, KeyError, TypeError):
        return set()


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
