"""The route of a dosage: coded, else its words, else what the product says; and the route's class."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cds.facts.codes import CodeSystems, codings_of, texts_of
from cds.facts.products import ORAL_FORMS, Product
from cds.fhir.models import CodeableConcept, Dosage

PARENTERAL = frozenset({"im", "sc", "iv"})
_CLASSES = {"im": "parenteral", "sc": "parenteral", "iv": "parenteral", "oral": "oral", "nasal": "nasal"}


@dataclass(frozen=True)
class Route:
    route: str                           # im | sc | iv | oral | nasal | unknown: what rules test
    shown: str                           # as ordered, for card text: IM, sublingual, unknown route

    @property
    def known(self) -> bool:
        return self.route != "unknown"


UNKNOWN = Route("unknown", "unknown route")


def route_class(route: str, parenteral: bool) -> str | None:
    """parenteral, oral (sublingual and buccal included) or nasal; an unknown route on an
    injectable product is parenteral, on any other product it has no class."""
    return "parenteral" if parenteral else _CLASSES.get(route)


class RouteReader:
    """valuesets.yaml `routes`: SNOMED codes and words per route name; `as:` reads one name as another."""

    def __init__(self, systems: CodeSystems, routes: dict[str, dict[str, Any]]):
        self._systems = systems
        self._by_code = {code: name for name, spec in routes.items() for code in spec.get("snomed", [])}
        self._words = [(name, re.compile(rf"(?<![\w.]){re.escape(word)}(?![\w])"))
                       for name, spec in routes.items() for word in spec.get("text", [])]
        self._read_as = {name: spec.get("as", name) for name, spec in routes.items()}

    def read(self, dosage: Dosage | None, concepts: list[CodeableConcept], product: Product) -> Route:
        """The dosage's coded route, else its route or instruction text, else what the product itself
        says ("Oral Tablet", "Nasal Spray", a tablet or spray in the catalogue)."""
        concept = dosage.route if dosage else None
        for coding in codings_of(concept):
            if self._systems.alias(coding.system) == "snomed" and coding.code in self._by_code:
                return self._named(self._by_code[coding.code])
        texts = texts_of(concept) + ([dosage.text.lower()] if dosage and dosage.text else [])
        texts += [text for c in concepts for text in texts_of(c)]
        for text in texts:
            for name, word in self._words:
                if word.search(text):
                    return self._named(name)
        if product.form in ORAL_FORMS:
            return Route("oral", "oral")
        return Route("nasal", "nasal") if product.form == "spray" else UNKNOWN

    def _named(self, name: str) -> Route:
        route = self._read_as[name]
        return Route(route, route.upper() if route in PARENTERAL else name)
