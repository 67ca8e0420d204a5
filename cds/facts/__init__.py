"""Normalization of FHIR data into the flat facts rules see."""
