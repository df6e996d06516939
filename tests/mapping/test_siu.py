"""SIU^S12…S26 → Appointment (status by event, participants from AIS/AIG/AIL/AIP, start and end), field by field."""

from __future__ import annotations

import pytest

from tests.support.paths import CORPUS

from .conftest import convert, one, ref, resources
from .order_messages import segment

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def siu(
    event: str,
    *,
    sch: str | None = None,
    tq1: str | None = None,
    extra: tuple[str, ...] = (),
    services: tuple[str, ...] | None = None,
    resources: bool = True,
) -> str:
    segments = [
        f"MSH|^~\\&|RIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||SIU^{event}^SIU_S12|S{event}|P|2.5.1",
        # SCH-1/2 placer/filler appointment id, SCH-6 event reason, SCH-7 appointment reason (0276),
        # SCH-8 appointment type (0277), SCH-9/10 duration and unit, SCH-25 filler status (0278)
        sch or "SCH|P77^HIS|F88^RIS||||复诊^Follow-up|FOLLOWUP^Follow up^HL70276|NORMAL|30|min|||||||||||||||Booked",
        # TQ1-7 start, TQ1-8 end
        tq1 if tq1 is not None else "TQ1|||||||202604010900|202604010930",
        "NTE|1||空腹",
        "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M",
        "PV1|1|O|门诊^^^SZRMYY||||||||||||||||V0009^^^SZRMYY^VN",
        "RGS|1",
        *(
            services
            if services is not None
            else (
                # AIS-3 service, AIS-4 start, AIS-7/8 duration, AIS-10 filler status
                "AIS|1||73030^X-ray shoulder^C4|202604010900|||30|min^Minutes^ISO||Booked",
                "NTE|1||左肩",
                "AIS|2||76700^Ultrasound abdomen^C4|202604010915",
            )
        ),
        *(
            (
                # AIG-3 resource id, AIG-4 type, AIG-14 filler status
                "AIG|1||XR-2^X-ray room 2 unit|EQ^Equipment||||||||||Booked",
                # AIL-3 location, AIL-12 filler status (this room is no longer booked)
                "AIL|1||放射科^201^^SZRMYY|||||||||Cancelled",
                # AIP-3 person, AIP-4 role, AIP-12 filler status
                "AIP|1||D001^王^五|RAD^Radiologist||||||||Pending",
            )
            if resources
            else ()
        ),
        *extra,
    ]
    return "\r".join(segments) + "\r"


def test_s12_appointment_field_by_field(converter):
    bundle = convert(converter, siu("S12"))
    appointment, patient = one(bundle, "Appointment"), one(bundle, "Patient")
    assert appointment["identifier"] == [
        {
            "type": {"coding": [{"system": V2_0203, "code": "FILL", "display": "Filler Identifier"}]},
            "system": "urn:hub:id:RIS",
            "value": "F88",
        },
        {
            "type": {"coding": [{"system": V2_0203, "code": "PLAC", "display": "Placer Identifier"}]},
            "system": "urn:hub:id:HIS",
            "value": "P77",
        },
    ]
    assert appointment["status"] == "booked"
    assert appointment["appointmentType"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0276",
        "code": "FOLLOWUP",
        "display": "A follow up visit from a previous appointment",
    }
    assert appointment["start"] == "2026-04-01T09:00:00+08:00"
    assert appointment["end"] == "2026-04-01T09:30:00+08:00"
    assert appointment["minutesDuration"] == 30
    assert appointment["comment"] == "空腹"
    assert [s["coding"][0]["code"] for s in appointment["serviceType"]] == ["73030", "76700"]
    assert appointment["serviceType"][0]["coding"][0]["system"] == "http://www.ama-assn.org/go/cpt"
    participants = appointment["participant"]
    assert participants[0] == {"actor": ref(patient), "status": "accepted"}
    doctor = next(p for p in participants if p["actor"].get("identifier", {}).get("value") == "D001")
    assert doctor["status"] == "tentative"  # AIP-12 Pending
    assert doctor["actor"]["display"] == "王五" and doctor["type"][0]["coding"][0]["code"] == "RAD"
    room = next(p for p in participants if "放射科" in p["actor"].get("display", ""))
    assert room["status"] == "declined"
    device = next(p for p in participants if p["actor"].get("identifier", {}).get("value") == "XR-2")
    assert device["actor"]["display"] == "X-ray room 2 unit" and device["status"] == "accepted"
    assert len(participants) == 4
    assert one(bundle, "Encounter")["subject"] == ref(patient)


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ("S12", "booked"),
        ("S13", "booked"),  # rescheduled: booked at its new time
        ("S14", "booked"),  # modified
        ("S15", "cancelled"),
        ("S16", "cancelled"),  # discontinued
        ("S17", "entered-in-error"),  # deleted
        ("S26", "noshow"),
    ],
)
def test_the_event_decides_the_status(converter, event, status):
    bundle = convert(converter, siu(event))
    appointment = one(bundle, "Appointment")
    assert appointment["status"] == status
    # every event names the same appointment
    assert appointment["id"] == one(convert(converter, siu("S12")), "Appointment")["id"]


def test_a_cancellation_keeps_its_reason(converter):
    sch = "SCH|P77^HIS|F88^RIS||||PATCAN^Patient cancelled^L|ROUTINE||||||||||||||||||||Cancelled"
    appointment = one(convert(converter, siu("S15", sch=sch)), "Appointment")
    assert appointment["cancelationReason"]["coding"][0]["code"] == "PATCAN"
    assert appointment["status"] == "cancelled"


@pytest.mark.parametrize(
    ("sch25", "sch8", "status"),
    [("Pending", "", "pending"), ("Waitlist", "", "waitlist"), ("", "Tentative", "pending"), ("", "", "booked")],
)
def test_s14_status_from_the_filler_status_then_the_appointment_type(converter, sch25, sch8, status):
    sch = f"SCH|P77^HIS|F88^RIS||||||{sch8}|||||||||||||||||{sch25}"
    assert one(convert(converter, siu("S14", sch=sch)), "Appointment")["status"] == status


def test_start_and_end_come_together(converter):
    # no TQ1: SCH-11 (TQ: 4 start, 5 end) gives both
    sch = "SCH|P77^HIS|F88^RIS|||||||||^^^202604020800^202604020830|||||||||||||||Booked"
    appointment = one(convert(converter, siu("S12", sch=sch, tq1="")), "Appointment")
    assert (appointment["start"], appointment["end"]) == ("2026-04-02T08:00:00+08:00", "2026-04-02T08:30:00+08:00")
    # a start without an end gives neither (app-2); TQ1 wins over SCH-11 only when it has both
    appointment = one(convert(converter, siu("S12", sch=sch, tq1="TQ1|||||||202604010900")), "Appointment")
    assert appointment["start"] == "2026-04-02T08:00:00+08:00"
    lone = "SCH|P77^HIS|F88^RIS|||||||||^^^202604020800|||||||||||||||Booked"
    # a lone start, and no resource with a start and a duration of its own (AIS-4 + AIS-7/8 …): neither
    bare = ("AIS|1||73030^X-ray shoulder^C4",)
    appointment = one(convert(converter, siu("S12", sch=lone, tq1="", services=bare)), "Appointment")
    assert "start" not in appointment and "end" not in appointment


def test_without_tq1_and_sch_11_the_first_resource_with_a_start_and_a_duration(converter):
    # v2.5+ without TQ1, and no SCH-11: the first service's start (AIS-4) and duration (AIS-7/8)
    sch = "SCH|P77^HIS|F88^RIS||||复诊^Follow-up|FOLLOWUP^Follow up^HL70276|NORMAL|||||||||||||||||Booked"
    appointment = one(convert(converter, siu("S12", sch=sch, tq1="")), "Appointment")
    assert (appointment["start"], appointment["end"]) == ("2026-04-01T09:00:00+08:00", "2026-04-01T09:30:00+08:00")
    # a service with a start but no duration is passed over: the room's start and duration (AIL-6 + AIL-9/10)
    services = ("AIS|1||73030^X-ray shoulder^C4|202604010900",)
    room = (segment("AIL", {1: "1", 3: "放射科^201^^SZRMYY", 6: "202604011000", 9: "20", 10: "min"}),)
    text = siu("S12", sch=sch, tq1="", services=services, extra=room, resources=False)
    appointment = one(convert(converter, text), "Appointment")
    assert (appointment["start"], appointment["end"]) == ("2026-04-01T10:00:00+08:00", "2026-04-01T10:20:00+08:00")


def test_a_participants_period_from_its_start_or_the_appointments_start_and_offset(converter):
    # TQ1-7 09:00: the radiologist joins 15 minutes after the start (AIP-7/8) for 20 minutes (AIP-9/10); the room
    # from its own start (AIL-6) for 30 minutes; before v2.5 the offset counts from SCH-11.4
    person = "AIP|1||D001^王^五|RAD^Radiologist|||15|min|20|min"
    room = segment("AIL", {1: "1", 3: "放射科^201^^SZRMYY", 6: "202604010905", 9: "30", 10: "min"})
    text = siu("S12", extra=(person, room), resources=False)
    participants = one(convert(converter, text), "Appointment")["participant"]
    periods = {p["actor"]["type"]: p.get("period") for p in participants if "type" in p["actor"]}
    assert periods["Practitioner"] == {"start": "2026-04-01T09:15:00+08:00", "end": "2026-04-01T09:35:00+08:00"}
    assert periods["Location"] == {"start": "2026-04-01T09:05:00+08:00", "end": "2026-04-01T09:35:00+08:00"}
    sch = "SCH|P77^HIS|F88^RIS|||||||||^^^202604020800^202604020830|||||||||||||||Booked"
    participants = one(
        convert(converter, siu("S12", sch=sch, tq1="", extra=(person,), resources=False)), "Appointment"
    )["participant"]
    [doctor] = [p for p in participants if p["actor"].get("type") == "Practitioner"]
    assert doctor["period"] == {"start": "2026-04-02T08:15:00+08:00", "end": "2026-04-02T08:35:00+08:00"}


def test_every_corpus_siu_converts(converter):
    from hub.hl7 import er7

    seen = {}
    for path in sorted(CORPUS.rglob("SIU*.hl7")):
        text = path.read_bytes().decode("utf-8-sig")
        if er7.parse(text).get(er7.parse(text).msh, 9, 1) != "SIU":
            continue  # SIU_12.hl7 is an ADT^A60
        bundle = convert(converter, text)
        [appointment] = resources(bundle, "Appointment")
        seen[path.name] = appointment["status"]
        assert any(
            p["actor"]["reference"].startswith("Patient/")
            for p in appointment["participant"]
            if "reference" in p["actor"]
        )
    assert seen["SIU-S15-01.hl7"] == "cancelled" and seen["SIU-S26-01.hl7"] == "noshow"
    assert seen["SIU-S17-01.hl7"] == "entered-in-error" and seen["SIU-S12-01.hl7"] == "booked"
    assert len(seen) == 8


def test_participants_say_what_they_are_and_when(converter):
    # IG AIP/AIL/AIG[Appointment] row 3: Reference(Practitioner), Reference(Location); a general resource is a
    # Device. AIx-6 (AIG-8) is the participation's start.
    extra = ("AIP|2||D009^李^四|NUR^Nurse||202604010905",)
    appointment = one(convert(converter, siu("S12", extra=extra)), "Appointment")
    kinds = {p["actor"].get("type", p["actor"].get("reference", "").split("/")[0]) for p in appointment["participant"]}
    assert kinds == {"Patient", "Practitioner", "Location", "Device"}
    nurse = next(p for p in appointment["participant"] if p["actor"].get("identifier", {}).get("value") == "D009")
    assert nurse["actor"]["type"] == "Practitioner" and nurse["period"] == {"start": "2026-04-01T09:05:00+08:00"}
    # a resource segment without its id names no actor (and gets no type)
    bare = one(convert(converter, siu("S12", extra=("AIP|3|||NUR^Nurse",))), "Appointment")
    assert all("actor" in p and p["actor"] != {"type": "Practitioner"} for p in bare["participant"])
    assert len(bare["participant"]) == 4


def test_a_resource_without_a_filler_status_has_not_accepted(converter):
    # AIx-12 (AIG-14) is the resource's own filler status; left empty, nobody said the doctor, room or device
    # accepts: tentative (R4: "tentatively accepted … requires further processing"), not accepted, whatever the
    # appointment's status. The patient takes part as booked.
    extra = ("AIP|2||D009^陈^医生|RAD^Radiologist", "AIL|2||CT^3^^放射科", "AIG|2||US-1^B超一号|EQ^Equipment")
    for event, sch in (("S12", None), ("S15", "SCH|P77^HIS|F88^RIS" + "|" * 23 + "Cancelled")):
        appointment = one(convert(converter, siu(event, sch=sch, extra=extra)), "Appointment")
        statuses = {
            p["actor"].get("identifier", {}).get("value") or p["actor"].get("display"): p["status"]
            for p in appointment["participant"]
        }
        assert statuses["D009"] == statuses["US-1"] == "tentative", statuses
        assert next(s for who, s in statuses.items() if who and "放射科" in who and "3" in who) == "tentative"
        assert appointment["participant"][0]["status"] == "accepted"  # the patient


def test_a_cancelled_appointment_was_not_declined_by_the_patient(converter):
    # SCH-25 is the appointment's status (IG SCH[Appointment] row 25), not the patient's participation
    sch = "SCH|P77^HIS|F88^RIS" + "|" * 23 + "Cancelled"
    appointment = one(convert(converter, siu("S15", sch=sch)), "Appointment")
    assert appointment["status"] == "cancelled"
    assert appointment["participant"][0]["status"] == "accepted"


def test_patient_observations_and_the_order_booked(converter):
    # IG SIU_S12 row 4.4: PATIENT.OBX → Observation; SCH-26/27 → basedOn the order, by its number
    sch = "SCH|P77^HIS|F88^RIS" + "|" * 23 + "Booked|ORD-1^HIS|F-1^RIS"
    obx = "OBX|1|NM|8867-4^Heart rate^LN||72|/min|60-100|N|||F|||20260315"
    text = siu("S12", sch=sch).replace("PV1|", obx + "\rPV1|", 1)
    bundle = convert(converter, text)
    observation, patient = one(bundle, "Observation"), one(bundle, "Patient")
    assert observation["code"]["coding"][0]["code"] == "8867-4"
    assert observation["valueQuantity"]["value"] == 72 and observation["subject"] == ref(patient)
    appointment = one(bundle, "Appointment")
    assert appointment["basedOn"] == [
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "ORD-1"}},
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:RIS", "value": "F-1"}},
    ]
    assert "basedOn" not in one(convert(converter, siu("S12")), "Appointment")


@pytest.mark.parametrize("event", ["S18", "S19", "S20", "S21", "S22"])
def test_a_service_or_resource_changes_and_the_appointment_goes_on(converter, event):
    # S18–S22 add, modify, cancel, discontinue or delete a service or resource: the appointment's status is the
    # filler's (SCH-25), the resource's own its filler status; AIx-2 D takes it off the appointment
    extra = ("AIP|2|D|D009^李^四|NUR^Nurse", "AIS|3|D|76770^Ultrasound retroperitoneal^C4")
    appointment = one(convert(converter, siu(event, extra=extra)), "Appointment")
    assert appointment["status"] == "booked"
    assert appointment["id"] == one(convert(converter, siu("S12")), "Appointment")["id"]
    assert all(p["actor"].get("identifier", {}).get("value") != "D009" for p in appointment["participant"])
    assert len(appointment["participant"]) == 4
    assert [s["coding"][0]["code"] for s in appointment["serviceType"]] == ["73030", "76700"]


def block(event: str, *, sch: str, resources: tuple[str, ...], tq1: str = "") -> str:
    segments = [
        f"MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||SIU^{event}^SIU_S12|B{event}|P|2.5.1",
        sch,
        *([tq1] if tq1 else []),
        "NTE|1||全科业务学习，停诊",
        "RGS|1",
        *resources,
    ]
    return "\r".join(segments) + "\r"


def test_s23_blocks_each_resources_time_on_its_own_schedule_and_s24_opens_it(converter):
    # S23: the schedule time of a person (AIP) and a room (AIL) is blocked; SCH-6 event reason says why
    sch = "SCH||B901^HIS||||MEETING^科室会议^L"
    tq1 = "TQ1|||||||202604011400|202604011600"
    resources_ = ("AIP|1||D001^王^五^^^^^^SZRMYY|RAD^放射科医师", "AIL|1||放射科^201^^SZRMYY")
    bundle = convert(converter, block("S23", sch=sch, tq1=tq1, resources=resources_))
    assert resources(bundle, "Appointment") == []
    person, room = resources(bundle, "Schedule")
    # one Schedule per resource, holding only the resource (the time is the Slot's)
    assert person == {
        "resourceType": "Schedule",
        "id": person["id"],
        "meta": person["meta"],
        "active": True,
        "actor": [
            {"identifier": {"system": "urn:hub:id:SZRMYY", "value": "D001"}, "display": "王五", "type": "Practitioner"}
        ],
    }
    assert room["actor"] == [{"display": "SZRMYY 放射科 201", "type": "Location"}]
    slots = resources(bundle, "Slot")
    assert [slot["schedule"] for slot in slots] == [ref(person), ref(room)]
    for slot in slots:
        assert slot["status"] == "busy-unavailable"
        assert (slot["start"], slot["end"]) == ("2026-04-01T14:00:00+08:00", "2026-04-01T16:00:00+08:00")
        assert slot["comment"] == "科室会议"
        assert [(i["type"]["coding"][0]["code"], i["value"]) for i in slot["identifier"]] == [("FILL", "B901")]
    # S24 opens the same block again: the same Slots on the same Schedules, now free
    reopened = convert(converter, block("S24", sch=sch, tq1=tq1, resources=resources_))
    assert [s["id"] for s in resources(reopened, "Slot")] == [s["id"] for s in slots]
    assert {s["status"] for s in resources(reopened, "Slot")} == {"free"}
    assert [s["id"] for s in resources(reopened, "Schedule")] == [person["id"], room["id"]]


def test_the_blocks_of_one_resource_share_its_schedule_across_messages(converter):
    # another day's block (another message, another block id) of the same doctor and of a second one: the
    # doctor's Slot is on the Schedule the first block made; the second doctor's on their own
    first = convert(
        converter,
        block(
            "S23",
            sch="SCH||B901^HIS",
            tq1="TQ1|||||||202604011400|202604011600",
            resources=("AIP|1||D001^王^五^^^^^^SZRMYY",),
        ),
    )
    doctor = one(first, "Schedule")
    later = convert(
        converter,
        block(
            "S23",
            sch="SCH||B977^HIS",
            tq1="TQ1|||||||202604080800|202604081200",
            resources=("AIP|1||D002^赵^六^^^^^^SZRMYY", "AIP|2||D001^王^五^^^^^^SZRMYY"),
        ),
    )
    second_doctor, same_doctor = resources(later, "Schedule")
    assert same_doctor["id"] == doctor["id"] and second_doctor["id"] != doctor["id"]
    assert second_doctor["actor"][0]["identifier"]["value"] == "D002"
    slot_of_second, slot_of_first = resources(later, "Slot")
    # each Slot names the Schedule of its own AIP (not the first AIP's of the message)
    assert slot_of_second["schedule"] == ref(second_doctor)
    assert slot_of_first["schedule"] == ref(doctor)
    assert slot_of_first["id"] != one(first, "Slot")["id"]  # another block: another Slot
    # a Slot is keyed on its own resource's Schedule: the same block listing the doctors the other way round
    # gives each doctor the same Slot
    swapped = convert(
        converter,
        block(
            "S23",
            sch="SCH||B977^HIS",
            tq1="TQ1|||||||202604080800|202604081200",
            resources=("AIP|1||D001^王^五^^^^^^SZRMYY", "AIP|2||D002^赵^六^^^^^^SZRMYY"),
        ),
    )
    assert [s["id"] for s in resources(swapped, "Slot")] == [slot_of_first["id"], slot_of_second["id"]]
    # the same doctor at another hospital is another resource
    elsewhere = block(
        "S23", sch="SCH||B901^HIS", tq1="TQ1|||||||202604011400|202604011600", resources=("AIP|1||D001^王^五",)
    ).replace("SZRMYY^2.16.156.10011.1.5.1^ISO", "SZFY^2.16.156.10011.1.5.2^ISO")
    assert one(convert(converter, elsewhere), "Schedule")["id"] != doctor["id"]


def test_a_blocked_time_from_the_resources_start_and_duration(converter):
    # no TQ1 and no SCH-11: the resource's own start and duration (AIG-8 + AIG-11/12); an AIS is the service the
    # time is for (serviceType), not a schedule of its own when the block names equipment
    sch = "SCH|P31^HIS|||||MAINT^设备维护^L"
    resources_ = (
        "AIS|1||CT^CT检查^L",
        "AIG|1||CT-1^CT机一号|EQ^设备||||202604020800|||4|h^hours^ISO+",
        "AIG|2|D|CT-2^CT机二号|EQ^设备",  # taken off the block: no Schedule, no Slot
    )
    bundle = convert(converter, block("S23", sch=sch, resources=resources_))
    slot, schedule = one(bundle, "Slot"), one(bundle, "Schedule")
    assert (slot["start"], slot["end"]) == ("2026-04-02T08:00:00+08:00", "2026-04-02T12:00:00+08:00")
    assert slot["serviceType"][0]["coding"][0]["code"] == "CT" and slot["serviceType"][0]["text"] == "CT检查"
    assert schedule["actor"] == [{"identifier": {"value": "CT-1"}, "display": "CT机一号", "type": "Device"}]
    assert slot["schedule"] == ref(schedule)
    assert [(i["type"]["coding"][0]["code"], i["value"]) for i in slot["identifier"]] == [("PLAC", "P31")]
    # 30 minutes of a person (AIP-6 + AIP-9/10, in Chinese units)
    person = ("AIP|1||D002^赵^六|DOC||202604030930|||30|分钟",)
    slot = one(convert(converter, block("S23", sch=sch, resources=person)), "Slot")
    assert (slot["start"], slot["end"]) == ("2026-04-03T09:30:00+08:00", "2026-04-03T10:00:00+08:00")
    # a block of a service alone: the service's Schedule (a HealthcareService)
    bundle = convert(converter, block("S23", sch=sch, resources=("AIS|1||CT^CT检查^L|202604040800|||2|h",)))
    assert one(bundle, "Schedule")["actor"] == [{"display": "CT检查", "type": "HealthcareService"}]
    assert (one(bundle, "Slot")["start"], one(bundle, "Slot")["end"]) == (
        "2026-04-04T08:00:00+08:00",
        "2026-04-04T10:00:00+08:00",
    )


def test_a_resources_start_offset_and_duration_within_the_block(converter):
    # v2.5: the block is TQ1-7/8 (14:00–16:00); the doctor is away from 30 minutes after its start (AIP-7/8) for
    # an hour (AIP-9/10): the doctor's Slot is 14:30–15:30; the room (no time of its own) the whole block
    sch = "SCH||B950^HIS||||TEACH^教学查房^L"
    resources_ = ("AIP|1||D001^王^五^^^^^^SZRMYY|RAD|||30|min^minutes^ISO+|60|min", "AIL|1||放射科^201^^SZRMYY")
    bundle = convert(converter, block("S23", sch=sch, tq1="TQ1|||||||202604011400|202604011600", resources=resources_))
    doctor, room = resources(bundle, "Slot")
    assert (doctor["start"], doctor["end"]) == ("2026-04-01T14:30:00+08:00", "2026-04-01T15:30:00+08:00")
    assert (room["start"], room["end"]) == ("2026-04-01T14:00:00+08:00", "2026-04-01T16:00:00+08:00")
    # before v2.5 the block's time is SCH-11 (TQ: 4 start, 5 end): the offset counts from SCH-11.4
    old = segment("SCH", {2: "B951^HIS", 11: "^^^202604020800^202604021200"})
    equipment = (
        segment("AIG", {1: "1", 3: "CT-1^CT机一号", 4: "EQ^设备", 9: "1", 10: "h", 11: "2", 12: "h"}),
    )  # AIG-9/10 offset 1 h, AIG-11/12 duration 2 h
    slot = one(convert(converter, block("S23", sch=old, resources=equipment)), "Slot")
    assert (slot["start"], slot["end"]) == ("2026-04-02T09:00:00+08:00", "2026-04-02T11:00:00+08:00")
    # an offset without a duration is no time of its own: the block's
    no_duration = (segment("AIG", {1: "1", 3: "CT-1^CT机一号", 4: "EQ^设备", 9: "1", 10: "h"}),)
    slot = one(convert(converter, block("S23", sch=old, resources=no_duration)), "Slot")
    assert (slot["start"], slot["end"]) == ("2026-04-02T08:00:00+08:00", "2026-04-02T12:00:00+08:00")


def test_a_block_without_a_time_or_without_resources(converter):
    from hub.errors import ConversionError

    # a Slot has a start and an end: a block without them cannot be converted
    with pytest.raises(ConversionError, match="start is required"):
        convert(converter, block("S23", sch="SCH||B903^HIS", resources=("AIP|1||D001^王^五",)))
    # a block of nobody's time makes neither Schedule nor Slot (nor an appointment)
    bundle = convert(
        converter, block("S23", sch="SCH||B904^HIS", tq1="TQ1|||||||202604011400|202604011600", resources=())
    )
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Organization"}


def test_s25_is_a_query_and_is_refused(converter):
    from hub.errors import ConversionError

    with pytest.raises(
        ConversionError, match=r"trigger event SIU\^S25 of structure SIU_S12: a schedule query"
    ) as caught:
        convert(converter, siu("S25"))
    assert caught.value.location == "MSH^1^9^2" and caught.value.hl7_code == "201"


def test_a_refused_event_is_not_also_mapped():
    from pydantic import ValidationError

    from hub.mapping.templates import MessageTemplate

    base = {"message": "SIU_S12", "structure": ["MSH"], "resources": []}
    MessageTemplate.model_validate({**base, "events": ["S12"], "refused": {"S25": "a query"}})
    with pytest.raises(ValidationError, match="'refused' names events the template maps"):
        MessageTemplate.model_validate({**base, "events": ["S12", "S25"], "refused": {"s25": "a query"}})
    with pytest.raises(ValidationError, match="'refused' names events"):
        MessageTemplate.model_validate({**base, "refused": {"S25": "a query"}})  # no 'events': every event is mapped


@pytest.mark.parametrize("event", ["S12", "S13", "S14"])
def test_a_visit_a_booking_makes_is_planned(converter, event):
    # the event says the status (as IG ConceptMap table-hl70003-to-encounter-status for A04/A05): a booking's visit
    # is to come, planned, not in progress as PV1-2 O gives an A08
    assert one(convert(converter, siu(event)), "Encounter")["status"] == "planned"


def test_a_booked_visit_with_its_discharge_time_is_finished(converter):
    pv1 = "PV1|1|O|门诊^^^SZRMYY||||||||||||||||V0009^^^SZRMYY^VN" + "|" * 26 + "20260401100000"
    text = siu("S14").replace("PV1|1|O|门诊^^^SZRMYY||||||||||||||||V0009^^^SZRMYY^VN", pv1)
    assert one(convert(converter, text), "Encounter")["status"] == "finished"


@pytest.mark.parametrize("event", ["S15", "S16", "S26"])
def test_a_visit_a_cancel_or_no_show_makes_is_cancelled(converter, event):
    # a visit first heard of in a cancel, discontinue or no-show will not take place (R4 Encounter has no no-show)
    assert one(convert(converter, siu(event)), "Encounter")["status"] == "cancelled"


def test_every_patient_of_the_booking_takes_part(converter):
    # v2.5.1 ch. 10: the PATIENT group of SIU_S12 repeats (a family booked together, a group session); IG
    # PID[Appointment]: each PID is a participant.actor Reference(Patient). Each patient is made and named, in
    # message order, the second as the first is (its own Patient, accepted).
    second = (
        "PID|2||MRN0002^^^SZRMYY^MR||李四||19850101|F",  # PID-3 another patient, PID-5 their name
        "PV1|1|O|门诊^^^SZRMYY||||||||||||||||V0010^^^SZRMYY^VN",  # PV1-19 their own visit
    )
    text = siu("S12").replace("RGS|1", "\r".join((*second, "RGS|1")), 1)
    bundle = convert(converter, text)
    first_patient, second_patient = resources(bundle, "Patient")
    assert second_patient["identifier"][0]["value"] == "MRN0002"
    appointment = one(bundle, "Appointment")
    patients = [p for p in appointment["participant"] if p["actor"].get("reference", "").startswith("Patient/")]
    assert patients == [
        {"actor": ref(first_patient), "status": "accepted"},
        {"actor": ref(second_patient), "status": "accepted"},
    ]
    # every other participant is still there (AIG, AIL, AIP)
    assert len(appointment["participant"]) == 5
    # one patient: one patient participant, as before
    alone = one(convert(converter, siu("S12")), "Appointment")
    assert [p["actor"] for p in alone["participant"] if "reference" in p["actor"]] == [
        ref(one(convert(converter, siu("S12")), "Patient"))
    ]
