"""The facts rules see: every fact type and field, each with what it means (its unit, and for a number
compared with lab thresholds the lab kind it holds). This is the fact catalogue's one source: the docs'
fact reference, `cds rules facts` and the rule-pack schema's field names are made from it
(cds.facts.catalogue)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field
from typing import Any, Literal

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


LABS = "facts.yaml labs"
VALUESETS = "valuesets.yaml valuesets"


def about(meaning: str, unit: str | None = None, *, default: Any = MISSING, lab: str | None = None,
          values_from: str | None = None) -> Any:
    """A fact field and what the catalogue says of it: one line of `meaning`, its `unit`, the lab kind whose
    result it holds (`lab`: facts.yaml's implausible bounds of that kind bound what a rule may compare it
    with) and, for a text field whose values the rule files define, where (`values_from`)."""
    return field(default=default, metadata={"meaning": meaning, "unit": unit, "lab": lab, "values_from": values_from})


@dataclass
class PatientFact:
    """One per request: derived status of the patient plus request context. None = unknown."""

    id: str = about("the fact's id (patient:ID)")
    hook: Hook = about("the hook of the request")
    b12_drafts: int = about("B12 therapy drafts under evaluation (antidote orders not counted)")
    b12_status: B12Status = about("B12 status from the newest usable B12, active B12 or MMA (clinical-rules.md §1)")
    parenteral_drafts: int = about("of the B12 drafts, injections", default=0)
    parenteral_drafts_text: str | None = about('the injection drafts for card text: "1 mg IM every 3 months"',
                                               default=None)
    b12_status_from: StatusBasis = about("what b12_status rests on: a measured value, a bound (<150), a "
                                         "qualitative low flag, or none", default="none")
    b12_status_total_only: bool = about("b12_status rests on total B12 alone (no active B12 result)", default=False)
    b12_tested: bool = about("a usable B12, active B12 or MMA result in the look-back window", default=False)
    b12_total: float | None = about("the total B12 result b12_status rests on (look-back window)", "ng/L",
                                    default=None, lab="b12_total")
    b12_active: float | None = about("the active B12 result b12_status rests on (look-back window)", "pmol/L",
                                     default=None, lab="b12_active")
    mma_upgraded: bool = about("an indeterminate B12 made low by a raised MMA", default=False)
    hb: float | None = about("the newest Hb in the look-back window", "g/L", default=None, lab="hb")
    significant_anaemia: bool | None = about("Hb below status.significant_anaemia_hb_below; unknown without a "
                                             "recent Hb", default=None)
    severe_anaemia: bool | None = about("Hb below status.severe_anaemia_hb_below; unknown without a recent Hb",
                                        default=None)
    renal_impairment: bool = about("eGFR below status.renal_impairment_egfr_below, or a CKD condition",
                                   default=False)
    neuro_findings: bool = about("a neurological finding of the neuro value set (neuropathy, paraesthesia, …)",
                                 default=False)
    malabsorption_cause: bool = about("a malabsorption cause (pernicious anaemia, gastrectomy, ileal resection, …)",
                                      default=False)
    intrinsic_factor_positive: bool = about("the newest intrinsic-factor antibody result is positive", default=False)
    leber_disease: bool = about("Leber's hereditary optic neuropathy is recorded", default=False)
    cyanide_poisoning: bool = about("cyanide poisoning or smoke inhalation is recorded", default=False)
    cobalt_allergy: bool = about("an allergy to cobalt or a cobalamin is recorded", default=False)
    cobalamin_allergy_severe: bool = about("an allergy to a cobalamin of high criticality or with a severe reaction",
                                           default=False)
    inborn_cobalamin_disorder: bool = about("an inborn cobalamin disorder (cblC, methylmalonic acidaemia, "
                                            "homocystinuria)", default=False)
    age_years: float | None = about("age from Patient.birthDate", "years", default=None)
    adult: bool | None = about("age_years at least status.adult_min_age_years; unknown without a full birth date",
                               default=None)
    new_series: bool = about("no ongoing parenteral order, and none ended in the last year", default=True)
    active_b12_order: bool = about("an active B12 order of any route (not an antidote)", default=False)
    active_prescribed_b12_order: bool = about("an active B12 order that is not the patient's own report",
                                              default=False)
    active_maintenance: bool = about("an active parenteral order dosed every 28 days or less often (or such a "
                                     "later step)", default=False)
    injection_course: bool = about("loading given, or parenteral treatment in the current course", default=False)
    parenteral_maintenance_planned: bool = about("an ongoing or drafted parenteral order dosed less often than "
                                                 "weekly", default=False)
    active_injection_text: str | None = about("the active prescribed injection orders, for card text", default=None)
    prescribed_oral_only: bool = about("active prescribed B12 orders exist and all are oral or nasal", default=False)
    prescribed_oral_mcg_per_day: float | None = about("their combined oral dose a day (nasal left out)", "mcg",
                                                      default=None)
    earliest_injection_days_ago: float | None = about("age of the oldest injection order of the record", "days",
                                                      default=None)
    neuro_text: str | None = about('the neurological findings, e.g. "paraesthesia, peripheral neuropathy"',
                                   default=None)
    malabsorption_text: str | None = about("the malabsorption causes found, for card text", default=None)
    labs_text: str | None = about('the results for card text: "B12 95 ng/L on 12 Oct 2026; Hb 98 g/L on 12 Oct '
                                  '2026"', default=None)
    b12_text: str | None = about('the results b12_status rests on, e.g. "active B12 82 pmol/L"', default=None)
    loading_given: bool = about("a parenteral loading course (3 or more doses) in the last year or in this request",
                                default=False)
    course_start_days_ago: float | None = about("days since the first order of the current course; unknown for a "
                                                "new series", "days", default=None)
    course_started: str | None = about('the same for card text: "97 days ago"', default=None)
    hb_since_course_start: bool | None = about("an Hb dated after the current course started", default=None)
    hb_days_ago: float | None = about("age of the newest usable Hb, however old", "days", default=None)
    mcv: float | None = about("the newest MCV in the Hb look-back window", "fL", default=None, lab="mcv")
    mma_raised: bool | None = about("the newest MMA (look-back) above status.mma_upgrade_above", default=None)
    homocysteine_raised: bool | None = about("the newest homocysteine (look-back) above "
                                             "status.homocysteine_raised_above", default=None)
    dietary_cause: bool = about("a dietary cause is recorded (vegan diet, …)", default=False)
    dietary_text: str | None = about('the dietary cause, e.g. "vegan diet"', default=None)
    nitrous_oxide_exposure: bool = about("nitrous oxide exposure is recorded", default=False)
    pregnant: bool = about("a pregnancy is recorded", default=False)
    loading_drafts: int = about("parenteral B12 therapy drafts dosed at least weekly", default=0)
    b12_drafts_unselected: int = about("order-select: B12 therapy drafts in draftOrders that are not selected",
                                       default=0)
    folic_acid_drafts: int = about("folic-acid drafts under evaluation (not B12 combinations)", default=0)
    folic_acid_text: str | None = about('the folic-acid drafts, e.g. "folic acid 5 mg tablet"', default=None)
    prescribed_mcg_per_28d: float | None = about("the active prescribed B12 orders' dose per 28 days, any route; 0 "
                                                 "when none", "mcg", default=None)
    injection_mcg_per_28d: float | None = about("the same, parenteral orders only", "mcg", default=None)
    current_regimen_text: str | None = about('the current regimen for card text: "1 mg IM every 12 weeks"',
                                             default=None)


@dataclass
class LabFact:
    """The latest result of one lab kind, in canonical units."""

    id: str = about("the fact's id (lab:KIND)")
    kind: str = about("the lab kind", values_from=LABS)
    value: float = about("the result in the kind's canonical unit (facts.yaml labs)")
    unit: str = about("the canonical unit of the kind, e.g. ng/L")
    days_ago: float = about("age of the result", "days")
    date: str = about('the result date for card text: "12 Oct 2026"')
    on_treatment: bool = about("a B12, active B12 or MMA taken during B12 injection therapy", default=False)
    comparator: str | None = about('"<", "<=", ">" or ">=": the value is a bound ("<150")', default=None)


@dataclass
class LabUnitProblemFact:
    """A lab result excluded from every threshold: its kind is unknown if it is the newest."""

    id: str = about("the fact's id (problem:OBSERVATION-ID)")
    kind: str = about("the lab kind of the result", values_from=LABS)
    value: float | None = about("the value as reported")
    unit: str | None = about("the unit as reported")
    cause: ProblemCause = about("why it is unusable: unit, implausible value, unreadable comparator, no value, "
                                "future date")
    reason: str = about("the reason in words")
    days_ago: float | None = about("age of the result", "days")
    date: str | None = about("the result date for card text")
    kind_text: str = about('the kind for card text: "Hb"')
    written: str = about('the result as reported: "7.9 g/L"')
    cause_text: str = about('the cause for card text: "implausible value"')


@dataclass
class OrderFact:
    """One dosage step of a B12 MedicationRequest: `draft_order` when under evaluation, else `order`.
    A request with several steps gives a fact per step (id `<request id>#<step>` after the first)."""

    id: str = about("the fact's id: the MedicationRequest's, with #STEP after the first step")
    order_id: str = about("the MedicationRequest's id")
    ingredient: Ingredient = about("the cobalamin: cyano, hydroxo, methyl")
    product: str = about("display text of the product")
    antidote: bool = about("CYANOKIT, or IV hydroxocobalamin above regimen.antidote_above_mcg")
    cyanokit: bool = about("the CYANOKIT product")
    route: Route = about("the route: im, sc, iv, oral (sublingual, buccal too), nasal")
    route_class: RouteClass | None = about("parenteral, oral or nasal; unknown when the route is")
    route_text: str = about("the route as ordered: IM, SC, IV, oral, sublingual, nasal, unknown route")
    parenteral: bool = about("route IM, SC or IV, or an unknown route on an injectable product")
    injectable: bool = about("the product, dose unit or dosage text says injection")
    dose_kind: DoseKind = about("how the dose was written: mass, volume, container, count, none, unknown")
    dose_unit_problem: bool = about("a dose whose unit cannot be turned into mcg")
    unreadable: bool = about("no dose could be derived (service.order-unreadable)")
    dose_source: DoseSource | None = about("structured, or read from the dosage text")
    status: OrderStatus = about("the MedicationRequest's status")
    intent: OrderIntent = about("the MedicationRequest's intent")
    has_reason: bool = about("the order gives a reason: reasonCode, reasonReference or a note")
    reported_by_patient: bool = about("the order is the patient's own report (reported, informationSource)")
    bounded: bool = about("the order ends: a dose count, a duration or an end date")
    is_draft: bool = about("the order is under evaluation (a draft_order fact)")
    step: int = about("the dosage step (sequence order)", default=1)
    steps: int = about("how many dosage steps the request has", default=1)
    has_maintenance_step: bool = about("a later step is parenteral maintenance", default=False)
    concentration_mcg_per_ml: float | None = about("the product's strength", "mcg/mL", default=None)
    multi_dose_vial: bool | None = about("the product is a multi-dose vial", default=None)
    dose_value: float | None = about("the dose as written", default=None)
    dose_unit: str | None = about("the dose unit as written", default=None)
    dose_mcg: float | None = about("the dose", "mcg", default=None)
    dose_if_mcg_meant: float | None = about("dose_mcg / 1000: the dose if mg was written for mcg", "mcg",
                                            default=None)
    usual_dose_mcg: float | None = about("facts.yaml regimen.usual_dose_mcg, for card text", "mcg", default=None)
    usual_dose_ml: float | None = about("that dose as a volume of this product", "mL", default=None)
    dose_arithmetic: str | None = about('how the dose was worked out: "10 mL × 1,000 mcg/mL = 10,000 mcg"',
                                        default=None)
    dose_quote: str | None = about("the order text the dose was read from", default=None)
    unread_text: str | None = about("what could not be read, e.g. \"the unit '[IU]' is not a mass …\"", default=None)
    interval_days: float | None = about("days between doses", "days", default=None)
    doses: int | None = about("timing.repeat.count: the number of doses the order allows", default=None)
    starts_in_days: float | None = about("boundsPeriod.start from now (negative: began before)", "days", default=None)
    ends_in_days: float | None = about("its end from bounds or count, from now; unknown when open", "days",
                                       default=None)
    regimen: Regimen | None = about("parenteral orders: loading (at most weekly), maintenance (28 days or more), "
                                    "other", default=None)
    per_day: float | None = about("doses a day", "/d", default=None)
    mcg_per_day: float | None = about("dose_mcg × per_day", "mcg", default=None)
    mcg_per_28d: float | None = about("the dose per 28 days", "mcg", default=None)
    authored_days_ago: float | None = about("age of the order", "days", default=None)
    dispense_mcg: float | None = about("the supply dispensed", "mcg", default=None)
    supply_days: float | None = about("days the supply lasts (dispense_mcg / dose_mcg × interval_days; a "
                                      "multi-dose vial's capped at its in-use days)", "days", default=None)
    dispense_text: str | None = about('the supply for card text: "2 mL"', default=None)
    times_current_rate: float | None = about("drafts: mcg_per_28d over the current injections' combined rate",
                                             default=None)
    last_supply_text: str | None = about('drafts: the last supply of its ingredient and route class: "2 mL of 1 mg '
                                         'every 12 weeks"', default=None)
    last_supply_days: float | None = about("drafts: the days that supply should last", "days", default=None)
    last_supply_duration: str | None = about('drafts: the same for card text: "24 weeks"', default=None)
    last_supply_days_ago: float | None = about("drafts: when that supply was issued", "days", default=None)
    last_supply_issued: str | None = about('drafts: the same for card text: "20 days ago"', default=None)
    last_supply_used: float | None = about("drafts: last_supply_days_ago / last_supply_days (share of its days "
                                           "gone)", default=None)
    dose_text: str | None = about('the dose for card text: "1,000 mg", "1 mg (1 tablet)"', default=None)
    frequency_text: str | None = about('the schedule for card text: "every 2 days"', default=None)
    regimen_text: str | None = about('the regimen for card text: "1 mg IM every 2 months"', default=None)
    duplicate_of: str | None = about("drafts: an earlier draft of the same order (escalation.duplicate-draft)",
                                     default=None)


@dataclass
class FindingFact:
    """A value set of valuesets.yaml that the record matches (one fact per matched value set)."""

    id: str = about("the fact's id (finding:VALUESET)")
    valueset: str = about("the value set's name, e.g. leber_disease", values_from=VALUESETS)
    text: str = about('what matched, e.g. "leber\'s hereditary optic neuropathy"')


@dataclass
class LabOrderFact:
    """A lab test drafted in this request (a ServiceRequest of the order), by the lab kind its LOINC code is."""

    id: str = about("the fact's id (lab_order:KIND)")
    kind: str = about("the lab kind drafted, e.g. potassium", values_from=LABS)


@dataclass(frozen=True)
class FactType:
    """A fact type rules name: its model, how many a request has, and what one stands for."""

    model: type
    count: str
    meaning: str


FACT_TYPES: dict[str, FactType] = {
    "patient": FactType(PatientFact, "one", "the patient's derived status and the request's context"),
    "lab": FactType(LabFact, "one per lab kind", "the newest usable result of a lab kind"),
    "lab_order": FactType(LabOrderFact, "one per lab kind drafted", "a lab test drafted in this request"),
    "lab_unit_problem": FactType(LabUnitProblemFact, "one per unusable result",
                                 "a lab result no threshold may use; if it is the newest, its kind has no lab fact"),
    "draft_order": FactType(OrderFact, "one per dosage step of a B12 draft", "a B12 order under evaluation"),
    "order": FactType(OrderFact, "one per other B12 order (its first step)", "a B12 order of the record"),
    "finding": FactType(FindingFact, "one per matched value set", "a value set of valuesets.yaml the record matches"),
}


def engine_fact(fact_type: str, fact: Any) -> dict[str, Any]:
    """The dict asserted into the engine: unknown (None) fields are left out, never defaulted."""
    values = {key: value for key, value in vars(fact).items() if value is not None}  # flat: no asdict deep copy
    values["type"] = fact_type
    return values
