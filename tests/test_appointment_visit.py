"""The visit of an appointment whose PV1 has no visit number, across the SIU messages about that appointment.

An outpatient clinic books an appointment before the visit has a number (就诊号): its SIU^S12 PV1 names the
class, the clinic and the doctor, PV1-19 is empty. The Encounter was keyed on the patient and the message's control
id (MSH-10), so the S13 reschedule, S14 modification and S15 cancel each made a new planned Encounter of that
appointment: four visits for one booking, three of them planned for ever. Keyed on the appointment (its filler
id SCH-2, else the placer's SCH-1), as the Appointment is, every message about it is one visit; a cancel, a
discontinue or a no-show (S15/S16/S26) cancels that visit, and a delete (S17) marks it entered in error — the
visit exists only through the appointment. A visit the hub knows by its number stays as it is (an appointment
booked during a stay does not cancel the stay). Through the real pipeline (SQLite; PostgreSQL with
HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

import pytest

from tests.test_conversion_semantics import (
    convert,
    ids,
    message,
    mpi,  # noqa: F401  (the fixture)
    msh,
    pv1,
    read,
    rich_pid,
)

# PV1-2 outpatient, PV1-3 the clinic, PV1-7 the doctor; no visit number (PV1-19) nor admit time (PV1-44)
CLINIC_PV1 = "PV1|1|O|心内科门诊^M03^^SZRMYY||||D001^王^建国^^^^^^SZRMYY"


def siu(event: str, control: str, status: str, start: str = "202604010900", pv1_segment: str = CLINIC_PV1) -> bytes:
    # SCH-1/SCH-2 placer and filler appointment ids, SCH-25 filler status; TQ1-7/8 start and end; AIS-3 the service
    end = start[:-2] + "30"
    return message(
        msh(event, control, "SIU_S12"),
        f"SCH|APT1001^HIS|FAPT1001^RIS||||||ROUTINE^常规^HL70276|30|MIN|||||||||||||||{status}",
        f"TQ1|||||||{start}|{end}",
        rich_pid(),
        pv1_segment,
        "RGS|1|A",
        f"AIS|1|A|CT001^胸部CT^LOCAL|{start}|||30|MIN",
    )


def test_the_messages_of_one_appointment_are_one_visit(mpi, settings):  # noqa: F811
    messages = [
        siu("S12", "H1", "Booked"),
        siu("S13", "H2", "Booked", start="202604021000"),  # rescheduled
        siu("S14", "H3", "Booked", start="202604021000"),  # modified
    ]
    for raw in messages:
        convert(mpi, settings, raw)
    [eid] = {ids(settings, raw)["Encounter"] for raw in messages}
    visit = read(mpi, "Encounter", eid)
    assert visit["status"] == "planned" and visit["class"]["code"] == "AMB"
    # R4 Encounter.appointment: the appointment that scheduled the visit
    assert visit["appointment"] == [{"reference": f"Appointment/{ids(settings, messages[0])['Appointment']}"}]

    convert(mpi, settings, siu("S15", "H4", "Cancelled", start="202604021000"))
    assert ids(settings, siu("S15", "H4", "Cancelled"))["Encounter"] == eid
    assert read(mpi, "Encounter", eid)["status"] == "cancelled"


@pytest.mark.parametrize(("event", "status"), [("S16", "cancelled"), ("S26", "cancelled"), ("S17", "entered-in-error")])
def test_the_end_of_the_appointment_is_the_end_of_its_visit(mpi, settings, event, status):  # noqa: F811
    s12 = siu("S12", "J1", "Booked")
    convert(mpi, settings, s12)
    convert(mpi, settings, siu(event, "J2", "Noshow" if event == "S26" else "Cancelled"))
    assert read(mpi, "Encounter", ids(settings, s12)["Encounter"])["status"] == status


def test_a_cancelled_appointment_leaves_the_stay_it_was_booked_in(mpi, settings):  # noqa: F811
    # the patient is admitted (A01, visit V0001); a CT booked during the stay is cancelled: the stay goes on
    a01 = message(msh("A01", "K1", "ADT_A01"), "EVN|A01", rich_pid(), pv1())
    convert(mpi, settings, a01)
    stay = pv1(f2="I", f44="")
    for event, control, status in (("S12", "K2", "Booked"), ("S15", "K3", "Cancelled"), ("S17", "K4", "Deleted")):
        raw = siu(event, control, status, pv1_segment=stay)
        assert ids(settings, raw)["Encounter"] == ids(settings, a01)["Encounter"]
        convert(mpi, settings, raw)
    stored = read(mpi, "Encounter", ids(settings, a01)["Encounter"])
    assert stored["status"] == "in-progress" and "appointment" not in stored  # the CT did not schedule the stay
