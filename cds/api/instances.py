"""One order-sign event reaching two of this service's CDS services: a deployment that registered both
b12-order-sign and b12-label-check for the same users' order-sign shows every label card twice
(service.md, "Services"). An event is known by its hookInstance, and by its patient and draft ids
within a minute (some clients, the CDS Hooks Sandbox among them, send each service its own
hookInstance). Seen within this worker process; counted and logged at most once a day."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from prometheus_client import Counter

log = logging.getLogger(__name__)

MULTI_SERVICE = Counter("cds_hook_instance_multi_service_total",
                        "hookInstances (or one patient's same drafts within a minute) that reached more than one "
                        "CDS service of this deployment")
_REMEMBERED = 10_000            # recent events kept (an order-sign's calls arrive within seconds)
_SAME_EVENT_S = 60.0
_WARN_EVERY_S = 24 * 3600


def event_keys(hook_instance: str, patient_id: str, draft_ids: Sequence[str]) -> list[str]:
    """The keys one call's event is known by: its hookInstance, and its patient's drafts if they have ids."""
    keys = [f"instance:{hook_instance}"]
    if draft_ids:
        keys.append(f"drafts:{patient_id}|{'|'.join(sorted(draft_ids))}")
    return keys


class HookInstanceWatch:
    def __init__(self, remembered: int = _REMEMBERED, warn_every_s: float = _WARN_EVERY_S,
                 same_event_s: float = _SAME_EVENT_S):
        self._seen: OrderedDict[str, tuple[float, set[str]]] = OrderedDict()
        self._remembered = remembered
        self._warn_every_s = warn_every_s
        self._same_event_s = same_event_s
        self._warned_at: float | None = None
        self._lock = threading.Lock()

    def seen(self, keys: Sequence[str], service_id: str) -> None:
        """Note a call known by `keys` (event_keys); count (and now and then log) an event that another
        service answered already."""
        now = time.monotonic()
        with self._lock:
            others = set().union(*(self._note(key, service_id, now) for key in keys))
            if not others:
                return
            MULTI_SERVICE.inc()
            if self._warned_at is not None and now - self._warned_at < self._warn_every_s:
                return
            self._warned_at = now
        log.warning("configuration: one order-sign reached %s; register b12-label-check only for pharmacist "
                    "verification, not beside b12-order-sign for the same users (every label card shows twice)",
                    ", ".join(sorted({service_id, *others})))

    def _note(self, key: str, service_id: str, now: float) -> set[str]:
        """Add the service to the key's event; the other services of it when this one is new to it."""
        first_seen, services = self._seen.pop(key, (now, set()))
        if now - first_seen > self._same_event_s:
            first_seen, services = now, set()
        new_here = service_id not in services
        others = set(services) if new_here else set()
        services.add(service_id)
        self._seen[key] = (first_seen, services)
        while len(self._seen) > self._remembered:
            self._seen.popitem(last=False)
        return others
