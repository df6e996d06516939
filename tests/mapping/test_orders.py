"""ORM^O01, OML^O21, OMG^O19 → ServiceRequest (and Specimen, Observation, MedicationRequest), field by field.

Hand-written messages (a Shenzhen hospital, Chinese names and test names, sent in GB18030) and corpus messages.
The order's status follows the order control (ORC-1) and order status (ORC-5); the same order from the same
sender always gets the same ServiceRequest id, and the same number from another facility never collides.
"""

from __future__ import annotations

import pytest

from hub.config import Settings
from hub.errors import ConversionError
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from hub.mapping import convert_bytes

from .conftest import convert, one, ref, resources
from .order_messages import corpus_message, encoded, message, msh, obr, orc, orm, pid, pv1, segment, tq1

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ICD10 = "http://hl7.org/fhir/sid/icd-10"


def plac(value: str, system: str) -> dict:
    return {
        "type": {"coding": [{"system": V2_0203, "code": "PLAC", "display": "Placer Identifier"}]},
        "system": system,
        "value": value,
    }


def fill(value: str, system: str) -> dict:
    return {
        "type": {"coding": [{"system": V2_0203, "code": "FILL", "display": "Filler Identifier"}]},
        "system": system,
        "value": value,
    }


def service_request(converter, text: str) -> dict:
    return one(convert(converter, text), "ServiceRequest")


@pytest.fixture(scope="module")
def lab_order(tmp_path_factory):
    """A laboratory order with its specimen and an answer given at order entry, as GB18030 bytes."""
    text = orm(
        orc(),
        tq1(),
        obr(),
        "NTE|1||空腹采血",
        "DG1|1||I20.0^不稳定型心绞痛^I10|不稳定型心绞痛||A",
        # an order-entry question: body weight
        "OBX|1|NM|29463-7^体重^LN||70|kg|||||F",
        # SPM-2 placer specimen id (S100, issued by HIS), SPM-4 specimen type
        "SPM|1|S100&HIS||BLD^全血^HL70487",
        charset="GB18030",
    )
    settings = Settings(data_dir=tmp_path_factory.mktemp("orders"))
    bundle = convert_bytes(encoded(text), settings)
    assert validate_bundle(bundle, models=True) == []
    return bundle


def test_a_laboratory_order_in_gb18030_field_by_field(lab_order):
    request = one(lab_order, "ServiceRequest")
    # ORC-2/ORC-3 with their issuers (a number without issuer would be the sending application's)
    assert request["identifier"] == [plac("P100", "urn:hub:id:HIS"), fill("F200", "urn:hub:id:LIS")]
    assert request["requisition"] == {
        "type": {"coding": [{"system": V2_0203, "code": "PGN", "display": "Placer Group Number"}]},
        "system": "urn:hub:id:HIS",
        "value": "G10",
    }
    assert request["status"] == "active"  # ORC-1 NW
    assert request["intent"] == "order"
    assert request["priority"] == "stat"  # TQ1-9 S
    assert request["category"] == [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "HM", "display": "Hematology"}]}
    ]
    assert request["code"] == {
        "coding": [{"system": "http://loinc.org", "code": "58410-2", "display": "血常规"}],
        "text": "血常规",
    }
    assert request["subject"] == ref(one(lab_order, "Patient"))
    assert request["encounter"] == ref(one(lab_order, "Encounter"))
    assert request["occurrencePeriod"] == {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-15T10:00:00+08:00"}
    assert request["authoredOn"] == "2026-03-15T08:30:00+08:00"  # ORC-9 of the new order
    assert request["requester"] == {"identifier": {"system": "urn:hub:id:SZRMYY", "value": "D001"}, "display": "王伟"}
    # OBR-31 reason for study, then the order's diagnoses (DG1)
    assert request["reasonCode"] == [
        {"coding": [{"system": ICD10, "code": "R07.4", "display": "胸痛"}], "text": "胸痛"},
        {"coding": [{"system": ICD10, "code": "I20.0", "display": "不稳定型心绞痛"}], "text": "不稳定型心绞痛"},
    ]
    assert request["note"] == [{"text": "空腹采血"}]
    assert request["specimen"] == [ref(one(lab_order, "Specimen"))]
    assert request["supportingInfo"] == [ref(one(lab_order, "Observation"))]


def test_the_order_s_specimen_and_order_entry_answer(lab_order):
    specimen = one(lab_order, "Specimen")
    assert specimen["identifier"] == [plac("S100", "urn:hub:id:HIS")]
    assert specimen["type"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0487",
        "code": "BLD",
        "display": "全血",
    }
    assert specimen["subject"] == ref(one(lab_order, "Patient"))
    weight = one(lab_order, "Observation")
    assert weight["code"]["coding"][0]["code"] == "29463-7"
    assert weight["valueQuantity"] == {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
    assert weight["specimen"] == ref(specimen)


def test_the_same_order_from_the_same_sender_has_the_same_id(converter):
    first = service_request(converter, orm(control="A1"))
    again = service_request(converter, orm(control="A2"))
    assert again["id"] == first["id"]
    # the filler's number added later, the order changed (XO): still the same order
    changed = service_request(converter, orm(orc(f1="XO", f3=""), obr(f3=""), control="A3"))
    assert changed["id"] == first["id"]
    assert changed["status"] == "active"
    assert "authoredOn" not in changed  # ORC-9 of a change is not when the order was written


def test_the_same_number_from_another_facility_is_another_order(converter):
    here = service_request(converter, orm())
    there = service_request(converter, orm(facility="BJXHYY"))
    assert there["id"] != here["id"]
    # another issuer of the same number at the same facility: another order too
    other_issuer = service_request(converter, orm(orc(f2="P100^EMR"), tq1(), obr(f2="P100^EMR")))
    assert other_issuer["id"] != here["id"]


@pytest.mark.parametrize(
    ("control", "status"),
    [
        ("CA", "revoked"),  # the placer cancels
        ("OC", "revoked"),  # the filler cancelled
        ("CR", "revoked"),  # cancelled as requested
        ("DC", "revoked"),  # discontinued
        ("HD", "on-hold"),
        ("RL", "active"),  # hold released
        ("SN", "unknown"),  # send order number: says nothing about the status
    ],
)
def test_order_control_says_the_status(converter, control, status):
    request = service_request(converter, orm(orc(f1=control), tq1(), obr()))
    assert request["status"] == status
    assert request["id"] == service_request(converter, orm())["id"]


def test_order_status_when_the_control_only_announces_a_change(converter):
    # ORC-1 SC (status changed) and ORC-5 the new status
    assert service_request(converter, orm(orc(f1="SC", f5="CM"), obr()))["status"] == "completed"
    assert service_request(converter, orm(orc(f1="SC", f5="IP"), obr()))["status"] == "active"
    assert service_request(converter, orm(orc(f1="SC", f5="ER"), obr()))["status"] == "entered-in-error"
    # a cancel wins over a stale order status
    assert service_request(converter, orm(orc(f1="CA", f5="IP"), obr()))["status"] == "revoked"


def test_a_cancel_sent_as_orc_alone_revokes_the_same_order(converter):
    placed = service_request(converter, orm())
    cancelled = service_request(converter, orm(orc(f1="CA", f9="20260315110000", f16="PC^病人拒绝")))
    assert cancelled["id"] == placed["id"]
    assert cancelled["status"] == "revoked"
    assert cancelled["identifier"] == placed["identifier"]
    assert cancelled["subject"] == placed["subject"]
    assert "authoredOn" not in cancelled


def test_a_reflex_test_is_a_reflex_order(converter):
    # OBR-11 specimen action code G: generated by the laboratory
    assert service_request(converter, orm(orc(), obr(f11="G")))["intent"] == "reflex-order"


def test_priority_and_time_from_the_quantity_timing_of_older_senders(converter):
    # no TQ1: ORC-7 (TQ) start^end^priority in components 4, 5, 6
    request = service_request(converter, orm(orc(f7="^^^20260316080000^20260316090000^A"), obr()))
    assert request["priority"] == "asap"
    assert request["occurrencePeriod"] == {"start": "2026-03-16T08:00:00+08:00", "end": "2026-03-16T09:00:00+08:00"}
    # OBR-6 requested date/time when nothing else says when
    requested = service_request(converter, orm(orc(), obr(f6="20260317"), control="T2"))
    assert requested["occurrenceDateTime"] == "2026-03-17"


def test_an_order_needs_its_patient(converter):
    text = message(msh("ORM", "O01", "ORM_O01", "NP1"), orc(), obr())
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(text))
    assert caught.value.location == "OBR^1"


def test_a_diet_order_is_a_service_request_of_its_diet(converter):
    # ODS-1 type (D diet), ODS-3 the diet, ODS-4 text instruction
    bundle = convert(converter, orm(orc(), "ODS|D||LSD^低盐饮食^L|每日食盐少于5克"))
    request = one(bundle, "ServiceRequest")
    assert request["code"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "LSD", "display": "低盐饮食"}],
        "text": "低盐饮食",
    }
    assert request["note"] == [{"text": "每日食盐少于5克"}]
    assert request["status"] == "active"


def test_a_pharmacy_order_in_orm_is_the_original_medication_request(converter):
    # RXO-1 requested give code, RXO-2 amount, RXO-4 units, RXO-5 dosage form, RXO-9 substitutions,
    # RXO-11/12 dispense amount and units, RXO-13 refills; RXR route
    rxo = "RXO|H0001^阿莫西林胶囊^L|500||mg|CAP^胶囊^L||||G||24|粒|2"
    bundle = convert(converter, orm(orc(f3=""), tq1(f3="TID", f9="R"), rxo, "RXR|PO^口服^HL70162"))
    request = one(bundle, "MedicationRequest")
    medication = one(bundle, "Medication")
    assert request["intent"] == "original-order"
    assert request["status"] == "active"
    assert request["medicationReference"] == ref(medication)
    assert request["identifier"] == [plac("P100", "urn:hub:id:HIS")]
    (dosage,) = request["dosageInstruction"]
    assert dosage["timing"]["repeat"] == {
        "frequency": 3,
        "period": 1,
        "periodUnit": "d",
        "boundsPeriod": {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-15T10:00:00+08:00"},
    }
    assert dosage["route"]["coding"][0]["code"] == "PO"
    assert dosage["doseAndRate"][0]["doseQuantity"] == {
        "value": 500,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert request["dispenseRequest"] == {
        # no ORC-15 and no TQ in ORC-7: valid from the start to the end of the order's timing (TQ1-7/8)
        "validityPeriod": {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-15T10:00:00+08:00"},
        "numberOfRepeatsAllowed": 2,
        "quantity": {"value": 24, "unit": "粒"},
    }
    assert request["substitution"]["allowedCodeableConcept"]["coding"][0]["code"] == "G"
    assert medication["code"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "H0001", "display": "阿莫西林胶囊"}],
        "text": "阿莫西林胶囊",
    }
    assert medication["form"]["text"] == "胶囊"
    assert resources(bundle, "ServiceRequest") == []


def test_oml_with_specimen_container_and_an_order_without_orc(converter):
    text = message(
        msh("OML", "O21", "OML_O21", "OML1"),
        pid(),
        pv1(),
        orc(),
        obr(),
        # SPM-2 placer^filler specimen ids, SPM-4 type, SPM-17 collected
        "SPM|1|S100&HIS^S900&LIS||SER^血清^HL70487|||||||||||||20260315084500",
        # SAC-3 container id, SAC-21 volume, SAC-24 units
        segment("SAC", {3: "C100^HIS", 21: "5", 24: "mL"}),
        # a second OBR with no ORC of its own (senders leave it out): an order of its own, under the ORC before it
        obr(f1="2", f2="P101^HIS", f3="", f4="2345-7^葡萄糖^LN"),
    )
    bundle = convert(converter, text)
    first, second = resources(bundle, "ServiceRequest")
    specimen = one(bundle, "Specimen")
    assert first["specimen"] == [ref(specimen)]
    assert specimen["container"] == [
        {
            "identifier": [{"system": "urn:hub:id:HIS", "value": "C100"}],
            "capacity": {"value": 5, "unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"},
        }
    ]
    assert specimen["collection"]["collectedDateTime"] == "2026-03-15T08:45:00+08:00"
    # its own number, beside the ORC's numbers (the common order it was placed under: OML_O21 in mappings/README.md)
    assert plac("P101", "urn:hub:id:HIS") in second["identifier"]
    assert second["id"] != first["id"]
    assert second["code"]["text"] == "葡萄糖"
    assert second["status"] == "active"  # the ORC's order control NW
    assert "specimen" not in second


def test_corpus_orm_laboratory_order(converter):
    bundle = converter.convert(corpus_message("LAB-ORM-1.hl7"))
    request = one(bundle, "ServiceRequest")
    assert request["identifier"] == [
        plac("88502218", "urn:hub:id:SomeSystem"),  # no issuer: the sending application's number
        fill("82503246", "urn:hub:id:SomeSystem"),
    ]
    assert request["status"] == "active"
    assert request["code"]["coding"] == [
        {"system": "http://loinc.org", "code": "24317-0", "display": "Hemogram and platelet count, automated"}
    ]
    assert request["category"][0]["coding"][0]["code"] == "HM"
    assert request["occurrenceDateTime"] == "2014-10-06T06:44:00+08:00"  # OBR-6
    assert request["authoredOn"] == "2014-10-06T09:29:00+08:00"  # ORC-9
    assert request["requester"] == {"display": "DR URO"}  # OBR-16 (ORC-12 empty)


def test_corpus_orm_that_is_oml_in_disguise(converter):
    # OML-O21-02.hl7 says ORM^O01^ORM_O01 in MSH-9 (the file name is misleading): converted as ORM, with the
    # specimens OML would have
    message = corpus_message("OML-O21-02.hl7")
    assert converter.structure_of(message)[2] == "ORM_O01"
    bundle = converter.convert(message)
    requests = resources(bundle, "ServiceRequest")
    assert len(requests) == 2
    assert len(resources(bundle, "Specimen")) == 2
    for request in requests:
        assert len(request["specimen"]) == 1


def test_corpus_omg_prior_results_are_not_orders(converter):
    # OMG-O19-02.hl7: three orders, then two prior results (PV1 AL1 ORC OBR …) that are not orders of this message
    bundle = converter.convert(corpus_message("OMG-O19-02.hl7"))
    requests = resources(bundle, "ServiceRequest")
    assert len(requests) == 3
    assert {r["status"] for r in requests} == {"completed"}  # ORC-5 CM
    # orders with only a placer group number are told apart by the group and the test
    assert len({r["id"] for r in requests}) == 3
    assert len(resources(bundle, "Specimen")) == 3


def test_corpus_oml_without_orc(converter):
    # "…Walmart^LORC|NW|ORD723222…": this message's ORC is glued to its GT1 (a letter before "ORC" could be the end
    # of a word, so it is not taken for glue): the OBR is an order of unknown status (DIFFERENCES R13)
    bundle = converter.convert(corpus_message("MDHHS-OML-O21-1.hl7"))
    request = one(bundle, "ServiceRequest")
    assert request["status"] == "unknown"
    assert request["specimen"] == [ref(one(bundle, "Specimen"))]


def test_an_oml_order_without_orc(converter):
    text = message(
        msh("OML", "O21", "OML_O21", "OML3"), pid(), pv1(), obr(), "SPM|1|S100&HIS^S900&LIS||SER^血清^HL70487"
    )
    bundle = convert(converter, text)
    request = one(bundle, "ServiceRequest")
    assert request["status"] == "unknown"
    assert request["specimen"] == [ref(one(bundle, "Specimen"))]


@pytest.mark.parametrize(("code", "event"), [("OML", "O21"), ("OMG", "O19")])
def test_an_observation_of_the_specimen_s_container_is_the_specimen_s(converter, code, event):
    text = message(
        msh(code, event, f"{code}_{event}", "OML2"),
        pid(),
        pv1(),
        orc(),
        obr(),
        "SPM|1|S100&HIS^S900&LIS||SER^血清^HL70487",
        # an observation of the specimen itself, then the container's (CONTAINER_OBSERVATION: OBX after SAC)
        "OBX|1|ST|8251-1^外观^LN||溶血||||||F",
        segment("SAC", {3: "C100^HIS"}),
        "OBX|1|NM|3137-7^容器温度^LN||4|Cel^Cel^UCUM|||||F",
    )
    bundle = convert(converter, text)
    specimen = one(bundle, "Specimen")
    appearance, temperature = resources(bundle, "Observation")
    assert appearance["valueString"] == "溶血"
    assert temperature["valueQuantity"]["value"] == 4
    assert temperature["specimen"] == appearance["specimen"] == ref(specimen)
    assert temperature["subject"] == ref(one(bundle, "Patient"))


def test_the_order_s_specimen_is_its_result_s_specimen(converter):
    # The HIS draws the specimen and numbers it (SPM-2.1, the placer's id) when it orders; the laboratory's result
    # names it by that number and its own (SPM-2.2): one specimen, one Specimen, as the order and the result name
    # one ServiceRequest by its placer number
    ordered = orm(orc(f3=""), obr(f3=""), "SPM|1|S100&HIS||BLD^全血^HL70487|||||||||||||20260315090000")
    resulted = message(
        msh("ORU", "R01", "ORU_R01", "LIS1"),
        pid(),
        pv1(),
        orc(f1="RE", f5="CM"),
        obr(f22="20260315113000", f25="F"),
        "OBX|1|NM|6690-2^白细胞计数^LN||6.1|10*9/L|||||F",
        "SPM|1|S100&HIS^L500&LIS||BLD^全血^HL70487|||||||||||||20260315090000",
    )
    order_bundle, result_bundle = convert(converter, ordered), convert(converter, resulted)
    specimen = one(order_bundle, "Specimen")
    assert one(result_bundle, "Specimen")["id"] == specimen["id"]
    assert one(order_bundle, "ServiceRequest")["specimen"] == [ref(specimen)]
    assert one(result_bundle, "DiagnosticReport")["specimen"] == [ref(specimen)]
    # the laboratory's later message names the specimen the same way: the same Specimen again
    assert one(convert(converter, resulted.replace("|F\r", "|C\r")), "Specimen")["id"] == specimen["id"]


def test_an_orm_s_later_obr_with_its_own_number_is_that_order(converter):
    # ORM^O01 with one ORC and two OBR (outside the grammar, as in OML^O21, test_oml_orders_under_one_orc.py):
    # the second test, its own placer number P101, is the order a later message names by P101 — its status change
    # (ORC and OBR of its own) or its cancel (ORC alone) — not a second copy of the ORC's order P100
    placed = orm(orc(f3=""), obr(f3=""), obr(f1="2", f2="P101^HIS", f3="", f4="2345-7^葡萄糖^LN"))
    requests = {r["code"]["coding"][0]["code"]: r for r in resources(convert(converter, placed), "ServiceRequest")}
    glucose = requests["2345-7"]
    changed = orm(orc(f1="SC", f2="P101^HIS", f3="", f5="IP"), obr(f2="P101^HIS", f3="", f4="2345-7^葡萄糖^LN"))
    assert one(convert(converter, changed), "ServiceRequest")["id"] == glucose["id"]
    assert one(convert(converter, orm(orc(f1="CA", f2="P101^HIS", f3=""))), "ServiceRequest")["id"] == glucose["id"]
    assert [i["value"] for i in glucose["identifier"]] == ["P101"]
    # the first is the ORC's own order (P100 in both), keyed as a single order is
    cancel = orm(orc(f1="CA", f3=""))
    assert one(convert(converter, cancel), "ServiceRequest")["id"] == requests["58410-2"]["id"]
