"""Snapshot mode for repeating segments (HL7 v2.5.1 ch. 2): the DG1 of a visit and the AL1 of a patient a message
sends are the whole set, through the real pipeline: inbox row → convert_message → store (SQLite; PostgreSQL with
HUB_TEST_DATABASE_URL).

A corrected diagnosis list leaves no stale diagnosis; a single segment of ``""`` deletes the set; a message without
such segments leaves it; the set is the sender's own (another hospital's diagnoses and allergies stay); a set that
carries action codes (DG1-21) is in action code mode, not snapshot mode.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from hub.errors import Gone
from hub.fhir import store
from hub.security.access import PRODUCER_TAG_SYSTEM
from tests.test_conversion_semantics import convert, ids, message, pv1, read

SZRMYY = "SZRMYY^2.16.156.10011.1.5.1^ISO"  # 深圳市人民医院
PKUSZ = "PKUSZH^2.16.156.10011.1.5.2^ISO"  # 北京大学深圳医院

# DG1-3 diagnosis (ICD-10), DG1-5 diagnosis date, DG1-6 type (F final)
HYPERTENSION = "DG1|{n}||I10^原发性高血压^I10||20260315|F"
DIABETES = "DG1|{n}||E11.9^2型糖尿病^I10||20260315|F"
PNEUMONIA = "DG1|{n}||J18.9^肺炎^I10||20260315|W"
NULL_DG1 = 'DG1|1|""|""|""|""|""|""'
# AL1-2 allergen type, AL1-3 allergen, AL1-4 severity, AL1-5 reaction
PENICILLIN = "AL1|{n}|DA|PCN^青霉素^L|SV|皮疹"
SULFA = "AL1|{n}|DA|SUL^磺胺类^L|MO|荨麻疹"
NULL_AL1 = 'AL1|1|""|""|""|""|""'


def msh(event: str, control: str, facility: str = SZRMYY) -> str:
    return f"MSH|^~\\&|HIS|{facility}|HUB|CITY|20260315083000||ADT^{event}^ADT_A01|{control}|P|2.5.1"


def pid(mrn: str = "MRN0001") -> str:
    return f"PID|1||{mrn}^^^SZRMYY^MR~440305198001011235^^^^NNCHN||张三||19800101|M"


def adt(event: str, control: str, *segments: str, facility: str = SZRMYY) -> bytes:
    return message(msh(event, control, facility), f"EVN|{event}", pid(), pv1(), *segments)


def numbered(*lines: str) -> list[str]:
    return [line.format(n=n) for n, line in enumerate(lines, 1)]


def visit_diagnoses(session: Session, encounter: str) -> dict[str, str]:
    """Code → Condition id of the stored Conditions of the visit."""
    found = store.search(session, "Condition", [("encounter", f"Encounter/{encounter}")], expand_patients=False)
    return {c["code"]["coding"][0]["code"]: c["id"] for c in found.resources}


def allergies(session: Session, patient: str) -> set[str]:
    """The allergen codes of the patient's stored AllergyIntolerances."""
    found = store.search(session, "AllergyIntolerance", [("patient", f"Patient/{patient}")], expand_patients=False)
    return {a["code"]["coding"][0]["code"] for a in found.resources}


def admitted_with_three_diagnoses(session: Session, settings: Any) -> tuple[str, dict[str, str]]:
    a01 = adt("A01", "C1", *numbered(HYPERTENSION, DIABETES, PNEUMONIA))
    convert(session, settings, a01)
    encounter = ids(settings, a01)["Encounter"]
    stored = visit_diagnoses(session, encounter)
    assert set(stored) == {"I10", "E11.9", "J18.9"}
    return encounter, stored


def test_a08_with_two_of_three_diagnoses_deletes_the_third(session, settings):
    encounter, stored = admitted_with_three_diagnoses(session, settings)
    convert(session, settings, adt("A08", "C2", *numbered(HYPERTENSION, DIABETES)))
    assert set(visit_diagnoses(session, encounter)) == {"I10", "E11.9"}
    with pytest.raises(Gone):
        store.read(session, "Condition", stored["J18.9"])
    diagnosis = read(session, "Encounter", encounter)["diagnosis"]
    assert [d["condition"]["reference"] for d in diagnosis] == [
        f"Condition/{stored['I10']}",
        f"Condition/{stored['E11.9']}",
    ]


def test_a08_with_one_dg1_of_nulls_deletes_every_diagnosis_of_the_visit(session, settings):
    encounter, stored = admitted_with_three_diagnoses(session, settings)
    a08 = adt("A08", "C2", NULL_DG1)
    convert(session, settings, a08)
    assert visit_diagnoses(session, encounter) == {}
    for cid in stored.values():
        with pytest.raises(Gone):
            store.read(session, "Condition", cid)
    assert "diagnosis" not in read(session, "Encounter", encounter)  # no reference to a deleted Condition
    assert "Condition" not in ids(settings, a08)  # the segment of nulls is no diagnosis


def test_a08_without_dg1_leaves_the_diagnoses(session, settings):
    encounter, stored = admitted_with_three_diagnoses(session, settings)
    convert(session, settings, adt("A08", "C2"))
    assert visit_diagnoses(session, encounter) == stored
    assert len(read(session, "Encounter", encounter)["diagnosis"]) == 3


def test_a_set_with_action_codes_is_not_a_snapshot(session, settings):
    # DG1-21 A (add): action code mode, the diagnoses not sent stay
    encounter, stored = admitted_with_three_diagnoses(session, settings)
    added = "DG1|1||K29.7^胃炎^I10||20260316|W" + "|" * 15 + "A"
    convert(session, settings, adt("A08", "C2", added))
    assert set(visit_diagnoses(session, encounter)) == {"I10", "E11.9", "J18.9", "K29.7"}


def test_another_hospitals_diagnoses_stay(session, settings):
    encounter, stored = admitted_with_three_diagnoses(session, settings)
    # the other hospital's own visit of the same person, with its diagnosis
    theirs = adt("A01", "B1", HYPERTENSION.format(n=1), facility=PKUSZ)
    convert(session, settings, theirs)
    their_condition = ids(settings, theirs)["Condition"]
    # and a diagnosis it recorded on this visit through the FHIR API (its producer tag, not this sender's)
    their_org = ids(settings, theirs)["Organization"]
    recorded = {
        "resourceType": "Condition",
        "id": "pkusz-consult-1",
        "meta": {"tag": [{"system": PRODUCER_TAG_SYSTEM, "code": their_org}]},
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "I25.1"}], "text": "冠心病"},
        "subject": {"reference": f"Patient/{ids(settings, adt('A01', 'C1'))['Patient']}"},
        "encounter": {"reference": f"Encounter/{encounter}"},
    }
    store.put(session, recorded)
    session.commit()
    convert(session, settings, adt("A08", "C2", NULL_DG1))
    assert set(visit_diagnoses(session, encounter)) == {"I25.1"}
    assert read(session, "Condition", their_condition)["code"]["coding"][0]["code"] == "I10"


def test_al1_is_the_patients_allergy_list(session, settings):
    a01 = adt("A01", "C1", *numbered(PENICILLIN, SULFA))
    convert(session, settings, a01)
    patient = ids(settings, a01)["Patient"]
    theirs = adt("A01", "B1", PENICILLIN.format(n=1), facility=PKUSZ)
    convert(session, settings, theirs)
    their_patient = ids(settings, theirs)["Patient"]
    assert allergies(session, patient) == {"PCN", "SUL"}
    convert(session, settings, adt("A08", "C2"))  # no AL1: unchanged
    assert allergies(session, patient) == {"PCN", "SUL"}
    convert(session, settings, adt("A08", "C3", PENICILLIN.format(n=1)))
    assert allergies(session, patient) == {"PCN"}
    convert(session, settings, adt("A08", "C4", NULL_AL1))
    assert allergies(session, patient) == set()
    assert allergies(session, their_patient) == {"PCN"}  # the other hospital's list is its own


# PR1-3 procedure, PR1-5 procedure date/time
APPENDECTOMY = "PR1|{n}||80146002^阑尾切除术^SCT||20260315100000"
GASTROSCOPY = "PR1|{n}||386831001^胃镜检查^SCT||20260316090000"


def visit_procedures(session: Session, encounter: str) -> set[str]:
    found = store.search(session, "Procedure", [("encounter", f"Encounter/{encounter}")], expand_patients=False)
    return {p["code"]["coding"][0]["code"] for p in found.resources}


def test_pr1_is_the_visits_procedure_list(session, settings):
    a01 = adt("A01", "C1", *numbered(APPENDECTOMY, GASTROSCOPY))
    convert(session, settings, a01)
    encounter = ids(settings, a01)["Encounter"]
    assert visit_procedures(session, encounter) == {"80146002", "386831001"}
    convert(session, settings, adt("A08", "C2", APPENDECTOMY.format(n=1)))
    assert visit_procedures(session, encounter) == {"80146002"}


def bar(event: str, control: str, *visits: list[str]) -> bytes:
    header = f"MSH|^~\\&|HIS|{SZRMYY}|HUB|CITY|20260320083000||BAR^{event}^BAR_{event}|{control}|P|2.5.1"
    segments = [header, f"EVN|{event}", pid()]
    for visit in visits:
        segments += visit
    return message(*segments)


def test_bar_each_visits_diagnoses_are_a_set_of_their_own(session, settings):
    first = [pv1(f19="V0001^^^SZRMYY^VN"), *numbered(HYPERTENSION, DIABETES)]
    second = [pv1(f19="V0002^^^SZRMYY^VN", f2="O"), *numbered(PNEUMONIA)]
    p01 = bar("P01", "C1", first, second)
    convert(session, settings, p01)
    visits = [
        ids(settings, bar("P01", "C1", first))["Encounter"],
        ids(settings, bar("P01", "C1", second))["Encounter"],
    ]
    assert [set(visit_diagnoses(session, v)) for v in visits] == [{"I10", "E11.9"}, {"J18.9"}]
    # P05 updates the first visit only: its DG1 replace that visit's; the second visit's stay
    convert(session, settings, bar("P05", "C2", [pv1(f19="V0001^^^SZRMYY^VN"), DIABETES.format(n=1)]))
    assert [set(visit_diagnoses(session, v)) for v in visits] == [{"E11.9"}, {"J18.9"}]


def test_pr1_action_code_d_deletes_that_procedure_and_keeps_the_others(session, settings):
    # PR1-20 (v2.5+, table 0206) D: action code mode, this procedure goes, the ones not sent stay
    a01 = adt("A01", "C1", *numbered(APPENDECTOMY, GASTROSCOPY))
    convert(session, settings, a01)
    encounter = ids(settings, a01)["Encounter"]
    convert(session, settings, adt("A08", "C2", GASTROSCOPY.format(n=1) + "|" * 15 + "D"))
    assert visit_procedures(session, encounter) == {"80146002"}
