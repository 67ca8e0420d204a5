"""One generation of the rules: a validated rulebook compiled for the engine, with its normalizer and
resource selection. Built at start and on each reload; a request uses one generation throughout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cds.engine import EngineError, RuleEngine, RuleRefused
from cds.facts.normalize import Normalizer
from cds.fhir.select import ResourceSelector
from cds.rulebook import Rulebook, RulebookError, load_rulebook
from cds.rulebook.model import LoadError
from cds.rulebook.profiles import DEFAULT_PROFILE


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
    """Compile a validated rulebook; raises RulebookError if the engine refuses it."""
    try:
        engine = RuleEngine(rulebook)
    except RuleRefused as refused:
        raise RulebookError([LoadError(refused.rule.file, refused.rule.line, refused.reason, refused.rule.id,
                                       hint="express it in another unit (e.g. mcg rather than g)")]) from None
    except EngineError as error:
        raise RulebookError([LoadError(str(rulebook.directory), 1, f"the rule engine refused the rules: {error}",
                                       hint="please report this: the checks should have caught it")]) from None
    return LoadedRules(rulebook, engine, Normalizer(rulebook.facts_config, rulebook.valuesets),
                       prefetch_templates(rulebook), ResourceSelector(rulebook.facts_config, rulebook.valuesets))


def load(directory: Path, profile: str = DEFAULT_PROFILE, allow_untested: bool = False) -> LoadedRules:
    """Read, validate and compile a rules directory under a site profile (`allow_untested`: see load_rulebook)."""
    return build(load_rulebook(directory, profile, allow_untested))


def prefetch_templates(rulebook: Rulebook) -> dict[str, str]:
    """The contract prefetch templates with every lab LOINC code filled in."""
    config = rulebook.facts_config
    codes = [code for spec in config["labs"].values() for code in spec["loinc"]]
    codes += config["intrinsic_factor_antibody"]["loinc"]
    joined = ",".join(dict.fromkeys(codes))
    return {key: template.replace("{observation_codes}", joined) for key, template in rulebook.prefetch.items()}
