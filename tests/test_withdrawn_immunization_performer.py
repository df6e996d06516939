"""A withdrawn participation line of a vaccination against what is stored: the stored Immunization loses the person.

A VXU's PRT line with PRT-2 ``DE``/``D``/``UN`` and PRT-4 ``AP`` (administering provider) or ``OP`` (ordering
provider) says that this person no longer has that function in the vaccination, however RXA-10 (ORC-12) names
them. A line that names its person without an id number (``^王^伟``, a clinic system that sends nurses by name)
withdraws them by name, as one with an id does by the id: the updated record (the same ORC-3) has no performer of
that name in that function, so its next stored version has none either. A record is sent whole and stored whole
(Immunization is no type the hub merges), so the update's own performers are the record's.

Inbox row → convert_message → store, read back (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from hub.fhir import store
from tests.test_withdrawn_requester import deliver, the_id, versions

MSH = "MSH|^~\\&|IIS|SZRMYY|HUB|CITY|{when}||VXU^V04^VXU_V04|{control}|P|2.8||||||UNICODE UTF-8"
# PID-3 medical record number, PID-5 the child, PID-7 birth date, PID-8 sex
PID = "PID|1||MRN7731^^^SZRMYY^MR||陈^小雨||20260101|F"
# ORC-1 RE (observations to follow), ORC-3 the vaccination's filler number (its key: the same on an update),
# ORC-12 the ordering doctor
ORC = "ORC|RE||IZ-7001^SZRMYY|||||||||{doctor}"
# RXA-3 when, RXA-5 hepatitis B vaccine (CVX 45), RXA-6/7 0.5 mL, RXA-9 00 new record, RXA-10 the nurse who gave it,
# RXA-15 lot, RXA-20 CP complete, RXA-21 A add (U on the update)
RXA = (
    "RXA|0|1|20260301093000||45^Hep B, unspecified formulation^CVX|0.5|mL^mL^UCUM||00^新接种^NIP001|{nurse}"
    "|||||B2026A|||||CP|{action}"
)
RXR = "RXR|IM^肌肉注射^HL70162|LA^左上臂^HL70163"
WANG = "N03^王^伟^^^^^^SZRMYY"
ZHOU = "D1101^周^晓明^^^^^^SZRMYY"


def vxu(control: str, *, nurse: str = WANG, doctor: str = ZHOU, action: str = "A", lines: tuple[str, ...] = ()) -> str:
    segments = [
        MSH.format(when="20260301100000", control=control),
        PID,
        ORC.format(doctor=doctor),
        RXA.format(nurse=nurse, action=action),
        *lines,
        RXR,
    ]
    return "\r".join(segments) + "\r"


def performers(resource: dict) -> list[tuple[str, str]]:
    return [(p["function"]["coding"][0]["code"], p["actor"]["display"]) for p in resource.get("performer", [])]


def test_a_withdrawn_name_only_ap_line_leaves_the_stored_vaccination_without_that_nurse(session, settings):
    given = vxu("IZ1")
    rid = the_id(settings, given, "Immunization/")
    deliver(session, settings, given)
    assert performers(store.read(session, "Immunization", rid)) == [("AP", "王伟"), ("OP", "周晓明")]
    # the record corrected: 王伟 (named by name only) did not give the dose; RXA-10 still names him
    deliver(session, settings, vxu("IZ2", action="U", lines=("PRT|1|DE||AP^Administering Provider^HL70443|^王^伟",)))
    history = versions(session, "Immunization", rid)
    assert len(history) == 2
    assert performers(history[0]) == [("OP", "周晓明")]
    assert history[0]["lotNumber"] == history[1]["lotNumber"] == "B2026A"


def test_a_withdrawn_name_only_op_line_leaves_the_stored_vaccination_without_that_doctor(session, settings):
    given = vxu("IZ3")
    rid = the_id(settings, given, "Immunization/")
    deliver(session, settings, given)
    deliver(session, settings, vxu("IZ4", action="U", lines=("PRT|1|UN||OP^Ordering Provider^HL70443|^周^晓明",)))
    assert performers(store.read(session, "Immunization", rid)) == [("AP", "王伟")]


def test_a_withdrawn_ap_line_by_id_leaves_the_stored_vaccination_without_that_nurse(session, settings):
    given = vxu("IZ5")
    rid = the_id(settings, given, "Immunization/")
    deliver(session, settings, given)
    deliver(session, settings, vxu("IZ6", action="U", lines=(f"PRT|1|DE||AP^Administering Provider^HL70443|{WANG}",)))
    assert performers(store.read(session, "Immunization", rid)) == [("OP", "周晓明")]


def test_a_name_only_withdrawal_of_another_nurse_keeps_the_stored_one(session, settings):
    given = vxu("IZ7")
    rid = the_id(settings, given, "Immunization/")
    deliver(session, settings, given)
    deliver(session, settings, vxu("IZ8", action="U", lines=("PRT|1|DE||AP^Administering Provider^HL70443|^刘^洋",)))
    assert performers(store.read(session, "Immunization", rid)) == [("AP", "王伟"), ("OP", "周晓明")]
