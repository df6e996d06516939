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


# -- minutesDuration from SCH-9/10 and AIS-7/8 in any time unit ------------------------------------------------------

NO_TIME = {"tq1": "", "resources": False}


def _minutes(converter, *, sch_duration: str = "", services: tuple[str, ...] = ()) -> int | None:
    sch = (
        f"SCH|P77^HIS|F88^RIS||||复诊^Follow-up|FOLLOWUP^Follow up^HL70276|NORMAL|{sch_duration}|||||||||||||||||Booked"
    )
    appointment = one(convert(converter, siu("S12", sch=sch, services=services, **NO_TIME)), "Appointment")
    return appointment.get("minutesDuration")


def test_minutes_duration_from_sch_9_in_any_time_unit(converter):
    # SCH-10 a CNE/CE: ISO+ and ANS+ codes, UCUM, its text, what Chinese senders write
    cases = {
        "30|min": 30,
        "30|MIN^minute^ISO+": 30,
        "2|h^hour^UCUM": 120,
        "1.5|h": 90,
        "1|d^day^ANS+": 1440,
        "2|小时": 120,
        "1|wk": 10080,
        "|h": None,  # no number
        "120|s^second^ISO+": 2,
        "|^分钟": None,
    }
    for duration, minutes in cases.items():
        assert _minutes(converter, sch_duration=duration) == minutes, duration
    # the unit as text only (CE.2): read as well
    assert _minutes(converter, sch_duration="45|^minutes") == 45


def test_minutes_duration_is_whole_positive_minutes_or_nothing(converter):
    # positiveInt: 90 seconds is no whole number of minutes (rounding would state a length the sender did not
    # send: start and end, when known, carry the exact time); zero is no length; a month is no fixed length
    for duration in ("90|s", "0|min", "1|mo", "30|xyz", "30|"):
        assert _minutes(converter, sch_duration=duration) is None, duration


def test_minutes_duration_from_the_first_service_in_any_time_unit(converter):
    for unit, minutes in (("h^hour^ISO+", 60), ("min", 1), ("s", None), ("d", 1440), ("分钟", 1)):
        service = (f"AIS|1||73030^X-ray shoulder^C4||||1|{unit}",)
        assert _minutes(converter, services=service) == minutes, unit
    # SCH-9/10 first
    service = ("AIS|1||73030^X-ray shoulder^C4||||1|h",)
    assert _minutes(converter, sch_duration="20|min", services=service) == 20


# -- a participant's period whose duration unit the hub cannot read ------------------------------------------------


def test_a_participant_duration_in_an_unread_unit_keeps_its_start_and_is_reported(converter):
    from .conftest import with_report

    # R4 Period: an end left out is an end not known, which is what the hub knows here; the start is as sent.
    # The unit that lost the end is reported (unread-unit: where, never the value).
    person = "AIP|1||D001^王^五|RAD^Radiologist||202604010915|||20|xyz"
    bundle, report = with_report(converter, siu("S12", extra=(person,), resources=False))
    [doctor] = [p for p in one(bundle, "Appointment")["participant"] if p["actor"].get("type") == "Practitioner"]
    assert doctor["period"] == {"start": "2026-04-01T09:15:00+08:00"}
    detail = "a duration in a unit the hub cannot read as a length of time: the time it gives is left out"
    assert {"code": "unread-unit", "location": "AIP^1", "detail": detail} in report
    # a start offset in such a unit: no start, no end, reported too
    person = "AIP|1||D001^王^五|RAD^Radiologist|||15|xyz|20|min"
    bundle, report = with_report(converter, siu("S12", extra=(person,), resources=False))
    [doctor] = [p for p in one(bundle, "Appointment")["participant"] if p["actor"].get("type") == "Practitioner"]
    assert "period" not in doctor
    assert any(e["code"] == "unread-unit" and e["location"] == "AIP^1" for e in report)
    # a readable unit: no report
    person = "AIP|1||D001^王^五|RAD^Radiologist||202604010915|||20|min"
    _, report = with_report(converter, siu("S12", extra=(person,), resources=False))
    assert not any(e["code"] == "unread-unit" for e in report)


# -- a length past the calendar: the time is left out and reported, the message converts -----------------------------


def test_a_duration_that_ends_past_the_year_9999_is_an_invalid_value_not_a_failure(converter):
    from .conftest import with_report

    for length in ("99999999999999^min", "9000000^d", "1e300^s"):
        room = (f"AIL|1||放射科^201^^SZRMYY|||202604011000|||{length.replace('^', '|')}",)
        text = siu("S12", sch=SCH, tq1="", services=(), extra=room, resources=False)
        bundle, report = with_report(converter, text)
        appointment = one(bundle, "Appointment")
        assert "start" not in appointment and "end" not in appointment
        assert any(e["code"] == "invalid-value" and e["location"].startswith("AIL^1") for e in report), report
