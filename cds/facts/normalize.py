"""A PatientRecord → the facts of one request (clinical-rules.md §1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from cds.facts.codes import Answers, CodeSystems, Coding, ValueSet, codings_of, texts_of
from cds.facts.display import concept_text, days_ago_text, format_number
from cds.facts.folate import VALUESET as FOLIC_ACID
from cds.facts.folate import folic_acid_drafts
from cds.facts.history import TreatmentHistory
from cds.facts.labs import IGNORED_STATUSES, LAB_NAMES, UNIT_TEXT, LabSummary, observation_answer, summarize_labs
from cds.facts.model import FindingFact, LabFact, LabUnitProblemFact, OrderFact, PatientFact, engine_fact
from cds.facts.orders import OrderReader
from cds.facts.regimen import CurrentRegimen
from cds.facts.units import Units
from cds.fhir.models import AllergyIntolerance, CodeableConcept, Condition, Observation
from cds.fhir.record import PatientRecord

_INACTIVE_CLINICAL = {"inactive", "remission", "resolved"}
_VOID_VERIFICATION = {"entered-in-error", "refuted"}
_SHOWN_LABS = ("b12_total", "b12_active", "mma", "homocysteine", "hb", "egfr")
_DEFAULT_SOURCES = ("Condition", "Procedure", "Observation")
_ABATEMENT = ("abatementDateTime", "abatementAge", "abatementPeriod", "abatementRange", "abatementString")
# rev 2: with nitrous oxide exposure a homocysteine above this makes b12_status low. It belongs in
# facts.yaml `status` once its schema (rules/schema/facts.schema.json) admits the key.
NITROUS_OXIDE_HOMOCYSTEINE_ABOVE = 15.0   # umol/L (NG239; as monitoring.yaml homocysteine_confounded_above)


@dataclass
class FactSet:
    patient: PatientFact
    labs: list[LabFact] = field(default_factory=list)
    problems: list[LabUnitProblemFact] = field(default_factory=list)
    drafts: list[OrderFact] = field(default_factory=list)
    orders: list[OrderFact] = field(default_factory=list)
    findings: list[FindingFact] = field(default_factory=list)

    def engine_facts(self) -> list[dict[str, Any]]:
        """Every fact, the patient fact last (the engine's anchor for absence tests)."""
        return ([engine_fact("lab", lab) for lab in self.labs]
                + [engine_fact("lab_unit_problem", problem) for problem in self.problems]
                + [engine_fact("order", order) for order in self.orders]
                + [engine_fact("draft_order", order) for order in self.drafts]
                + [engine_fact("finding", finding) for finding in self.findings]
                + [engine_fact("patient", self.patient)])


class Normalizer:
    """Built once per rulebook: value sets, units and product tables are reused per request."""

    def __init__(self, facts_config: dict[str, Any], valuesets: dict[str, Any]):
        self.config = facts_config
        systems = CodeSystems(valuesets["systems"])
        self.valuesets = {name: ValueSet(systems, spec["codes"], spec.get("text", []))
                          for name, spec in valuesets["valuesets"].items()}
        self.sources = {name: frozenset(spec.get("sources", _DEFAULT_SOURCES))
                        for name, spec in valuesets["valuesets"].items()}
        self.answers = Answers(systems, valuesets["answers"])
        self.units = Units(facts_config["unit_aliases"])
        self.orders = OrderReader(valuesets, facts_config, self.units)

    def normalize(self, record: PatientRecord, hook: str, now: datetime) -> FactSet:
        draft_ids = {draft.id for draft in record.drafts}
        drafts = [fact for draft in record.drafts
                  if (fact := self.orders.read(draft, record.medications, now, True,
                                               record.draft_notes.get(draft.id or "", ())))]
        orders = [fact for request in record.medication_requests
                  if request.id not in draft_ids and request.status != "entered-in-error"
                  and (fact := self.orders.read(request, record.medications, now, False))]
        regimen = CurrentRegimen.of(orders)
        drafts = [regimen.compared(draft, orders) for draft in drafts]
        history = TreatmentHistory.of(orders, self.config["regimen"]["loading_max_interval_days"])
        labs = history.marked(summarize_labs(record.observations, self.config, self.units, self.answers, now))
        folic_acid = folic_acid_drafts(record.drafts, record.medications, self.valuesets[FOLIC_ACID],
                                       {draft.id for draft in drafts})
        unselected_b12 = sum(not fact.antidote for draft in record.unselected_drafts
                             if (fact := self.orders.read(draft, record.medications, now, True)))
        deriver = _PatientDeriver(self, record, labs, orders, hook, drafts, history, folic_acid, regimen,
                                  unselected_b12)
        findings = [FindingFact(f"finding:{name}", name, ", ".join(matched))
                    for name, matched in deriver.matched.items() if matched]
        return FactSet(deriver.fact, list(labs.latest.values()), labs.problems, drafts, orders, findings)


class _PatientDeriver:
    """Derived status of one patient (b12_status, anaemia, renal, malabsorption, ...)."""

    def __init__(self, normalizer: Normalizer, record: PatientRecord, labs: LabSummary,
                 orders: list[OrderFact], hook: str, drafts: list[OrderFact], history: TreatmentHistory,
                 folic_acid: list[str], regimen: CurrentRegimen, unselected_b12: int):
        self.n = normalizer
        self.record = record
        self.labs = labs
        self.orders = orders
        self.hook = hook
        self.therapy_drafts = [draft for draft in drafts if not draft.antidote]
        self.history = history
        self.folic_acid = folic_acid
        self.regimen = regimen
        self.unselected_b12 = unselected_b12
        self.status = normalizer.config["status"]
        self.matched = {name: self._match(name) for name in normalizer.valuesets if name != FOLIC_ACID}

    def recent(self, kind: str, lookback_days: float) -> LabFact | None:
        lab = self.labs.latest.get(kind)
        return lab if lab is not None and lab.days_ago <= lookback_days else None

    def _match(self, name: str) -> list[str]:
        """What in the record matches value set `name`, from the resource types it applies to."""
        valueset, sources, found = self.n.valuesets[name], self.n.sources[name], []
        if "Condition" in sources:
            found += [concept_text(c.code) for c in self.record.conditions
                      if _active(c) and valueset.matches(codings_of(c.code), texts_of(c.code))]
        if "Procedure" in sources:
            found += [concept_text(p.code) for p in self.record.procedures
                      if p.status == "completed" and valueset.matches(codings_of(p.code))]
        if "Observation" in sources:
            for (value, code), observations in self._observations_by_codings.items():
                found += [concept_text(o.valueCodeableConcept or o.code) for o in self._observed(
                    valueset, value, code, observations)]
        if "AllergyIntolerance" in sources:
            found += [concept_text(a.code or _reaction_substance(a)) for a in self.record.allergies
                      if _active(a) and valueset.matches(codings_of(a.code), _allergy_texts(a))]
        return list(dict.fromkeys(found))

    @cached_property
    def _observations_by_codings(self) -> dict[tuple[tuple[Coding, ...], tuple[Coding, ...]], list[Observation]]:
        """The counted Observations grouped by (value codings, code codings): a record repeats the
        same few codes, so each value set is matched once per group."""
        grouped: dict[tuple[tuple[Coding, ...], tuple[Coding, ...]], list[Observation]] = {}
        for o in self.record.observations:
            if o.status not in IGNORED_STATUSES:
                grouped.setdefault((tuple(codings_of(o.valueCodeableConcept)), tuple(codings_of(o.code))), []).append(o)
        return grouped

    def _observed(self, valueset: ValueSet, value: tuple[Coding, ...], code: tuple[Coding, ...],
                  observations: list[Observation]) -> list[Observation]:
        """Findings recorded as Observations: their value is in the set, or their code is and the
        value does not say no (a paraesthesia Observation valued "Absent" is not a finding)."""
        if valueset.matches(value):
            return observations
        if valueset.matches(code):
            return [o for o in observations if observation_answer(o, self.n.answers) is not False]
        return []

    @cached_property
    def renal_impairment(self) -> bool:
        egfr = self.recent("egfr", self.status["egfr_lookback_days"])
        low_egfr = egfr is not None and egfr.value < self.status["renal_impairment_egfr_below"]
        return low_egfr or bool(self.matched["chronic_kidney_disease"])

    def _status_result(self, kind: str, deficient: Callable[[float], bool]) -> LabFact | None:
        """The result b12_status rests on: the newest in the look-back window that was not taken on
        treatment, unless the newest one is on treatment and shows deficiency (a lapsed patient)."""
        window = [lab for lab in self.labs.results.get(kind, []) if lab.days_ago <= self.status["b12_lookback_days"]]
        if window and (not window[0].on_treatment or deficient(window[0].value)):
            return window[0]
        return next((lab for lab in window if not lab.on_treatment), None)

    @cached_property
    def status_results(self) -> tuple[LabFact | None, LabFact | None, LabFact | None]:
        """(total B12, active B12, MMA) that b12_status rests on; in pregnancy an active B12 decides."""
        s = self.status
        total = self._status_result("b12_total", lambda value: value < s["b12_total_low_below"])
        active = self._status_result("b12_active", lambda value: value < s["b12_active_low_below"])
        mma = self._status_result("mma", lambda value: value > s["mma_upgrade_above"])
        if active is not None and self.matched["pregnancy"]:
            total = None
        return total, active, mma

    def b12_status(self) -> tuple[str, bool]:
        s = self.status
        total, active, mma = self.status_results
        raised_mma = mma is not None and mma.value > s["mma_upgrade_above"] and not self.renal_impairment
        if self.matched["nitrous_oxide"] and not self.renal_impairment:
            homocysteine = self.recent("homocysteine", s["b12_lookback_days"])
            if raised_mma or (homocysteine is not None and homocysteine.value > NITROUS_OXIDE_HOMOCYSTEINE_ABOVE):
                return "low", False
        t = total.value if total else None
        a = active.value if active else None
        if (t is not None and t < s["b12_total_low_below"]) or (a is not None and a < s["b12_active_low_below"]):
            return "low", False
        if (t is not None and t <= s["b12_total_normal_above"]) or (
                a is not None and a <= s["b12_active_normal_above"]):
            return ("low", True) if raised_mma else ("indeterminate", False)
        if t is not None or a is not None:
            return "normal", False
        return "unknown", False

    @property
    def fact(self) -> PatientFact:
        s = self.status
        hb = self.recent("hb", s["hb_lookback_days"])
        status, upgraded = self.b12_status()
        neuro = self.matched["neuro_findings"]
        malabsorption = list(self.matched["malabsorption_cause"])
        if self.labs.intrinsic_factor_positive:
            malabsorption.append("intrinsic factor antibody positive")
        therapy = [o for o in self.orders if not o.antidote]
        active = [o for o in therapy if o.status == "active"]
        injections = [o for o in therapy if o.parenteral and o.authored_days_ago is not None]
        total, active_b12, _ = self.status_results
        course_start = self.history.course_start_days_ago
        latest_hb = self.labs.latest.get("hb")
        mcv = self.recent("mcv", s["hb_lookback_days"])
        return PatientFact(
            id=f"patient:{(self.record.patient.id if self.record.patient else None) or 'unknown'}",
            hook=self.hook,
            b12_drafts=len(self.therapy_drafts),
            b12_status=status,
            b12_total=total.value if total else None,
            b12_active=active_b12.value if active_b12 else None,
            mma_upgraded=upgraded,
            hb=hb.value if hb else None,
            significant_anaemia=hb.value < s["significant_anaemia_hb_below"] if hb else None,
            severe_anaemia=hb.value < s["severe_anaemia_hb_below"] if hb else None,
            renal_impairment=self.renal_impairment,
            neuro_findings=bool(neuro),
            malabsorption_cause=bool(malabsorption),
            leber_disease=bool(self.matched["leber_disease"]),
            cyanide_poisoning=bool(self.matched["cyanide_poisoning"]),
            cobalt_allergy=bool(self.matched["cobalt_allergy"]),
            new_series=self.history.new_series,
            active_b12_order=bool(active),
            active_maintenance=any(o.parenteral and o.regimen == "maintenance" for o in active),
            earliest_injection_days_ago=max((o.authored_days_ago for o in injections), default=None),
            neuro_text=", ".join(neuro) or "none recorded",
            malabsorption_text=", ".join(malabsorption) or None,
            labs_text=self.labs_text(),
            b12_text=", ".join(_result_text(name, lab) for name, lab in
                               (("B12", total), ("active B12", active_b12)) if lab is not None) or None,
            loading_given=self.history.loading_given,
            course_start_days_ago=course_start,
            course_started=days_ago_text(course_start) if course_start is not None else None,
            hb_since_course_start=(latest_hb is not None and latest_hb.days_ago < course_start
                                   if course_start is not None else None),
            hb_days_ago=latest_hb.days_ago if latest_hb else None,
            mcv=mcv.value if mcv else None,
            dietary_cause=bool(self.matched["dietary_cause"]),
            dietary_text=", ".join(self.matched["dietary_cause"]) or None,
            nitrous_oxide_exposure=bool(self.matched["nitrous_oxide"]),
            pregnant=bool(self.matched["pregnancy"]),
            loading_drafts=sum(d.parenteral and d.regimen == "loading" for d in self.therapy_drafts),
            b12_drafts_unselected=self.unselected_b12,
            folic_acid_drafts=len(self.folic_acid),
            folic_acid_text=", ".join(self.folic_acid) or None,
            prescribed_mcg_per_28d=self.regimen.rate(),
            injection_mcg_per_28d=self.regimen.rate(injections_only=True),
            current_regimen_text=self.regimen.text,
        )

    def labs_text(self) -> str | None:
        """The patient's own latest results for card text: 'B12 95 ng/L on 12 Oct 2026; …'."""
        parts = [f"{_result_text(LAB_NAMES[kind], lab)} on {lab.date}"
                 for kind in _SHOWN_LABS if (lab := self.labs.latest.get(kind)) is not None]
        return "; ".join(parts) or None


def _result_text(name: str, lab: LabFact) -> str:
    """'B12 900 ng/L', marked '(on treatment)' when taken during injection therapy (rev 2)."""
    text = f"{name} {format_number(lab.value)} {UNIT_TEXT.get(lab.unit, lab.unit)}"
    return f"{text} (on treatment)" if lab.on_treatment else text


def _active(resource: Condition | AllergyIntolerance) -> bool:
    """A Condition or AllergyIntolerance that is neither resolved nor entered in error / refuted.
    Without a clinical status, a Condition with an abatement has resolved."""
    verification = {c.code for c in codings_of(resource.verificationStatus)}
    clinical = {c.code for c in codings_of(resource.clinicalStatus)}
    abated = not clinical and any(getattr(resource, name, None) for name in _ABATEMENT)
    return not (verification & _VOID_VERIFICATION or clinical & _INACTIVE_CLINICAL or abated)


def _reaction_substance(allergy: AllergyIntolerance) -> CodeableConcept | None:
    return next((reaction.substance for reaction in allergy.reaction or [] if reaction.substance), None)


def _allergy_texts(allergy: AllergyIntolerance) -> list[str]:
    """The allergy's own text plus the substances named in its reactions."""
    texts = texts_of(allergy.code)
    for reaction in allergy.reaction or []:
        texts += texts_of(reaction.substance)
    return texts
