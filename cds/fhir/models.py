"""The FHIR R4 models every resource is read with: only the elements the facts read, as their FHIR types.

One reading path: prefetch resources, resources fetched from a FHIR server and draft orders are
all read with these models (drafts after lenient reshaping, cds/fhir/lenient.py). A full
fhir.resources model validates every element of a resource, most of which no rule reads (subject,
category, referenceRange, narrative, ...); these models read the elements the facts use, with the
same types and attribute names as fhir.resources' R4B models (the tests hold them to the same
facts), and ignore the rest: an unread element that is malformed does not cost the whole resource.
To read a new element, add it here; the facts code reads it from the typed model.

Types follow R4 (http://hl7.org/fhir/R4/datatypes.html): dateTime and instant by their regular
expressions (a full date-time is a datetime, a full date a date, a partial date stays text, as
fhir.resources gives them; an integer is not a date, which fhir.resources reads as seconds since
1970), decimal as Decimal (a numeric string accepted, as fhir.resources does), code, uri and
string non-empty and untrimmed, boolean as pydantic reads it ("yes", 1), as fhir.resources does.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

_DATE_TIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?")


def _date_time(text: str) -> datetime | date | str:
    if not _DATE_TIME.fullmatch(text):
        raise ValueError("not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz)")
    if len(text) > 10:
        return datetime.fromisoformat(text)
    return date.fromisoformat(text) if len(text) == 10 else text


_DATE = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?")


def _date(text: str) -> date | str:
    if not _DATE.fullmatch(text):
        raise ValueError("not a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)")
    return date.fromisoformat(text) if len(text) == 10 else text


def _decimal(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("a FHIR decimal is a finite number")
    return value


FhirString = Annotated[str, StringConstraints(strict=True, pattern=r"^[ \r\n\t\S]+$")]
Code = Annotated[str, StringConstraints(strict=True, pattern=r"^[^\s]+(\s[^\s]+)*$")]
Uri = Annotated[str, StringConstraints(strict=True, pattern=r"^\S*$")]
Id = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9\-\.]{1,64}$")]
DateTime = Annotated[Annotated[str, StringConstraints(strict=True)], AfterValidator(_date_time)]
Date = Annotated[Annotated[str, StringConstraints(strict=True)], AfterValidator(_date)]
FhirDecimal = Annotated[Decimal, AfterValidator(_decimal)]
_INT32 = 2_147_483_647   # R4 integer and positiveInt are 32-bit signed (as fhir.resources bounds them)
PositiveInt = Annotated[int, Field(gt=0, le=_INT32)]
Integer = Annotated[int, Field(strict=False, ge=-_INT32 - 1, le=_INT32)]
Time = Annotated[str, StringConstraints(strict=True,
                                        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$")]


class Element(BaseModel):
    """Read elements only; everything else in the JSON is ignored. `choices`: the FHIR choice
    elements (value[x], ...) of which at most one may be present."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)
    choices: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _one_choice(cls, data: Any) -> Any:
        if cls.choices and isinstance(data, dict):
            for names in cls.choices:
                if sum(data.get(name) is not None for name in names) > 1:
                    raise ValueError(f"at most one of {', '.join(names)}")
        return data


class Coding(Element):
    system: Uri | None = None
    code: Code | None = None
    display: FhirString | None = None


class CodeableConcept(Element):
    coding: list[Coding] | None = None
    text: FhirString | None = None


class Quantity(Element):
    value: FhirDecimal | None = None
    comparator: Code | None = None        # as fhir.resources: any code, so "~" is read, as a bound
    unit: FhirString | None = None
    system: Uri | None = None
    code: Code | None = None


class Period(Element):
    start: DateTime | None = None
    end: DateTime | None = None


class Resource(Element):
    id: Id | None = None

    def get_resource_type(self) -> str:
        return type(self).__name__


class Observation(Resource):
    """The elements labs and findings read (facts/labs.py, facts/findings.py)."""

    resourceType: Literal["Observation"]
    status: Code
    code: CodeableConcept
    effectiveDateTime: DateTime | None = None
    effectiveInstant: DateTime | None = None
    effectivePeriod: Period | None = None
    issued: DateTime | None = None
    valueQuantity: Quantity | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueBoolean: bool | None = None
    valueString: FhirString | None = None
    interpretation: list[CodeableConcept] | None = None

    choices = (("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger", "valueRange",
                "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod"),
               ("effectiveDateTime", "effectivePeriod", "effectiveTiming", "effectiveInstant"))


class Reference(Element):
    reference: FhirString | None = None
    type: Uri | None = None
    display: FhirString | None = None


class Annotation(Element):
    text: FhirString


class Range(Element):
    low: Quantity | None = None
    high: Quantity | None = None


class DoseAndRate(Element):
    doseQuantity: Quantity | None = None
    doseRange: Range | None = None

    choices = (("doseQuantity", "doseRange"),)


class TimingRepeat(Element):
    boundsDuration: Quantity | None = None
    boundsPeriod: Period | None = None
    count: PositiveInt | None = None
    frequency: PositiveInt | None = None
    frequencyMax: PositiveInt | None = None
    period: FhirDecimal | None = None
    periodUnit: Code | None = None
    dayOfWeek: list[Code] | None = None
    timeOfDay: list[Time] | None = None

    choices = (("boundsDuration", "boundsPeriod", "boundsRange"),)


class Timing(Element):
    repeat: TimingRepeat | None = None
    code: CodeableConcept | None = None


class Dosage(Element):
    sequence: Integer | None = None
    text: FhirString | None = None
    patientInstruction: FhirString | None = None
    timing: Timing | None = None
    route: CodeableConcept | None = None
    doseAndRate: list[DoseAndRate] | None = None


class DispenseRequest(Element):
    quantity: Quantity | None = None


class Ratio(Element):
    numerator: Quantity | None = None
    denominator: Quantity | None = None


class MedicationIngredient(Element):
    itemCodeableConcept: CodeableConcept | None = None
    itemReference: Reference | None = None
    strength: Ratio | None = None

    choices = (("itemCodeableConcept", "itemReference"),)


class Medication(Resource):
    """The elements the product reading uses (facts/products.py, facts/medication.py)."""

    resourceType: Literal["Medication"]
    code: CodeableConcept | None = None
    form: CodeableConcept | None = None
    amount: Ratio | None = None
    ingredient: list[MedicationIngredient] | None = None


class MedicationRequest(Resource):
    """The elements order facts read (facts/orders.py, medication.py, schedule.py, dose.py).
    Contained Medications are read as Medication; other contained resources are not read."""

    resourceType: Literal["MedicationRequest"]
    status: Code
    intent: Code
    medicationCodeableConcept: CodeableConcept | None = None
    medicationReference: Reference | None = None
    contained: list[Medication] | None = None
    authoredOn: DateTime | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None
    note: list[Annotation] | None = None
    reportedBoolean: bool | None = None
    reportedReference: Reference | None = None
    informationSource: list[Reference] | None = None   # R5's reporter (R4: reported[x]); read where sent
    dosageInstruction: list[Dosage] | None = None
    dispenseRequest: DispenseRequest | None = None

    choices = (("medicationCodeableConcept", "medicationReference"), ("reportedBoolean", "reportedReference"))

    @field_validator("contained", mode="before")
    @classmethod
    def _contained_medications(cls, value: Any) -> Any:
        """Only the contained Medications are read."""
        if not isinstance(value, list):
            return value
        return [item for item in value if not isinstance(item, dict) or item.get("resourceType") == "Medication"]

    @model_validator(mode="after")
    def _one_medication(self) -> MedicationRequest:
        if self.medicationCodeableConcept is None and self.medicationReference is None:
            raise ValueError("medication[x] is required")
        return self


class Condition(Resource):
    """The elements value-set matching reads (facts/normalize.py: code, status, abatement)."""

    resourceType: Literal["Condition"]
    code: CodeableConcept | None = None
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    abatementDateTime: DateTime | None = None
    abatementAge: Quantity | None = None
    abatementPeriod: Period | None = None
    abatementRange: Range | None = None
    abatementString: FhirString | None = None

    choices = (("abatementDateTime", "abatementAge", "abatementPeriod", "abatementRange", "abatementString"),)


class Procedure(Resource):
    """The elements value-set matching reads (facts/findings.py: code and status)."""

    resourceType: Literal["Procedure"]
    status: Code
    code: CodeableConcept | None = None


class Patient(Resource):
    """The patient's id and age (facts/patient.py)."""

    resourceType: Literal["Patient"]
    birthDate: Date | None = None


class AllergyReaction(Element):
    substance: CodeableConcept | None = None
    manifestation: list[CodeableConcept] | None = None
    severity: Code | None = None


class AllergyIntolerance(Resource):
    """The elements the allergy findings read (facts/findings.py): what, how sure, how severe."""

    resourceType: Literal["AllergyIntolerance"]
    code: CodeableConcept | None = None
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    criticality: Code | None = None
    reaction: list[AllergyReaction] | None = None


class ServiceRequest(Resource):
    """A drafted lab test (facts/normalize.py: which lab kinds the order already asks for)."""

    resourceType: Literal["ServiceRequest"]
    status: Code
    code: CodeableConcept | None = None


Model = (Observation | MedicationRequest | Medication | Condition | Procedure | Patient | AllergyIntolerance
         | ServiceRequest)
MODELS: dict[str, type[Resource]] = {model.__name__: model for model in (
    Observation, MedicationRequest, Medication, Condition, Procedure, Patient, AllergyIntolerance, ServiceRequest)}
