"""jti replay caches: each (iss, jti) is accepted once until the token expires.

The SQL cache shares the service's store, so every worker and replica sees the same jtis: the
first INSERT of a key wins and any other one finds the row (a conflict) and is refused.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Protocol

from sqlalchemy import BigInteger, Column, MetaData, String, Table, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from cds.migrations import upgrade

PRUNE_EVERY_S = 60.0

metadata = MetaData()

seen_tokens = Table(
    "seen_tokens", metadata,
    Column("token_key", String(64), primary_key=True),     # sha256 of iss and jti: fixed size, any jti
    Column("expires_at", BigInteger, nullable=False, index=True),  # epoch seconds
)


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
        upgrade(engine)   # the table comes from the migrations (cds/migrations)

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
