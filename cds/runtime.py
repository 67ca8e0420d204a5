"""The rules the service runs now, swapped atomically on reload; old rules serve on failure."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from cds.engine import RuleEngine
from cds.facts.normalize import Normalizer
from cds.metrics import RELOADS, RULES_LOADED
from cds.rulebook import Rulebook, RulebookError, load_rulebook

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedRules:
    """One consistent generation: the rulebook, its compiled engine and its normalizer."""

    rulebook: Rulebook
    engine: RuleEngine
    normalizer: Normalizer
    prefetch: dict[str, str]


def build(rulebook: Rulebook) -> LoadedRules:
    return LoadedRules(rulebook, RuleEngine(rulebook), Normalizer(rulebook.facts_config, rulebook.valuesets),
                       prefetch_templates(rulebook))


def prefetch_templates(rulebook: Rulebook) -> dict[str, str]:
    """The contract prefetch templates with every lab LOINC code filled in."""
    config = rulebook.facts_config
    codes = [code for spec in config["labs"].values() for code in spec["loinc"]]
    codes += config["intrinsic_factor_antibody"]["loinc"]
    joined = ",".join(dict.fromkeys(codes))
    return {key: template.replace("{observation_codes}", joined) for key, template in rulebook.prefetch.items()}


class RuleRuntime:
    """Holds the current LoadedRules; a request takes one reference and uses it throughout."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.current = build(load_rulebook(directory))
        self.last_error: RulebookError | None = None
        self._reload_lock = threading.Lock()
        RULES_LOADED.set(len(self.current.rulebook.rules()))

    def reload(self) -> bool:
        """Load the directory again; on any error keep the current rules and remember why."""
        with self._reload_lock:
            try:
                fresh = build(load_rulebook(self.directory))
            except RulebookError as error:
                self.last_error = error
                RELOADS.labels("rejected").inc()
                log.error("rule reload rejected, still serving rules %s:\n%s",
                          self.current.rulebook.digest, error)
                return False
            previous, self.current = self.current, fresh
            self.last_error = None
            RELOADS.labels("ok").inc()
            RULES_LOADED.set(len(fresh.rulebook.rules()))
            log.info("rules reloaded: %s → %s", previous.rulebook.digest, fresh.rulebook.digest)
            return True


def watch_rules(runtime: RuleRuntime, stop: threading.Event | None = None) -> None:
    """Reload whenever a file under the rules directory changes (blocking; run in a thread)."""
    from watchfiles import watch

    for _changes in watch(runtime.directory, stop_event=stop, debounce=300):
        runtime.reload()
