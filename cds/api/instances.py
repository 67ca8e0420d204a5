"""One hookInstance reaching two of this service's CDS services: a deployment that registered both
b12-order-sign and b12-label-check for the same users' order-sign shows every label card twice
(service.md, "Services"). Seen within this worker process; counted and logged at most once a day."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from prometheus_client import Counter

log = logging.getLogger(__name__)

MULTI_SERVICE = Counter("cds_hook_instance_multi_service_total",
                        "hookInstances that reached more than one CDS service of this deployment")
_REMEMBERED = 10_000            # recent hookInstances kept (an order-sign's calls arrive within seconds)
_WARN_EVERY_S = 24 * 3600


class HookInstanceWatch:
    def __init__(self, remembered: int = _REMEMBERED, warn_every_s: float = _WARN_EVERY_S):
        self._seen: OrderedDict[str, set[str]] = OrderedDict()
        self._remembered = remembered
        self._warn_every_s = warn_every_s
        self._warned_at: float | None = None
        self._lock = threading.Lock()

    def seen(self, hook_instance: str, service_id: str) -> None:
        """Note a call; count (and now and then log) a hookInstance that another service answered already."""
        with self._lock:
            services = self._seen.pop(hook_instance, set())
            first_time_here = service_id not in services
            services.add(service_id)
            self._seen[hook_instance] = services
            while len(self._seen) > self._remembered:
                self._seen.popitem(last=False)
            if len(services) < 2 or not first_time_here:
                return
            MULTI_SERVICE.inc()
            now = time.monotonic()
            if self._warned_at is not None and now - self._warned_at < self._warn_every_s:
                return
            self._warned_at = now
        log.warning("configuration: one hookInstance reached %s; register b12-label-check only for pharmacist "
                    "verification, not beside b12-order-sign for the same users (every label card shows twice)",
                    ", ".join(sorted(services)))
