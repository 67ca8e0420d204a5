"""Cobalt CDS: a CDS Hooks 2.0 service with declarative rule packs for vitamin B12 therapy."""

import os
from pathlib import Path

# Where rules/ (with its schema) and fhir_fixtures/ (the rules' examples) are: this source checkout,
# or CDS_HOME for an installed package, as in the container image.
PROJECT_ROOT = Path(os.environ.get("CDS_HOME") or Path(__file__).resolve().parent.parent)
BUNDLED_RULES = PROJECT_ROOT / "rules"
