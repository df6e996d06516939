"""The visit of an order, a document or a referral whose PV1 has no visit number, across the messages about it.

An outpatient's lab order (ORM^O01) and its results (ORU^R01) often carry a PV1 that names the class, the clinic and
the doctor but no visit number (PV1-19), alternate visit id (PV1-50) or admit time (PV1-44). The Encounter was keyed
on the patient and the message's control id (MSH-10), so the order and each of its result messages made one more
visit: four Encounters for one order and three results. Keyed on the patient and the first order's number (its
placer number ORC-2, else OBR-2, else its filler number ORC-3, else OBR-3, with its issuer within the sending
facility, as the ServiceRequest is), every message about the order names one visit; a document's messages (MDM) are
keyed on the document (TXA-12, else its order numbers TXA-14/TXA-15), a referral's (REF) on the referral (RF1-6,
else RF1-11). A visit the hub knows by its number stays keyed on it. Through the real pipeline (SQLite; PostgreSQL
with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from hub.fhir import store
from hub.hl7 import er7
from hub.mapping import get_converter
from tests.test_conversion_semantics import HOSPITAL, convert, ids, message, pv1, read

PID = "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M"
# PV1-2 outpatient, PV1-3 the clinic, PV1-7 the doctor; no visit number (PV1-19), alternate id (PV1-50) nor admit
# time (PV1-44)
CLINIC_PV1 = "PV1|1|O|内科门诊^M01^^SZRMYY||||D001^王^建国^^^^^^SZRMYY"


def head(kind: str, control: str, application: str = "HIS") -> str:
    return f"MSH|^~\\&|{application}|{HOSPITAL}|HUB|CITY|20260315083000||{kind}|{control}|P|2.5.1"


def orm(control: str, placer: str, visit: str = CLINIC_PV1, pid: str = PID, issuer: str = "^HIS") -> bytes:
    # ORC-2 the placer order number with its issuer; OBR-4 the test
    return message(
        head("ORM^O01^ORM_O01", control),
        pid,
        visit,
        f"ORC|NW|{placer}{issuer}||||||||||D001^王^建国",
        f"OBR|1|{placer}{issuer}||CBC^血常规^L|||20260315080000",
    )


def oru(control: str, placer: str, status: str = "F", visit: str = CLINIC_PV1, issuer: str = "^HIS") -> bytes:
    # ORC-3 and OBR-3 the laboratory's filler number, OBR-25 the report's status
    return message(
        head("ORU^R01^ORU_R01", control, "LIS"),
        PID,
        visit,
        f"ORC|RE|{placer}{issuer}|F{placer}^LIS",
        f"OBR|1|{placer}{issuer}|F{placer}^LIS|CBC^血常规^L|||20260315080000|||||||||||||||20260315100000||HM|{status}",
        f"OBX|1|NM|WBC^白细胞^L||6.5|10*9/L|3.5-9.5||||{status}",
    )


def encounters(session: Session, settings: Any, raw: bytes) -> list[str]:
    """The ids of the patient's stored Encounters."""
    patient = ids(settings, raw)["Patient"]
    return sorted(r["id"] for r in store.search(session, "Encounter", [("patient", patient)]).resources)


def test_an_order_and_its_results_are_one_visit(session, settings):
    messages = [
        orm("O1", "ORD1001"),
        oru("R1", "ORD1001", "P"),
        oru("R2", "ORD1001", "F"),
        oru("R3", "ORD1001", "C"),
    ]
    for raw in messages:
        convert(session, settings, raw)
    [visit] = encounters(session, settings, messages[0])
    assert {ids(settings, raw)["Encounter"] for raw in messages} == {visit}
    assert read(session, "Encounter", visit)["class"]["code"] == "AMB"
    report = read(session, "DiagnosticReport", ids(settings, messages[-1])["DiagnosticReport"])
    assert report["encounter"] == {"reference": f"Encounter/{visit}"}
    assert [order["identifier"]["value"] for order in report["basedOn"]] == ["ORD1001"]


def test_an_order_numbered_without_its_issuer_and_its_result_from_the_lab_are_one_visit(session, settings):
    # the HIS (MSH-3 HIS) orders ORD3001 and the LIS (MSH-3 LIS) reports it, neither naming the number's issuer: a
    # placer's number is the sending facility's (EI_placer), in the order's key and in its visit's alike
    order, result = orm("O1", "ORD3001", issuer=""), oru("R1", "ORD3001", issuer="")
    convert(session, settings, order)
    convert(session, settings, result)
    [visit] = encounters(session, settings, order)
    report = read(session, "DiagnosticReport", ids(settings, result)["DiagnosticReport"])
    assert report["encounter"] == {"reference": f"Encounter/{visit}"}


def test_two_orders_of_the_patient_are_two_visits(session, settings):
    first, second = orm("O1", "ORD1001"), orm("O2", "ORD1002")
    convert(session, settings, first)
    convert(session, settings, second)
    visits = {ids(settings, first)["Encounter"], ids(settings, second)["Encounter"]}
    assert len(visits) == 2 and encounters(session, settings, first) == sorted(visits)


def test_a_visit_number_keys_the_visit_of_an_order(session, settings):
    # the patient is admitted (A01, visit V0001); the order and its result name that visit
    a01 = message(head("ADT^A01^ADT_A01", "A1"), "EVN|A01", PID, pv1())
    stay = pv1(f44="")
    convert(session, settings, a01)
    convert(session, settings, orm("O1", "ORD1001", visit=stay))
    convert(session, settings, oru("R1", "ORD1001", visit=stay))
    assert encounters(session, settings, a01) == [ids(settings, a01)["Encounter"]]
    assert ids(settings, orm("O1", "ORD1001", visit=stay))["Encounter"] == ids(settings, a01)["Encounter"]


def mdm(event: str, control: str, document: str = "DOC-9^EMR") -> bytes:
    # TXA-2 type, TXA-12 unique document number, TXA-17 completion status, TXA-19 availability
    return message(
        head(f"MDM^{event}^MDM_T02", control, "EMR"),
        f"EVN|{event}|20260320100000",
        PID,
        CLINIC_PV1,
        f"TXA|1|CN^门诊病历^HL70270|TX|||20260320100000||||||{document}|||||AU||AV",
        "OBX|1|TX|||门诊病历正文||||||F",
    )


def test_a_document_and_its_edit_are_one_visit(session, settings):
    t02, t08 = mdm("T02", "D1"), mdm("T08", "D2")
    convert(session, settings, t02)
    convert(session, settings, t08)
    [visit] = encounters(session, settings, t02)
    assert ids(settings, t02)["Encounter"] == ids(settings, t08)["Encounter"] == visit
    document = read(session, "DocumentReference", ids(settings, t08)["DocumentReference"])
    assert document["context"]["encounter"] == [{"reference": f"Encounter/{visit}"}]
    # another document of the patient: another visit
    other = mdm("T02", "D3", "DOC-10^EMR")
    convert(session, settings, other)
    assert len(encounters(session, settings, t02)) == 2


def ref(event: str, control: str) -> bytes:
    # RF1-6 the originating referral identifier
    return message(
        head(f"REF^{event}^REF_I12", control),
        "RF1|A^Accepted^HL70283|S^STAT^HL70280|Med^Medical^HL70281|||R-1^HIS|20260315",
        "PRD|RP^Referring Provider^HL70286|王^五",
        PID,
        CLINIC_PV1,
    )


def test_a_referral_and_its_modification_are_one_visit(session, settings):
    i12, i13 = ref("I12", "F1"), ref("I13", "F2")
    convert(session, settings, i12)
    convert(session, settings, i13)
    assert encounters(session, settings, i12) == [ids(settings, i12)["Encounter"]] == [ids(settings, i13)["Encounter"]]


def visit_of(settings: Any, raw: str) -> str:
    bundle = get_converter(settings).convert(er7.parse(raw))
    [visit] = [e["request"]["url"] for e in bundle["entry"] if e["request"]["url"].startswith("Encounter/")]
    return str(visit)


ORDER = "ORC|NW|ORD1001^HIS"
TEST = "OBR|1|ORD1001^HIS||CBC^血常规^L"
SPM = "SPM|1|||BLD^血液^HL70487"
# the same order, its visit without a number, in each structure that carries the order: where the PV1 stands
# (in the patient's group, in its own group beside the orders, at the message's level) and where the order does
ORDER_MESSAGES = {
    "ORM_O01": ["ORM^O01^ORM_O01", PID, CLINIC_PV1, ORDER, TEST],
    "OML_O21": ["OML^O21^OML_O21", PID, CLINIC_PV1, ORDER, TEST, SPM],
    "OML_O21 without ORC": ["OML^O21^OML_O21", PID, CLINIC_PV1, TEST],
    "OMI_O23": ["OMI^O23^OMI_O23", PID, CLINIC_PV1, ORDER, TEST],
    "ORU_R01 without ORC": ["ORU^R01^ORU_R01", PID, CLINIC_PV1, TEST, "OBX|1|NM|WBC^白细胞^L||6.5"],
    "OUL_R21": ["OUL^R21^OUL_R21", PID, CLINIC_PV1, ORDER, TEST, "OBX|1|NM|WBC^白细胞^L||6.5"],
    "OUL_R22": ["OUL^R22^OUL_R22", PID, CLINIC_PV1, SPM, TEST, ORDER, "OBX|1|NM|WBC^白细胞^L||6.5"],
    "RDE_O11": ["RDE^O11^RDE_O11", PID, CLINIC_PV1, ORDER, "RXE|1^BID|A001^阿莫西林^L|0.5||g"],
    # a document about the order without a number of its own: TXA-14 the placer order number
    "MDM_T02 of the order": ["MDM^T02^MDM_T02", "EVN|T02", PID, CLINIC_PV1, "TXA|1|CN" + "|" * 12 + "ORD1001^HIS"],
}


@pytest.mark.parametrize("structure", ORDER_MESSAGES)
def test_every_message_about_the_order_names_its_visit(settings, structure):
    kind, *segments = ORDER_MESSAGES[structure]
    raw = "\r".join([head(kind, f"C-{structure}"), *segments]) + "\r"
    assert visit_of(settings, raw) == f"Encounter/{ids(settings, orm('O1', 'ORD1001'))['Encounter']}"


def test_the_first_orders_number_keys_the_visit_of_several(settings):
    raw = orm("O1", "ORD1001").decode() + "ORC|NW|ORD1002^HIS\rOBR|2|ORD1002^HIS||GLU^血糖^L\r"
    assert visit_of(settings, raw) == f"Encounter/{ids(settings, orm('O9', 'ORD1001'))['Encounter']}"


def test_each_patient_of_a_result_message_has_the_visit_of_their_own_order(settings):
    other = "PID|1||MRN0002^^^SZRMYY^MR||李四||19700101|F"
    raw = "\r".join(
        [
            head("ORU^R01^ORU_R01", "R9", "LIS"),
            *(PID, CLINIC_PV1, ORDER, TEST, "OBX|1|NM|WBC^白细胞^L||6.5"),
            *(other, CLINIC_PV1, "ORC|RE|ORD2002^HIS", "OBR|1|ORD2002^HIS||CBC^血常规^L", "OBX|1|NM|WBC^白细胞^L||7.1"),
        ]
    )
    bundle = get_converter(settings).convert(er7.parse(raw + "\r"))
    visits = [e["request"]["url"] for e in bundle["entry"] if e["request"]["url"].startswith("Encounter/")]
    expected = [orm("O1", "ORD1001"), orm("O2", "ORD2002", pid=other)]
    assert visits == [f"Encounter/{ids(settings, raw)['Encounter']}" for raw in expected]


def test_the_visit_of_an_order_is_one_where_the_order_is_one(settings):
    # a placer number without its issuer, in the HIS's new order and the LIS's status change: the visit is keyed
    # as the order is (the same EI key form), so the two messages name one visit exactly when they name one order,
    # however the hub scopes a number without issuer
    def order(control: str, application: str, control_code: str) -> str:
        segments = [head("ORM^O01^ORM_O01", control, application), PID, CLINIC_PV1, f"ORC|{control_code}|ORD3001"]
        return "\r".join([*segments, "OBR|1|ORD3001||CBC^血常规^L"]) + "\r"

    new, status = order("O1", "HIS", "NW"), order("O2", "LIS", "SC")
    made = [ids(settings, raw.encode()) for raw in (new, status)]
    same_order = made[0]["ServiceRequest"] == made[1]["ServiceRequest"]
    assert (made[0]["Encounter"] == made[1]["Encounter"]) == same_order
