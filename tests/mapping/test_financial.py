"""BAR^P01/P02/P12 and DFT^P03/P11 → Account, Coverage, ChargeItem, Encounter, Condition, Procedure."""

from __future__ import annotations

import pytest

from tests.support.paths import CORPUS

from .conftest import convert, one, ref, resources, with_report

HEADER = (
    "MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||{code}^{event}^{structure}|F{event}|P|2.5.1"
)
# PID-18 the patient account number
PID = "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M||||||||||ACC1^^^SZRMYY^AN"
PV1 = "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN"
IN1 = "IN1|1|PLAN1^城镇职工医保|C001^^^SZRMYY|深圳医保局||||||||20260101|||||SEL^Self^HL70063"
DG1 = "DG1|1||I10^Essential hypertension^I10|||F"
PR1 = "PR1|1||0DTJ4ZZ^Appendectomy^I10P||20260316100000"


def message(code: str, event: str, structure: str, *segments: str) -> str:
    head = HEADER.format(code=code, event=event, structure=structure)
    return "\r".join([head, f"EVN|{event}|20260315083000", PID, *segments]) + "\r"


def test_bar_p01_adds_the_account_with_its_coverage(converter):
    bundle = convert(
        converter, message("BAR", "P01", "BAR_P01", PV1, "AL1|1|DA|70618^Penicillin^RXNORM", DG1, PR1, IN1)
    )
    account, patient, coverage = one(bundle, "Account"), one(bundle, "Patient"), one(bundle, "Coverage")
    assert account["identifier"][0]["value"] == "ACC1" and account["status"] == "active"
    assert account["subject"] == [ref(patient)]
    assert account["coverage"] == [{"coverage": ref(coverage)}]
    assert coverage["beneficiary"] == ref(patient) and coverage["subscriber"] == ref(patient)
    for rtype in ("Encounter", "AllergyIntolerance", "Condition", "Procedure"):
        assert one(bundle, rtype)
    # an OBX of the visit (OBX-3 body weight, OBX-5 value, OBX-6 unit) is an Observation of the patient and visit
    weight = "OBX|1|NM|29463-7^Body weight^LN||62|kg^^UCUM|||||F"
    bundle = convert(converter, message("BAR", "P01", "BAR_P01", PV1, weight, DG1))
    observation = one(bundle, "Observation")
    assert observation["code"]["coding"][0]["code"] == "29463-7" and observation["valueQuantity"]["value"] == 62
    assert observation["subject"] == ref(one(bundle, "Patient"))
    assert observation["encounter"] == ref(one(bundle, "Encounter"))
    # the same account as an ADT names it
    adt = message("ADT", "A08", "ADT_A01", PV1)
    assert one(convert(converter, adt), "Account")["id"] == account["id"]


def test_bar_p02_purges_accounts(converter):
    bundle = convert(converter, message("BAR", "P02", "BAR_P02", PV1))
    assert one(bundle, "Account")["status"] == "inactive"


def test_bar_p12_updates_diagnoses_and_procedures(converter):
    deleted = "DG1|2||E11^Type 2 diabetes^I10|||F|||||||||||||||D"
    bundle = convert(converter, message("BAR", "P12", "BAR_P12", PV1, DG1, deleted, PR1))
    assert one(bundle, "Condition")["code"]["coding"][0]["code"] == "I10"
    methods = sorted(e["request"]["method"] for e in bundle["entry"] if e["request"]["url"].startswith("Condition/"))
    assert methods == ["DELETE", "PUT"]
    assert one(bundle, "Procedure")["code"]["coding"][0]["code"] == "0DTJ4ZZ"


# FT1-2 transaction id, FT1-4 date, FT1-5 posting date, FT1-6 type, FT1-7 code, FT1-10 quantity,
# FT1-11 extended amount (price&currency), FT1-19 diagnosis, FT1-20 performed by, FT1-24 entered by
FT1 = "FT1|1|T-100||20260316|20260317|CG|71045^Chest X-ray^C4|||2|120&RMB||||||||R05^Cough^I10|D001^王^五||||D002^赵^六"


@pytest.mark.parametrize(("event", "structure"), [("P03", "DFT_P03"), ("P11", "DFT_P11")])
def test_dft_charges_field_by_field(converter, event, structure):
    if structure == "DFT_P03":
        segments = (PV1, FT1, PR1, DG1, IN1)
    else:
        segments = (PV1, DG1, IN1, FT1, PR1)
    bundle = convert(converter, message("DFT", event, structure, *segments))
    charge, patient = one(bundle, "ChargeItem"), one(bundle, "Patient")
    assert charge["identifier"] == [{"system": "urn:oid:2.16.156.10011.1.5.1", "value": "T-100"}]
    assert charge["status"] == "billable"
    assert charge["code"]["coding"][0] == {
        "system": "http://www.ama-assn.org/go/cpt",
        "code": "71045",
        "display": "Chest X-ray",
    }
    assert charge["subject"] == ref(patient) and charge["context"] == ref(one(bundle, "Encounter"))
    assert charge["account"] == [ref(one(bundle, "Account"))]
    assert charge["occurrenceDateTime"] == "2026-03-16" and charge["enteredDate"] == "2026-03-17"
    assert charge["quantity"] == {"value": 2}
    assert charge["priceOverride"] == {"value": 120, "currency": "CNY"}  # RMB, the spelling, is the yuan
    assert charge["reason"][0]["coding"][0]["code"] == "R05"
    assert charge["performer"] == [{"actor": {"identifier": {"value": "D001"}, "display": "王五"}}]
    assert charge["enterer"] == {"identifier": {"value": "D002"}, "display": "赵六"}
    assert one(bundle, "Procedure") and one(bundle, "Condition") and one(bundle, "Coverage")


def test_a_charge_without_a_code_says_so(converter):
    bundle = convert(converter, message("DFT", "P03", "DFT_P03", PV1, "FT1|1|T-101||20260316||CG"))
    assert one(bundle, "ChargeItem")["code"]["coding"][0]["code"] == "unknown"


def test_every_corpus_financial_message_converts(converter):
    from hub.hl7 import er7

    wanted = {"BAR": "Account", "DFT": "ChargeItem"}
    count = 0
    for path in sorted(CORPUS.rglob("*.hl7")):
        text = path.read_bytes().decode("utf-8-sig")
        message_ = er7.parse(text)
        code = message_.get(message_.msh, 9, 1)
        if code in wanted:
            assert resources(convert(converter, text), wanted[code]), path.name
            count += 1
    assert count == 7


@pytest.mark.parametrize(("event", "structure"), [("P03", "DFT_P03"), ("P11", "DFT_P11")])
def test_dft_the_charged_orders_and_their_observations(converter, event, structure):
    # ORC-1 RE (observations to follow), ORC-2/3 placer/filler numbers, ORC-5 CM (completed)
    orc = "ORC|RE|P100^HIS|F200^LIS||CM"
    # OBR-4 the test ordered, OBR-7 observation time
    obr = "OBR|1|P100^HIS|F200^LIS|2345-7^Glucose^LN|||20260316080000"
    # OBX-2 NM, OBX-3 the test, OBX-5 value, OBX-6 unit, OBX-11 F final
    obx = "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L^^UCUM|||||F"
    # an order sent as ORC alone (no OBR): a ServiceRequest all the same
    bare = "ORC|RE|P101^HIS|F201^LIS||CM"
    bundle = convert(converter, message("DFT", event, structure, PV1, orc, obr, obx, bare, FT1))
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    orders = {o["identifier"][0]["value"]: o for o in resources(bundle, "ServiceRequest")}
    assert set(orders) == {"P100", "P101"}
    glucose = orders["P100"]
    assert glucose["status"] == "completed" and glucose["intent"] == "order"
    assert glucose["code"]["coding"][0]["code"] == "2345-7"
    assert glucose["subject"] == ref(patient) and glucose["encounter"] == ref(encounter)
    assert orders["P101"]["status"] == "completed" and "code" not in orders["P101"]
    observation = one(bundle, "Observation")
    assert observation["valueQuantity"]["value"] == 5.6 and observation["status"] == "final"
    assert observation["subject"] == ref(patient)
    assert glucose["supportingInfo"] == [ref(observation)]
    # the charge is still one ChargeItem per FT1, for the orders of the message; nothing reports a result
    charge = one(bundle, "ChargeItem")
    assert charge["code"]["coding"][0]["code"] == "71045"
    assert charge["supportingInformation"] == [ref(glucose), ref(orders["P101"])]
    assert resources(bundle, "DiagnosticReport") == []


def test_dft_p11_a_charge_names_its_own_order_and_the_message_orders(converter):
    common = ("ORC|RE|P100^HIS||||CM", "OBR|1|P100^HIS||2345-7^Glucose^LN")
    # the FT1's own order (FINANCIAL_COMMON_ORDER after the FT1), then a second FT1 without one
    own = ("ORC|RE|P102^HIS||||CM", "OBR|1|P102^HIS||24317-0^Hemogram^LN")
    second = FT1.replace("FT1|1|T-100|", "FT1|2|T-101|")
    bundle = convert(converter, message("DFT", "P11", "DFT_P11", PV1, *common, FT1, *own, second))
    orders = {o["identifier"][0]["value"]: o for o in resources(bundle, "ServiceRequest")}
    charges = {c["identifier"][0]["value"]: c for c in resources(bundle, "ChargeItem")}
    assert charges["T-100"]["supportingInformation"] == [ref(orders["P102"]), ref(orders["P100"])]
    assert charges["T-101"]["supportingInformation"] == [ref(orders["P100"])]


def test_a_payment_credit_or_adjustment_line_is_no_charge(converter):
    # FT1-6 transaction type (HL7 table 0017): CG charge is a ChargeItem; PY payment, CO co-payment, AJ adjustment
    # and CD credit are money on the account, not a provision that is charged: no ChargeItem (mappings/README.md)
    lines = [
        FT1,
        "FT1|2|T-101||20260316||PY|CASH^现金|||1|-120&RMB",
        "FT1|3|T-102||20260316||CO|COPAY^自付|||1|-20&RMB",
        "FT1|4|T-103||20260316||AJ|DISC^减免|||1|-10&RMB",
        "FT1|5|T-104||20260316||cd|REFUND^退费|||1|-5&RMB",
    ]
    bundle = convert(converter, message("DFT", "P03", "DFT_P03", PV1, *lines))
    charge = one(bundle, "ChargeItem")
    assert charge["identifier"][0]["value"] == "T-100" and charge["status"] == "billable"
    # a message that posts only a payment is still converted: the account and the visit, no charge
    paid = convert(converter, message("DFT", "P03", "DFT_P03", PV1, lines[1]))
    assert resources(paid, "ChargeItem") == []
    assert one(paid, "Account") and one(paid, "Encounter")


@pytest.mark.parametrize(("structure", "event"), [("DFT_P03", "P03"), ("DFT_P11", "P11")])
def test_a_line_that_is_no_charge_is_reported(converter, structure, event):
    # a refund (退费, CD) or a payment makes no ChargeItem: the operator is told which lines were not converted
    # (unmapped-segment, never the amounts); a charge line is not reported
    payment = "FT1|2|T-101||20260316||PY|CASH^现金|||1|-120&RMB"
    refund = "FT1|3|T-104||20260316||CD|REFUND^退费|||1|-5&RMB"
    lines = [FT1, payment, refund]
    bundle, report = with_report(converter, message("DFT", event, structure, PV1, *lines))
    assert [c["identifier"][0]["value"] for c in resources(bundle, "ChargeItem")] == ["T-100"]
    # (not the EVN: EVN-2 … EVN-7 are the IG's Provenance, which the hub does not make; not_carried.yaml)
    assert [(e["code"], e["location"]) for e in report] == [
        ("unmapped-segment", "FT1^2"),
        ("unmapped-segment", "FT1^3"),
    ]
    assert all("FT1-6" in e["detail"] and "RMB" not in e["detail"] for e in report if e["location"].startswith("FT1"))
