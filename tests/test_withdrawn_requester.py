"""A withdrawn ordering provider against what is stored: the order's stored requester goes.

A PRT line with PRT-2 ``DE`` (delete), ``D`` or ``UN`` (unlink) and PRT-4 ``OP`` (ordering provider, table 0912) says
that this person no longer orders it. Within a message the hub already reads it so (the person is not the
requester however else named); an update of an order stored with that requester must lose it too: the next version
of the MedicationRequest (ServiceRequest) has no requester, as HL7 v2's update semantics say (v2.5.1 §2.5.3; PRT-2,
table 0287). A withdrawal of another person, or a message that names a new ordering provider, leaves or replaces the
stored one as before.

Inbox row → convert_message → store, read back (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.conversion import CONVERTED, convert_message
from hub.fhir import store
from hub.hl7 import er7
from hub.mapping import get_converter
from tests.support.inbox import receive

MSH = "MSH|^~\\&|HIS|SZRMYY|PHARM|SZRMYY|20260401083000||{type}|{control}|P|2.8||||||UNICODE UTF-8"
# PID-3 medical record number and resident ID number (GB 11643, valid check digit), PID-5 name, PID-7 birth, PID-8 sex
PID = (
    "PID|1||MRN5521^^^SZRMYY^MR~440304195803154326^^^^NNCHN||黄^秀英||19580315|F|||"
    "福田区福华路88号^^深圳市^广东省^518048"
)
PV1 = "PV1|1|O|心内科门诊^^^SZRMYY||||||||||||||||V20260401001^^^SZRMYY^VN"
# the ordering doctor and the doctor who takes over the continuous prescription (XCN: id^family^given …^authority)
WANG = "D001^王^伟^^^^^^SZRMYY"
LIU = "D017^刘^洋^^^^^^SZRMYY"
# RXE-1 (empty: TQ1 says), RXE-2 amlodipine 5 mg tablets, RXE-3 give amount 5, RXE-5 mg, RXE-6 tablet,
# RXE-10/11 dispense 28 tablets, RXE-12 two refills, RXE-15 prescription number
AMLODIPINE = "RXE||Y0312^氨氯地平片^L|5||mg|TAB^片剂^L|^每日一次，早晨服用|||28|片|2|||CF2026-0401"
# once a day, for 28 days from 2026-04-01
TQ1 = "TQ1|1||QD^每日一次^HL70335|||28^d|20260401"
ROUTE = "RXR|PO^口服^HL70162"


def prt(action: str, who: str, role: str = "OP") -> str:
    # PRT-2 action code (table 0287: AD add, DE delete, UN unlink), PRT-4 participation (table 0912), PRT-5 the person
    return f"PRT|1|{action}||{role}^^HL70912|{who}"


def orc(control: str, doctor: str = WANG) -> str:
    # ORC-1 order control (NW new, XO change), ORC-2 placer number, ORC-12 ordering provider
    return f"ORC|{control}|CF2026-0401^HIS|||||||20260401083000|||{doctor}"


def rde(control_id: str, orc_: str, *after_orc: str, after_rxe: tuple[str, ...] = ()) -> str:
    segments = [MSH.format(type="RDE^O11^RDE_O11", control=control_id), PID, PV1, orc_, *after_orc]
    segments += [AMLODIPINE, *after_rxe, TQ1, ROUTE]
    return "\r".join(segments) + "\r"


def deliver(session: Session, settings: Any, text: str) -> None:
    outcome = convert_message(session, receive(session, text), settings)
    assert outcome.status == CONVERTED, outcome.error
    session.commit()


def the_id(settings: Any, text: str, rtype: str) -> str:
    bundle = get_converter(settings).convert(er7.parse(text))
    (found,) = [e["request"]["url"].split("/")[1] for e in bundle["entry"] if e["request"]["url"].startswith(rtype)]
    return found


def versions(session: Session, rtype: str, rid: str) -> list[dict[str, Any]]:
    """The versions of one resource, the newest first."""
    return [dict(v) for v in store.history(session, rtype, rid).resources]


def test_a_withdrawn_ordering_provider_leaves_the_stored_prescription_without_requester(session, settings):
    placed = rde("A1", orc("NW"))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    assert store.read(session, "MedicationRequest", rid)["requester"]["identifier"]["value"] == "D001"
    # 王伟 leaves the clinic: the HIS withdraws him as the prescription's ordering provider, ORC-12 left empty
    deliver(session, settings, rde("A2", orc("XO", doctor=""), prt("DE", WANG)))
    history = versions(session, "MedicationRequest", rid)
    assert len(history) == 2
    assert "requester" not in history[0]
    # the rest of the prescription stays: the drug, the dose, the course
    assert history[0]["dosageInstruction"] == history[1]["dosageInstruction"]
    assert history[0]["status"] == "active"


def test_the_withdrawal_wins_over_orc_12_naming_the_same_doctor_again(session, settings):
    placed = rde("B1", orc("NW"))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    # the HIS repeats ORC-12 as stored and withdraws the same doctor by PRT (unlink)
    deliver(session, settings, rde("B2", orc("XO"), prt("UN", WANG)))
    assert "requester" not in store.read(session, "MedicationRequest", rid)


def test_withdrawing_another_doctor_keeps_the_stored_requester(session, settings):
    placed = rde("C1", orc("NW"))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    # 刘洋 was never this prescription's ordering provider: withdrawing him says nothing of 王伟
    deliver(session, settings, rde("C2", orc("XO", doctor=""), prt("DE", LIU)))
    assert store.read(session, "MedicationRequest", rid)["requester"]["identifier"]["value"] == "D001"


def test_a_new_ordering_provider_replaces_the_withdrawn_one(session, settings):
    placed = rde("D1", orc("NW"))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    deliver(session, settings, rde("D2", orc("XO", doctor=""), prt("DE", WANG), prt("AD", LIU)))
    requester = store.read(session, "MedicationRequest", rid)["requester"]
    assert requester["identifier"]["value"] == "D017" and requester["display"] == "刘洋"


def test_a_withdrawal_of_the_rxe_s_own_line_leaves_the_stored_prescription_without_requester(session, settings):
    # v2.9 puts the ordering provider in PRT: placed with the RXE's own OP line, withdrawn by the RXE's DE line
    placed = rde("E1", orc("NW", doctor=""), after_rxe=(prt("AD", LIU),))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    assert store.read(session, "MedicationRequest", rid)["requester"]["identifier"]["value"] == "D017"
    deliver(session, settings, rde("E2", orc("XO", doctor=""), after_rxe=(prt("DE", LIU),)))
    assert "requester" not in store.read(session, "MedicationRequest", rid)


# -- a laboratory order (ServiceRequest) -------------------------------------------------------------------------

# OBR-2 placer number, OBR-4 HbA1c, OBR-16 ordering provider (empty: ORC-12 and PRT say)
HBA1C = "OBR|1|LAB2026-0401^HIS||4548-4^糖化血红蛋白^LN"


def oml(control_id: str, orc_: str, *after_obr: str) -> str:
    segments = [MSH.format(type="OML^O21^OML_O21", control=control_id), PID, PV1]
    segments += [orc_.replace("CF2026-0401", "LAB2026-0401"), "TQ1|1||ONCE", HBA1C, *after_obr]
    return "\r".join(segments) + "\r"


def test_a_withdrawn_ordering_provider_leaves_the_stored_lab_order_without_requester(session, settings):
    placed = oml("L1", orc("NW"))
    rid = the_id(settings, placed, "ServiceRequest/")
    deliver(session, settings, placed)
    assert store.read(session, "ServiceRequest", rid)["requester"]["identifier"]["value"] == "D001"
    deliver(session, settings, oml("L2", orc("XO", doctor=""), prt("DE", WANG)))
    history = versions(session, "ServiceRequest", rid)
    assert len(history) == 2 and "requester" not in history[0]
    assert history[0]["code"] == history[1]["code"]


# -- the doctor's original order (OMP^O09: MedicationRequest from RXO) -------------------------------------------

# RXO-1 metformin extended-release tablets, RXO-2/4 0.5 g, RXO-5 tablet, RXO-11/12 dispense 60 tablets, RXO-13 refills
METFORMIN = "RXO|Y0451^二甲双胍缓释片^L|0.5||g|TAB^片剂^L||||||60|片|2"


def omp(control_id: str, orc_: str, *after_orc: str) -> str:
    segments = [MSH.format(type="OMP^O09^OMP_O09", control=control_id), PID, PV1, orc_, *after_orc]
    segments += ["TQ1|1||QD^每日一次^HL70335|||30^d|20260401", METFORMIN, ROUTE]
    return "\r".join(segments) + "\r"


def test_a_withdrawn_ordering_provider_leaves_the_stored_original_order_without_requester(session, settings):
    placed = omp("P1", orc("NW"))
    rid = the_id(settings, placed, "MedicationRequest/")
    deliver(session, settings, placed)
    assert store.read(session, "MedicationRequest", rid)["requester"]["identifier"]["value"] == "D001"
    deliver(session, settings, omp("P2", orc("XO", doctor=""), prt("D", WANG)))
    history = versions(session, "MedicationRequest", rid)
    assert len(history) == 2 and "requester" not in history[0]
    assert history[0]["medicationReference"] == history[1]["medicationReference"]
