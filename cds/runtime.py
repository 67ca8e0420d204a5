"""The rules the service runs now, swapped atomically on reload; old rules serve on failure."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.engine import RuleEngine
from cds.facts.normalize import Normalizer
from cds.fhir.select import ResourceSelector
from cds.metrics import RELOADS, RULES_LOADED
from cds.rulebook import Rulebook, RulebookError, load_rulebook
from cds.rulebook.model import LoadError
from cds.rulebook.profiles import DEFAULT_PROFILE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedRules:
    """One consistent generation: the rulebook, its compiled engine, its normalizer and the choice
    of the resources it reads."""

    rulebook: Rulebook
    engine: RuleEngine
    normalizer: Normalizer
    prefetch: dict[str, str]
    selects: ResourceSelector


def build(rulebook: Rulebook) -> LoadedRules:
    """Compile a validated rulebook; raises RulebookError if the engine refuses it all the same."""
    try:
        engine = RuleEngine(rulebook)
    except Exception as error:  # durable_rules reports a ruleset it cannot read with a bare Exception
        raise RulebookError([LoadError(str(rulebook.directory), 1, f"the rule engine refused the rules: {error}",
                                       hint="please report this: the checks should have caught it")]) from None
    return LoadedRules(rulebook, engine, Normalizer(rulebook.facts_config, rulebook.valuesets),
                       prefetch_templates(rulebook), ResourceSelector(rulebook.facts_config, rulebook.valuesets))


def load(directory: Path, profile: str = DEFAULT_PROFILE) -> LoadedRules:
    """Read, validate and compile a rules directory under a site profile."""
    return build(load_rulebook(directory, profile))


def load_vetted(directory: Path, check_examples: bool, vetted_digest: str | None = None,
                profile: str = DEFAULT_PROFILE) -> LoadedRules:
    """`load`, and with `check_examples` the rules' own examples too (unless they are the rules of
    `vetted_digest`, whose examples passed already): raises RulebookError naming each failing example."""
    rules = load(directory, profile)
    if check_examples and rules.rulebook.digest != vetted_digest:
        from cds.ruletests import example_errors  # runs the pipeline, which needs this module

        errors = example_errors(rules)
        if errors:
            raise RulebookError(errors)
    return rules


def prefetch_templates(rulebook: Rulebook) -> dict[str, str]:
    """The contract prefetch templates with every lab LOINC code filled in."""
    config = rulebook.facts_config
    codes = [code for spec in config["labs"].values() for code in spec["loinc"]]
    codes += config["intrinsic_factor_antibody"]["loinc"]
    joined = ",".join(dict.fromkeys(codes))
    return {key: template.replace("{observation_codes}", joined) for key, template in rulebook.prefetch.items()}


class RuleRuntime:
    """Holds the current LoadedRules; a request takes one reference and uses it throughout.

    With `check_examples`, rules that fail their own examples are refused at start and on reload, like
    a schema error (the `cds serve` default; the library default leaves examples to `cds rules test`).
    `vetted_digest`: rules whose examples another process has just run, not run again at start."""

    def __init__(self, directory: Path, check_examples: bool = False, vetted_digest: str | None = None,
                 profile: str = DEFAULT_PROFILE):
        self.directory = directory
        self.check_examples = check_examples
        self.profile = profile
        self.current = load_vetted(directory, check_examples, vetted_digest, profile)
        self.last_error: RulebookError | None = None
        self._reload_lock = threading.Lock()
        RULES_LOADED.set(len(self.current.rulebook.rules()))

    def reload(self) -> bool:
        """Load the directory again; on any error keep the current rules and remember why."""
        with self._reload_lock:
            try:
                fresh = load_vetted(self.directory, self.check_examples, profile=self.profile)
            except Exception as error:  # whatever went wrong, the current rules keep serving
                if not isinstance(error, RulebookError):
                    log.exception("unexpected error loading %s", self.directory)
                    error = RulebookError([LoadError(str(self.directory), 1, f"could not load the rules: {error!r}")])
                self.last_error = error
                RELOADS.labels("rejected").inc()
                log.error("rule reload rejected, still serving rules %s:\n%s",
                          self.current.rulebook.digest, error)
                return False
            previous, self.current = self.current, fresh
            self.last_error = None
            RELOADS.labels("ok").inc()
            RULES_LOADED.set(len(fresh.rulebook.rules()))
            if self.check_examples:
                log.info("rules reloaded: %s → %s", previous.rulebook.digest, fresh.rulebook.digest)
            else:
                log.warning("rules reloaded WITHOUT CHECKING THEIR EXAMPLES: %s → %s; run `cds rules test %s`",
                            previous.rulebook.digest, fresh.rulebook.digest, self.directory)
            return True


def watch_rules(runtime: RuleRuntime, stop: threading.Event | None = None) -> None:
    """Reload whenever a file under the rules directory changes (blocking; run in a thread)."""
    from watchfiles import watch

    for _changes in watch(runtime.directory, stop_event=stop, debounce=300, watch_filter=_rule_file):
        runtime.reload()


def _rule_file(change: Any, path: str) -> bool:
    """Editors' lock and backup files (.#units.yaml, units.yaml~) are not rule changes."""
    name = Path(path).name
    return not name.startswith(".") and not name.endswith("~")
