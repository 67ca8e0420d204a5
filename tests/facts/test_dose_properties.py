"""Property tests: a dose means the same in any equivalent unit, and no unit string crashes or
passes silently (clinical-rules.md §1: units are converted, never guessed)."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.rules.test_label_check_http import dose, label_cards, with_dosage

BASE = "requests/label-cyano-1000mcg-monthly-quiet.json"
# (factor to mcg, written forms: (unit, UCUM code))
MASS_UNITS = [
    (1.0, [("mcg", None), (None, "ug"), ("ug", "ug"), ("µg", None), ("microgram", None), ("micrograms", None)]),
    (1000.0, [("mg", None), (None, "mg"), ("mg", "mg"), ("MG", None), ("milligram", None), ("milligrams", None)]),
    (1_000_000.0, [("g", None), (None, "g"), ("gram", None), ("grams", None)]),
]
VOLUME_UNITS = [("mL", None), (None, "mL"), ("ml", None), ("cc", None), ("milliliter", None), ("millilitres", None)]
MCG_DOSES = st.sampled_from([500, 1000, 2000, 4000, 6000, 100_000, 1_000_000])
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _cards(client, request) -> dict[str, str]:
    return label_cards(client.post("/cds-services/b12-label-check", json=request))


@FAST
@given(mcg=MCG_DOSES, unit=st.sampled_from(MASS_UNITS).flatmap(
    lambda entry: st.tuples(st.just(entry[0]), st.sampled_from(entry[1]))))
def test_same_mass_in_any_unit_gives_same_cards(client, mcg, unit):
    factor, (written, code) = unit
    reference = _cards(client, with_dosage(BASE, doseAndRate=dose(mcg, "mcg", "ug")))
    assert _cards(client, with_dosage(BASE, doseAndRate=dose(mcg / factor, written, code))) == reference


@FAST
@given(ml=st.sampled_from([0.5, 1, 2, 10, 30]), unit=st.sampled_from(VOLUME_UNITS))
def test_same_volume_in_any_spelling_gives_same_mcg(runtime, ml, unit):
    from datetime import UTC, datetime

    from cds.fhir.models import MedicationRequest
    request = with_dosage(BASE, doseAndRate=dose(ml, *unit))
    draft = MedicationRequest.model_validate(request["context"]["draftOrders"]["entry"][0]["resource"])
    fact = runtime.current.normalizer.orders.read(draft, {}, datetime.now(UTC), True)
    assert fact.dose_kind == "volume" and fact.dose_mcg == ml * 1000


UNIT_TEXT = st.text(min_size=1, max_size=12).filter(lambda text: text.strip() and not text.strip().isdigit())


@FAST
@given(unit=UNIT_TEXT, as_code=st.booleans())
def test_garbage_units_never_crash_and_never_pass_silently(client, runtime, unit, as_code):
    from cds.facts.dose import DoseReader
    normalizer = runtime.current.normalizer
    reader = DoseReader(normalizer.units, normalizer.config["dose_units"])
    request = with_dosage(BASE, doseAndRate=dose(1000, None if as_code else unit, unit if as_code else None))
    cards = _cards(client, request)
    system = "http://unitsofmeasure.org" if as_code else None
    ucum = normalizer.units.ucum(unit if as_code else None, system, None if as_code else unit)
    # A code with stray whitespace is not a FHIR code: lenient reading drops it, so no unit is read.
    kind = reader.kind(ucum, unit) if not as_code or re.fullmatch(r"[^\s]+(\s[^\s]+)*", unit) else None
    if kind in ("mass", "volume"):   # a real unit after all (e.g. "mg", "L"): judged like any dose
        assert cards.keys() <= {"units.mg-mcg-confusion", "units.dose-above-label", "units.volume-exceeds-dose"}
    else:
        assert cards == {"units.unrecognized-unit": "warning"}


JSON_LEAF = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
             | st.text(max_size=12))
JSON = st.recursive(JSON_LEAF, lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=8)
DRAFT_PATHS = [(), ("dosageInstruction",), ("dosageInstruction", 0), ("dosageInstruction", 0, "doseAndRate"),
               ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity"),
               ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "value"),
               ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "unit"),
               ("dosageInstruction", 0, "route"), ("dosageInstruction", 0, "timing"), ("category",), ("intent",),
               ("status",), ("subject",), ("authoredOn",), ("dispenseRequest",),
               ("medicationCodeableConcept", "coding"), ("medicationCodeableConcept", "coding", 0)]


@FAST
@given(path=st.sampled_from(DRAFT_PATHS), key=st.sampled_from(["text", "value", "coding", "extra", None]), value=JSON)
def test_no_b12_draft_in_any_shape_gets_a_silent_all_clear(client, runtime, path, key, value):
    """Whatever replaces a part of a B12 draft (or is added under it): the answer is a 200 with a
    label/service card, or the draft was read (a dose in mcg) and judged correct."""
    from datetime import UTC, datetime

    from cds.fhir.lenient import read_draft
    request = with_dosage(BASE)
    node = request["context"]["draftOrders"]["entry"][0]["resource"]
    steps = (*path, key) if key else path
    for part in steps[:-1]:
        node = node[part] if isinstance(node, dict) and part in node or isinstance(node, list) else None
        if node is None:
            return
    if isinstance(node, dict) and steps:
        node[steps[-1]] = value
    response = client.post("/cds-services/b12-label-check", json=request)
    if _cards(client, request):
        return
    assert response.status_code == 200
    model, _, notes = read_draft(request["context"]["draftOrders"]["entry"][0]["resource"])
    fact = runtime.current.normalizer.orders.read(model, {}, datetime.now(UTC), True, notes)
    assert fact is not None and fact.dose_mcg is not None and fact.dose_mcg <= 1000
