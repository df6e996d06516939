"""Order and result events through the real pipeline: inbox row → convert_message → store, version by version.

A corrected result (OBX-11 C) is the next version of the same Observation, a withdrawn one (D, W) its
entered-in-error version; a cancelled order (ORC-1 CA, OC) the revoked version of its ServiceRequest; a
discontinued prescription (RDE or RDS with ORC-1 DC) the stopped version of its MedicationRequest; a deleted
vaccination (RXA-21 D) the entered-in-error version of its Immunization. Runs on SQLite and on PostgreSQL
(HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.conversion import CONVERTED, convert_message
from hub.fhir import store
from hub.hl7 import er7
from tests.support.inbox import receive

from .order_messages import message, msh, obr, orc, orm, pid, pv1, segment


def deliver(session: Session, settings: Any, text: str) -> None:
    outcome = convert_message(session, receive(session, text), settings)
    assert outcome.status == CONVERTED, outcome.error
    session.commit()


def current(session: Session, rtype: str, rid: str) -> tuple[int, dict[str, Any]]:
    """(number of versions, current version) of one resource."""
    versions = store.history(session, rtype, rid).resources
    return len(versions), store.read(session, rtype, rid)


def ids(settings: Any, text: str, rtype: str) -> list[str]:
    from hub.mapping import get_converter

    bundle = get_converter(settings).convert(er7.parse(text))
    return [e["request"]["url"].split("/")[1] for e in bundle["entry"] if e["request"]["url"].startswith(f"{rtype}/")]


def oul(control: str, status: str) -> str:
    # one specimen, one order, two results; OBX-11 (and OBR-25) the result status
    return message(
        msh("OUL", "R22", "OUL_R22", control),
        pid(),
        pv1(),
        "SPM|1|S100&HIS^S900&LIS||SER^血清^HL70487",
        obr(f25="C" if status == "C" else "F"),
        orc(f1="RE"),
        f"OBX|1|NM|2345-7^葡萄糖^LN||{'6.1' if status == 'C' else '5.6'}|mmol/L|||||{status}",
        "OBX|2|NM|2160-0^肌酐^LN||80|umol/L|||||F",
    )


def test_a_corrected_then_withdrawn_result_is_versions_of_one_observation(session, settings):
    deliver(session, settings, oul("U1", "F"))
    glucose, creatinine = ids(settings, oul("U1", "F"), "Observation")
    (report,) = ids(settings, oul("U1", "F"), "DiagnosticReport")
    assert current(session, "Observation", glucose)[0] == 1
    assert current(session, "Observation", glucose)[1]["status"] == "final"

    deliver(session, settings, oul("U2", "C"))  # the laboratory corrects the glucose
    versions, observation = current(session, "Observation", glucose)
    assert versions == 2
    assert observation["status"] == "corrected"
    assert observation["valueQuantity"]["value"] == 6.1
    assert store.vread(session, "Observation", glucose, 1)["valueQuantity"]["value"] == 5.6
    assert current(session, "DiagnosticReport", report)[1]["status"] == "corrected"
    # the other result was sent again unchanged: still one version
    assert current(session, "Observation", creatinine)[0] == 1

    deliver(session, settings, oul("U3", "W"))  # and then withdraws it
    versions, observation = current(session, "Observation", glucose)
    assert versions == 3
    assert observation["status"] == "entered-in-error"


def test_a_cancelled_order_is_the_revoked_version_of_its_service_request(session, settings):
    placed = orm(control="O1")
    (request_id,) = ids(settings, placed, "ServiceRequest")
    deliver(session, settings, placed)
    assert current(session, "ServiceRequest", request_id)[1]["status"] == "active"

    deliver(session, settings, orm(orc(f1="CA", f9="20260315110000"), obr(), control="O2"))
    versions, request = current(session, "ServiceRequest", request_id)
    assert versions == 2
    assert request["status"] == "revoked"
    assert request["code"]["coding"][0]["code"] == "58410-2"

    # the filler confirms with a bare ORC: the same order, still revoked
    deliver(session, settings, orm(orc(f1="CR"), control="O3"))
    versions, request = current(session, "ServiceRequest", request_id)
    assert versions == 2  # the confirmation changes nothing stored: no new version
    assert request["status"] == "revoked"
    # a bare ORC describes the order in part: what it does not carry (the test code) is kept
    assert request["code"]["coding"][0]["code"] == "58410-2"


def rxe(**fields: str) -> str:
    # RXE-2 drug, RXE-3/5 dose, RXE-10/11 dispense amount, RXE-12 refills, RXE-15 prescription number,
    # RXE-32 when the order was written (every message about the order repeats it)
    base = {2: "X0001^阿莫西林胶囊^L", 3: "0.5", 5: "g", 10: "24", 11: "粒", 12: "2", 15: "RX2026-0001"}
    base[32] = "20260315083000"
    return segment("RXE", base, **fields)


def pharmacy(code: str, event: str, control: str, *order: str) -> str:
    return message(msh(code, event, f"{code}_{event}", control), pid(), pv1(), *order)


def test_a_discontinued_prescription_is_the_stopped_version_of_its_medication_request(session, settings):
    placed = pharmacy("RDE", "O11", "R1", orc(f2="RX100^HIS", f3=""), rxe(), "TQ1|1||TID", "RXR|PO")
    (request_id,) = ids(settings, placed, "MedicationRequest")
    deliver(session, settings, placed)
    assert current(session, "MedicationRequest", request_id)[1]["status"] == "active"

    # the pharmacy dispenses the first fill: the dispense names the prescription it fills
    dispensed = pharmacy(
        "RDS",
        "O13",
        "R2",
        orc(f1="RE", f2="RX100^HIS", f3=""),
        rxe(),
        "TQ1|1||TID",
        "RXR|PO",
        "RXD|1|X0001^阿莫西林胶囊^L|20260315100000|24|粒",
        "RXR|PO",
    )
    deliver(session, settings, dispensed)
    (dispense_id,) = ids(settings, dispensed, "MedicationDispense")
    dispense = store.read(session, "MedicationDispense", dispense_id)
    assert dispense["authorizingPrescription"] == [{"reference": f"MedicationRequest/{request_id}"}]
    assert dispense["status"] == "completed"

    # the doctor discontinues it (ORC-1 DC) in a dispense-side message of the same order
    deliver(session, settings, pharmacy("RDE", "O11", "R3", orc(f1="DC", f2="RX100^HIS", f3=""), rxe(), "RXR|PO"))
    versions, request = current(session, "MedicationRequest", request_id)
    assert request["status"] == "stopped"
    assert request["authoredOn"] == "2026-03-15T08:30:00+08:00"
    # placed; sent again with the dispense (unchanged: no new version); stopped
    assert versions == 2
    assert [v["status"] for v in store.history(session, "MedicationRequest", request_id).resources] == [
        "stopped",
        "active",
    ]


def test_a_deleted_vaccination_is_the_entered_in_error_version_of_its_immunization(session, settings):
    def vxu(control: str, action: str) -> str:
        rxa = segment(
            "RXA",
            {1: "0", 2: "1", 3: "20260315093000", 5: "45^Hep B^HL70292", 6: "1", 7: "mL", 20: "CP", 21: action},
        )
        return message(msh("VXU", "V04", "VXU_V04", control), pid(), orc(f1="RE", f2="", f3="IZ-1001"), rxa)

    (shot_id,) = ids(settings, vxu("V1", "A"), "Immunization")
    deliver(session, settings, vxu("V1", "A"))
    assert current(session, "Immunization", shot_id)[1]["status"] == "completed"
    deliver(session, settings, vxu("V2", "D"))
    versions, shot = current(session, "Immunization", shot_id)
    assert versions == 2
    assert shot["status"] == "entered-in-error"


def test_an_order_sent_under_another_order_s_orc_is_one_order_in_the_store(session, settings):
    # OML^O21 with one ORC and two OBR (the tests ordered together), each OBR its own placer number (OBR-2); then
    # the laboratory's status change of the second order (ORM^O01 with its own ORC and OBR, ORC-5 CM done): the
    # same order, not a third one; a search by the first order's number finds the first order only
    head = (msh("OML", "O21", "OML_O21", "L1"), pid(), pv1())
    placed = message(
        *head,
        orc(f2="P100^HIS", f3=""),
        obr(f2="P100^HIS", f3=""),
        obr(f1="2", f2="P101^HIS", f3="", f4="2345-7^葡萄糖^LN"),
    )
    deliver(session, settings, placed)
    deliver(
        session,
        settings,
        orm(
            orc(f1="SC", f2="P101^HIS", f3="", f5="CM"), obr(f2="P101^HIS", f3="", f4="2345-7^葡萄糖^LN"), control="O2"
        ),
    )
    requests = store.search(session, "ServiceRequest", [], count=10).resources
    assert len(requests) == 2
    glucose = next(r for r in requests if r["code"]["coding"][0]["code"] == "2345-7")
    assert current(session, "ServiceRequest", glucose["id"])[0] == 2
    assert glucose["status"] == "completed"  # ORC-5 CM: the order is done
    found = store.search(session, "ServiceRequest", [("identifier", "P100")], count=10).resources
    assert [r["code"]["coding"][0]["code"] for r in found] == ["58410-2"]


# A placer's number sent without its issuer (EI.2, EI.3 empty) is the placer's within the sending facility (MSH-4):
# the hospital's HIS places the order, its LIS (same MSH-4, another MSH-3) repeats the number without the HIS's
# namespace in its status change and its results. One order, one ServiceRequest; the report names it.
FACILITY_SYSTEM = "urn:hub:id:SZRMYY"


def lab(code: str, event: str, structure: str, control: str, application: str, *order: str, **kw: str) -> str:
    return message(msh(code, event, structure, control, application=application, **kw), pid(), pv1(), *order)


def only(session: Session, rtype: str) -> dict[str, Any]:
    (found,) = store.search(session, rtype, [], count=10).resources
    return found


def by_identifier(session: Session, rtype: str, identifier: dict[str, Any]) -> list[str]:
    token = f"{identifier['system']}|{identifier['value']}"
    return [r["id"] for r in store.search(session, rtype, [("identifier", token)], count=10).resources]


def test_a_placer_number_without_its_issuer_is_one_order_across_the_his_and_the_lis(session, settings):
    placed = orc(f2="ORD300", f3="", f4="")
    deliver(session, settings, lab("ORM", "O01", "ORM_O01", "H1", "HIS", placed, obr(f2="ORD300", f3="")))
    # the LIS schedules it (SC, in process), then reports it: ORD300 without ^HIS, its own number F300
    numbers = {"f2": "ORD300", "f3": "F300"}
    status = orc(f1="SC", f5="IP", f4="", **numbers)
    deliver(session, settings, lab("ORM", "O01", "ORM_O01", "L1", "LIS", status, obr(**numbers)))
    result = "OBX|1|NM|2345-7^葡萄糖^LN||5.6|mmol/L|||||F"
    deliver(
        session,
        settings,
        lab("ORU", "R01", "ORU_R01", "L2", "LIS", orc(f1="RE", f4="", **numbers), obr(f25="F", **numbers), result),
    )

    order = only(session, "ServiceRequest")
    assert current(session, "ServiceRequest", order["id"])[0] == 2
    assert order["status"] == "active"
    placer = next(i for i in order["identifier"] if i["type"]["coding"][0]["code"] == "PLAC")
    assert (placer["system"], placer["value"]) == (FACILITY_SYSTEM, "ORD300")
    # the filler's number stays the filler's (the sending application's)
    filler = next(i for i in order["identifier"] if i["type"]["coding"][0]["code"] == "FILL")
    assert (filler["system"], filler["value"]) == ("urn:hub:id:LIS", "F300")
    (based_on,) = only(session, "DiagnosticReport")["basedOn"]
    assert based_on["identifier"] == {"system": FACILITY_SYSTEM, "value": "ORD300"}
    assert by_identifier(session, "ServiceRequest", based_on["identifier"]) == [order["id"]]


def test_a_placer_specimen_number_without_its_issuer_is_one_specimen_across_the_his_and_the_lis(session, settings):
    ordered = (orc(f2="ORD301", f3="", f4=""), obr(f2="ORD301", f3=""), "SPM|1|S301||SER^血清^HL70487")
    deliver(session, settings, lab("OML", "O21", "OML_O21", "H1", "HIS", *ordered))
    numbers = {"f2": "ORD301", "f3": "F301"}
    reported = (
        orc(f1="RE", f4="", **numbers),
        obr(f25="F", **numbers),
        "OBX|1|NM|2345-7^葡萄糖^LN||5.6|mmol/L|||||F",
        "SPM|1|S301^S901||SER^血清^HL70487",
    )
    deliver(session, settings, lab("ORU", "R01", "ORU_R01", "L1", "LIS", *reported))
    specimen = only(session, "Specimen")
    assert {(i["type"]["coding"][0]["code"], i["system"], i["value"]) for i in specimen["identifier"]} == {
        ("PLAC", FACILITY_SYSTEM, "S301"),
        ("FILL", "urn:hub:id:LIS", "S901"),
    }
    assert only(session, "ServiceRequest")["identifier"][0]["system"] == FACILITY_SYSTEM


def test_a_prescription_number_without_its_issuer_is_one_prescription_across_the_his_and_the_pharmacy(
    session, settings
):
    # RDE from the HIS, RDS from the pharmacy (same MSH-4): the same order number ORC-2 and prescription number
    # RXE-15 without an issuer. One MedicationRequest, which the dispense names.
    encoded_order = (orc(f2="RX300", f3="", f4=""), rxe(f15="RX2026-0300"), "TQ1|1||TID", "RXR|PO")
    deliver(session, settings, lab("RDE", "O11", "RDE_O11", "H1", "HIS", *encoded_order))
    dispensed = lab(
        "RDS",
        "O13",
        "RDS_O13",
        "P1",
        "PHARMACY",
        orc(f1="RE", f2="RX300", f3="", f4=""),
        rxe(f15="RX2026-0300"),
        "TQ1|1||TID",
        "RXR|PO",
        "RXD|1|X0001^阿莫西林胶囊^L|20260315100000|24|粒",
        "RXR|PO",
    )
    deliver(session, settings, dispensed)
    prescription = only(session, "MedicationRequest")
    assert {(i.get("system"), i["value"]) for i in prescription["identifier"]} == {
        (FACILITY_SYSTEM, "RX300"),
        (FACILITY_SYSTEM, "RX2026-0300"),
    }
    (dispense,) = store.search(session, "MedicationDispense", [], count=10).resources
    assert dispense["authorizingPrescription"] == [{"reference": f"MedicationRequest/{prescription['id']}"}]


def test_a_prescription_number_alone_without_its_issuer_is_one_prescription(session, settings):
    # no order numbers at all: the prescription number RXE-15 keys the order, within the facility
    def encoded_order(code: str, event: str, control: str, application: str, *more: str) -> str:
        order = (orc(f1="RE" if code == "RDS" else "NW", f2="", f3="", f4=""), rxe(f15="RX2026-0301"), "RXR|PO")
        return lab(code, event, f"{code}_{event}", control, application, *order, *more)

    deliver(session, settings, encoded_order("RDE", "O11", "H1", "HIS"))
    dispense = ("RXD|1|X0001^阿莫西林胶囊^L|20260315100000|24|粒|||||RX2026-0301", "RXR|PO")
    deliver(session, settings, encoded_order("RDS", "O13", "P1", "PHARMACY", *dispense))
    prescription = only(session, "MedicationRequest")
    assert prescription["identifier"] == [{"system": FACILITY_SYSTEM, "value": "RX2026-0301"}]
    (dispensed,) = store.search(session, "MedicationDispense", [], count=10).resources
    assert dispensed["authorizingPrescription"] == [{"reference": f"MedicationRequest/{prescription['id']}"}]


def test_a_placer_number_with_its_issuer_keeps_the_issuer_s_system(session, settings):
    numbers = {"f2": "ORD302^HIS", "f3": ""}
    deliver(session, settings, lab("ORM", "O01", "ORM_O01", "H1", "HIS", orc(f4="", **numbers), obr(**numbers)))
    numbers = {"f2": "ORD302^HIS", "f3": "F302"}
    status = orc(f1="SC", f5="IP", f4="", **numbers)
    deliver(session, settings, lab("ORM", "O01", "ORM_O01", "L1", "LIS", status, obr(**numbers)))
    order = only(session, "ServiceRequest")
    placer = next(i for i in order["identifier"] if i["type"]["coding"][0]["code"] == "PLAC")
    assert (placer["system"], placer["value"]) == ("urn:hub:id:HIS", "ORD302")


def test_the_same_placer_number_of_two_facilities_is_two_orders(session, settings):
    numbers = {"f2": "ORD303", "f3": ""}
    for facility, control in (("SZRMYY", "H1"), ("SZEY", "H2")):
        order = (orc(f4="", **numbers), obr(**numbers))
        deliver(session, settings, lab("ORM", "O01", "ORM_O01", control, "HIS", *order, facility=facility))
    orders = store.search(session, "ServiceRequest", [], count=10).resources
    systems = sorted(next(i["system"] for i in o["identifier"] if i["value"] == "ORD303") for o in orders)
    assert systems == ["urn:hub:id:SZEY", FACILITY_SYSTEM]
