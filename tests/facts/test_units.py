"""Every unit conversion of clinical-rules.md's labs table, through the real normalizer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds.fhir.models import Observation

NOW = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture(scope="module")
def normalizer(runtime):
    """The bundled rules' normalizer: facts config, units and answers."""
    return runtime.current.normalizer


def _lab(normalizer, loinc, value, code=None, unit=None, system="http://unitsofmeasure.org"):
    quantity = {"value": value}
    if code:
        quantity.update(code=code, system=system)
    if unit:
        quantity["unit"] = unit
    observation = Observation.model_validate({
        "resourceType": "Observation", "id": "o1", "status": "final", "effectiveDateTime": "2026-11-20",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]}, "valueQuantity": quantity})
    return normalizer.labs.summarize([observation], NOW)


@pytest.mark.parametrize(("loinc", "value", "unit", "kind", "expected"), [
    ("2132-9", 150, "pg/mL", "b12_total", 150), ("2132-9", 150, "ng/L", "b12_total", 150),
    ("2132-9", 0.15, "ng/mL", "b12_total", 150), ("14685-2", 100, "pmol/L", "b12_total", 135.5),
    ("16695-9", 100, "pmol/L", "b12_total", 135.5), ("72160-5", 30, "pmol/L", "b12_active", 30),
    # rev 2: 16695-9 is a mass concentration (Cobalamins MCnc Bld): its mass units are read as such
    ("16695-9", 420, "pg/mL", "b12_total", 420), ("16695-9", 0.42, "ng/mL", "b12_total", 420),
    ("13964-2", 0.5, "umol/L", "mma", 0.5), ("13964-2", 0.5, "nmol/mL", "mma", 0.5),
    ("13964-2", 450, "nmol/L", "mma", 0.45), ("13965-9", 14, "umol/L", "homocysteine", 14),
    ("718-7", 9.8, "g/dL", "hb", 98), ("718-7", 98, "g/L", "hb", 98), ("718-7", 6, "mmol/L", "hb", 96.66),
    ("787-2", 101, "fL", "mcv", 101), ("33914-3", 45, "mL/min/{1.73_m2}", "egfr", 45),
    ("98979-8", 45, "mL/min/{1.73_m2}", "egfr", 45), ("2823-3", 3.9, "mmol/L", "potassium", 3.9),
    ("6298-4", 3.9, "meq/L", "potassium", 3.9),
])
def test_conversions(normalizer, loinc, value, unit, kind, expected):
    summary = _lab(normalizer, loinc, value, code=unit)
    assert summary.latest[kind].value == pytest.approx(expected, rel=1e-9)
    assert not summary.problems


@pytest.mark.parametrize(("unit_text", "expected"), [("pg/ml", 150), ("mcg/L", None), ("ng/l", 150),
                                                     ("PG/ML", 150)])
def test_display_unit_fallback(normalizer, unit_text, expected):
    summary = _lab(normalizer, "2132-9", 150, unit=unit_text)
    assert (summary.latest["b12_total"].value if "b12_total" in summary.latest else None) == expected


@pytest.mark.parametrize(("loinc", "value", "code", "kind"), [
    ("2132-9", 150, None, "b12_total"),            # no unit at all
    ("2132-9", 150, "mg/dL", "b12_total"),         # convertible but not an accepted unit
    ("13964-2", 60, "umol/L", "mma"),              # nmol/L written as umol/L
    ("718-7", 130, "g/dL", "hb"),                  # g/L written as g/dL
])
def test_unknown_or_implausible_units_become_problems_not_values(normalizer, loinc, value, code, kind):
    summary = _lab(normalizer, loinc, value, code=code)
    assert kind not in summary.latest
    assert [p.kind for p in summary.problems] == [kind]


def test_entered_in_error_is_ignored(normalizer):
    observation = Observation.model_validate({
        "resourceType": "Observation", "id": "o1", "status": "entered-in-error", "effectiveDateTime": "2026-11-20",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]},
        "valueQuantity": {"value": 90, "code": "ng/L", "system": "http://unitsofmeasure.org"}})
    assert normalizer.labs.summarize([observation], NOW).latest == {}


@pytest.mark.parametrize(("loinc", "value", "code", "kind", "expected"), [
    ("2132-9", 120, "pg/ml", "b12_total", 120),      # UCUM allows l for litre
    ("718-7", 7.5, "g/dl", "hb", 75),
    ("13964-2", 450, "nmol/l", "mma", 0.45),
])
def test_ucum_codes_equal_to_an_accepted_unit_are_accepted(normalizer, loinc, value, code, kind, expected):
    assert _lab(normalizer, loinc, value, code=code).latest[kind].value == pytest.approx(expected)


def test_egfr_display_unit_with_superscript(normalizer):
    assert _lab(normalizer, "33914-3", 45, unit="mL/min/1.73m²").latest["egfr"].value == 45


def _b12(day: str, value: float, code: str = "ng/L", comparator: str | None = None) -> Observation:
    quantity = {"value": value, "code": code, "system": "http://unitsofmeasure.org"}
    if comparator:
        quantity["comparator"] = comparator
    return Observation.model_validate({
        "resourceType": "Observation", "id": f"b12-{day}", "status": "final", "effectiveDateTime": day,
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}]}, "valueQuantity": quantity})


@pytest.mark.parametrize(("newest", "cause"), [
    (_b12("2026-11-20", 0.1, code="ug/L"), "unit"),            # a unit not in the accepted list
    (_b12("2026-11-20", 400, comparator="ad"), "comparator"),  # R5 "ad" (sufficient) is no bound a B12 has
    (_b12("2026-12-20", 120), "future"),                       # dated after today
])
def test_an_unusable_newest_result_leaves_the_kind_unknown(normalizer, newest, cause):
    """An older usable result does not stand in for a newer unusable one (unknown, never normal)."""
    older = _b12("2026-05-01", 400)
    summary = normalizer.labs.summarize([older, newest], NOW)
    assert "b12_total" not in summary.latest
    assert [problem.cause for problem in summary.problems] == [cause]


def test_an_unusable_older_result_does_not_hide_a_newer_usable_one(normalizer):
    observations = [_b12("2026-05-01", 0.1, code="ug/L"), _b12("2026-11-20", 150)]
    summary = normalizer.labs.summarize(observations, NOW)
    assert summary.latest["b12_total"].value == 150
