"""The rules the service runs now, swapped atomically on reload; old rules serve on failure, and a
replaced generation's compiled rulesets are freed once no request holds it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cds.generation import LoadedRules, load
from cds.metrics import RELOADS, RULES_LOADED
from cds.rulebook import RulebookError
from cds.rulebook.model import LoadError
from cds.rulebook.profiles import DEFAULT_PROFILE
from cds.ruletests import run_rule_tests, summary

log = logging.getLogger(__name__)


def load_vetted(directory: Path, check_examples: bool, vetted_digest: str | None = None,
                profile: str = DEFAULT_PROFILE) -> tuple[LoadedRules, str]:
    """`load`, and with `check_examples` the rules' own examples too (unless they are the rules of
    `vetted_digest`, whose examples passed already): raises RulebookError naming each failing example
    (the refused generation freed). Returns the rules, and what became of their examples in one line."""
    rules = load(directory, profile)
    if not check_examples:
        return rules, "examples not run"
    if rules.rulebook.digest == vetted_digest:
        return rules, "examples passed before the workers started"
    results = run_rule_tests(rules)
    errors = [result.as_error() for result in results if not result.passed]
    if errors:
        rules.engine.release()
        raise RulebookError(errors)
    return rules, summary(results)


class RuleRuntime:
    """Holds the current LoadedRules; a request leases one and uses it throughout (`lease`).

    With `check_examples`, rules that fail their own examples are refused at start and on reload, like
    a schema error (the `cds serve` default; the library default leaves examples to `cds rules test`).
    `vetted_digest`: rules whose examples another process has just run, not run again at start.
    `examples` says in one line what became of the current rules' examples ("34 rules, 121 examples: all
    passed")."""

    def __init__(self, directory: Path, check_examples: bool = False, vetted_digest: str | None = None,
                 profile: str = DEFAULT_PROFILE):
        self.directory = directory
        self.check_examples = check_examples
        self.profile = profile
        self.current, self.examples = load_vetted(directory, check_examples, vetted_digest, profile)
        self.last_error: RulebookError | None = None
        self._reload_lock = threading.Lock()
        self._leases = _Leases()
        self.on_reload: list[Callable[[], None]] = []   # called after each reload that went live
        RULES_LOADED.set(len(self.current.rulebook.rules()))

    @contextmanager
    def lease(self) -> Iterator[LoadedRules]:
        """The rules in force, kept (not freed by a reload) until the block ends."""
        with self._leases.held(lambda: self.current) as rules:
            yield rules

    def reload(self) -> bool:
        """Load the directory again; on a load error keep the current rules and remember why."""
        with self._reload_lock:
            try:
                fresh, examples = load_vetted(self.directory, self.check_examples, profile=self.profile)
            except (RulebookError, OSError, ValueError) as error:  # the current rules keep serving
                if not isinstance(error, RulebookError):
                    log.exception("unexpected error loading %s", self.directory)
                    error = RulebookError([LoadError(str(self.directory), 1, f"could not load the rules: {error!r}")])
                self.last_error = error
                RELOADS.labels("rejected").inc()
                log.error("rule reload rejected, still serving rules %s:\n%s",
                          self.current.rulebook.digest, error)
                return False
            previous = self._leases.replace(self, fresh)
            self.examples = examples
            self.last_error = None
            RELOADS.labels("ok").inc()
            RULES_LOADED.set(len(fresh.rulebook.rules()))
            for listener in self.on_reload:
                listener()
            if self.check_examples:
                log.info("rules reloaded: %s → %s", previous.rulebook.digest, fresh.rulebook.digest)
            else:
                log.warning("rules reloaded WITHOUT CHECKING THEIR EXAMPLES: %s → %s; run `cds rules test %s`",
                            previous.rulebook.digest, fresh.rulebook.digest, self.directory)
            return True


class _Leases:
    """How many requests hold each generation; a replaced generation is freed when the last lets go."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, int] = {}
        self._replaced: dict[int, LoadedRules] = {}

    @contextmanager
    def held(self, current: Any) -> Iterator[LoadedRules]:
        with self._lock:
            rules = current()
            self._held[id(rules)] = self._held.get(id(rules), 0) + 1
        try:
            yield rules
        finally:
            with self._lock:
                self._held[id(rules)] -= 1
                done = self._held[id(rules)] == 0
                if done:
                    del self._held[id(rules)]
                freed = self._replaced.pop(id(rules), None) if done else None
            if freed is not None:
                freed.engine.release()

    def replace(self, runtime: RuleRuntime, fresh: LoadedRules) -> LoadedRules:
        """Swap in `fresh`; free the previous generation now if no request holds it, else when the last does."""
        with self._lock:
            previous, runtime.current = runtime.current, fresh
            held = id(previous) in self._held
            if held:
                self._replaced[id(previous)] = previous
        if not held:
            previous.engine.release()
        return previous


def watch_rules(runtime: RuleRuntime, stop: threading.Event | None = None) -> None:
    """Reload whenever a file under the rules directory changes (blocking; run in a thread)."""
    from watchfiles import watch

    for _changes in watch(runtime.directory, stop_event=stop, debounce=300, watch_filter=_rule_file):
        runtime.reload()


def _rule_file(change: Any, path: str) -> bool:
    """Editors' lock and backup files (.#units.yaml, units.yaml~) are not rule changes."""
    name = Path(path).name
    return not name.startswith(".") and not name.endswith("~")
