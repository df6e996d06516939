"""An appointment's time from a start and a length: TQ1-7 with TQ1-6, and a resource's start whose unit is unread.

v2.5.1 TQ1-6 (service duration, CQ: ``30^min``) is how long the service takes; with TQ1-7 and no TQ1-8 it says the
end (IG TQ1 row 6, as a pharmacy course reads it): before, such an appointment had no time at all. And R4 app-2
("either start and end are specified, or neither"): a resource's start (AIS-4 …) whose duration unit the hub cannot
read (``2^xyz``) gives no end, so it gives no start either, and the next source that gives both is the time.
"""

from __future__ import annotations

from .conftest import convert, one
from .test_siu import siu

SCH = "SCH|P77^HIS|F88^RIS||||复诊^Follow-up|FOLLOWUP^Follow up^HL70276|NORMAL|||||||||||||||||Booked"


def test_a_tq1_start_and_service_duration_are_the_appointments_time(converter):
    text = siu("S12", sch=SCH, tq1="TQ1||||||30^min^UCUM|202604010900", resources=False)
    appointment = one(convert(converter, text), "Appointment")
    assert (appointment["start"], appointment["end"]) == ("2026-04-01T09:00:00+08:00", "2026-04-01T09:30:00+08:00")
    # in hours, and in Chinese
    text = siu("S12", sch=SCH, tq1="TQ1||||||2^小时|202604010900", resources=False)
    appointment = one(convert(converter, text), "Appointment")
    assert appointment["end"] == "2026-04-01T11:00:00+08:00"


def test_tq1_7_and_8_win_over_the_service_duration(converter):
    text = siu("S12", sch=SCH, tq1="TQ1||||||30^min|202604010900|202604011000", resources=False)
    appointment = one(convert(converter, text), "Appointment")
    assert appointment["end"] == "2026-04-01T10:00:00+08:00"


def test_a_resource_start_whose_duration_unit_is_unread_gives_no_lone_start(converter):
    unread = ("AIS|1||73030^X-ray shoulder^C4|202604010900|||2|xyz",)
    appointment = one(convert(converter, siu("S12", sch=SCH, tq1="", services=unread, resources=False)), "Appointment")
    assert "start" not in appointment and "end" not in appointment
    # the next resource that gives both is the time
    room = ("AIL|1||放射科^201^^SZRMYY|||202604011000|||20|min",)
    text = siu("S12", sch=SCH, tq1="", services=unread, extra=room, resources=False)
    appointment = one(convert(converter, text), "Appointment")
    assert (appointment["start"], appointment["end"]) == ("2026-04-01T10:00:00+08:00", "2026-04-01T10:20:00+08:00")


# -- a blocked time (S23/S24 Slot): the same for a resource's own time within the block ------------------------------


def test_a_blocked_resource_whose_duration_unit_is_unread_has_the_block_s_time(converter):
    from .test_siu import block

    sch = "SCH||B960^HIS||||TEACH^教学查房^L"
    tq1 = "TQ1|||||||202604011400|202604011600"
    # the doctor's own start and a length in a unit no table reads: not half of it (its start with the block's end)
    own = ("AIP|1||D001^王^五^^^^^^SZRMYY|RAD||202604011430|||2|xyz",)
    slot = one(convert(converter, block("S23", sch=sch, tq1=tq1, resources=own)), "Slot")
    assert (slot["start"], slot["end"]) == ("2026-04-01T14:00:00+08:00", "2026-04-01T16:00:00+08:00")
    # an offset within the block and such a length: the block's time too
    offset = ("AIP|1||D001^王^五^^^^^^SZRMYY|RAD|||30|min|2|xyz",)
    slot = one(convert(converter, block("S23", sch=sch, tq1=tq1, resources=offset)), "Slot")
    assert (slot["start"], slot["end"]) == ("2026-04-01T14:00:00+08:00", "2026-04-01T16:00:00+08:00")


# -- minutesDuration: the appointment's length, by the field that says it ------------------------------------------


def test_minutes_duration_from_tq1_6_and_from_sch_11_s_tq_duration(converter):
    # v2.5: TQ1-6 service duration (a CQ in any time unit the hub reads)
    text = siu("S12", sch=SCH, tq1="TQ1||||||1^h|202604010900|202604011000", services=(), resources=False)
    assert one(convert(converter, text), "Appointment")["minutesDuration"] == 60
    # before v2.5: SCH-11.3, the TQ's duration (M30: 30 minutes; H2: two hours), IG TQ[Appointment] row 3
    for duration, minutes in (("M30", 30), ("H2", 120)):
        sch = f"SCH|P77^HIS|F88^RIS|||||||||^^{duration}^202604020800^202604021000|||||||||||||||Booked"
        appointment = one(convert(converter, siu("S12", sch=sch, tq1="", services=(), resources=False)), "Appointment")
        assert appointment["minutesDuration"] == minutes
    # a number of times (X3) or a text is no length
    sch = "SCH|P77^HIS|F88^RIS|||||||||^^X3^202604020800^202604021000|||||||||||||||Booked"
    assert "minutesDuration" not in one(
        convert(converter, siu("S12", sch=sch, tq1="", services=(), resources=False)), "Appointment"
    )
