"""A worker process writing feedback, for durability tests: `python -m tests.feedback_writer URL NAME COUNT`.

From 4 threads, stores COUNT cards that every worker stores too (`shared-<i>`) and COUNT of its own
(`<NAME>-<i>`); with COUNT 0, its own cards one at a time, forever. Each stored request is printed
as `[card, stored]` once its transaction has committed.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from cds.store.feedback import FeedbackRequest, FeedbackStore

_print_lock = threading.Lock()


def feedback(card: str) -> FeedbackRequest:
    return FeedbackRequest.model_validate({"feedback": [
        {"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-30T10:00:00Z"}]})


def _store(store: FeedbackStore, card: str) -> None:
    stored = store.store("b12-order-sign", feedback(card))["stored"]
    with _print_lock:
        print(json.dumps([card, stored]), flush=True)


def main(url: str, name: str, count: int) -> None:
    store = FeedbackStore(url)
    if count == 0:
        for number in itertools.count():
            _store(store, f"{name}-{number}")
    cards = [f"shared-{i}" for i in range(count)] + [f"{name}-{i}" for i in range(count)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda card: _store(store, card), cards))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
