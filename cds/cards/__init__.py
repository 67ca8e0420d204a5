"""Findings → CDS Hooks cards: text, suggestions that are complete orders, and the order cards come in."""

from cds.cards.builder import TOPIC_SYSTEM, CardBuilder

__all__ = ["TOPIC_SYSTEM", "CardBuilder"]
