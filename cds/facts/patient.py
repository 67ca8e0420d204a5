"""The one `patient` fact of a request: derived status (b12_status, anaemia, renal, findings, age), treatment
history and the drafts' context, each group of fields from a small named step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cds.facts.display import days_ago_text, format_number
from cds.facts.findings import RecordFindings
from cds.facts.history import TreatmentHistory
from cds.facts.labs import LAB_NAMES, UNIT_TEXT, LabSummary
from cds.facts.model import LabFact, OrderFact, PatientFact
from cds.facts.regimen import CurrentRegimen
from cds.facts.status import StatusReader
from cds.fhir.models import Patient

_SHOWN_LABS = ("b12_total", "b12_active", "mma", "homocysteine", "hb", "egfr")
_ONGOING = frozenset({"active", "on-hold"})


@dataclass(frozen=True)
class PatientInputs:
    """Everything one request's patient fact is derived from."""

    patient: Patient | None
    hook: str
    now: datetime
    labs: LabSummary
    findings: RecordFindings
    orders: list[OrderFact]              # non-draft B12 orders (first step each)
    drafts: list[OrderFact]              # draft steps under evaluation
    all_draft_steps: list[OrderFact]     # draft steps of the request, selected or not
    unselected_b12: int
    history: TreatmentHistory
    regimen: CurrentRegimen
    folic_acid: list[str]


class PatientDeriver:
    """facts.yaml `status` thresholds applied to one request's inputs."""

    def __init__(self, thresholds: dict[str, Any]):
        self.t = thresholds
        self._status = StatusReader(thresholds)

    def fact(self, given: PatientInputs) -> PatientFact:
        renal = self._renal_impairment(given)
        return PatientFact(
            id=f"patient:{(given.patient.id if given.patient else None) or 'unknown'}", hook=given.hook,  # type: ignore[arg-type]
            renal_impairment=renal, labs_text=_labs_text(given.labs),
            **self._age(given), **self._b12(given, renal), **self._blood(given), **_findings(given),
            **_treatment(given), **_drafts(given), **_regimen(given))

    def _age(self, given: PatientInputs) -> dict[str, Any]:
        born = given.patient.birthDate if given.patient else None
        if not isinstance(born, date):
            return {}   # missing, or only a year or month: unknown
        today = given.now.date()
        years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        birthday = _anniversary(born, born.year + years)
        age = years + (today - birthday).days / 365.25
        return {"age_years": round(age, 2), "adult": years >= self.t["adult_min_age_years"]}

    def _b12(self, given: PatientInputs, renal: bool) -> dict[str, Any]:
        found = given.findings
        status = self._status.read(given.labs, renal, bool(found["pregnancy"]), bool(found["nitrous_oxide"]))
        shown = [(name, lab) for name, lab in (("B12", status.total), ("active B12", status.active)) if lab is not None]
        tested = any(lab.days_ago <= self.t["b12_lookback_days"] for kind in ("b12_total", "b12_active", "mma")
                     if (lab := given.labs.latest.get(kind)) is not None)
        return {"b12_status": status.status, "b12_status_from": status.basis, "mma_upgraded": status.mma_upgraded,
                "b12_tested": tested,
                "b12_status_total_only": status.total is not None and status.active is None,
                "b12_total": status.total.value if status.total else None,
                "b12_active": status.active.value if status.active else None,
                "b12_text": ", ".join(_result_text(name, lab) for name, lab in shown) or None}

    def _blood(self, given: PatientInputs) -> dict[str, Any]:
        t, labs = self.t, given.labs
        hb = _recent(labs, "hb", t["hb_lookback_days"])
        mcv = _recent(labs, "mcv", t["hb_lookback_days"])
        mma = _recent(labs, "mma", t["b12_lookback_days"])
        homocysteine = _recent(labs, "homocysteine", t["b12_lookback_days"])
        latest_hb = labs.latest.get("hb")
        start = given.history.course_start_days_ago
        return {"hb": hb.value if hb else None, "mcv": mcv.value if mcv else None,
                "significant_anaemia": hb.value < t["significant_anaemia_hb_below"] if hb else None,
                "severe_anaemia": hb.value < t["severe_anaemia_hb_below"] if hb else None,
                "hb_days_ago": latest_hb.days_ago if latest_hb else None,
                "hb_since_course_start": (latest_hb is not None and latest_hb.days_ago < start
                                          if start is not None else None),
                "mma_raised": mma.value > t["mma_upgrade_above"] if mma else None,
                "homocysteine_raised": homocysteine.value > t["homocysteine_raised_above"] if homocysteine else None}

    def _renal_impairment(self, given: PatientInputs) -> bool:
        egfr = _recent(given.labs, "egfr", self.t["egfr_lookback_days"])
        low_egfr = egfr is not None and egfr.value < self.t["renal_impairment_egfr_below"]
        return low_egfr or bool(given.findings["chronic_kidney_disease"])


def _findings(given: PatientInputs) -> dict[str, Any]:
    found = given.findings
    malabsorption = list(found["malabsorption_cause"])
    if given.labs.intrinsic_factor_positive:
        malabsorption.append("intrinsic factor antibody positive")
    return {"neuro_findings": bool(found["neuro_findings"]), "neuro_text": ", ".join(found["neuro_findings"])
            or "none recorded", "malabsorption_cause": bool(malabsorption),
            "malabsorption_text": ", ".join(malabsorption) or "none recorded",
            "leber_disease": bool(found["leber_disease"]),
            "intrinsic_factor_positive": given.labs.intrinsic_factor_positive,
            "cyanide_poisoning": bool(found["cyanide_poisoning"]), "cobalt_allergy": bool(found["cobalt_allergy"]),
            "cobalamin_allergy_severe": found.severe_allergy("cobalamin_allergy"),
            "inborn_cobalamin_disorder": bool(found["inborn_cobalamin_disorder"]),
            "dietary_cause": bool(found["dietary_cause"]), "dietary_text": ", ".join(found["dietary_cause"]) or None,
            "nitrous_oxide_exposure": bool(found["nitrous_oxide"]), "pregnant": bool(found["pregnancy"])}


def _treatment(given: PatientInputs) -> dict[str, Any]:
    """Treatment history, with the drafts of this request: a loading course drafted now is loading given."""
    history = given.history
    therapy = [o for o in given.orders if not o.antidote]
    active = [o for o in therapy if o.status == "active"]
    ongoing_injections = [o for o in therapy if o.parenteral and o.status in _ONGOING]
    prescribed_injections = [o for o in ongoing_injections if not o.reported_by_patient]
    loading = history.loading_given or any(history.is_loading_course(d) for d in given.all_draft_steps)
    beyond_loading = [o for o in [*ongoing_injections, *given.all_draft_steps] if o.parenteral and not o.antidote
                      and (o.has_maintenance_step or (o.interval_days or 0) > history.loading_max_interval_days)]
    start = history.course_start_days_ago
    injections = [o for o in therapy if o.parenteral and o.authored_days_ago is not None]
    return {"new_series": history.new_series, "loading_given": loading,
            "injection_course": loading or not history.new_series,
            "active_b12_order": bool(active),
            "active_prescribed_b12_order": any(not o.reported_by_patient for o in active),
            "active_maintenance": any(o.parenteral and (o.regimen == "maintenance" or o.has_maintenance_step)
                                      for o in active),
            "parenteral_maintenance_planned": bool(beyond_loading),
            "active_injection_text": " + ".join(o.regimen_text or o.product for o in prescribed_injections) or None,
            "earliest_injection_days_ago": max((o.authored_days_ago for o in injections), default=None),
            "course_start_days_ago": start, "course_started": days_ago_text(start) if start is not None else None}


def _drafts(given: PatientInputs) -> dict[str, Any]:
    therapy = [d for d in given.drafts if not d.antidote]
    injections = {d.order_id: d.regimen_text or d.product for d in therapy if d.parenteral and d.step == 1}
    return {"b12_drafts": len({d.order_id for d in therapy}), "parenteral_drafts": len(injections),
            "parenteral_drafts_text": " + ".join(injections.values()) or None,
            "loading_drafts": sum(d.parenteral and d.regimen == "loading" for d in therapy),
            "b12_drafts_unselected": given.unselected_b12, "folic_acid_drafts": len(given.folic_acid),
            "folic_acid_text": ", ".join(given.folic_acid) or None}


def _regimen(given: PatientInputs) -> dict[str, Any]:
    regimen = given.regimen
    return {"prescribed_mcg_per_28d": regimen.rate(), "injection_mcg_per_28d": regimen.rate(injections_only=True),
            "current_regimen_text": regimen.text(), "prescribed_oral_only": regimen.oral_only,
            "prescribed_oral_mcg_per_day": regimen.oral_mcg_per_day if regimen.oral_only else None}


def _anniversary(born: date, year: int) -> date:
    """The birthday in `year` (28 February for 29 February in a common year)."""
    try:
        return born.replace(year=year)
    except ValueError:
        return born.replace(year=year, day=28)


def _recent(labs: LabSummary, kind: str, lookback_days: float) -> LabFact | None:
    lab = labs.latest.get(kind)
    return lab if lab is not None and lab.days_ago <= lookback_days else None


def _labs_text(labs: LabSummary) -> str | None:
    """The patient's own latest results for card text: 'B12 95 ng/L on 12 Oct 2026; …'."""
    parts = [f"{_result_text(LAB_NAMES[kind], lab)} on {lab.date}"
             for kind in _SHOWN_LABS if (lab := labs.latest.get(kind)) is not None]
    return "; ".join(parts) or None


def _result_text(name: str, lab: LabFact) -> str:
    """'B12 900 ng/L', '<150 ng/L' for a bound, marked '(on treatment)' when taken during injection therapy."""
    text = f"{name} {lab.comparator or ''}{format_number(lab.value)} {UNIT_TEXT.get(lab.unit, lab.unit)}"
    return f"{text} (on treatment)" if lab.on_treatment else text
