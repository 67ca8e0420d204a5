"""Rule files: loading, validation and the in-memory rulebook the service runs."""

from cds.rulebook.loader import load_rulebook
from cds.rulebook.model import LoadError, Pack, Rule, Rulebook, RulebookError, Service

__all__ = ["LoadError", "Pack", "Rule", "Rulebook", "RulebookError", "Service", "load_rulebook"]
