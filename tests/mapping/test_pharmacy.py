"""RDE^O11/O25/O01 and RDS^O13 → MedicationRequest, Medication, MedicationDispense, field by field.

A Chinese outpatient prescription sent in GB18030 (drug names, route and frequency in Chinese), a compounded
infusion, a v2.3 order with its timing in RXE-1, the dispense of a prescription, and the corpus messages.
"""

from __future__ import annotations

import pytest

from hub.config import Settings
from hub.fhir.validation import validate_bundle
from hub.mapping import convert_bytes
from hub.mapping.builtins import repeat_pattern

from .conftest import convert, one, ref, resources
from .order_messages import HOSPITAL, corpus_message, encoded, message, msh, orc, pid, pv1, segment

UCUM = "http://unitsofmeasure.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ROUTE_V3 = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"


def rxe(**fields: str) -> str:
    # RXE-2 give code (a hospital drug code, Chinese name), RXE-3 give amount, RXE-5 units, RXE-6 dosage form,
    # RXE-7 administration instructions, RXE-9 substitution (N: none), RXE-10/11 dispense amount and units,
    # RXE-12 refills, RXE-15 prescription number, RXE-19 total daily dose, RXE-25/26 give strength,
    # RXE-27 indication, RXE-32 original order time, RXE-40 dispensing pharmacy
    base = {
        2: "X0001^阿莫西林胶囊^L",
        3: "0.5",
        5: "g",
        6: "CAP^胶囊^L",
        7: "^饭后服用",
        9: "N",
        10: "24",
        11: "粒^粒",
        12: "2",
        15: "RX2026-0001",
        19: "1.5^g",
        25: "0.25",
        26: "g",
        27: "J02.9^急性咽炎^I10",
        32: "20260315083000",
        40: "PH01^门诊西药房^L",
    }
    return segment("RXE", base, **fields)


def tq1(**fields: str) -> str:
    # TQ1-3 repeat pattern, TQ1-7/8 start and end, TQ1-9 priority (R routine)
    return segment("TQ1", {1: "1", 3: "TID", 7: "20260315090000", 8: "20260322090000", 9: "R"}, **fields)


ROUTE = "RXR|PO^口服^HL70162"


def rde(*order: str, event: str = "O11", charset: str = "", control: str = "RX1", facility: str = HOSPITAL) -> str:
    body = order or (orc(f2="RX100^HIS", f3=""), rxe(), tq1(), ROUTE)
    return message(msh("RDE", event, f"RDE_{event}", control, facility=facility, charset=charset), pid(), pv1(), *body)


def rxd(**fields: str) -> str:
    # RXD-1 dispense sub-ID (1: the first fill), RXD-2 what was dispensed, RXD-3 when, RXD-4/5 amount and units,
    # RXD-6 form, RXD-7 prescription number, RXD-9 notes, RXD-10 dispensing pharmacist, RXD-11 substitution
    # status, RXD-16/17 actual strength, RXD-18 lot, RXD-19 expiry, RXD-20 manufacturer
    base = {
        1: "1",
        2: "X0001^阿莫西林胶囊^L",
        3: "20260315100000",
        4: "24",
        5: "粒^粒",
        6: "CAP^胶囊^L",
        7: "RX2026-0001",
        9: "请饭后服用",
        10: "P001^陈^静",
        11: "G",
        16: "0.25",
        17: "g",
        18: "B2026031",
        19: "20280131",
        20: "XYZ^华南制药^L",
    }
    return segment("RXD", base, **fields)


def rds(*order: str) -> str:
    # the order's timing (TQ1 after ORC), the encoded order with its own, the dispense with its route
    body = order or (orc(f1="RE", f2="RX100^HIS", f3=""), tq1(), rxe(), tq1(), ROUTE, rxd(), ROUTE)
    return message(msh("RDS", "O13", "RDS_O13", "DS1"), pid(), pv1(), *body)


@pytest.fixture(scope="module")
def prescription(tmp_path_factory):
    """The outpatient prescription as the hospital sends it: GB18030 bytes, MSH-18 says so."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("pharmacy"))
    bundle = convert_bytes(encoded(rde(charset="GB18030")), settings)
    assert validate_bundle(bundle, models=True) == []
    return bundle


def test_an_outpatient_prescription_in_gb18030_field_by_field(prescription):
    request = one(prescription, "MedicationRequest")
    assert request["identifier"] == [
        {
            "type": {"coding": [{"system": V2_0203, "code": "PLAC", "display": "Placer Identifier"}]},
            "system": "urn:hub:id:HIS",
            "value": "RX100",
        },
        # RXE-15 without its issuer: the sending facility's (MSH-4), as a placer's number
        {"system": "urn:hub:id:SZRMYY", "value": "RX2026-0001"},
    ]
    assert request["status"] == "active"
    assert request["intent"] == "order"
    # PV1-2 O: an outpatient prescription, the patient class kept beside it
    assert request["category"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                    "code": "outpatient",
                    "display": "Outpatient",
                },
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0004", "code": "O"},
            ]
        }
    ]
    assert request["priority"] == "routine"
    assert request["medicationReference"] == ref(one(prescription, "Medication"))
    assert request["subject"] == ref(one(prescription, "Patient"))
    assert request["encounter"] == ref(one(prescription, "Encounter"))
    assert request["authoredOn"] == "2026-03-15T08:30:00+08:00"
    assert request["requester"]["display"] == "王伟"
    assert request["recorder"]["display"] == "李娜"
    assert request["reasonCode"] == [
        {
            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J02.9", "display": "急性咽炎"}],
            "text": "急性咽炎",
        }
    ]


def test_the_dosage_instruction(prescription):
    (dosage,) = one(prescription, "MedicationRequest")["dosageInstruction"]
    assert dosage["sequence"] == 1
    assert dosage["text"] == "饭后服用"
    assert dosage["timing"] == {
        "code": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "TID", "display": "TID"},
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0335", "code": "TID"},
            ]
        },
        "repeat": {
            "frequency": 3,
            "period": 1,
            "periodUnit": "d",
            "boundsPeriod": {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-22T09:00:00+08:00"},
        },
    }
    # RXR-1: the v3 route first, the sender's v2 coding (with its Chinese name) after it
    assert dosage["route"] == {
        "coding": [
            {"system": ROUTE_V3, "code": "PO", "display": "Swallow, oral"},
            {"system": "http://terminology.hl7.org/CodeSystem/v2-0162", "code": "PO", "display": "口服"},
        ],
        "text": "口服",
    }
    assert dosage["doseAndRate"] == [
        {
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/dose-rate-type",
                        "code": "ordered",
                        "display": "Ordered",
                    }
                ]
            },
            "doseQuantity": {"value": 0.5, "unit": "g", "system": UCUM, "code": "g"},
        }
    ]
    # RXE-19 total daily dose: at most 1.5 g a day
    assert dosage["maxDosePerPeriod"] == {
        "numerator": {"value": 1.5, "unit": "g", "system": UCUM, "code": "g"},
        "denominator": {"value": 1, "unit": "day", "system": UCUM, "code": "d"},
    }


def test_the_dispense_request_and_substitution(prescription):
    request = one(prescription, "MedicationRequest")
    assert request["dispenseRequest"] == {
        # no ORC-15 and no TQ of RXE-1/ORC-7: the prescription is valid from the start to the end of its timing
        # (TQ1-7/8), as the RXO order it encodes (MedicationRequestRXO)
        "validityPeriod": {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-22T09:00:00+08:00"},
        "numberOfRepeatsAllowed": 2,
        "quantity": {"value": 24, "unit": "粒"},
        "performer": {"display": "门诊西药房"},
    }
    assert request["substitution"] == {
        "allowedCodeableConcept": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-substanceAdminSubstitution",
                    "code": "N",
                    "display": "none",
                },
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0161", "code": "N"},
            ]
        }
    }


def test_the_medication_with_its_strength(prescription):
    medication = one(prescription, "Medication")
    amoxicillin = {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "X0001", "display": "阿莫西林胶囊"}],
        "text": "阿莫西林胶囊",
    }
    assert medication["code"] == amoxicillin
    assert medication["form"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "CAP", "display": "胶囊"}],
        "text": "胶囊",
    }
    assert medication["status"] == "active"
    assert medication["ingredient"] == [
        {
            "itemCodeableConcept": amoxicillin,
            "isActive": True,
            "strength": {
                "numerator": {"value": 0.25, "unit": "g", "system": UCUM, "code": "g"},
                "denominator": {"value": 1},
            },
        }
    ]


def test_a_chinese_frequency_and_route(converter):
    bundle = convert(converter, rde(orc(f2="RX101^HIS"), rxe(), tq1(f3="每8小时一次"), "RXR|静滴"))
    (dosage,) = one(bundle, "MedicationRequest")["dosageInstruction"]
    assert dosage["timing"]["code"]["coding"][0]["code"] == "Q8H"
    assert dosage["timing"]["repeat"]["frequency"] == 1
    assert (dosage["timing"]["repeat"]["period"], dosage["timing"]["repeat"]["periodUnit"]) == (8, "h")
    # a route the sender wrote in Chinese only: translated, kept as sent (not a v2 code, so no system)
    assert dosage["route"]["coding"] == [
        {"system": ROUTE_V3, "code": "IVINJ", "display": "Injection, intravenous"},
        {"code": "静滴"},
    ]


def test_as_needed_and_explicit_times(converter):
    bundle = convert(converter, rde(orc(f2="RX102^HIS"), rxe(), tq1(f3="QD", f4="0800~2000", f9="PRN"), ROUTE))
    (dosage,) = one(bundle, "MedicationRequest")["dosageInstruction"]
    assert dosage["asNeededBoolean"] is True
    assert dosage["timing"]["repeat"]["timeOfDay"] == ["08:00:00", "20:00:00"]
    assert "priority" not in one(bundle, "MedicationRequest")  # PRN is not a priority


@pytest.mark.parametrize(
    ("control", "status"),
    [
        ("DC", "stopped"),
        ("OD", "stopped"),
        ("CA", "cancelled"),
        ("OC", "cancelled"),
        ("HD", "on-hold"),
        ("XO", "active"),
    ],
)
def test_order_control_says_the_status(converter, control, status):
    placed = one(convert(converter, rde()), "MedicationRequest")
    changed = one(
        convert(converter, rde(orc(f1=control, f2="RX100^HIS", f3="", f16="DR^医嘱停止"), rxe(), ROUTE)),
        "MedicationRequest",
    )
    assert changed["id"] == placed["id"]
    assert changed["status"] == status
    assert changed["statusReason"] == {"coding": [{"code": "DR", "display": "医嘱停止"}], "text": "医嘱停止"}


def test_order_status_of_a_status_message(converter):
    text = rde(orc(f1="SC", f2="RX100^HIS", f5="CM"), rxe(), ROUTE)
    assert one(convert(converter, text), "MedicationRequest")["status"] == "completed"


def test_the_same_prescription_number_at_another_hospital_is_another_order(converter):
    here = one(convert(converter, rde()), "MedicationRequest")
    there = one(convert(converter, rde(facility="BJXHYY")), "MedicationRequest")
    assert there["id"] != here["id"]
    assert one(convert(converter, rde(control="RX9")), "MedicationRequest")["id"] == here["id"]


def test_a_compounded_infusion_lists_its_components(converter):
    order = (
        orc(f2="IV100^HIS"),
        rxe(f2="IVMIX^静脉配液^L", f3="260", f5="mL", f6="", f25="", f26=""),
        tq1(f3="QD"),
        "RXR|IV^静脉滴注^HL70162",
        # RXC-1 B base / A additive, RXC-2 component, RXC-3/4 amount, RXC-5/6 strength per RXC-8/9 volume
        "RXC|B|NS250^0.9%氯化钠注射液^L|250|mL",
        "RXC|A|KCL10^10%氯化钾注射液^L|10|mL|1|g||10|mL",
    )
    medication = one(convert(converter, rde(*order)), "Medication")
    base, additive = medication["ingredient"]
    assert base["itemCodeableConcept"]["text"] == "0.9%氯化钠注射液"
    assert base["isActive"] is False
    assert base["strength"] == {
        "numerator": {"value": 250, "unit": "mL", "system": UCUM, "code": "mL"},
        "denominator": {"value": 1},
    }
    assert additive["isActive"] is True
    assert additive["strength"] == {
        "numerator": {"value": 1, "unit": "g", "system": UCUM, "code": "g"},
        "denominator": {"value": 10, "unit": "mL", "system": UCUM, "code": "mL"},
    }


def test_a_v23_order_with_its_timing_in_rxe_1(converter):
    # RXE-1 TQ: 1 quantity, 2 interval (BID), 4 start, 5 end; no TQ1 before v2.5
    order = (orc(f2="RX200^HIS"), rxe(f1="1^BID^^20260315^20260322"), ROUTE)
    request = one(convert(converter, rde(*order, event="O01")), "MedicationRequest")
    (dosage,) = request["dosageInstruction"]
    assert dosage["timing"]["repeat"] == {
        "frequency": 2,
        "period": 1,
        "periodUnit": "d",
        "boundsPeriod": {"start": "2026-03-15", "end": "2026-03-22"},
    }
    assert dosage["timing"]["code"]["coding"][0]["code"] == "BID"
    assert request["dispenseRequest"]["validityPeriod"] == {"start": "2026-03-15", "end": "2026-03-22"}


def test_a_refill_authorization_request_is_the_same_order(converter):
    placed = one(convert(converter, rde()), "MedicationRequest")
    refill = one(convert(converter, rde(event="O25", control="RX2")), "MedicationRequest")
    assert refill["id"] == placed["id"]


@pytest.fixture(scope="module")
def dispense(converter):
    return convert(converter, rds())


def test_a_dispense_field_by_field(converter, dispense):
    given = one(dispense, "MedicationDispense")
    request = one(dispense, "MedicationRequest")
    dispensed = [
        m for m in resources(dispense, "Medication") if m["id"] != request["medicationReference"]["reference"][11:]
    ]
    (medication,) = dispensed
    assert given["identifier"] == [{"system": "urn:hub:id:SZRMYY", "value": "RX2026-0001"}]
    assert given["status"] == "completed"
    assert given["medicationReference"] == ref(medication)
    assert given["subject"] == ref(one(dispense, "Patient"))
    assert given["context"] == ref(one(dispense, "Encounter"))
    assert given["authorizingPrescription"] == [ref(request)]
    assert given["quantity"] == {"value": 24, "unit": "粒"}
    assert given["whenHandedOver"] == "2026-03-15T10:00:00+08:00"
    assert given["performer"] == [{"actor": {"identifier": {"value": "P001"}, "display": "陈静"}}]
    assert given["note"] == [{"text": "请饭后服用"}]
    (dosage,) = given["dosageInstruction"]
    assert dosage["route"]["coding"][0]["code"] == "PO"
    # the timing of the encoded order (TQ1 after RXE), its start and end included (datatype TQ1_Timing)
    assert dosage["sequence"] == 1
    assert dosage["timing"]["repeat"] == {
        "frequency": 3,
        "period": 1,
        "periodUnit": "d",
        "boundsPeriod": {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-22T09:00:00+08:00"},
    }
    assert given["substitution"] == {
        "wasSubstituted": True,
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-substanceAdminSubstitution",
                    "code": "G",
                    "display": "generic composition",
                },
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0167", "code": "G"},
            ]
        },
    }
    # the medication handed over: its batch and maker
    assert medication["batch"] == {"lotNumber": "B2026031", "expirationDate": "2028-01-31"}
    assert medication["manufacturer"] == {
        "identifier": {"system": "urn:hub:code:SZRMYY:L", "value": "XYZ"},
        "display": "华南制药",
    }
    assert medication["ingredient"][0]["strength"]["numerator"] == {
        "value": 0.25,
        "unit": "g",
        "system": UCUM,
        "code": "g",
    }


def test_the_dispense_updates_the_order_it_fills(converter, dispense):
    request = one(dispense, "MedicationRequest")
    assert request["id"] == one(convert(converter, rde()), "MedicationRequest")["id"]
    # ORC-1 RE (a dispense follows) says nothing of the order's status, but the order is in force
    assert request["status"] == "active"
    discontinued = rds(orc(f1="DC", f2="RX100^HIS", f3=""), rxe(), rxd(), ROUTE)
    assert one(convert(converter, discontinued), "MedicationRequest")["status"] == "stopped"


def test_each_fill_is_its_own_dispense(converter, dispense):
    first = one(dispense, "MedicationDispense")
    again = one(convert(converter, rds()), "MedicationDispense")
    refill = one(
        convert(converter, rds(orc(f1="RE", f2="RX100^HIS", f3=""), rxd(f1="2", f3="20260401100000"), ROUTE)),
        "MedicationDispense",
    )
    assert again["id"] == first["id"]
    assert refill["id"] != first["id"]
    # a dispense message without the encoded order names the prescription by nothing but its order number
    assert "authorizingPrescription" not in refill


@pytest.mark.parametrize(
    ("code", "repeat"),
    [
        ("Q6H", {"frequency": 1, "period": 6, "periodUnit": "h"}),
        ("q2d", {"frequency": 1, "period": 2, "periodUnit": "d"}),
        ("Q1W", {"frequency": 1, "period": 1, "periodUnit": "wk"}),
        ("QD", {"frequency": 1, "period": 1, "periodUnit": "d"}),
        ("bid", {"frequency": 2, "period": 1, "periodUnit": "d"}),
        ("QID", {"frequency": 4, "period": 1, "periodUnit": "d"}),
        ("QOD", {"frequency": 1, "period": 2, "periodUnit": "d"}),
        ("TIW", {"frequency": 3, "period": 1, "periodUnit": "wk"}),
        ("QJ135", {"dayOfWeek": ["mon", "wed", "fri"]}),
        ("QHS", {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}),
        ("ONCE", {"count": 1}),
        ("每日三次", {"frequency": 3, "period": 1, "periodUnit": "d"}),
        ("一日两次", {"frequency": 2, "period": 1, "periodUnit": "d"}),
        ("每12小时一次", {"frequency": 1, "period": 12, "periodUnit": "h"}),
        ("每2日1次", {"frequency": 1, "period": 2, "periodUnit": "d"}),
        ("隔日一次", {"frequency": 1, "period": 2, "periodUnit": "d"}),
        ("每周两次", {"frequency": 2, "period": 1, "periodUnit": "wk"}),
        ("每晚", {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["NIGHT"]}),
        # Latin abbreviations with dots; st/stat (立即: once, now); hs and 睡前 (at bedtime)
        ("b.i.d.", {"frequency": 2, "period": 1, "periodUnit": "d"}),
        ("q.8.h.", {"frequency": 1, "period": 8, "periodUnit": "h"}),
        ("st", {"count": 1}),
        ("立即", {"count": 1}),
        ("hs", {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}),
        ("睡前", {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}),
        ("每晚一次", {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["NIGHT"]}),
        ("PRN", None),
        ("Q0H", None),
        ("必要时", None),
        ("", None),
    ],
)
def test_repeat_patterns(code, repeat):
    assert repeat_pattern(code) == repeat


def test_corpus_rde_o11(converter):
    bundle = converter.convert(corpus_message("RDE-O11-01.hl7"))
    request = one(bundle, "MedicationRequest")
    assert request["status"] == "active"
    assert request["priority"] == "stat"  # TQ1-9 S of the encoded order's timing
    (dosage,) = request["dosageInstruction"]  # one TQ1 after RXE (the TQ1 after ORC is the original order's)
    assert dosage["route"]["coding"][0] == {"system": ROUTE_V3, "code": "IVINJ", "display": "Injection, intravenous"}
    assert dosage["site"]["text"] == "HAND"
    assert dosage["doseAndRate"][0]["rateQuantity"] == {"value": 23, "unit": "mL/hr"}
    # RPT without a known code, with a period: once every 180 minutes
    assert dosage["timing"]["repeat"]["period"] == 180
    assert request["dispenseRequest"]["numberOfRepeatsAllowed"] == 12
    medication = one(bundle, "Medication")
    assert medication["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/ndc",
        "code": "0143963401",
        "display": "200 ML BAG : NICARDIPINE IN NACL (ISO-OS) 40 MG/200 ML IV PGBK",
    }
    assert len(medication["ingredient"]) == 1  # the RXC after RXE (the RXO's RXC is the original order's)


def test_corpus_rde_o01(converter):
    request = one(converter.convert(corpus_message("rde_o01_ex3.hl7")), "MedicationRequest")
    assert request["identifier"][0]["value"] == "JLC201606061350"
    assert request["identifier"][0]["type"]["coding"][0]["code"] == "FILL"
    assert request["dispenseRequest"]["quantity"] == {"value": 30, "unit": "Tab"}
    assert request["dispenseRequest"]["validityPeriod"] == {
        "start": "2016-01-15T13:45:00+08:00",
        "end": "2017-01-15T13:45:00+08:00",
    }
    assert request["dosageInstruction"][0]["route"]["coding"][0]["code"] == "PO"
    assert request["dosageInstruction"][0]["text"] == "Take ONE tablet by mouth nightly when needed. Take with Water"


def test_corpus_rds_fills_the_corpus_rde_order(converter):
    # same facility, same placer number: the dispense message's order is the encoded order's next version
    rds_bundle = converter.convert(corpus_message("RDS-O13-01.hl7"))
    rde_bundle = converter.convert(corpus_message("RDE-O11-01.hl7"))
    request = one(rds_bundle, "MedicationRequest")
    assert request["id"] == one(rde_bundle, "MedicationRequest")["id"]
    given = one(rds_bundle, "MedicationDispense")
    assert given["authorizingPrescription"] == [ref(request)]
    assert given["quantity"] == {"value": 10, "unit": "Tablet"}
    assert given["type"]["coding"][0]["code"] == "R"


def test_the_orders_observations_are_observations(converter):
    # OBX after the encoded order: the patient's weight the dose was worked out from (OBX-2 NM, OBX-6 kg)
    weight = "OBX|1|NM|29463-7^Body weight^LN||62.5|kg^kg^UCUM|||||F|||20260315080000"
    for bundle in (
        convert(converter, rde(orc(f2="RX100^HIS", f3=""), rxe(), tq1(), ROUTE, weight)),
        convert(converter, rds(orc(f1="RE", f2="RX100^HIS", f3=""), rxe(), rxd(), ROUTE, weight)),
    ):
        observation = one(bundle, "Observation")
        assert observation["code"]["coding"][0] == {
            "system": "http://loinc.org",
            "code": "29463-7",
            "display": "Body weight",
        }
        assert observation["valueQuantity"] == {"value": 62.5, "unit": "kg", "system": UCUM, "code": "kg"}
        assert observation["status"] == "final"
        assert observation["subject"] == ref(one(bundle, "Patient"))
        assert observation["encounter"] == ref(one(bundle, "Encounter"))
    # without OBX there is none
    assert resources(convert(converter, rde()), "Observation") == []
