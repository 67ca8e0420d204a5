"""The facts rules see. Field names here are the catalog rule files are checked against."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from typing import Any, Literal, get_args, get_origin, get_type_hints

# Fields with a fixed set of values: a rule testing any other value is a load error.
Hook = Literal["patient-view", "order-select", "order-sign", "medication-prescribe"]
B12Status = Literal["low", "indeterminate", "normal", "unknown"]
Ingredient = Literal["cyano", "hydroxo", "methyl", "unknown"]
Route = Literal["im", "sc", "iv", "oral", "nasal", "unknown"]
RouteClass = Literal["parenteral", "oral", "nasal"]
DoseKind = Literal["mass", "volume", "container", "count", "none", "unknown"]
DoseSource = Literal["structured", "text"]
StatusBasis = Literal["value", "bound", "qualitative", "none"]
OrderStatus = Literal["active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft",
                      "unknown"]
OrderIntent = Literal["proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
                      "instance-order", "option"]
ProblemCause = Literal["unit", "implausible", "comparator", "no-value", "future"]
Regimen = Literal["loading", "maintenance", "other"]


@dataclass
class PatientFact:
    """One per request: derived status of the patient plus request context. None = unknown."""

    id: str
    hook: Hook
    b12_drafts: int                      # B12 therapy (non-antidote) drafts under evaluation
    b12_status: B12Status
    parenteral_drafts: int = 0           # of the drafts, injections
    parenteral_drafts_text: str | None = None  # "1 mg IM every 3 months" (+ …), for card text
    b12_status_from: StatusBasis = "none"  # a measured value, a bound ("<150"), a qualitative "low" flag
    b12_status_total_only: bool = False  # the status rests on total B12 alone (no active B12 result)
    b12_tested: bool = False             # a usable B12, active B12 or MMA result in the look-back window
    b12_total: float | None = None       # ng/L, the result b12_status rests on (look-back window)
    b12_active: float | None = None      # pmol/L, the result b12_status rests on (look-back window)
    mma_upgraded: bool = False           # indeterminate upgraded to low by MMA
    hb: float | None = None              # g/L, latest in the look-back window
    significant_anaemia: bool | None = None
    severe_anaemia: bool | None = None
    renal_impairment: bool = False
    neuro_findings: bool = False
    malabsorption_cause: bool = False
    intrinsic_factor_positive: bool = False  # the newest intrinsic-factor antibody result is positive
    leber_disease: bool = False
    cyanide_poisoning: bool = False
    cobalt_allergy: bool = False
    cobalamin_allergy_severe: bool = False   # allergy to a cobalamin, criticality high or a severe reaction
    inborn_cobalamin_disorder: bool = False  # cblC, methylmalonic acidaemia, homocystinuria
    age_years: float | None = None       # from Patient.birthDate
    adult: bool | None = None            # age_years >= facts.yaml status.adult_min_age_years; None unknown
    new_series: bool = True              # no ongoing parenteral order, none ended in the last year
    active_b12_order: bool = False       # an active B12 order of any route (not antidote)
    active_prescribed_b12_order: bool = False  # the same, not the patient's own report
    active_maintenance: bool = False     # an active parenteral order with interval >= 28 d (or such a later step)
    injection_course: bool = False       # loading given, or parenteral treatment in the current course
    parenteral_maintenance_planned: bool = False  # an ongoing or drafted parenteral order dosed less than weekly
    active_injection_text: str | None = None     # the active prescribed injection orders, for card text
    prescribed_oral_only: bool = False   # active prescribed B12 orders exist and all are oral or nasal
    prescribed_oral_mcg_per_day: float | None = None  # their combined oral dose a day (nasal left out)
    earliest_injection_days_ago: float | None = None
    neuro_text: str | None = None        # e.g. "paraesthesia, peripheral neuropathy"
    malabsorption_text: str | None = None
    labs_text: str | None = None         # e.g. "B12 95 ng/L on 12 Oct 2026; Hb 98 g/L on 12 Oct 2026"
    b12_text: str | None = None          # the results b12_status rests on, e.g. "active B12 82 pmol/L"
    # treatment history (cds/facts/history.py), findings, blood count and folic-acid drafts
    loading_given: bool = False          # a parenteral loading course (>= 3 doses) in the last year or in this request
    course_start_days_ago: float | None = None   # first order of the current course; None for a new series
    course_started: str | None = None    # the same for card text: "97 days ago"
    hb_since_course_start: bool | None = None    # an Hb dated after the current course started
    hb_days_ago: float | None = None     # the newest usable Hb, of any age
    mcv: float | None = None             # fL, latest in the Hb look-back window
    mma_raised: bool | None = None       # latest MMA (look-back) above status.mma_upgrade_above
    homocysteine_raised: bool | None = None  # latest homocysteine (look-back) above status.homocysteine_raised_above
    dietary_cause: bool = False
    dietary_text: str | None = None      # e.g. "vegan diet"
    nitrous_oxide_exposure: bool = False
    pregnant: bool = False
    loading_drafts: int = 0              # parenteral B12 therapy drafts dosed at least weekly
    b12_drafts_unselected: int = 0      # order-select: B12 therapy drafts in draftOrders, not selected
    folic_acid_drafts: int = 0           # folic-acid drafts under evaluation (not B12 combinations)
    folic_acid_text: str | None = None   # e.g. "folic acid 5 mg tablet"
    # the current prescribed regimen (cds/facts/regimen.py), for the escalation rules
    prescribed_mcg_per_28d: float | None = None   # active prescribed B12 orders, any route; 0 when none
    injection_mcg_per_28d: float | None = None    # the same, parenteral orders only
    current_regimen_text: str | None = None       # "1 mg IM every 12 weeks"


@dataclass
class LabFact:
    """The latest result of one lab kind, in canonical units."""

    id: str
    kind: str
    value: float
    unit: str
    days_ago: float
    date: str                            # "12 Oct 2026"
    on_treatment: bool = False           # a B12/active B12/MMA taken during B12 injection therapy
    comparator: str | None = None        # "<", "<=", ">", ">=": the value is a bound ("<150")


@dataclass
class LabUnitProblemFact:
    """A lab result excluded from every threshold: its kind is unknown if it is the newest."""

    id: str
    kind: str
    value: float | None
    unit: str | None
    cause: ProblemCause
    reason: str
    days_ago: float | None
    date: str | None
    kind_text: str                       # "Hb"
    written: str                         # "7.9 g/L", as reported
    cause_text: str                      # "implausible value"


@dataclass
class OrderFact:
    """One dosage step of a B12 MedicationRequest: `draft_order` when under evaluation, else `order`.
    A request with several steps gives a fact per step (id `<request id>#<step>` after the first)."""

    id: str
    order_id: str                        # the MedicationRequest's id
    ingredient: Ingredient
    product: str                         # display text of the product
    antidote: bool                       # CYANOKIT or IV hydroxocobalamin in grams
    cyanokit: bool
    route: Route
    route_class: RouteClass | None       # parenteral, oral (sublingual, buccal), nasal; None when unknown
    route_text: str                      # IM | SC | IV | oral | sublingual | nasal | unknown route, as ordered
    parenteral: bool                     # route IM/SC/IV, or unknown route on an injectable product
    injectable: bool                     # product, dose unit or dosage text says injection
    dose_kind: DoseKind
    dose_unit_problem: bool              # a dose whose unit cannot be turned into mcg
    unreadable: bool                     # no dose could be derived (service.order-unreadable)
    dose_source: DoseSource | None       # structured, or read from the dosage text
    status: OrderStatus
    intent: OrderIntent
    has_reason: bool
    reported_by_patient: bool
    bounded: bool
    is_draft: bool
    step: int = 1                        # the dosage step (sequence order)
    steps: int = 1                       # how many steps the request has
    has_maintenance_step: bool = False   # a later step is parenteral maintenance
    concentration_mcg_per_ml: float | None = None
    multi_dose_vial: bool | None = None
    dose_value: float | None = None
    dose_unit: str | None = None
    dose_mcg: float | None = None
    dose_if_mcg_meant: float | None = None  # dose_mcg / 1000: the dose if mg was written for mcg
    usual_dose_mcg: float | None = None  # facts.yaml regimen.usual_dose_mcg, for card text
    usual_dose_ml: float | None = None   # that dose as a volume of this product
    dose_arithmetic: str | None = None   # "10 mL × 1,000 mcg/mL = 10,000 mcg"
    dose_quote: str | None = None        # the order text the dose was read from
    unread_text: str | None = None       # what could not be read, e.g. "the unit '[IU]' is not a mass …"
    interval_days: float | None = None
    doses: int | None = None             # timing.repeat.count: the number of doses the order allows
    starts_in_days: float | None = None  # boundsPeriod.start, days from now (negative: began before)
    ends_in_days: float | None = None    # its end from bounds or count, days from now; None when open
    regimen: Regimen | None = None       # loading (<= 7 d), maintenance (>= 28 d), other; facts.yaml
    per_day: float | None = None
    mcg_per_day: float | None = None     # dose_mcg * per_day
    mcg_per_28d: float | None = None
    authored_days_ago: float | None = None
    dispense_mcg: float | None = None
    supply_days: float | None = None     # dispense_mcg / dose_mcg * interval_days
    dispense_text: str | None = None     # "2 mL"
    # drafts only (cds/facts/regimen.py): against the current regimen and the last supply
    times_current_rate: float | None = None   # mcg_per_28d / the current injections' combined rate
    last_supply_text: str | None = None  # "2 mL of 1 mg every 12 weeks"
    last_supply_days: float | None = None     # the days that supply should last
    last_supply_duration: str | None = None   # "24 weeks"
    last_supply_days_ago: float | None = None
    last_supply_issued: str | None = None     # "20 days ago"
    last_supply_used: float | None = None     # last_supply_days_ago / last_supply_days
    dose_text: str | None = None         # "1,000 mg", "1 mg (1 tablet)"
    frequency_text: str | None = None    # "every 2 days"
    regimen_text: str | None = None      # "1 mg IM every 2 months"
    duplicate_of: str | None = None      # drafts: an earlier draft of the same order (escalation.duplicate-draft)


@dataclass
class FindingFact:
    """A value set of valuesets.yaml that the record matches (one fact per matched value set)."""

    id: str
    valueset: str                        # the value set's name, e.g. leber_disease
    text: str                            # what matched, e.g. "leber's hereditary optic neuropathy"


@dataclass
class LabOrderFact:
    """A lab test drafted in this request (a ServiceRequest of the order), by the lab kind its LOINC code is."""

    id: str
    kind: str                            # a lab kind of facts.yaml, e.g. potassium


FACT_TYPES: dict[str, type] = {
    "patient": PatientFact,
    "lab": LabFact,
    "lab_order": LabOrderFact,
    "lab_unit_problem": LabUnitProblemFact,
    "draft_order": OrderFact,
    "order": OrderFact,
    "finding": FindingFact,
}


@cache
def _hints(fact_type: str) -> dict[str, Any]:
    return get_type_hints(FACT_TYPES[fact_type])


def fact_fields(fact_type: str) -> set[str]:
    """Field names a rule may use on `fact_type`."""
    return {f.name for f in fields(FACT_TYPES[fact_type])}


def numeric_fields(fact_type: str) -> set[str]:
    """Fields holding numbers: the only ones comparisons and arithmetic may use."""
    numbers = {int, float}
    return {name for name, hint in _hints(fact_type).items()
            if numbers & set(get_args(hint) or (hint,))}


def field_values(fact_type: str, field: str) -> tuple[str, ...] | None:
    """The fixed values of a field, or None when it has no fixed set."""
    hint = _hints(fact_type).get(field)
    return get_args(hint) if get_origin(hint) is Literal else None


def engine_fact(fact_type: str, fact: Any) -> dict[str, Any]:
    """The dict asserted into the engine: unknown (None) fields are left out, never defaulted."""
    values = {key: value for key, value in vars(fact).items() if value is not None}  # flat: no asdict deep copy
    values["type"] = fact_type
    return values
