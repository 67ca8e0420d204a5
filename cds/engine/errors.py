"""What the engine raises: the rest of the service never sees durable_rules' bare Exceptions."""

from __future__ import annotations

from cds.rulebook.model import Rule


class EngineError(Exception):
    """The rule engine refused the rules."""


class RuleRefused(EngineError):
    """One rule cannot be compiled for the engine; `rule` says where it is written."""

    def __init__(self, rule: Rule, reason: str):
        super().__init__(f"{rule.id}: {reason}")
        self.rule = rule
        self.reason = reason
