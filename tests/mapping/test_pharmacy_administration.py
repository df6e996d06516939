"""RAS^O17 (administration) → MedicationAdministration, RGV^O15 (give) → MedicationRequest (instance-order).

A ward nurse gives nifedipine twice (one dose refused) and records the blood pressure before it; the pharmacy
tells the nurses to give insulin before two meals, the first after a blood glucose.
"""

from __future__ import annotations

import pytest

from hub.config import Settings

from .conftest import convert, one, ref, resources

V2_0443 = "http://terminology.hl7.org/CodeSystem/v2-0443"
ROUTE_V3 = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"


def ras(*, rxe: bool = True, first_rxa: str = "", second_rxa: str = "") -> str:
    segments = [
        f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315093000||RAS^O17^RAS_O17|RAS0001|P|2.5.1",
        "PID|1||MRN0001^^^SZRMYY^MR||李娜||19750312|F",
        "PV1|1|I|心内科^0305^02^SZRMYY||||D005^周^建国",
        "ORC|RE|P20260315001^HIS|F77^PHARM||IP",
        *(
            [
                "RXE|^BID^^20260315080000^20260320080000|0401^硝苯地平控释片^L|30||mg|TAB^片剂^L"
                + "|" * 21
                + "I10^高血压^I10",
                "TQ1|1||BID^每日两次^L",
                "RXR|PO^口服^HL70162",
            ]
            if rxe
            else []
        ),
        # RXA-1/2 give and administration sub-ID, RXA-3/4 start and end, RXA-5 code, RXA-6/7 amount and units,
        # RXA-8 form, RXA-10 nurse, RXA-15/16/17 lot, expiry and manufacturer, RXA-20 completion status,
        # RXA-21 action code
        first_rxa
        or "RXA|1|1|20260315090500|20260315091000|0401^硝苯地平控释片^L|30|mg|TAB^片剂^L||N012^王^芳"
        "|||||B2403|20271231|BAY^拜耳^MVX|||CP|A",
        "RXR|PO^口服^HL70162",
        "OBX|1|NM|8480-6^Systolic blood pressure^LN||148|mm[Hg]^mmHg^UCUM|90-139|H|||F|||20260315090000",
        "NTE|1||服药前测量",
        # the evening dose: refused (RXA-18 reason, RXA-20 RE)
        second_rxa
        or "RXA|1|2|20260315210000||0401^硝苯地平控释片^L|30|mg|||N012^王^芳||||||||PATREF^患者拒绝服药^L||RE|A",
    ]
    return "\r".join(segments) + "\r"


def test_ras_each_administration_field_by_field(converter):
    bundle = convert(converter, ras())
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    order = one(bundle, "MedicationRequest")
    given, refused = resources(bundle, "MedicationAdministration")
    assert order["intent"] == "order" and order["status"] == "active"  # ORC-1 RE: the order is in force
    assert given["status"] == "completed"
    assert given["category"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/medication-admin-category",
        "code": "inpatient",
        "display": "Inpatient",
    }
    assert given["subject"] == ref(patient) and given["context"] == ref(encounter)
    assert given["request"] == ref(order)
    assert given["effectivePeriod"] == {"start": "2026-03-15T09:05:00+08:00", "end": "2026-03-15T09:10:00+08:00"}
    assert given["performer"] == [
        {
            "function": {"coding": [{"system": V2_0443, "code": "AP", "display": "Administering Provider"}]},
            "actor": {"identifier": {"value": "N012"}, "display": "王芳", "type": "Practitioner"},
        }
    ]
    dosage = given["dosage"]
    assert dosage["route"]["coding"][0] == {"system": ROUTE_V3, "code": "PO", "display": "Swallow, oral"}
    assert dosage["dose"]["value"] == 30 and dosage["dose"]["code"] == "mg"
    # what was given: its own Medication, with the lot
    medication = next(m for m in resources(bundle, "Medication") if given["medicationReference"] == ref(m))
    assert medication["code"]["coding"][0]["code"] == "0401"
    assert medication["batch"] == {"lotNumber": "B2403", "expirationDate": "2027-12-31"}
    assert medication["manufacturer"]["display"] == "拜耳"
    assert order["medicationReference"] != given["medicationReference"]
    # the blood pressure measured before it is part of it
    observation = one(bundle, "Observation")
    assert observation["partOf"] == [ref(given)] and observation["subject"] == ref(patient)
    assert observation["valueQuantity"]["value"] == 148
    # the refused dose: not done, with its reason, a point in time, no dose given … but the dose ordered was kept
    assert refused["status"] == "not-done"
    assert refused["statusReason"][0]["coding"][0]["code"] == "PATREF"
    assert refused["effectiveDateTime"] == "2026-03-15T21:00:00+08:00"
    assert refused["request"] == ref(order) and refused["id"] != given["id"]
    assert refused["dosage"]["dose"]["value"] == 30  # the dose that was to be given


@pytest.mark.parametrize(
    ("rxa20_21", "status"),
    [
        ("CP|A", "completed"),
        ("PA|A", "stopped"),
        ("NA|A", "not-done"),
        ("CP|D", "entered-in-error"),
        ("|", "completed"),
    ],
)
def test_ras_status_from_completion_status_and_action_code(converter, rxa20_21, status):
    rxa = "RXA|1|1|20260315090500||0401^硝苯地平控释片^L|30|mg" + "|" * 13 + rxa20_21
    bundle = convert(converter, ras(first_rxa=rxa))
    assert resources(bundle, "MedicationAdministration")[0]["status"] == status
    # the same administration sent again (corrected, deleted) is the same resource
    assert (
        resources(bundle, "MedicationAdministration")[0]["id"]
        == resources(convert(converter, ras()), "MedicationAdministration")[0]["id"]
    )


def test_ras_without_the_encoded_order_names_it_by_number(converter):
    bundle = convert(converter, ras(rxe=False))
    assert resources(bundle, "MedicationRequest") == []
    for administration in resources(bundle, "MedicationAdministration"):
        assert administration["request"] == {
            "type": "MedicationRequest",
            "identifier": {"system": "urn:hub:id:HIS", "value": "P20260315001"},
        }
    # without a placer number: the filler's
    text = ras(rxe=False).replace("ORC|RE|P20260315001^HIS|F77^PHARM", "ORC|RE||F77^PHARM")
    administration = resources(convert(converter, text), "MedicationAdministration")[0]
    assert administration["request"]["identifier"] == {"system": "urn:hub:id:PHARM", "value": "F77"}


def test_ras_needs_the_time_of_administration(converter):
    from hub.errors import ConversionError

    with pytest.raises(ConversionError, match="RXA-3"):
        convert(converter, ras(first_rxa="RXA|1|1||||0401^硝苯地平控释片^L|30|mg"))


def rgv(*, rxe: bool = True, control: str = "RE") -> str:
    segments = [
        f"MSH|^~\\&|PHARM|{HOSPITAL}|NURSE|SZRMYY|20260315070000||RGV^O15^RGV_O15|RGV0001|P|2.5.1",
        "PID|1||MRN0002^^^SZRMYY^MR||陈建华||19600805|M",
        "PV1|1|I|内分泌科^0612^01^SZRMYY",
        f"ORC|{control}|P20260315007^HIS|F88^PHARM||IP||||20260315065000|||D007^刘^洋",
        *(
            [
                "RXE|^TID^^20260315070000^20260322070000|INS01^门冬胰岛素注射液^L|6||U^单位^L|INJ^注射剂^L"
                "|^餐前即刻皮下注射||||||||||||||||||||E11.9^2型糖尿病^I10",
                "TQ1|1||TID^每日三次^L",
                "RXR|SC^皮下^HL70162",
            ]
            if rxe
            else []
        ),
        # RXG-1/2 give and dispense sub-ID, RXG-4 give code, RXG-5/7 amount and units, RXG-8 form, RXG-13
        # special administration instructions; its TQ1 (when), RXR (route and site) and OBX
        "RXG|1|1||INS01^门冬胰岛素注射液^L|6||U^单位^L|INJ^注射剂^L|||||^餐前即刻",
        "TQ1|1||||||202603150700|202603150715",
        "RXR|SC^皮下^HL70162|ABD^腹部^L",
        "OBX|1|NM|2339-0^Glucose [Mass/volume] in Blood^LN||8.6|mmol/L^mmol/L^UCUM|3.9-6.1|H|||F|||20260315064500",
        "RXG|2|1||INS01^门冬胰岛素注射液^L|4-8||U^单位^L|INJ^注射剂^L",
        "TQ1|1||||||202603151100|202603151115",
    ]
    return "\r".join(segments) + "\r"


def test_rgv_each_give_is_an_instance_of_the_order(converter):
    bundle = convert(converter, rgv())
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    requests = resources(bundle, "MedicationRequest")
    [order] = [r for r in requests if r["intent"] == "order"]
    first, second = [r for r in requests if r["intent"] == "instance-order"]
    assert order["dosageInstruction"][0]["timing"]["code"]["coding"][0]["code"] == "TID"
    for give in (first, second):
        assert give["basedOn"] == [ref(order)]
        assert give["subject"] == ref(patient) and give["encounter"] == ref(encounter)
        assert give["status"] == "active"
        assert give["medicationCodeableConcept"]["coding"][0]["code"] == "INS01"
        assert give["requester"]["display"] == "刘洋" and give["authoredOn"] == "2026-03-15T06:50:00+08:00"
    assert first["id"] != second["id"]
    dosage = first["dosageInstruction"][0]
    assert dosage["text"] == "餐前即刻"
    assert dosage["timing"]["repeat"]["boundsPeriod"] == {
        "start": "2026-03-15T07:00:00+08:00",
        "end": "2026-03-15T07:15:00+08:00",
    }
    assert dosage["route"]["coding"][0]["code"] == "SQ" and dosage["site"]["text"] == "腹部"
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 6, "unit": "单位"}
    # the glucose measured for the first give supports it, not the second
    glucose = one(bundle, "Observation")
    assert first["supportingInformation"] == [ref(glucose)] and "supportingInformation" not in second
    # the second give has no RXR: the encoded order's route
    assert second["dosageInstruction"][0]["route"]["coding"][0]["code"] == "SQ"
    assert second["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["start"] == "2026-03-15T11:00:00+08:00"


def test_rgv_without_the_encoded_order_names_it_by_number(converter):
    bundle = convert(converter, rgv(rxe=False))
    gives = resources(bundle, "MedicationRequest")
    assert [g["intent"] for g in gives] == ["instance-order", "instance-order"]
    assert gives[0]["basedOn"] == [
        {"type": "MedicationRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "P20260315007"}}
    ]
    text = rgv(rxe=False).replace("|P20260315007^HIS|F88^PHARM|", "||F88^PHARM|")
    gives = resources(convert(converter, text), "MedicationRequest")
    assert gives[0]["basedOn"] == [
        {"type": "MedicationRequest", "identifier": {"system": "urn:hub:id:PHARM", "value": "F88"}}
    ]


def test_rgv_a_discontinued_order_stops_its_gives(converter):
    bundle = convert(converter, rgv(control="DC"))
    assert {r["status"] for r in resources(bundle, "MedicationRequest")} == {"stopped"}


def test_ras_and_rgv_are_accepted_by_default():
    allowed = Settings().allowed_message_types
    assert "RAS" in allowed and "RGV" in allowed


def test_rgv_v23_timing_in_rxg_3(converter):
    # before v2.5 the give's timing is its TQ (RXG-3: .2 the interval, .4 the start)
    text = "\r".join(
        (
            f"MSH|^~\\&|PHARM|{HOSPITAL}|NURSE|SZRMYY|20260315070000||RGV^O15|RGV23|P|2.3",
            "PID|1||MRN0002^^^SZRMYY^MR||陈建华||19600805|M",
            "ORC|RE|1000^OE|9999999^RX",
            "RXE|1^BID^^20260315080000^20260322080000|0047-0402-30^Ampicillin 250 MG TAB^NDC|2||TAB",
            "RXG|1|1|^BID^^20260315080000|0047-0402-30^Ampicillin 250 MG TAB^NDC|2||TAB",
            "RXR|PO",
        )
    )
    gives = [
        r for r in resources(convert(converter, text + "\r"), "MedicationRequest") if r["intent"] == "instance-order"
    ]
    timing = gives[0]["dosageInstruction"][0]["timing"]
    assert timing["code"]["coding"][0]["code"] == "BID"
    assert timing["repeat"] == {
        "frequency": 2,
        "period": 1,
        "periodUnit": "d",
        "boundsPeriod": {"start": "2026-03-15T08:00:00+08:00"},
    }
