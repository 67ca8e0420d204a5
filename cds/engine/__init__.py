"""The rule engine: rule packs compiled to durable_rules, evaluated per request in isolation.

Only this package imports durable_rules; the rest of the service sees `RuleEngine.evaluate`.
"""

from cds.engine.errors import EngineError, RuleRefused
from cds.engine.evaluator import Evaluation, Finding, RuleEngine

__all__ = ["EngineError", "Evaluation", "Finding", "RuleEngine", "RuleRefused"]
