"""HL7 v2 update semantics through the real pipeline: inbox row → convert_message → store (and the MPI).

An empty field keeps what is stored, ``""`` deletes it; A03 ends a visit and A13/A11 undo or cancel it; A40 and
A47 go through the master patient index; A29 and PPR^PC3 delete. Runs on SQLite and on PostgreSQL
(HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.conversion import CONVERTED, FAILED, convert_message, reset_for_replay
from hub.errors import Gone
from hub.events import dispatch_pending
from hub.fhir import store
from hub.hl7 import er7
from hub.identity import linking, records, subscriber
from hub.identity import tables as _tables  # noqa: F401  (registers the MPI tables for truncation)
from hub.identity.tables import MpiMerge, MpiSource
from hub.mapping import get_converter
from hub.mapping.nulls import KEEP_EXTENSION_URL, NULL_EXTENSION_URL
from hub.updates import merge_update, uninformative
from tests.support.inbox import receive

HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"
VALID_RESIDENT_ID = "440305198001011235"


def msh(event: str, control: str, structure: str = "") -> str:
    code = {"S": "SIU", "P": "PPR", "T": "MDM"}.get(event[0], "ADT")
    return f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||{code}^{event}^{structure}|{control}|P|2.5.1"


def rich_pid(mrn: str = "MRN0001") -> str:
    # PID-3 MRN and resident ID number; PID-5 name; PID-7 birth; PID-8 sex; PID-11 address; PID-13 phone;
    # PID-16 marital status
    return (
        f"PID|1||{mrn}^^^SZRMYY^MR~{VALID_RESIDENT_ID}^^^^NNCHN||张三||19800101|M|||深南大道1号^^深圳市^广东省^518000"
        "||13800138000^PRN^CP|||M^已婚^HL70002"
    )


def pv1(**fields: str) -> str:
    # PV1-2 class, PV1-3 location, PV1-19 visit number, PV1-36 discharge disposition, PV1-44 admit, PV1-45 discharge
    values = {2: "I", 3: "内科^301^2", 19: "V0001^^^SZRMYY^VN", 44: "20260315083000"}
    values.update({int(k[1:]): v for k, v in fields.items()})
    return "|".join(["PV1", "1", *[values.get(i, "") for i in range(2, max(values) + 1)]])


def message(*segments: str) -> bytes:
    return ("\r".join(segments) + "\r").encode("utf-8")


def convert(session: Session, settings: Any, raw: bytes) -> int:
    inbox_id = receive(session, raw)
    outcome = convert_message(session, inbox_id, settings)
    assert outcome.status == CONVERTED, outcome.error
    session.commit()
    # the index follows Patient changes through the outbox, as the worker's dispatcher does
    for _ in range(20):
        if dispatch_pending(session) == 0:
            break
        session.commit()
    return inbox_id


def ids(settings: Any, raw: bytes) -> dict[str, str]:
    """Type → id of the first resource of that type the message makes (the ids are deterministic)."""
    bundle = get_converter(settings).convert(er7.parse(raw.decode("utf-8")))
    out: dict[str, str] = {}
    for entry in bundle["entry"]:
        rtype, rid = entry["request"]["url"].split("/")
        out.setdefault(rtype, rid)
    return out


def read(session: Session, rtype: str, rid: str) -> dict[str, Any]:
    return dict(store.read(session, rtype, rid))


@pytest.fixture
def mpi(session: Session):
    subscriber.install()
    try:
        yield session
    finally:
        subscriber.uninstall()


def test_a_thin_oru_pid_keeps_the_richer_stored_patient(mpi, settings):
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), "NK1|1|李四|SPO^配偶^HL70063||13900139000", pv1())
    convert(mpi, settings, a01)
    pid = ids(settings, a01)["Patient"]
    before = read(mpi, "Patient", pid)
    assert records.links_of(before, "refer"), "the index linked the record to its master"

    # The laboratory knows the MRN and the name, nothing else; its PV1 says only the visit number.
    oru = message(
        "MSH|^~\\&|LIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315093000||ORU^R01^ORU_R01|R1|P|2.5.1",
        "PID|1||MRN0001^^^SZRMYY^MR||张三",
        "PV1|1|I|||||||||||||||||V0001^^^SZRMYY^VN",
        "OBR|1|P1|F1|2345-7^Glucose^LN|||20260315090000||||||||||||||||||F",
        "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|||||F",
    )
    convert(mpi, settings, oru)
    assert ids(settings, oru)["Patient"] == pid
    after = read(mpi, "Patient", pid)
    for element in ("birthDate", "gender", "address", "telecom", "maritalStatus", "contact", "link"):
        assert after[element] == before[element], element
    # the resident ID number the ORU did not repeat is still there, after the MRN the ORU sent
    values = [i["value"] for i in after["identifier"]]
    assert values[0] == "MRN0001" and VALID_RESIDENT_ID in values
    # the Encounter keeps its status and class (the ORU's PV1 says nothing about them)
    encounter = read(mpi, "Encounter", ids(settings, a01)["Encounter"])
    assert encounter["status"] == "in-progress" and encounter["class"]["code"] == "IMP"


def test_the_hl7_null_deletes_and_an_empty_field_keeps(mpi, settings):
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1(f36="01^Home"))
    convert(mpi, settings, a01)
    pid = ids(settings, a01)["Patient"]
    # A08: PID-11 (address) and PID-16 (marital status) sent as "", PID-13 (phone) left empty; PV1-36 ""
    a08 = message(
        msh("A08", "C2", "ADT_A01"),
        "EVN|A08",
        'PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M|||""|||||""',
        pv1(f36='""'),
    )
    bundle = get_converter(settings).convert(er7.parse(a08.decode()))
    marks = {
        e["request"]["url"].split("/")[0]: [
            x["valueString"] for x in e.get("extension", []) if x["url"] == NULL_EXTENSION_URL
        ]
        for e in bundle["entry"]
    }
    assert marks["Patient"] == ["address", "maritalStatus"]
    assert marks["Encounter"] == ["hospitalization.dischargeDisposition"]
    convert(mpi, settings, a08)
    after = read(mpi, "Patient", pid)
    assert "address" not in after and "maritalStatus" not in after
    assert after["telecom"][0]["value"] == "13800138000"  # empty: kept
    encounter = read(mpi, "Encounter", ids(settings, a01)["Encounter"])
    assert "hospitalization" not in encounter  # its only element was deleted


ATND = (
    "participant[type.coding.system=http://terminology.hl7.org/CodeSystem/v3-ParticipationType][type.coding.code=ATND]"
)


def entry_marks(settings: Any, raw: bytes, rtype: str, url: str = NULL_EXTENSION_URL) -> list[str]:
    """The null marks (or with ``url``, the keep marks) the converter puts on the message's entry of that type."""
    bundle = get_converter(settings).convert(er7.parse(raw.decode("utf-8")))
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith(f"{rtype}/")]
    return [x["valueString"] for x in entry.get("extension", []) if x["url"] == url]


def doctors(encounter: dict[str, Any]) -> dict[str, str]:
    """Participant type code → the doctor's id number."""
    return {
        p["type"][0]["coding"][0]["code"]: p["individual"]["identifier"]["value"]
        for p in encounter.get("participant", [])
    }


def admit_with_four_doctors(session: Session, settings: Any) -> str:
    """Convert an A01 whose PV1-7 names the attending, PV1-8 the referring, PV1-9 the consulting and PV1-17 the
    admitting doctor; the Encounter's id."""
    a01 = message(
        msh("A01", "C1", "ADT_A01"),
        "EVN|A01",
        rich_pid(),
        pv1(f7="D001^王^一", f8="D002^李^二", f9="D003^赵^三", f17="D004^孙^四"),
    )
    convert(session, settings, a01)
    return ids(settings, a01)["Encounter"]


def test_a_null_doctor_deletes_that_doctor_only(mpi, settings):
    eid = admit_with_four_doctors(mpi, settings)
    assert doctors(read(mpi, "Encounter", eid)) == {"ATND": "D001", "REF": "D002", "CON": "D003", "ADM": "D004"}

    # A08: PV1-7 "" (the attending doctor deleted); PV1-8, -9 and -17 left empty (no change)
    a08 = message(msh("A08", "C2", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f7='""'))
    assert entry_marks(settings, a08, "Encounter") == [ATND]
    convert(mpi, settings, a08)
    after = read(mpi, "Encounter", eid)
    assert doctors(after) == {"REF": "D002", "CON": "D003", "ADM": "D004"}
    assert after["location"][0]["status"] == "active"  # the rest of the visit is as stored

    # PV1-9 and PV1-17 "": the consulting and the admitting doctor go, the referrer stays
    convert(mpi, settings, message(msh("A08", "C3", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f9='""', f17='""')))
    assert doctors(read(mpi, "Encounter", eid)) == {"REF": "D002"}

    # PV1-8 "" alone deletes nothing: the stored referrer may be PV2-13's (referral source, a referrer too),
    # which the message leaves empty (no change)
    a08 = message(msh("A08", "C4", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f8='""'))
    assert entry_marks(settings, a08, "Encounter") == []
    convert(mpi, settings, a08)
    assert doctors(read(mpi, "Encounter", eid)) == {"REF": "D002"}
    # … with PV2-13 "" too, the referrer goes: nothing is left of the participants
    pv2 = "PV2" + "|" * 12 + '|""'
    convert(mpi, settings, message(msh("A08", "C5", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f8='""'), pv2))
    assert "participant" not in read(mpi, "Encounter", eid)


def test_a_null_in_one_of_several_fields_of_a_list_deletes_that_fields_items_only(mpi, settings):
    def pid(**fields: str) -> str:
        # PID-3 MRN and resident ID number, PID-5 name, PID-13 home and PID-14 business phone, PID-20 driver's
        # license; the others as rich_pid
        values = {
            3: f"MRN0001^^^SZRMYY^MR~{VALID_RESIDENT_ID}^^^^NNCHN",
            5: "张三",
            7: "19800101",
            8: "M",
            13: "13800138000^PRN^CP",
            14: "075588880000^WPN^PH",
            20: "粤B12345^GD",
        }
        values.update({int(k[1:]): v for k, v in fields.items()})
        return "|".join(["PID", "1", *[values.get(i, "") for i in range(2, max(values) + 1)]])

    # PD1-3 primary facility, PD1-4 primary care provider
    a04 = message(msh("A04", "C1", "ADT_A01"), "EVN|A04", pid(), "PD1|||社区医院^^^^^^^^^C001|D009^钱^九", pv1(f2="O"))
    convert(mpi, settings, a04)
    patient_id = ids(settings, a04)["Patient"]
    stored = read(mpi, "Patient", patient_id)
    assert [t["use"] for t in stored["telecom"]] == ["home", "work"]
    assert len(stored["generalPractitioner"]) == 2

    # PID-13 "": the home number goes, the business number stays; PID-20 "": the driver's license goes from the
    # identifiers (a list the hub unites), the MRN and the resident ID number stay
    a08 = message(msh("A08", "C2", "ADT_A01"), "EVN|A08", pid(**{"f13": '""', "f14": "", "f20": '""'}), pv1(f2="O"))
    assert entry_marks(settings, a08, "Patient") == [
        "identifier[type.coding.system=http://terminology.hl7.org/CodeSystem/v2-0203][type.coding.code=DL]",
        "telecom[use=home]",
    ]
    convert(mpi, settings, a08)
    after = read(mpi, "Patient", patient_id)
    assert [(t["use"], t["value"]) for t in after["telecom"]] == [("work", "075588880000")]
    assert sorted(i["value"] for i in after["identifier"]) == sorted(["MRN0001", VALID_RESIDENT_ID])

    # PD1-4 "" alone: the general practitioners are told apart by their Reference type (PD1-4 Practitioner, PD1-3
    # Organization), so the doctor goes and the facility stays …
    a08 = message(msh("A08", "C3", "ADT_A01"), "EVN|A08", pid(), 'PD1||||""', pv1(f2="O"))
    assert entry_marks(settings, a08, "Patient") == ["generalPractitioner[type=Practitioner]"]
    convert(mpi, settings, a08)
    assert [g["type"] for g in read(mpi, "Patient", patient_id)["generalPractitioner"]] == ["Organization"]
    # … and with PD1-3 "" too, the whole list goes
    a08 = message(msh("A08", "C4", "ADT_A01"), "EVN|A08", pid(), 'PD1|||""|""', pv1(f2="O"))
    assert entry_marks(settings, a08, "Patient") == [
        "generalPractitioner[type=Practitioner]",
        "generalPractitioner[type=Organization]",
    ]
    convert(mpi, settings, a08)
    assert "generalPractitioner" not in read(mpi, "Patient", patient_id)


def keep_marks(settings: Any, raw: bytes, rtype: str) -> list[str]:
    """The keep marks of list items the converter puts on the message's entry of that type, by their last
    selector's value (a kept part of an element, ``period.end``, has none)."""
    marks = entry_marks(settings, raw, rtype, KEEP_EXTENSION_URL)
    return [mark.rsplit("=", 1)[1].rstrip("]") for mark in marks if "[" in mark]


def test_an_empty_doctor_field_keeps_that_doctor(mpi, settings):
    eid = admit_with_four_doctors(mpi, settings)

    # A08: PV1-17 names another admitting doctor, PV1-7, -8 and -9 are empty (no change): the message's
    # participant list is the new admitter only, its entry says which stored doctors stay
    a08 = message(msh("A08", "C2", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f17="D005^周^五"))
    assert keep_marks(settings, a08, "Encounter")[:3] == ["ATND", "REF", "CON"]
    convert(mpi, settings, a08)
    after = read(mpi, "Encounter", eid)
    assert doctors(after) == {"ADM": "D005", "ATND": "D001", "REF": "D002", "CON": "D003"}
    assert len(after["participant"]) == 4  # the old admitter replaced, not kept beside the new one

    # PV1-7 "" and PV1-8 given: the attending doctor goes, the referrer is the message's, consultant and
    # admitter stay
    a08 = message(msh("A08", "C3", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f7='""', f8="D006^吴^六"))
    convert(mpi, settings, a08)
    assert doctors(read(mpi, "Encounter", eid)) == {"REF": "D006", "CON": "D003", "ADM": "D005"}

    # ROL-2 DE withdraws the consultant although PV1-9 is empty; ROL AD adds an attending doctor
    a08 = message(
        msh("A08", "C4", "ADT_A01"),
        "EVN|A08",
        rich_pid(),
        pv1(),
        "ROL|1|AD|AT^Attending^HL70443|D007^郑^七",
        "ROL|2|DE|CP^Consulting Provider^HL70443|D003^赵^三",
    )
    convert(mpi, settings, a08)
    assert doctors(read(mpi, "Encounter", eid)) == {"ATND": "D007", "REF": "D006", "ADM": "D005"}

    # every message, not only A08: an A01 sent again for the visit (snapshot of what it says) with PV1-7 only
    # keeps the doctors whose fields it leaves empty
    a01 = message(msh("A01", "C5", "ADT_A01"), "EVN|A01", rich_pid(), pv1(f7="D008^冯^八"))
    convert(mpi, settings, a01)
    assert doctors(read(mpi, "Encounter", eid)) == {"ATND": "D008", "REF": "D006", "ADM": "D005"}


def test_an_empty_phone_field_keeps_that_phone_and_an_empty_facility_field_that_facility(mpi, settings):
    def pid(**fields: str) -> str:
        # PID-3 MRN, PID-5 name, PID-13 home and PID-14 business phone
        values = {3: "MRN0001^^^SZRMYY^MR", 5: "张三", 7: "19800101", 8: "M"}
        values.update({int(k[1:]): v for k, v in fields.items()})
        return "|".join(["PID", "1", *[values.get(i, "") for i in range(2, max(values) + 1)]])

    # PD1-3 primary facility, PD1-4 primary care provider
    a01 = message(
        msh("A01", "C1", "ADT_A01"),
        "EVN|A01",
        pid(f13="13800138000^PRN^CP", f14="075588880000^WPN^PH"),
        "PD1|||社区医院^^^^^^^^^C001|D009^钱^九",
        pv1(),
    )
    convert(mpi, settings, a01)
    patient_id = ids(settings, a01)["Patient"]

    # A08: a new home number (PID-13), PID-14 empty: the work number stays beside it; PD1-4 names another
    # doctor, PD1-3 is empty: the general practitioners are told apart by their Reference type, so the stored
    # facility stays beside the new doctor (before, the message's list replaced the stored one)
    a08 = message(msh("A08", "C2", "ADT_A01"), "EVN|A08", pid(f13="13900139000^PRN^CP"), "PD1||||D010^陈^十", pv1())
    marks = entry_marks(settings, a08, "Patient", KEEP_EXTENSION_URL)
    assert "telecom[use=work]" in marks
    assert "generalPractitioner[type=Organization]" in marks
    convert(mpi, settings, a08)
    after = read(mpi, "Patient", patient_id)
    assert [(t["use"], t["value"]) for t in after["telecom"]] == [("home", "13900139000"), ("work", "075588880000")]
    assert [(g["type"], g["identifier"]["value"]) for g in after["generalPractitioner"]] == [
        ("Practitioner", "D010"),
        ("Organization", "C001"),
    ]

    # PID-14 "", PID-13 given: the work number goes, the home number is the message's
    a08 = message(msh("A08", "C3", "ADT_A01"), "EVN|A08", pid(f13="13700137000^PRN^CP", f14='""'), pv1())
    convert(mpi, settings, a08)
    assert [(t["use"], t["value"]) for t in read(mpi, "Patient", patient_id)["telecom"]] == [("home", "13700137000")]


def test_a03_ends_the_visit_and_a13_reopens_it(mpi, settings):
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1())
    convert(mpi, settings, a01)
    eid = ids(settings, a01)["Encounter"]
    a03 = message(msh("A03", "C2", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f36="01^Home", f45="20260320100000"))
    convert(mpi, settings, a03)
    ended = read(mpi, "Encounter", eid)
    assert ended["status"] == "finished"
    assert ended["period"] == {"start": "2026-03-15T08:30:00+08:00", "end": "2026-03-20T10:00:00+08:00"}
    assert ended["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "01"

    # A13 cancels the discharge; its PV1 repeats the visit without the admit time: the stored start stays,
    # the end and the disposition are deleted.
    a13 = message(msh("A13", "C3", "ADT_A01"), "EVN|A13", rich_pid(), pv1(f44=""))
    convert(mpi, settings, a13)
    reopened = read(mpi, "Encounter", eid)
    assert reopened["status"] == "in-progress"
    assert reopened["period"] == {"start": "2026-03-15T08:30:00+08:00"}
    assert "hospitalization" not in reopened
    assert [loc["status"] for loc in reopened["location"]] == ["active"]


def test_a11_cancels_the_admission_and_a03_without_a_discharge_time_ends_at_the_event(mpi, settings):
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1())
    convert(mpi, settings, a01)
    eid = ids(settings, a01)["Encounter"]
    # EVN-6: when the event occurred
    a03 = message(msh("A03", "C2", "ADT_A03"), "EVN|A03|20260316090000||||20260316083000", rich_pid(), pv1())
    convert(mpi, settings, a03)
    assert read(mpi, "Encounter", eid)["period"]["end"] == "2026-03-16T08:30:00+08:00"
    a11 = message(msh("A11", "C3", "ADT_A09"), "EVN|A11", rich_pid(), pv1())
    convert(mpi, settings, a11)
    cancelled = read(mpi, "Encounter", eid)
    assert cancelled["status"] == "cancelled"


def test_a40_merges_through_the_store_and_the_index(mpi, settings):
    first = message(msh("A04", "C1", "ADT_A01"), "EVN|A04", rich_pid("MRN0001"), pv1(f2="O"))
    second = message(
        msh("A04", "C2", "ADT_A01"),
        "EVN|A04",
        "PID|1||MRN0002^^^SZRMYY^MR||张三||19800101|M",
        pv1(f2="O", f19="V0002^^^SZRMYY^VN"),
    )
    convert(mpi, settings, first)
    convert(mpi, settings, second)
    source, target = ids(settings, first)["Patient"], ids(settings, second)["Patient"]
    # A40: MRN0001 (MRG-1) is a duplicate of MRN0002 (PID-3)
    a40 = message(
        msh("A40", "C3", "ADT_A39"),
        "EVN|A40",
        "PID|1||MRN0002^^^SZRMYY^MR||张三||19800101|M",
        "MRG|MRN0001^^^SZRMYY^MR",
    )
    inbox_id = convert(mpi, settings, a40)

    merged = read(mpi, "Patient", source)
    assert merged["active"] is False
    assert records.links_of(merged, "replaced-by") == [target]
    assert merged["address"], "the merged-away record keeps its content"
    survivor = read(mpi, "Patient", target)
    assert records.links_of(survivor, "replaces") == [source]
    assert survivor.get("active") is not False
    row = mpi.get(MpiSource, source)
    assert row is not None and (row.status, row.replaced_by) == ("replaced", target)
    assert linking.master_of(mpi, source) == linking.master_of(mpi, target)
    merge = mpi.scalars(select(MpiMerge).where(MpiMerge.source_id == source)).one()
    assert merge.target_id == target and merge.inbox_id == inbox_id

    # The same A40 replayed: the merge is found, not made again.
    assert reset_for_replay(mpi, ids=[inbox_id]) == [inbox_id]
    mpi.commit()
    outcome = convert_message(mpi, inbox_id, settings)
    mpi.commit()
    assert outcome.status == CONVERTED
    assert len(mpi.scalars(select(MpiMerge).where(MpiMerge.source_id == source)).all()) == 1

    # A later A08 about the survivor keeps the links the merge and the index made.
    a08 = message(msh("A08", "C4", "ADT_A01"), "EVN|A08", "PID|1||MRN0002^^^SZRMYY^MR||张三丰||19800101|M", pv1())
    convert(mpi, settings, a08)
    updated = read(mpi, "Patient", target)
    assert updated["name"][0]["text"] == "张三丰"
    assert records.links_of(updated, "replaces") == [source]


def test_an_a40_for_a_record_the_hub_never_saw(mpi, settings):
    a40 = message(msh("A40", "C1", "ADT_A39"), "EVN|A40", rich_pid("MRN0002"), "MRG|MRN0009^^^SZRMYY^MR^^^^^^^^")
    convert(mpi, settings, a40)
    bundle = get_converter(settings).convert(er7.parse(a40.decode()))
    patients = [e["resource"] for e in bundle["entry"] if e["request"]["url"].startswith("Patient/")]
    target = patients[0]["id"]
    source = patients[1]["id"]
    replaced = read(mpi, "Patient", source)
    assert replaced["identifier"][0]["value"] == "MRN0009"
    assert replaced["active"] is False and records.links_of(replaced, "replaced-by") == [target]


def test_a40_conflicting_with_an_earlier_merge_fails_the_message(mpi, settings):
    for control, mrn in (("C1", "MRN0001"), ("C2", "MRN0002"), ("C3", "MRN0003")):
        convert(mpi, settings, message(msh("A28", control, "ADT_A05"), "EVN|A28", rich_pid(mrn), "PV1|1|N"))
    into2 = message(msh("A40", "C4", "ADT_A39"), "EVN|A40", rich_pid("MRN0002"), "MRG|MRN0001^^^SZRMYY^MR")
    convert(mpi, settings, into2)
    # MRN0001 was merged into MRN0002 already: merging it into MRN0003 too is refused, nothing is written.
    into3 = message(msh("A40", "C5", "ADT_A39"), "EVN|A40", rich_pid("MRN0003"), "MRG|MRN0001^^^SZRMYY^MR")
    inbox_id = receive(mpi, into3)
    outcome = convert_message(mpi, inbox_id, settings)
    mpi.commit()
    assert outcome.status == FAILED and "merged" in (outcome.error or "")
    source = ids(settings, message(msh("A28", "C1", "ADT_A05"), "EVN|A28", rich_pid("MRN0001"), "PV1|1|N"))["Patient"]
    assert records.links_of(read(mpi, "Patient", source), "replaced-by") == [ids(settings, into2)["Patient"]]
    assert records.links_of(read(mpi, "Patient", ids(settings, into3)["Patient"]), "replaces") == []


def test_a47_moves_the_record_to_its_new_identifier(mpi, settings):
    old = message(msh("A04", "C1", "ADT_A01"), "EVN|A04", rich_pid("MRN0001"), pv1(f2="O"))
    convert(mpi, settings, old)
    old_id = ids(settings, old)["Patient"]
    a47 = message(msh("A47", "C2", "ADT_A30"), "EVN|A47", "PID|1||MRN9001^^^SZRMYY^MR||张三", "MRG|MRN0001^^^SZRMYY^MR")
    convert(mpi, settings, a47)
    new_id = ids(settings, a47)["Patient"]
    assert new_id != old_id
    moved = read(mpi, "Patient", new_id)
    assert [i["value"] for i in moved["identifier"]] == ["MRN9001"]
    assert moved["birthDate"] == "1980-01-01" and moved["address"][0]["city"] == "深圳市"  # from the old record
    assert records.links_of(moved, "replaces") == [old_id]
    assert records.links_of(read(mpi, "Patient", old_id), "replaced-by") == [new_id]


def test_a29_deletes_the_person(mpi, settings):
    a28 = message(msh("A28", "C1", "ADT_A05"), "EVN|A28", rich_pid(), "PV1|1|N")
    convert(mpi, settings, a28)
    pid = ids(settings, a28)["Patient"]
    assert read(mpi, "Patient", pid)["gender"] == "male"
    a29 = message(msh("A29", "C2", "ADT_A21"), "EVN|A29", rich_pid(), "PV1|1|N")
    convert(mpi, settings, a29)
    with pytest.raises(Gone):
        store.read(mpi, "Patient", pid)
    assert mpi.get(MpiSource, pid) is None or mpi.get(MpiSource, pid).status == "deleted"


def test_a_problem_is_added_updated_and_deleted(session, settings):
    def ppr(event: str, control: str, action: str, status: str) -> bytes:
        # PRB-1 action, PRB-3 problem, PRB-4 problem instance id, PRB-14 life cycle status
        return message(
            msh(event, control, "PPR_PC1"),
            "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M",
            f"PRB|{action}|20260315|I10^Essential hypertension^I10|P-77|||20260315|||||||{status}",
        )

    pc1 = ppr("PC1", "C1", "AD", "ACTIVE")
    convert(session, settings, pc1)
    cid = ids(settings, pc1)["Condition"]
    assert read(session, "Condition", cid)["clinicalStatus"]["coding"][0]["code"] == "active"
    convert(session, settings, ppr("PC2", "C2", "UP", "RESOLVED"))
    assert read(session, "Condition", cid)["clinicalStatus"]["coding"][0]["code"] == "resolved"
    convert(session, settings, ppr("PC3", "C3", "DE", "RESOLVED"))
    with pytest.raises(Gone):
        store.read(session, "Condition", cid)


def test_an_appointment_booked_then_cancelled(session, settings):
    def siu(event: str, control: str, status: str) -> bytes:
        # SCH-1/2 placer/filler appointment ids, SCH-25 filler status; TQ1-7/8 start and end; AIP-3 the doctor
        return message(
            msh(event, control, "SIU_S12"),
            f"SCH|P1|F1||||||||||||||||||||||||{status}",
            "TQ1|||||||20260401090000|20260401093000",
            "PID|1||MRN0001^^^SZRMYY^MR||张三",
            "RGS|1",
            "AIP|1||D001^王^五|||20260401090000|||||Booked",
        )

    s12 = siu("S12", "C1", "Booked")
    convert(session, settings, s12)
    aid = ids(settings, s12)["Appointment"]
    booked = read(session, "Appointment", aid)
    assert booked["status"] == "booked" and booked["start"] == "2026-04-01T09:00:00+08:00"
    convert(session, settings, siu("S15", "C2", "Cancelled"))
    assert read(session, "Appointment", aid)["status"] == "cancelled"
    convert(session, settings, siu("S26", "C3", "Noshow"))
    assert read(session, "Appointment", aid)["status"] == "noshow"


def test_a_result_after_the_discharge_does_not_reopen_the_visit(mpi, settings):
    convert(mpi, settings, message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1()))
    a03 = message(msh("A03", "C2", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f45="20260320100000"))
    convert(mpi, settings, a03)
    # the laboratory's PV1 names the visit and its class (inpatient), no discharge time
    oru = message(
        "MSH|^~\\&|LIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260321093000||ORU^R01^ORU_R01|R2|P|2.5.1",
        "PID|1||MRN0001^^^SZRMYY^MR||张三",
        "PV1|1|I|||||||||||||||||V0001^^^SZRMYY^VN",
        "OBR|1|P2|F2|2345-7^Glucose^LN|||20260321090000||||||||||||||||||F",
        "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|||||F",
    )
    convert(mpi, settings, oru)
    encounter = read(mpi, "Encounter", ids(settings, a03)["Encounter"])
    assert encounter["status"] == "finished" and encounter["period"]["end"] == "2026-03-20T10:00:00+08:00"


# hub.updates.merge_update, on its own ---------------------------------------------------------------------------


def test_merge_update_keeps_unites_replaces_and_deletes():
    stored = {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"versionId": "3", "lastUpdated": "2026-01-01T00:00:00Z", "tag": [{"code": "old"}]},
        "identifier": [{"system": "urn:a", "value": "1"}, {"system": "urn:rid", "value": "R"}],
        "name": [{"text": "张三"}],
        "address": [{"city": "深圳市"}],
        "deceasedDateTime": "2026-01-01",
        "maritalStatus": {"coding": [{"code": "M"}]},
        "link": [{"other": {"reference": "Patient/m1"}, "type": "refer"}],
    }
    new = {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"tag": [{"code": "new"}]},
        "identifier": [{"system": "urn:a", "value": "1", "type": {"text": "MR"}}],
        "name": [{"text": "张三丰"}],
        "deceasedBoolean": False,
    }
    merged = merge_update(stored, new, ["maritalStatus", "name"])
    assert merged == {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {"tag": [{"code": "new"}]},
        # the message's identifiers first, then the stored ones it did not repeat
        "identifier": [{"system": "urn:a", "value": "1", "type": {"text": "MR"}}, {"system": "urn:rid", "value": "R"}],
        "name": [{"text": "张三丰"}],  # a mark does not remove what the message gives
        "address": [{"city": "深圳市"}],  # not in the message: kept
        "deceasedBoolean": False,  # a choice variant replaces the others
        "link": [{"other": {"reference": "Patient/m1"}, "type": "refer"}],
    }
    assert "maritalStatus" not in merged
    assert stored["deceasedDateTime"] == "2026-01-01"  # the arguments are not changed


def test_merge_update_does_not_let_unknown_replace_a_value_and_removes_nested_paths():
    stored = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "period": {"start": "2026-03-15", "end": "2026-03-20"},
        "hospitalization": {"dischargeDisposition": {"text": "home"}},
    }
    new = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "unknown",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "code": "UNK"},
    }
    merged = merge_update(stored, new, ["period.end", "hospitalization.dischargeDisposition"])
    assert merged["status"] == "finished" and merged["class"]["code"] == "IMP"
    assert merged["period"] == {"start": "2026-03-15"}
    assert "hospitalization" not in merged
    # an unknown status with nothing stored is kept: it is all there is
    assert merge_update({"resourceType": "Encounter", "id": "e1"}, new)["status"] == "unknown"
    assert uninformative("status", "unknown") and not uninformative("status", "finished")
    assert uninformative("code", {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason"}]})
    assert not uninformative("code", {"coding": [{"system": "http://loinc.org", "code": "1-8"}]})


@pytest.mark.postgres
def test_two_updates_of_one_patient_at_once_lose_nothing(settings):
    """Two workers convert two A08s of one patient at the same moment, each with an element the other lacks:
    the second merge waits for the first (the row is locked once a merge changes it) and keeps its element."""
    import threading

    from hub.db import get_sessionmaker

    maker = get_sessionmaker(settings)
    with maker() as session:
        convert(session, settings, message(msh("A28", "C0", "ADT_A05"), "EVN|A28", "PID|1||MRN0001^^^SZRMYY^MR||张三"))
    rounds = 6
    updates = []
    for n in range(rounds):
        # one sends the address (PID-11), the other the phone (PID-13); neither sends the other's field
        address = f"PID|1||MRN0001^^^SZRMYY^MR||张三||||||街道{n}号^^深圳市"
        phone = f"PID|1||MRN0001^^^SZRMYY^MR||张三||||||||1380013800{n}"
        updates.append(
            (
                message(msh("A31", f"A{n}", "ADT_A05"), "EVN|A31", address),
                message(msh("A31", f"P{n}", "ADT_A05"), "EVN|A31", phone),
            )
        )
    pid = ids(settings, updates[0][0])["Patient"]
    for address, phone in updates:
        with maker() as session:
            rows = [receive(session, address), receive(session, phone)]
            session.commit()
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(inbox_id: int, barrier: threading.Barrier = barrier, errors: list[BaseException] = errors) -> None:
            try:
                with maker() as session:
                    barrier.wait()
                    outcome = convert_message(session, inbox_id, settings)
                    session.commit()
                    assert outcome.status == CONVERTED, outcome.error
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(row,)) for row in rows]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        with maker() as session:
            patient = read(session, "Patient", pid)
        n = updates.index((address, phone))
        assert patient["address"][0]["line"] == [f"街道{n}号"], patient.get("address")
        assert patient["telecom"][0]["value"] == f"1380013800{n}", patient.get("telecom")


def test_the_birth_time_goes_with_the_birth_date_it_was_sent_with(mpi, settings):
    # PID-7 is one value: a birth date with its time (the extension patient-birthTime on _birthDate)
    def pid(birth: str) -> str:
        return f"PID|1||MRN0001^^^SZRMYY^MR||张三||{birth}|M"

    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", pid("198001011230"), pv1())
    convert(mpi, settings, a01)
    patient = ids(settings, a01)["Patient"]
    stored = read(mpi, "Patient", patient)
    assert (stored["birthDate"], stored["_birthDate"]["extension"][0]["valueDateTime"]) == (
        "1980-01-01",
        "1980-01-01T12:30:00+08:00",
    )
    # PID-7 empty keeps both
    convert(mpi, settings, message(msh("A08", "C2", "ADT_A01"), "EVN|A08", pid(""), pv1()))
    assert read(mpi, "Patient", patient)["_birthDate"] == stored["_birthDate"]
    # a date without a time (a corrected birth date): the stored time of the other date goes
    convert(mpi, settings, message(msh("A08", "C3", "ADT_A01"), "EVN|A08", pid("19800102"), pv1()))
    after = read(mpi, "Patient", patient)
    assert after["birthDate"] == "1980-01-02" and "_birthDate" not in after
    # the HL7 null deletes both
    convert(mpi, settings, message(msh("A08", "C4", "ADT_A01"), "EVN|A08", pid("198001021200"), pv1()))
    assert "_birthDate" in read(mpi, "Patient", patient)
    convert(mpi, settings, message(msh("A08", "C5", "ADT_A01"), "EVN|A08", pid('""'), pv1()))
    after = read(mpi, "Patient", patient)
    assert "birthDate" not in after and "_birthDate" not in after
