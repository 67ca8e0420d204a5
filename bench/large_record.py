"""In-process cost of one large order-sign request (run on demand: `python -m bench.large_record`).

A real fixture padded to a large record: 500 Hb results and 400 glucose results (which no rule
reads), 100 B12 and 100 other MedicationRequests. Prints the median of the warm calls.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
from pathlib import Path

from bench.probes import large_request
from cds import BUNDLED_RULES
from cds.config import Settings
from cds.hooks import parse_request
from cds.pipeline import run_service
from cds.runtime import RuleRuntime


def padded_request() -> dict:
    body = large_request()
    observations = body["prefetch"]["observations"]["entry"]
    medications = body["prefetch"]["medications"]["entry"]
    glucose = {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]}
    amoxicillin = {"text": "Amoxicillin 500 MG Oral Capsule",
                   "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "308191"}]}
    observations += [{"resource": {**observations[0]["resource"], "id": f"glucose-{i}", "code": glucose}}
                     for i in range(400)]
    medications += [{"resource": {**medications[0]["resource"], "id": f"other-{i}",
                                  "medicationCodeableConcept": amoxicillin}} for i in range(100)]
    return body


def main() -> None:
    runtime = RuleRuntime(BUNDLED_RULES)
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="cds-bench-")), deadline_s=30)
    service = runtime.current.rulebook.services["b12-order-sign"]
    body = padded_request()
    times = []
    for _ in range(12):
        request, context = parse_request(copy.deepcopy(body), "order-sign")
        started = time.perf_counter()
        run_service(runtime.current, service, request, context, settings, time.monotonic())
        times.append((time.perf_counter() - started) * 1000)
    observations = len(body["prefetch"]["observations"]["entry"])
    medications = len(body["prefetch"]["medications"]["entry"])
    print(f"one order-sign call, {observations} Observations, {medications} MedicationRequests: "
          f"median {statistics.median(times[2:]):.1f} ms of 10 warm calls")


if __name__ == "__main__":
    main()
