"""_include and _revinclude (with :iterate and *), de-duplicated and never a match twice; _elements and _summary
subsetting with the SUBSETTED tag."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from hub.errors import InvalidInput
from hub.fhir import store
from hub.fhir.search import SearchResult
from hub.fhir.subsetting import SUBSETTED
from tests.fhir.factories import observation, patient


def keys(resources: list[dict[str, Any]]) -> list[str]:
    return [f"{r['resourceType']}/{r['id']}" for r in resources]


def search(session: Session, rtype: str, *params: tuple[str, str], **kw: Any) -> SearchResult:
    return store.search(session, rtype, list(params), **kw)


@pytest.fixture
def clinic(session: Session) -> Session:
    """Two patients; p1 has two Observations in a DiagnosticReport, an Encounter, a MedicationRequest and a
    MedicationDispense of it; a Provenance targets o1; a deleted Medication is referenced by a second request."""
    store.put(session, patient("p1", managingOrganization={"reference": "Organization/h1"}))
    store.put(session, patient("p2"))
    store.put(session, {"resourceType": "Organization", "id": "h1", "name": "First Hospital"})
    store.put(
        session,
        {
            "resourceType": "Encounter",
            "id": "e1",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p1"},
        },
    )
    store.put(session, observation("o1", pid="p1", encounter={"reference": "Encounter/e1"}))
    store.put(session, observation("o2", pid="p1", encounter={"reference": "Encounter/e1"}))
    store.put(session, observation("o3", pid="p2"))
    store.put(
        session,
        {
            "resourceType": "DiagnosticReport",
            "id": "r1",
            "status": "final",
            "code": {"text": "CBC"},
            "subject": {"reference": "Patient/p1"},
            "result": [{"reference": "Observation/o1"}, {"reference": "Observation/o2"}],
        },
    )
    store.put(session, {"resourceType": "Medication", "id": "m1", "code": {"text": "Aspirin"}})
    store.put(session, {"resourceType": "Medication", "id": "m-gone", "code": {"text": "Withdrawn"}})
    for rid, med in (("rx1", "m1"), ("rx2", "m-gone")):
        store.put(
            session,
            {
                "resourceType": "MedicationRequest",
                "id": rid,
                "status": "active",
                "intent": "order",
                "subject": {"reference": "Patient/p1"},
                "medicationReference": {"reference": f"Medication/{med}"},
            },
        )
    store.put(
        session,
        {
            "resourceType": "MedicationDispense",
            "id": "md1",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "medicationReference": {"reference": "Medication/m1"},
            "authorizingPrescription": [{"reference": "MedicationRequest/rx1"}],
        },
    )
    store.put(
        session,
        {
            "resourceType": "Provenance",
            "id": "prov1",
            "recorded": "2024-03-01T10:00:00Z",
            "target": [{"reference": "Observation/o1"}],
            "agent": [{"who": {"reference": "Organization/h1"}}],
        },
    )
    session.commit()
    store.delete(session, "Medication", "m-gone")
    session.commit()
    return session


def test_include_follows_references_once(clinic: Session) -> None:
    result = search(clinic, "Observation", ("_include", "Observation:patient"))
    assert keys(result.matches) == ["Observation/o1", "Observation/o2", "Observation/o3"]
    assert keys(result.included) == ["Patient/p1", "Patient/p2"]  # p1 once, though two matches name it
    assert ("_include", "Observation:patient") in result.params
    result = search(clinic, "Observation", ("patient", "p1"), ("_include", "Observation:encounter"))
    assert keys(result.included) == ["Encounter/e1"]
    # A target type narrows the references followed.
    result = search(clinic, "Observation", ("_include", "Observation:subject:Group"))
    assert result.included == []


def test_include_wildcard_and_deleted_targets(clinic: Session) -> None:
    result = search(clinic, "Observation", ("_id", "o1"), ("_include", "Observation:*"))
    assert keys(result.included) == ["Encounter/e1", "Patient/p1"]
    result = search(clinic, "MedicationRequest", ("_include", "MedicationRequest:medication"))
    assert keys(result.included) == ["Medication/m1"]  # m-gone is deleted: not included


def test_an_included_match_is_not_repeated(clinic: Session) -> None:
    result = search(clinic, "Observation", ("_include", "Observation:has-member"), ("_revinclude", "Provenance:target"))
    assert keys(result.included) == ["Provenance/prov1"]
    result = search(clinic, "Patient", ("_include", "Patient:link"), ("_revinclude", "Observation:patient"))
    assert [k for k in keys(result.included) if k.startswith("Patient/")] == []


def test_revinclude(clinic: Session) -> None:
    result = search(clinic, "Patient", ("_id", "p1"), ("_revinclude", "Encounter:subject"))
    assert keys(result.matches) == ["Patient/p1"] and keys(result.included) == ["Encounter/e1"]
    result = search(
        clinic, "Observation", ("_revinclude", "DiagnosticReport:result"), ("_revinclude", "Provenance:target")
    )
    assert keys(result.included) == ["DiagnosticReport/r1", "Provenance/prov1"]


def test_iterate_follows_included_resources(clinic: Session) -> None:
    # DiagnosticReport → its results → their patients (the second step only with :iterate).
    plain = search(clinic, "DiagnosticReport", ("_include", "DiagnosticReport:result"))
    assert keys(plain.included) == ["Observation/o1", "Observation/o2"]
    iterated = search(
        clinic,
        "DiagnosticReport",
        ("_include", "DiagnosticReport:result"),
        ("_include:iterate", "Observation:patient"),
        ("_include:iterate", "Observation:encounter"),
    )
    assert keys(iterated.included) == ["Observation/o1", "Observation/o2", "Encounter/e1", "Patient/p1"]
    dispensed = search(
        clinic,
        "MedicationDispense",
        ("_include", "MedicationDispense:prescription"),
        ("_include:iterate", "MedicationRequest:medication"),
    )
    assert keys(dispensed.included) == ["MedicationRequest/rx1", "Medication/m1"]
    reverse = search(
        clinic,
        "Patient",
        ("_id", "p1"),
        ("_revinclude", "Observation:patient"),
        ("_revinclude:iterate", "Provenance:target"),
    )
    assert keys(reverse.included) == ["Observation/o1", "Observation/o2", "Provenance/prov1"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_include", "Nope:patient"),
        ("_include", "Observation:code"),
        ("_include", "Observation:nope"),
        ("_include", "Patient:organization"),  # not the searched type, and not :iterate
        ("_include", "Observation:patient:Group"),
        ("_revinclude", "Encounter:practitioner"),  # can only refer to a Practitioner
        ("_include:nope", "Observation:patient"),
    ],
)
def test_bad_includes_are_refused_or_ignored(clinic: Session, name: str, value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        search(clinic, "Observation", (name, value))
    assert info.value.expression == name
    lenient = search(clinic, "Observation", (name, value), ("_id", "o1"), strict=False)
    assert keys(lenient.matches) == ["Observation/o1"] and lenient.ignored == [name]
    assert lenient.params == [("_id", "o1")] and lenient.included == []


def test_malformed_includes_are_refused_whatever_the_handling(clinic: Session) -> None:
    for value in ("Observation", "Observation:", ":patient", "Observation:patient:Patient:x"):
        for strict in (True, False):
            with pytest.raises(InvalidInput) as info:
                search(clinic, "Observation", ("_include", value), strict=strict)
            assert info.value.expression == "_include"


def test_elements_keep_mandatory_elements_and_tag_the_subset(clinic: Session) -> None:
    result = search(clinic, "Observation", ("_id", "o1"), ("_elements", "subject,value"))
    (whole,) = result.matches
    assert "effectiveDateTime" in whole and "encounter" in whole  # the search itself returns whole resources
    shaped = result.shaped(whole)
    assert set(shaped) == {"resourceType", "id", "meta", "status", "code", "subject", "valueQuantity"}
    assert SUBSETTED in shaped["meta"]["tag"] and shaped["meta"]["versionId"] == "1"
    assert "tag" not in whole["meta"]  # the match itself is untouched
    assert ("_elements", "subject,value") in result.params
    typed = search(clinic, "Observation", ("_id", "o1"), ("_elements", "Observation.valueQuantity"))
    assert "valueQuantity" in typed.shaped(typed.matches[0])
    for bad in ("subject,", "Patient.name", "a b", "subject;drop"):
        with pytest.raises(InvalidInput):
            search(clinic, "Observation", ("_elements", bad))


def test_summary_modes(clinic: Session) -> None:
    store.put(
        clinic,
        patient(
            "p3",
            text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
            photo=[{"contentType": "image/png", "data": "AA=="}],
        ),
    )
    clinic.commit()
    result = search(clinic, "Patient", ("_id", "p3"), ("_summary", "true"))
    summary = result.shaped(result.matches[0])
    assert "photo" not in summary and "text" not in summary and {"name", "gender", "birthDate"} <= set(summary)
    assert SUBSETTED in summary["meta"]["tag"]
    result = search(clinic, "Patient", ("_id", "p3"), ("_summary", "text"))
    assert set(result.shaped(result.matches[0])) == {"resourceType", "id", "meta", "text"}
    result = search(clinic, "Patient", ("_id", "p3"), ("_summary", "data"))
    data = result.shaped(result.matches[0])
    assert "text" not in data and "photo" in data and SUBSETTED in data["meta"]["tag"]
    result = search(clinic, "Patient", ("_id", "p3"), ("_summary", "false"))
    assert result.shaped(result.matches[0]) == result.matches[0]
    with pytest.raises(InvalidInput):
        search(clinic, "Patient", ("_summary", "true"), ("_elements", "name"))
    with pytest.raises(InvalidInput):
        search(clinic, "Patient", ("_summary", "sometimes"))
    assert search(clinic, "Patient", ("_summary", "sometimes"), strict=False).ignored == ["_summary"]
