"""The facts a rule example writes inline (`facts:`), as the engine takes them.

Each fact type holds one fact or a list of them. A field left out is unknown, unless the catalogue gives
it a default (as the normalizer would: `renal_impairment: false`); each fact gets an id. Every request has
a patient fact (the engine's anchor), on the hook of the service the example runs on: one is added when the
example writes none.
"""

from __future__ import annotations

from typing import Any

from cds.facts.catalogue import catalogue


def example_facts(written: dict[str, Any], hook: str) -> list[dict[str, Any]]:
    """The engine facts of an inline example run on `hook`."""
    facts = []
    for fact_type, items in ({"patient": {}} | written).items():
        defaults = {name: spec.default for name, spec in catalogue()[fact_type].fields.items()
                    if spec.default is not None}
        if fact_type == "patient":
            defaults["hook"] = hook
        for number, values in enumerate(items if isinstance(items, list) else [items], start=1):
            given = {name: value for name, value in values.items() if value is not None}
            facts.append({**defaults, **given, "id": f"{fact_type}:{number}", "type": fact_type})
    return facts


def example_values(written: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """Every (fact type, field, value) an inline example writes."""
    return [(fact_type, name, value) for fact_type, items in written.items()
            for values in (items if isinstance(items, list) else [items]) for name, value in values.items()]
