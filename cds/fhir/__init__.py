"""FHIR data: prefetch or FHIR-server fetch, R4 parsing, bad resources skipped and reported."""
