"""SIU^S23/S24, RAS^O17 and RGV^O15 through the real pipeline: inbox row → convert_message → store → search.

A blocked time is stored as a busy-unavailable Slot and opened again (the same Slot, free); an administration
is a MedicationAdministration found by its patient and its order. Runs on SQLite and on PostgreSQL
(HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub.fhir import store
from tests.test_conversion_semantics import HOSPITAL, convert, ids, message, read


def test_a_blocked_time_is_a_busy_slot_until_it_is_opened(session: Session, settings) -> None:
    def block(event: str, control: str) -> bytes:
        return message(
            f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||SIU^{event}^SIU_S12|{control}|P|2.5.1",
            "SCH||B901^HIS||||MEETING^科室会议^L",
            "TQ1|||||||20260401140000|20260401160000",
            "RGS|1",
            "AIP|1||D001^王^五|RAD^放射科医师",
        )

    s23 = block("S23", "B1")
    convert(session, settings, s23)
    slot_id, schedule_id = ids(settings, s23)["Slot"], ids(settings, s23)["Schedule"]
    slot = read(session, "Slot", slot_id)
    assert slot["status"] == "busy-unavailable" and slot["schedule"] == {"reference": f"Schedule/{schedule_id}"}
    assert read(session, "Schedule", schedule_id)["actor"][0]["display"] == "王五"
    found = store.search(session, "Slot", [("schedule", f"Schedule/{schedule_id}"), ("status", "busy-unavailable")])
    assert [r["id"] for r in found.resources] == [slot_id]
    convert(session, settings, block("S24", "B2"))
    assert read(session, "Slot", slot_id)["status"] == "free"
    assert [r["id"] for r in store.search(session, "Slot", [("status", "free")]).resources] == [slot_id]
    assert store.search(session, "Slot", [("status", "busy-unavailable")]).resources == []


def test_an_administration_is_found_by_its_patient_and_order(session: Session, settings) -> None:
    ras = message(
        f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315093000||RAS^O17^RAS_O17|RAS1|P|2.5.1",
        "PID|1||MRN0001^^^SZRMYY^MR||李娜||19750312|F",
        "PV1|1|I|心内科^0305^02^SZRMYY",
        "ORC|RE|P20260315001^HIS",
        "RXE||0401^硝苯地平控释片^L|30||mg",
        "RXA|1|1|20260315090500||0401^硝苯地平控释片^L|30|mg",
        "RXR|PO^口服^HL70162",
    )
    convert(session, settings, ras)
    made = ids(settings, ras)
    administration = read(session, "MedicationAdministration", made["MedicationAdministration"])
    assert administration["status"] == "completed"
    by_patient = store.search(session, "MedicationAdministration", [("patient", made["Patient"])])
    assert [r["id"] for r in by_patient.resources] == [made["MedicationAdministration"]]
    by_order = store.search(
        session, "MedicationAdministration", [("request", f"MedicationRequest/{made['MedicationRequest']}")]
    )
    assert [r["id"] for r in by_order.resources] == [made["MedicationAdministration"]]
    # a give of that order: an instance-order based on it
    rgv = message(
        f"MSH|^~\\&|PHARM|{HOSPITAL}|NURSE|SZRMYY|20260315070000||RGV^O15^RGV_O15|RGV1|P|2.5.1",
        "PID|1||MRN0001^^^SZRMYY^MR||李娜||19750312|F",
        "ORC|RE|P20260315001^HIS",
        "RXE||0401^硝苯地平控释片^L|30||mg",
        "RXG|1|1||0401^硝苯地平控释片^L|30||mg",
        "TQ1|1||||||202603152100",
    )
    convert(session, settings, rgv)
    gives = store.search(session, "MedicationRequest", [("intent", "instance-order")]).resources
    assert len(gives) == 1 and gives[0]["basedOn"] == [{"reference": f"MedicationRequest/{made['MedicationRequest']}"}]


def test_the_blocks_of_one_doctor_are_slots_of_one_schedule(session: Session, settings) -> None:
    # two S23 of the same doctor on two days (two blocks, two messages): one Schedule, found with both its Slots
    def block(block_id: str, control: str, start: str, end: str) -> bytes:
        return message(
            f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||SIU^S23^SIU_S12|{control}|P|2.5.1",
            f"SCH||{block_id}^HIS||||LEAVE^休假^L",
            f"TQ1|||||||{start}|{end}",
            "RGS|1",
            "AIP|1||D001^王^五^^^^^^SZRMYY|RAD^放射科医师",
        )

    first, second = (
        block("B801", "C1", "202604011400", "202604011600"),
        block("B802", "C2", "202604081400", "202604081600"),
    )
    convert(session, settings, first)
    convert(session, settings, second)
    schedule_id = ids(settings, first)["Schedule"]
    assert ids(settings, second)["Schedule"] == schedule_id
    found = store.search(session, "Slot", [("schedule", f"Schedule/{schedule_id}")])
    assert sorted(r["start"] for r in found.resources) == ["2026-04-01T14:00:00+08:00", "2026-04-08T14:00:00+08:00"]


def test_a_continuous_prescription_is_found_by_its_patient_and_refilled_by_the_pharmacy(
    session: Session, settings
) -> None:
    # OMP^O09: the clinic's order of a continuous prescription (RXO-13 five refills, valid until TQ1-8)
    omp = message(
        f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260401083000||OMP^O09^OMP_O09|OMP1|P|2.5.1",
        "PID|1||MRN0001^^^SZRMYY^MR||李娜||19750312|F",
        "PV1|1|O|全科门诊^^^SZRMYY",
        "ORC|NW|CP2026-0001^HIS||||||||||D001^王^五",
        "TQ1|1||QD||||20260401|20260930",
        "RXO|X2001^苯磺酸氨氯地平片^L|5||mg|TAB^片^L||||G||28|片|5",
        "RXR|PO^口服^HL70162",
    )
    convert(session, settings, omp)
    made = ids(settings, omp)
    request = read(session, "MedicationRequest", made["MedicationRequest"])
    assert request["status"] == "active" and request["dispenseRequest"]["numberOfRepeatsAllowed"] == 5
    assert request["dispenseRequest"]["validityPeriod"] == {"start": "2026-04-01", "end": "2026-09-30"}
    by_patient = store.search(session, "MedicationRequest", [("patient", made["Patient"]), ("status", "active")])
    assert [r["id"] for r in by_patient.resources] == [made["MedicationRequest"]]
    # the clinic discontinues it (ORC-1 DC): the same MedicationRequest, stopped
    convert(session, settings, omp.replace(b"ORC|NW|", b"ORC|DC|").replace(b"|OMP1|", b"|OMP2|"))
    assert read(session, "MedicationRequest", made["MedicationRequest"])["status"] == "stopped"
