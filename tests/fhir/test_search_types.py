"""The search parameters of every resource type the API serves: a resource of each type is found by the parameters
clinicians use for it (and not by a value it does not have), so each path reaches the element it names."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from hub.fhir import store
from hub.fhir.search_params import SORTABLE_TYPES, include_values, params_for, revinclude_values, sort_param

SERVED = (
    "Patient Practitioner PractitionerRole Organization Location HealthcareService Encounter Observation "
    "DiagnosticReport ServiceRequest Specimen ImagingStudy Condition AllergyIntolerance Immunization "
    "DocumentReference Schedule Slot Appointment Medication MedicationRequest MedicationDispense "
    "MedicationAdministration Provenance "
    "AuditEvent Consent Task Communication"
).split()

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"


def cc(code: str, system: str = SCT) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


CASES: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    (
        {
            "resourceType": "Patient",
            "address": [{"city": "Shenzhen", "state": "GD", "country": "CN"}],
            "communication": [{"language": cc("zh", "urn:ietf:bcp:47")}],
            "name": [{"family": "Wang", "given": ["Fang"]}],
        },
        [("address-state", "gd"), ("address-country", "CN"), ("language", "zh"), ("given", "fang")],
    ),
    (
        {
            "resourceType": "Practitioner",
            "telecom": [{"system": "phone", "value": "0755-1"}, {"system": "email", "value": "d@h.cn"}],
            "address": [{"city": "Futian"}],
            "communication": [cc("en", "urn:ietf:bcp:47")],
        },
        [("phone", "0755-1"), ("email", "d@h.cn"), ("address-city", "futian"), ("communication", "en")],
    ),
    (
        {
            "resourceType": "PractitionerRole",
            "period": {"start": "2020-01-01"},
            "telecom": [{"system": "phone", "value": "110"}],
            "endpoint": [ref("Endpoint/ep1")],
            "practitioner": ref("Practitioner/dr1"),
        },
        [("date", "ge2024"), ("phone", "110"), ("endpoint", "Endpoint/ep1"), ("practitioner", "dr1")],
    ),
    (
        {"resourceType": "Organization", "address": [{"city": "Nanshan"}], "endpoint": [ref("Endpoint/ep2")]},
        [("address-city", "nan"), ("endpoint", "ep2")],
    ),
    (
        {"resourceType": "Location", "operationalStatus": {"system": "x", "code": "O"}, "address": {"city": "Luohu"}},
        [("operational-status", "x|O"), ("address-city", "luohu")],
    ),
    (
        {
            "resourceType": "HealthcareService",
            "category": [cc("35")],
            "characteristic": [cc("wheelchair")],
            "program": [cc("medicare")],
        },
        [("service-category", "35"), ("characteristic", "wheelchair"), ("program", "medicare")],
    ),
    (
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "IMP"},
            "reasonCode": [cc("38341003")],
            "diagnosis": [{"condition": ref("Condition/c1")}],
            "length": {"value": 3, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"},
            "location": [{"location": ref("Location/w1"), "period": {"start": "2024-03-01", "end": "2024-03-04"}}],
            "hospitalization": {"specialArrangement": [cc("wheel")]},
        },
        [
            ("reason-code", f"{SCT}|38341003"),
            ("diagnosis", "Condition/c1"),
            ("length", "gt2"),
            ("location-period", "le2024-03-02"),
            ("special-arrangement", "wheel"),
            ("class", "IMP"),
        ],
    ),
    (
        {
            "resourceType": "Observation",
            "status": "final",
            "code": cc("85354-9", LOINC),
            "method": cc("auto"),
            "focus": [ref("Condition/c1")],
            "component": [
                {"code": cc("8480-6", LOINC), "valueQuantity": {"value": 120, "code": "mm[Hg]"}},
                {"code": cc("8462-4", LOINC), "valueCodeableConcept": cc("high")},
            ],
        },
        [
            ("component-code", f"{LOINC}|8480-6"),
            ("combo-code", "85354-9"),
            ("combo-code", "8462-4"),
            ("component-value-quantity", "ge100"),
            ("combo-value-quantity", "120"),
            ("component-value-concept", "high"),
            ("combo-value-concept", "high"),
            ("method", "auto"),
            ("focus", "Condition/c1"),
        ],
    ),
    (
        {
            "resourceType": "DiagnosticReport",
            "status": "final",
            "code": cc("58410-2", LOINC),
            "media": [{"link": ref("Media/m1")}],
        },
        [("media", "Media/m1"), ("code", "58410-2")],
    ),
    (
        {
            "resourceType": "ServiceRequest",
            "status": "active",
            "intent": "order",
            "bodySite": [cc("368209003")],
            "replaces": [ref("ServiceRequest/old")],
            "instantiatesUri": ["http://example.org/protocol"],
        },
        [
            ("body-site", "368209003"),
            ("replaces", "ServiceRequest/old"),
            ("instantiates-uri", "http://example.org/protocol"),
        ],
    ),
    (
        {"resourceType": "Specimen", "container": [{"identifier": [{"value": "TUBE-1"}], "type": cc("tube")}]},
        [("container-id", "TUBE-1"), ("container", "tube")],
    ),
    (
        {
            "resourceType": "ImagingStudy",
            "status": "available",
            "subject": ref("Patient/p1"),
            "reasonCode": [cc("pain")],
            "referrer": ref("Practitioner/dr2"),
            "series": [
                {
                    "uid": "1.2.3",
                    "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"},
                    "bodySite": {"code": "chest"},
                    "performer": [{"actor": ref("Practitioner/tech")}],
                    "instance": [{"uid": "1.2.3.4", "sopClass": {"code": "1.2.840"}}],
                }
            ],
        },
        [
            ("series", "1.2.3"),
            ("instance", "1.2.3.4"),
            ("modality", "CT"),
            ("bodysite", "chest"),
            ("dicom-class", "1.2.840"),
            ("performer", "Practitioner/tech"),
            ("referrer", "dr2"),
            ("reason", "pain"),
        ],
    ),
    (
        {
            "resourceType": "Condition",
            "subject": ref("Patient/p1"),
            "abatementDateTime": "2024-05-01",
            "onsetString": "in childhood",
            "bodySite": [cc("head")],
            "evidence": [{"code": [cc("fever")], "detail": [ref("Observation/o9")]}],
            "stage": [{"summary": cc("stage-2")}],
            "asserter": ref("Practitioner/dr1"),
        },
        [
            ("abatement-date", "2024-05"),
            ("onset-info", "in child"),
            ("body-site", "head"),
            ("evidence", "fever"),
            ("evidence-detail", "Observation/o9"),
            ("stage", "stage-2"),
            ("asserter", "Practitioner/dr1"),
        ],
    ),
    (
        {
            "resourceType": "AllergyIntolerance",
            "patient": ref("Patient/p1"),
            "lastOccurrence": "2023-07-01",
            "reaction": [
                {
                    "manifestation": [cc("hives")],
                    "severity": "severe",
                    "onset": "2023-06-30",
                    "exposureRoute": cc("oral"),
                }
            ],
        },
        [
            ("manifestation", "hives"),
            ("severity", "severe"),
            ("onset", "2023-06"),
            ("route", "oral"),
            ("last-date", "2023"),
        ],
    ),
    (
        {
            "resourceType": "Immunization",
            "status": "not-done",
            "vaccineCode": cc("208"),
            "patient": ref("Patient/p1"),
            "occurrenceDateTime": "2024-01-01",
            "statusReason": cc("refused"),
            "reasonCode": [cc("travel")],
            "reaction": [{"date": "2024-01-02", "detail": ref("Observation/r1")}],
            "protocolApplied": [{"series": "Primary", "targetDisease": [cc("measles")], "doseNumberPositiveInt": 1}],
        },
        [
            ("status-reason", "refused"),
            ("reason-code", "travel"),
            ("reaction", "Observation/r1"),
            ("reaction-date", "2024-01-02"),
            ("series", "prim"),
            ("target-disease", "measles"),
        ],
    ),
    (
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "description": "Discharge summary",
            "securityLabel": [cc("N", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality")],
            "authenticator": ref("Practitioner/dr1"),
            "relatesTo": [{"code": "replaces", "target": ref("DocumentReference/d0")}],
            "content": [
                {
                    "attachment": {"contentType": "application/pdf", "language": "zh-CN", "url": "http://x/d1.pdf"},
                    "format": {"system": "urn:ihe", "code": "urn:ihe:pdf"},
                }
            ],
            "context": {
                "event": [cc("discharge")],
                "facilityType": cc("hospital"),
                "practiceSetting": cc("cardiology"),
                "related": [ref("Encounter/e1")],
            },
        },
        [
            ("description", "discharge"),
            ("security-label", "N"),
            ("authenticator", "dr1"),
            ("relatesto", "DocumentReference/d0"),
            ("relation", "replaces"),
            ("contenttype", "application/pdf"),
            ("language", "zh-CN"),
            ("location", "http://x/d1.pdf"),
            ("format", "urn:ihe:pdf"),
            ("event", "discharge"),
            ("facility", "hospital"),
            ("setting", "cardiology"),
            ("related", "Encounter/e1"),
        ],
    ),
    (
        {
            "resourceType": "Schedule",
            "actor": [ref("Practitioner/dr1")],
            "planningHorizon": {"start": "2024-03-01", "end": "2024-04-01"},
        },
        [("actor", "Practitioner/dr1"), ("date", "ge2024-03-15")],
    ),
    (
        {
            "resourceType": "Slot",
            "schedule": ref("Schedule/s1"),
            "status": "free",
            "start": "2024-03-01T09:00:00+08:00",
            "end": "2024-03-01T09:15:00+08:00",
        },
        [("schedule", "Schedule/s1"), ("status", "free"), ("start", "ge2024-03-01")],
    ),
    (
        {
            "resourceType": "Appointment",
            "status": "booked",
            "reasonCode": [cc("checkup")],
            "specialty": [cc("394579002")],
            "serviceCategory": [cc("gp")],
            "supportingInformation": [ref("DocumentReference/d1")],
            "participant": [{"actor": ref("Patient/p1"), "status": "accepted"}],
        },
        [
            ("reason-code", "checkup"),
            ("specialty", "394579002"),
            ("service-category", "gp"),
            ("supporting-info", "DocumentReference/d1"),
            ("patient", "p1"),
        ],
    ),
    (
        {
            "resourceType": "Medication",
            "code": cc("1049502"),
            "batch": {"lotNumber": "L1", "expirationDate": "2026-12-31"},
        },
        [("expiration-date", "2026-12"), ("lot-number", "L1"), ("code", "1049502")],
    ),
    (
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": ref("Patient/p1"),
            "medicationReference": ref("Medication/m1"),
            "authoredOn": "2024-03-01",
        },
        [("medication", "Medication/m1"), ("authoredon", "2024-03-01"), ("patient", "p1"), ("intent", "order")],
    ),
    (
        {
            "resourceType": "MedicationDispense",
            "status": "completed",
            "subject": ref("Patient/p1"),
            "substitution": {"wasSubstituted": False, "responsibleParty": [ref("Practitioner/ph1")]},
            "whenHandedOver": "2024-03-02",
        },
        [("responsibleparty", "Practitioner/ph1"), ("whenhandedover", "2024-03-02")],
    ),
    (
        {
            "resourceType": "MedicationAdministration",
            "status": "completed",
            "medicationReference": ref("Medication/m1"),
            "subject": ref("Patient/p1"),
            "context": ref("Encounter/e1"),
            "effectivePeriod": {"start": "2024-03-02T09:00:00+08:00", "end": "2024-03-02T09:30:00+08:00"},
            "performer": [{"actor": ref("Practitioner/n1")}],
            "request": ref("MedicationRequest/mr1"),
        },
        [
            ("patient", "p1"),
            ("context", "Encounter/e1"),
            ("medication", "m1"),
            ("status", "completed"),
            ("request", "MedicationRequest/mr1"),
            ("effective-time", "2024-03-02"),
            ("performer", "Practitioner/n1"),
        ],
    ),
    (
        {
            "resourceType": "Provenance",
            "recorded": "2024-03-01T10:00:00Z",
            "target": [ref("Observation/o1")],
            "agent": [{"type": cc("author"), "role": [cc("doctor")], "who": ref("Practitioner/dr1")}],
            "signature": [{"type": [{"system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1"}]}],
        },
        [("agent-type", "author"), ("agent-role", "doctor"), ("signature-type", "1.2.840.10065.1.12.1.1")],
    ),
    (
        {
            "resourceType": "AuditEvent",
            "recorded": "2024-03-01T10:00:00Z",
            "type": {"code": "rest"},
            "action": "R",
            "agent": [{"who": ref("Practitioner/dr1"), "requestor": True}],
        },
        [("action", "R"), ("agent", "Practitioner/dr1"), ("date", "2024-03-01")],
    ),
    (
        {
            "resourceType": "Consent",
            "status": "active",
            "patient": ref("Patient/p1"),
            "sourceReference": ref("DocumentReference/d1"),
            "provision": {"securityLabel": [{"system": "x", "code": "R"}]},
        },
        [("source-reference", "DocumentReference/d1"), ("security-label", "x|R"), ("patient", "p1")],
    ),
    (
        {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "performerType": [cc("pharmacist")],
            "for": ref("Patient/p1"),
        },
        [("performer", "pharmacist"), ("patient", "p1"), ("status", "requested")],
    ),
    (
        {
            "resourceType": "Communication",
            "status": "completed",
            "subject": ref("Patient/p1"),
            "sent": "2024-03-01T10:00:00Z",
            "recipient": [ref("Practitioner/dr1")],
        },
        [("patient", "p1"), ("sent", "2024-03"), ("recipient", "Practitioner/dr1")],
    ),
]


def test_every_served_type_has_a_case_and_its_clinical_parameters() -> None:
    assert {c[0]["resourceType"] for c in CASES} == set(SERVED)
    for rtype in SERVED:
        params = params_for(rtype)
        assert len(params) > 10, rtype  # the common ones (6) and the type's own
        assert all(
            p.definition is None or p.definition.startswith("http://hl7.org/fhir/SearchParameter/")
            for p in params.values()
        )
    assert "Observation:patient" in include_values("Observation") and "Observation:*" in include_values("Observation")
    assert "Observation:patient" in revinclude_values("Patient")
    assert sort_param("Observation", "date") is not None and sort_param("Observation", "patient") is None
    assert {"date", "string", "token"} <= SORTABLE_TYPES


@pytest.mark.parametrize("case", CASES, ids=[c[0]["resourceType"] for c in CASES])
def test_each_parameter_finds_the_resource(session: Session, case) -> None:
    resource, searches = case
    rtype = resource["resourceType"]
    store.put(session, {**resource, "id": "x1"})
    store.put(session, {"resourceType": rtype, "id": "x2"})  # a resource of the type without those values
    session.commit()
    for name, value in searches:
        found = [r["id"] for r in store.search(session, rtype, [(name, value)]).resources]
        assert found == ["x1"], (rtype, name, value, found)
        missing = [r["id"] for r in store.search(session, rtype, [(f"{name}:missing", "true")]).resources]
        assert missing == ["x2"], (rtype, name, missing)
