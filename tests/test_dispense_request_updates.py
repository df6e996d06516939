"""An update of a pharmacy order keeps the dispense request parts it leaves empty, and deletes those it nulls.

HL7 v2 (v2.5.1 §2.5.3): an empty field says nothing, ``""`` deletes. An RDE^O11 XO that changes the course (TQ1)
and leaves RXE-10/11 (dispense amount) and RXE-12 (refills) empty is not "no quantity, no refills": the stored
``dispenseRequest.quantity`` and ``numberOfRepeatsAllowed`` stay beside the new validity. RXE-12 sent as ``""`` deletes
the stored refills.

Inbox row → convert_message → store, read back (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from hub.fhir import store
from tests.test_withdrawn_requester import MSH, PID, PV1, ROUTE, deliver, orc, the_id


def rde(control_id: str, control: str, *, amount: str, refills: str, tq1: str) -> str:
    # RXE-2 amlodipine, RXE-3/5 5 mg, RXE-10/11 dispense amount, RXE-12 refills, RXE-15 prescription number
    rxe = f"RXE||Y0312^氨氯地平片^L|5||mg|TAB^片剂^L||||{amount}|{'片' if amount else ''}|{refills}|||CF2026-0401"
    segments = [MSH.format(type="RDE^O11^RDE_O11", control=control_id), PID, PV1, orc(control), rxe, tq1, ROUTE]
    return "\r".join(s for s in segments if s) + "\r"


TQ1_28 = "TQ1|1||QD^每日一次^HL70335|||28^d|20260401"
TQ1_56 = "TQ1|1||QD^每日一次^HL70335|||56^d|20260401"


def test_an_update_that_leaves_the_dispense_amount_and_refills_empty_keeps_them(session, settings):
    placed = rde("Q1", "NW", amount="28", refills="2", tq1=TQ1_28)
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    # the course is lengthened to 56 days; the HIS sends RXE-10/11/12 empty (nothing said of them)
    deliver(session, settings, rde("Q2", "XO", amount="", refills="", tq1=TQ1_56))
    request = store.read(session, "MedicationRequest", rid)["dispenseRequest"]
    assert request["validityPeriod"] == {"start": "2026-04-01", "end": "2026-05-26"}
    assert request["quantity"] == {"value": 28, "unit": "片"}
    assert request["numberOfRepeatsAllowed"] == 2


def test_an_update_of_the_amount_alone_keeps_the_stored_validity(session, settings):
    placed = rde("Q5", "NW", amount="28", refills="2", tq1=TQ1_28)
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    # the pharmacy changes the amount to 30 tablets; the message has no timing (no TQ1, no ORC-15)
    deliver(session, settings, rde("Q6", "XO", amount="30", refills="", tq1=""))
    request = store.read(session, "MedicationRequest", rid)["dispenseRequest"]
    assert request["quantity"]["value"] == 30 and request["numberOfRepeatsAllowed"] == 2
    assert request["validityPeriod"] == {"start": "2026-04-01", "end": "2026-04-28"}


def test_refills_sent_as_the_hl7_null_are_deleted(session, settings):
    placed = rde("Q3", "NW", amount="28", refills="2", tq1=TQ1_28)
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    deliver(session, settings, rde("Q4", "XO", amount="28", refills='""', tq1=TQ1_28))
    request = store.read(session, "MedicationRequest", rid)["dispenseRequest"]
    assert "numberOfRepeatsAllowed" not in request
    assert request["quantity"]["value"] == 28


# -- the doctor's original order (OMP^O09: RXO-11/12 requested dispense amount, RXO-13 refills) ---------------------


def omp(control_id: str, control: str, *, amount: str, refills: str, tq1: str) -> str:
    rxo = f"RXO|Y0451^二甲双胍缓释片^L|0.5||g|TAB^片剂^L||||||{amount}|{'片' if amount else ''}|{refills}"
    orc_ = orc(control).replace("CF2026-0401", "OMP2026-0401")
    segments = [MSH.format(type="OMP^O09^OMP_O09", control=control_id), PID, PV1, orc_, tq1, rxo, ROUTE]
    return "\r".join(segments) + "\r"


def test_an_original_order_update_that_leaves_the_amount_and_refills_empty_keeps_them(session, settings):
    placed = omp("R1", "NW", amount="60", refills="2", tq1=TQ1_28)
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    deliver(session, settings, omp("R2", "XO", amount="", refills="", tq1=TQ1_56))
    request = store.read(session, "MedicationRequest", rid)["dispenseRequest"]
    assert request["validityPeriod"]["end"] == "2026-05-26"
    assert (request["quantity"], request["numberOfRepeatsAllowed"]) == ({"value": 60, "unit": "片"}, 2)
    deliver(session, settings, omp("R3", "XO", amount="60", refills='""', tq1=TQ1_56))
    assert "numberOfRepeatsAllowed" not in store.read(session, "MedicationRequest", rid)["dispenseRequest"]
