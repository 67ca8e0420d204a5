"""A PatientRecord → the facts of one request (clinical-rules.md §1), composed from the fact units."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cds.facts.codes import Answers, CodeSystems
from cds.facts.duplicates import DraftStep, with_duplicates
from cds.facts.findings import DRAFT_ONLY, FindingMatcher
from cds.facts.folate import VALUESET as FOLIC_ACID
from cds.facts.folate import folic_acid_drafts
from cds.facts.history import TreatmentHistory
from cds.facts.labs import LabReader
from cds.facts.model import (
    FindingFact,
    LabFact,
    LabOrderFact,
    LabUnitProblemFact,
    OrderFact,
    PatientFact,
    engine_fact,
)
from cds.facts.orders import OrderReader
from cds.facts.patient import PatientDeriver, PatientInputs
from cds.facts.regimen import CurrentRegimen
from cds.facts.units import Units
from cds.fhir.record import PatientRecord


@dataclass
class FactSet:
    patient: PatientFact
    labs: list[LabFact] = field(default_factory=list)
    problems: list[LabUnitProblemFact] = field(default_factory=list)
    drafts: list[OrderFact] = field(default_factory=list)
    orders: list[OrderFact] = field(default_factory=list)
    findings: list[FindingFact] = field(default_factory=list)
    lab_orders: list[LabOrderFact] = field(default_factory=list)

    def engine_facts(self) -> list[dict[str, Any]]:
        """Every fact as the engine takes it, by fact type (the engine façade orders them)."""
        return ([engine_fact("lab", lab) for lab in self.labs]
                + [engine_fact("lab_unit_problem", problem) for problem in self.problems]
                + [engine_fact("order", order) for order in self.orders]
                + [engine_fact("draft_order", order) for order in self.drafts]
                + [engine_fact("finding", finding) for finding in self.findings]
                + [engine_fact("lab_order", test) for test in self.lab_orders]
                + [engine_fact("patient", self.patient)])


class Normalizer:
    """Built once per rulebook: value sets, units, product tables and grammars are reused per request."""

    def __init__(self, facts_config: dict[str, Any], valuesets: dict[str, Any]):
        self.config = facts_config
        units = Units(facts_config["unit_aliases"])
        answers = Answers(CodeSystems(valuesets["systems"]), valuesets["answers"])
        self.units = units
        self.findings = FindingMatcher(valuesets, answers)
        self.labs = LabReader(facts_config, units, answers)
        self.orders = OrderReader(valuesets, facts_config, units)
        self.patient = PatientDeriver(facts_config["status"])

    def normalize(self, record: PatientRecord, hook: str, now: datetime) -> FactSet:
        regimen_config = self.config["regimen"]
        orders = self._orders(record, now)
        steps = self._draft_steps(record, now)
        regimen = CurrentRegimen.of(orders, regimen_config["same_order_within_days"])
        drafts = [regimen.compared(draft, orders) for draft in with_duplicates(steps)]
        history = TreatmentHistory.of(orders, regimen_config["loading_max_interval_days"])
        findings = self.findings.match(record)
        unbounded = frozenset({"mma"}) if findings["inborn_cobalamin_disorder"] else frozenset()
        labs = history.marked(self.labs.summarize(record.observations, now, unbounded))
        folic_acid = folic_acid_drafts(record.drafts, record.medications, self.findings.valuesets[FOLIC_ACID],
                                       {draft.order_id for draft in drafts})
        unselected_b12 = len({s.fact.order_id for s in steps if not s.evaluated and not s.fact.antidote})
        patient = self.patient.fact(PatientInputs(
            record.patient, hook, now, labs, findings, orders, drafts, [s.fact for s in steps], unselected_b12,
            history, regimen, folic_acid))
        matched = [FindingFact(f"finding:{name}", name, ", ".join(found))
                   for name, found in findings.matched.items() if found and name not in DRAFT_ONLY]
        drafted_tests = {kind for test in record.lab_orders if test.status not in ("revoked", "entered-in-error")
                         and (kind := self.labs.kind_of(test.code))}
        tests = [LabOrderFact(f"lab_order:{kind}", kind) for kind in sorted(drafted_tests)]
        return FactSet(patient, list(labs.latest.values()), labs.problems, drafts, orders, matched, tests)

    def _orders(self, record: PatientRecord, now: datetime) -> list[OrderFact]:
        """The record's B12 orders (their first step), leaving out the drafts and orders entered in error."""
        draft_ids = {draft.id for draft in record.drafts}
        return [fact for request in record.medication_requests
                if request.id not in draft_ids and request.status != "entered-in-error"
                and (fact := self.orders.read(request, record.medications, now, False))]

    def _draft_steps(self, record: PatientRecord, now: datetime) -> list[DraftStep]:
        """Every step of every B12 draft, the selected ones (under evaluation) first, in request order."""
        read = [(draft, True) for draft in record.drafts] + [(draft, False) for draft in record.unselected_drafts]
        steps = []
        for position, (draft, evaluated) in enumerate(read):
            notes = record.draft_notes.get(draft.id or "", ()) if evaluated else ()
            steps += [DraftStep(fact, position, evaluated)
                      for fact in self.orders.read_steps(draft, record.medications, now, True, notes)]
        return steps
