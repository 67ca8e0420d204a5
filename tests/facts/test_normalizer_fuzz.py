"""Hypothesis against the normalizer itself: random FHIR-shaped resources (wrong types, huge
numbers, NaN, deep nesting, unicode, missing fields) never raise; what cannot be read is skipped,
unknown or a unit problem."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.fhir.gather import gather_record
from tests.conftest import FUZZ_EXAMPLES

SCALARS = (st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=15)
           | st.sampled_from(["mg", "ug", "{pill}", "g/dL", "2132-9", "718-7", "309594", "im", "1e400", "µg"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["value", "unit", "code", "system", "coding", "text", "doseAndRate", "doseQuantity",
                     "timing", "repeat", "frequency", "period", "periodUnit", "route", "valueQuantity"]), inner,
    max_size=4), max_leaves=12)


def observation(parts: dict) -> dict:
    return {"resourceType": "Observation", "id": "o1", "status": parts.get("status", "final"),
            "code": parts.get("code", {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}),
            "effectiveDateTime": parts.get("effectiveDateTime", "2026-11-01"),
            "valueQuantity": parts.get("valueQuantity", {"value": 10})}


def medication_request(parts: dict) -> dict:
    return {"resourceType": "MedicationRequest", "id": "m1", "status": parts.get("status", "active"),
            "intent": "order", "subject": {"reference": "Patient/p"},
            "medicationCodeableConcept": parts.get("medication", {"text": "hydroxocobalamin"}),
            "dosageInstruction": parts.get("dosage", [{}]), "authoredOn": parts.get("authoredOn", "2026-10-01"),
            "dispenseRequest": parts.get("dispense", {})}


PARTS = st.dictionaries(st.sampled_from(["status", "code", "effectiveDateTime", "valueQuantity", "medication",
                                         "dosage", "authoredOn", "dispense"]), JSON, max_size=4)


@settings(max_examples=8 * FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(observations=st.lists(PARTS, max_size=3), orders=st.lists(PARTS, max_size=3), drafts=st.lists(PARTS, max_size=2))
def test_random_resources_never_raise(runtime, observations, orders, drafts):
    def bundle(resources: list[dict]) -> dict:
        return {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}

    prefetch = {"patient": None, "observations": bundle([observation(p) for p in observations]),
                "medications": bundle([medication_request(p) for p in orders]),
                "conditions": None, "procedures": None, "allergies": None}
    record = gather_record(runtime.current.prefetch, prefetch, {"patientId": "p"},
                           [medication_request(p) | {"status": "draft", "id": f"d{i}"} for i, p in enumerate(drafts)],
                           lambda: None, 1000)
    facts = runtime.current.normalizer.normalize(record, "order-sign", datetime.now(UTC))
    for lab in facts.labs:
        assert math.isfinite(lab.value)
    for order in facts.drafts + facts.orders:
        assert order.dose_mcg is None or math.isfinite(order.dose_mcg)
    runtime.current.engine.evaluate(facts.engine_facts(), runtime.current.rulebook.services["b12-order-sign"])
