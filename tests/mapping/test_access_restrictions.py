"""ARV, the access restrictions (v2.6+): those sent with the patient (after PID/PD1) label the Patient
(meta.security; HL7 v2-to-FHIR IG ADT_A01 message map row 7, ARV[Patient], and segment map ARV: ARV-3, ARV-4, ARV-5,
ARV-7, ARV-8). A visit's restrictions (after PV1/PV2, row 12: ARV[Encounter]) are not the patient's: they label
the Encounter, read by the same datatypes (ARV_*), never the Patient. ARV-2 D (table 0206) lifts a restriction; a
message without ARV keeps the stored labels (hub.updates.merge_update)."""

from __future__ import annotations

from hub.mapping.nulls import NULL_EXTENSION_URL
from hub.updates import merge_update

from .conftest import one, with_report
from .order_messages import message, msh, pid, pv1

V2_0717 = "http://terminology.hl7.org/CodeSystem/v2-0717"
V2_0719 = "http://terminology.hl7.org/CodeSystem/v2-0719"
PATIENTS = "ARV|1|A|DEM^All demographic data|PAT^Patient Request|仅主治医生可查阅|20260101^20261231"
VISITS = "ARV|2|A|LOC^Patient Location|PHY|不公开病区床位"


def adt(*after_pid: str, visit: tuple[str, ...] = ()) -> str:
    return message(msh("ADT", "A08", "ADT_A01", "ARV1"), "EVN|A08|20260315083000", pid(), *after_pid, pv1(), *visit)


def resource_of(text: str, converter, rtype: str) -> tuple[dict, list, list]:
    bundle, report = with_report(converter, text)
    entry = next(e for e in bundle["entry"] if e.get("resource", {}).get("resourceType") == rtype)
    marks = [m["valueString"] for m in entry.get("extension", []) if m["url"] == NULL_EXTENSION_URL]
    return one(bundle, rtype), report, marks


def patient_of(text: str, converter) -> tuple[dict, list, list]:
    return resource_of(text, converter, "Patient")


def encounter_of(text: str, converter) -> tuple[dict, list, list]:
    return resource_of(text, converter, "Encounter")


def test_the_patients_access_restriction_labels_the_patient(converter):
    patient, report, _marks = patient_of(adt(PATIENTS), converter)
    assert patient["meta"]["security"] == [
        {"system": V2_0717, "code": "DEM", "display": "All demographic data"},
        {"system": V2_0719, "code": "PAT", "display": "Patient Request"},
        {"display": "仅主治医生可查阅"},
    ]
    assert not [e for e in report if e["code"] in ("unmapped-segment", "unmapped-field") and "ARV" in e["location"]]


def test_a_visits_access_restriction_labels_the_encounter_not_the_patient(converter):
    patient, report, _marks = patient_of(adt(visit=(VISITS,)), converter)
    assert "security" not in patient["meta"]
    encounter, _report, _marks = encounter_of(adt(visit=(VISITS,)), converter)
    assert encounter["meta"]["security"] == [
        {"system": V2_0717, "code": "LOC", "display": "Patient Location"},
        {"system": V2_0719, "code": "PHY"},
        {"display": "不公开病区床位"},
    ]
    assert not [e for e in report if e["code"] in ("unmapped-segment", "unmapped-field") and "ARV" in e["location"]]


def test_both_the_patients_and_the_visits(converter):
    text = adt(PATIENTS, visit=(VISITS,))
    patient, report, _marks = patient_of(text, converter)
    encounter, _report, _marks = encounter_of(text, converter)
    assert [s.get("code") for s in patient["meta"]["security"]] == ["DEM", "PAT", None]
    assert [s.get("code") for s in encounter["meta"]["security"]] == ["LOC", "PHY", None]
    assert not [e for e in report if e["code"] == "unmapped-segment"]


def test_a_lifted_visit_restriction_deletes_the_encounters_label_and_no_arv_keeps_it(converter):
    stored, _report, _marks = encounter_of(adt(visit=(VISITS,)), converter)
    without, _report, marks = encounter_of(adt(PATIENTS), converter)
    assert "security" not in without["meta"]
    assert merge_update(stored, without, marks)["meta"]["security"] == stored["meta"]["security"]
    lifted, _report, marks = encounter_of(adt(visit=("ARV|1|D|LOC",)), converter)
    assert "security" not in lifted["meta"]
    merged = merge_update(stored, lifted, marks)
    assert [s.get("code") for s in merged["meta"]["security"]] == ["PHY", None]


def test_the_visit_group_of_adt_a60_and_vxu_v04(converter):
    """ARV in v2's own visit group (ADT_A60 VISIT, VXU_V04 PATIENT_VISIT) labels the Encounter too."""
    for structure, event in (("ADT_A60", "A60"), ("VXU_V04", "V04")):
        text = message(msh("ADT" if event == "A60" else "VXU", event, structure, "ARV2"), pid(), pv1(), VISITS)
        encounter, report, _marks = encounter_of(text, converter)
        assert [s.get("code") for s in encounter["meta"]["security"]] == ["LOC", "PHY", None], structure
        assert not [e for e in report if e["code"] == "unmapped-segment"], structure


def test_a_lifted_restriction_deletes_the_stored_label_and_no_arv_keeps_it(converter):
    stored, _report, _marks = patient_of(adt(PATIENTS), converter)
    without, _report, marks = patient_of(adt(), converter)
    assert marks == []
    assert merge_update(stored, without)["meta"]["security"] == stored["meta"]["security"]
    lifted, _report, marks = patient_of(adt("ARV|1|D|DEM"), converter)
    assert "security" not in lifted["meta"]
    merged = merge_update(stored, lifted, marks)
    assert [s.get("code") for s in merged["meta"]["security"]] == ["PAT", None]


def test_a_visits_access_restriction_without_an_encounter_is_reported(converter):
    """PV1-2 N (the message is about the person, not a visit): no Encounter carries the visit's ARV."""
    text = message(msh("ADT", "A08", "ADT_A01", "ARV3"), "EVN|A08|20260315083000", pid(), pv1(f2="N"), VISITS)
    bundle, report = with_report(converter, text)
    assert not [e for e in bundle["entry"] if e.get("resource", {}).get("resourceType") == "Encounter"]
    assert [e["location"] for e in report if e["code"] == "unmapped-segment"] == ["ARV^1"]
