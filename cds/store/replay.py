"""jti replay caches: each (iss, jti) is accepted once until the token expires.

The SQL cache shares the service's store, so every worker and replica sees the same jtis: the
first INSERT of a key wins and any other one finds the row (a conflict) and is refused. The
guarded cache in front of it gives every store operation a time limit and falls back to the
worker's own memory when the store cannot answer: a store outage never breaks a call.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from cds.metrics import REPLAY_STORE_UNAVAILABLE
from cds.store.migrations import upgrade
from cds.store.tables import seen_tokens
from cds.timeouts import BoundedCalls, NoAnswer

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 60.0
STORE_TIMEOUT_S = 0.2   # a store operation on the request path
STORE_THREADS = 4       # store operations in flight at once per worker

class ReplayCache(Protocol):
    def first_use(self, iss: str, jti: str, expires_at: int) -> bool:
        """True the first time (iss, jti) is seen before `expires_at`; False for a replay."""


def token_key(iss: str, jti: str) -> str:
    return hashlib.sha256(f"{iss}\0{jti}".encode()).hexdigest()


class MemoryReplayCache:
    """One process only (a single worker, tests); expired entries are pruned about once a minute."""

    def __init__(self) -> None:
        self._expiry: dict[str, int] = {}
        self._pruned_at = 0.0
        self._lock = threading.Lock()

    def first_use(self, iss: str, jti: str, expires_at: int) -> bool:
        key, now = token_key(iss, jti), time.time()
        with self._lock:
            if now - self._pruned_at >= PRUNE_EVERY_S:
                self._pruned_at = now
                self._expiry = {k: e for k, e in self._expiry.items() if e >= now}
            if self._expiry.get(key, 0) >= now:
                return False
            self._expiry[key] = expires_at
            return True


class SqlReplayCache:
    """Shared through the SQL store (SQLite or PostgreSQL); expired rows are pruned about once a minute."""

    def __init__(self, engine: Engine):
        dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(engine.dialect.name)
        if dialect is None:
            raise ValueError(f"unsupported database '{engine.dialect.name}': use SQLite or PostgreSQL")
        self.engine = engine
        self._insert = dialect.insert(seen_tokens)
        self._pruned_at = 0.0
        upgrade(engine)   # the table comes from the migrations (cds/store/migrations)

    def first_use(self, iss: str, jti: str, expires_at: int) -> bool:
        now = time.time()
        # A row whose token has expired is taken over; a live one makes this a replay.
        statement = self._insert.on_conflict_do_update(
            index_elements=[seen_tokens.c.token_key], set_={"expires_at": expires_at},
            where=seen_tokens.c.expires_at < int(now)).returning(seen_tokens.c.token_key)
        with self.engine.begin() as connection:
            if now - self._pruned_at >= PRUNE_EVERY_S:
                self._pruned_at = now
                connection.execute(delete(seen_tokens).where(seen_tokens.c.expires_at < int(now)))
            return connection.execute(statement, {"token_key": token_key(iss, jti),
                                                  "expires_at": expires_at}).first() is not None


class GuardedReplayCache:
    """The shared cache with a time limit per operation, in front of this worker's memory cache.

    Every jti this worker accepts is also kept in memory, so a replay to the same worker is refused
    even while the store is down. When the store does not answer within STORE_TIMEOUT_S, or fails,
    the memory cache alone decides (counted in cds_replay_store_unavailable_total): a token replayed
    to another worker or replica during the outage is not caught, a refused call would be worse.
    """

    def __init__(self, shared: ReplayCache, timeout_s: float = STORE_TIMEOUT_S):
        self.shared = shared
        self.local = MemoryReplayCache()
        self.shared_answers = True
        self._calls = BoundedCalls("replay-store", STORE_THREADS, timeout_s)

    def first_use(self, iss: str, jti: str, expires_at: int) -> bool:
        if not self.local.first_use(iss, jti, expires_at):
            return False
        try:
            first = self._calls.call(lambda: self.shared.first_use(iss, jti, expires_at))
        except Exception as error:   # NoAnswer, or whatever the store or its driver raised
            REPLAY_STORE_UNAVAILABLE.inc()
            if self.shared_answers:
                log.error("replay store unavailable (%s): this worker's own replay cache decides until it answers",
                          error if isinstance(error, NoAnswer) else type(error).__name__)
            self.shared_answers = False
            return True
        if not self.shared_answers:
            log.info("replay store answers again")
        self.shared_answers = True
        return first
