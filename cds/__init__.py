"""Cobalt CDS: a CDS Hooks 2.0 service with declarative rule packs for vitamin B12 therapy."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_RULES = PROJECT_ROOT / "rules"
