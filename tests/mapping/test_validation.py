"""hub.fhir.validation: the R4 JSON schema catches what the R4B models let through."""

from __future__ import annotations

from hub.fhir.validation import SCHEMA_PATH, resource_types, validate_bundle, validate_r4, validate_r4b_model


def test_the_schema_ships_inside_the_package():
    assert SCHEMA_PATH.is_file()
    assert "hub" in SCHEMA_PATH.parts and "shared" not in SCHEMA_PATH.parts
    assert {"Patient", "Encounter", "Observation", "DiagnosticReport", "Specimen", "Bundle"} <= resource_types()


def test_a_valid_resource():
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-01-01"}
    assert validate_r4(patient, models=True) == []


def test_what_the_schema_rejects():
    assert validate_r4({"resourceType": "Patient", "gender": "F"})  # not a code of administrative-gender
    assert validate_r4({"resourceType": "Patient", "active": "yes"})  # not a boolean
    assert validate_r4({"resourceType": "Patient", "birthdate": "1980-01-01"})  # no such element
    assert validate_r4({"resourceType": "Patient", "id": "a b"})  # not a FHIR id
    assert validate_r4({"resourceType": "Observation", "status": "final"})  # code is required
    assert validate_r4({"resourceType": "Encounter", "status": "in-progress", "period": {"start": "2026-03-15T08:30"}})
    errors = validate_r4({"resourceType": "Patient", "name": [{"text": ""}]})
    assert errors and errors[0].startswith("Patient.name")
    assert validate_r4({"resourceType": "NoSuchType"}) == ["unknown resourceType 'NoSuchType'"]


def test_the_r4b_models_are_laxer_the_schema_is_the_arbiter():
    lax = {"resourceType": "Patient", "gender": "F"}
    assert validate_r4b_model(lax) == []
    assert validate_r4(lax) != []
    assert validate_r4b_model({"resourceType": "Patient", "foo": 1})


def test_a_bundle_is_checked_entry_by_entry():
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "ok"}, "request": {"method": "PUT", "url": "Patient/ok"}},
            {"resource": {"resourceType": "Patient", "gender": "F"}, "request": {"method": "PUT", "url": "Patient/x"}},
        ],
    }
    errors = validate_bundle(bundle)
    assert len(errors) == 1 and errors[0].startswith("entry[1] Patient")
