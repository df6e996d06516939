"""Result, order and specimen fields the HL7 v2-to-FHIR IG maps that a lab sends and the hub used to drop.

Found by sweeping public lab messages (ELR, LIS, OML samples) the corpus does not hold; each expectation is the
IG row's (OBX[Observation], SPM[Specimen], OBR/ORC[ServiceRequest]) and the v2 tables it names (0080, 0936, 0203).
"""

from __future__ import annotations

from .conftest import convert, one, ref, resources, with_report
from .order_messages import message, msh, obr, orc, pid, segment
from .test_unmapped_fields import fields_of

MSH = "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||{type}|IG{n}|P|2.5.1"
PID = "PID|1||MRN0101^^^SZRMYY^MR||王^五||19800101|M"
OBR = "OBR|1|P300^HIS|F300^LIS|24323-8^CMP^LN|||20260315080000|||||||||||||||20260315091500||CH|F"


def oru(*segments: str, n: int = 1) -> str:
    return "\r".join([MSH.format(type="ORU^R01^ORU_R01", n=n), PID, OBR, *segments]) + "\r"


def observation(bundle, code):
    (found,) = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == code]
    return found


NATURE = "http://hl7.org/fhir/StructureDefinition/observation-nature-of-abnormal-test"


def test_the_nature_of_the_abnormal_test_is_an_extension_per_repetition(converter):
    # OBX-10 (table 0080, repeats): IG OBX[Observation] row 10, the extension observation-nature-of-abnormal-test;
    # the reference range of a haemoglobin is sex- and age-based (S~A)
    text = oru("OBX|1|NM|HGB^血红蛋白^L||128|g/L|115-150|N||S~A|F")
    bundle, report = with_report(converter, text)
    natures = [e for e in observation(bundle, "HGB").get("extension", []) if e["url"] == NATURE]
    assert natures == [
        {
            "url": NATURE,
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0080",
                        "code": "S",
                        "display": "A sex-based population",
                    }
                ]
            },
        },
        {
            "url": NATURE,
            "valueCodeableConcept": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0080",
                        "code": "A",
                        "display": "An age-based population",
                    }
                ]
            },
        },
    ]
    assert "OBX-10" not in fields_of(report)


def test_a_nature_outside_table_0080_is_kept_as_the_sender_s_text(converter):
    bundle = convert(converter, oru("OBX|1|NM|HGB^血红蛋白^L||128|g/L|115-150|N||本院|F"))
    (nature,) = [e for e in observation(bundle, "HGB")["extension"] if e["url"] == NATURE]
    assert nature["valueCodeableConcept"] == {"text": "本院"}


def test_the_observation_type_is_a_category(converter):
    # OBX-29 (v2.8+, table 0936: QST, RSLT, SCI): IG OBX[Observation] row 29, Observation.category; an
    # ask-at-order-entry answer of an order (QST) beside the category of the report's section (OBR-24)
    text = oru("OBX|1|ST|FAST^空腹^L||是||||||F||||||||||||||||||QST")
    bundle, report = with_report(converter, text)
    assert observation(bundle, "FAST")["category"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "laboratory",
                    "display": "Laboratory",
                },
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "CH"},
            ]
        },
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0936", "code": "QST", "display": "Question"}]},
    ]
    assert "OBX-29" not in fields_of(report)


def test_the_shipment_id_is_an_identifier_of_the_specimen(converter):
    # SPM-32 shipment id (EI): IG SPM[Specimen] row 32, an identifier of type STN (table 0203)
    text = oru(
        "OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|3.9-6.1||||F",
        "SPM|1|S300^HIS||BLD^全血^HL70487|||||||||||||20260315080000" + "|" * 15 + "SHIP-77^LIS",
    )
    bundle, report = with_report(converter, text)
    identifiers = one(bundle, "Specimen")["identifier"]
    assert {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "STN"}]},
        "system": "urn:hub:id:LIS",
        "value": "SHIP-77",
    } in identifiers
    assert "SPM-32" not in fields_of(report)


CALLBACK = "http://hl7.org/fhir/StructureDefinition/servicerequest-order-callback-phone-number"


def oml(order_control: str, obr_callback: str) -> str:
    return message(
        msh("OML", "O21", "OML_O21", "CB1"),
        pid(),
        orc(f14=order_control),
        obr(f17=obr_callback),
    )


def callbacks(bundle):
    return [e for e in one(bundle, "ServiceRequest").get("extension", []) if e["url"] == CALLBACK]


def test_the_order_callback_phone_number_is_the_obr_s(converter):
    # OBR-17 order callback phone number (XTN, up to two): IG OBR[ServiceRequest] row 17, the extension
    # servicerequest-order-callback-phone-number; ORC-14 only when OBR-17 is empty (IG ORC[ServiceRequest] row 14)
    bundle, report = with_report(converter, oml("0755-11112222^WPN^PH", "0755-88885678^WPN^PH~13800138000^PRN^CP"))
    assert callbacks(bundle) == [
        {"url": CALLBACK, "valueContactPoint": {"system": "phone", "value": "0755-88885678", "use": "work"}},
        {"url": CALLBACK, "valueContactPoint": {"system": "phone", "value": "13800138000", "use": "home"}},
    ]
    assert {"OBR-17", "ORC-14"}.isdisjoint(fields_of(report))


def test_without_one_in_the_obr_the_order_callback_phone_number_is_the_orc_s(converter):
    bundle = convert(converter, oml("0755-11112222^WPN^PH", ""))
    assert callbacks(bundle) == [
        {"url": CALLBACK, "valueContactPoint": {"system": "phone", "value": "0755-11112222", "use": "work"}}
    ]


def test_an_oul_r21_order_names_its_specimen_in_obr_15(converter):
    # OUL^R21 is a v2.4 message (SPM came with v2.5; Chinese LIS send it so): the order's specimen is OBR-15's
    # (SPS: SER&血清), one Specimen its report and results refer to, as in ORU_R01 (IG ORU_R01 row 4.2.2,
    # OBR[Specimen])
    text = message(
        "MSH|^~\\&|LIS|SZRMYY|HIS|SZRMYY|20260315093000||OUL^R21|R21A|P|2.4",
        pid(),
        segment(
            "OBR",
            {
                1: "1",
                2: "P500",
                3: "F500",
                4: "ELEC^电解质^L",
                7: "20260315080000",
                14: "20260315081500",
                15: "SER&血清",
                22: "20260315091500",
                25: "F",
            },
        ),
        "OBX|1|NM|K^钾^L||3.98|mmol/L|3.50-5.30||||F",
    )
    bundle, report = with_report(converter, text)
    specimen = one(bundle, "Specimen")
    assert specimen["type"]["coding"][0]["code"] == "SER"
    assert specimen["receivedTime"] == "2026-03-15T08:15:00+08:00"
    assert one(bundle, "DiagnosticReport")["specimen"] == [ref(specimen)]
    assert one(bundle, "Observation")["specimen"] == ref(specimen)
    assert "OBR-15" not in fields_of(report)


def test_the_order_type_is_the_location_code_of_the_order(converter):
    # ORC-29 order type (table 0482: I inpatient, O outpatient order): IG ORC[ServiceRequest] row 29,
    # ServiceRequest.locationCode
    bundle, report = with_report(
        converter, message(msh("OML", "O21", "OML_O21", "OT1"), pid(), orc(f29="O^Outpatient order^HL70482"), obr())
    )
    (location,) = one(bundle, "ServiceRequest")["locationCode"]
    assert location["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0482",
        "code": "O",
        "display": "Outpatient Order",
    }
    assert "ORC-29" not in fields_of(report)
    # a bare code of the table, as most senders send it, is the table's
    bundle = convert(converter, message(msh("OML", "O21", "OML_O21", "OT2"), pid(), orc(f29="I"), obr()))
    assert one(bundle, "ServiceRequest")["locationCode"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0482",
        "code": "I",
        "display": "Inpatient Order",
    }
