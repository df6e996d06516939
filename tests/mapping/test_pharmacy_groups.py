"""Which segments belong to which dispense, administration or give when a pharmacy message carries several.

v2.5.1/v2.8.2 RDS_O13 ORDER has one RXD followed by its own NTE, RXR and RXC, but pharmacies send the fills of one
order after one ORC (RXD, RXR, RXD, RXR): each dispense reads the RXR, NTE and RXC after it, names its own
dispensed Medication, and fills the encoded order. RAS_O17 ADMINISTRATION is {RXA} RXR [{OBSERVATION}]: the RXR
after several RXA is the route of each, the OBX after it about each. RGV_O15 GIVE has one RXG: each give its own.
RDE_O11 ENCODING and OMP_O09 ORDER_DETAIL repeat (a liberty): several drugs encoded or ordered after one ORC are
each a MedicationRequest with its own timing, route, notes and Medication; OMP's components (RXC) are read.

Each test is one message, converted by the shipped mappings and checked field by field (``convert`` validates
every Bundle against the R4 schema and the R4B models).
"""

from __future__ import annotations

from .conftest import convert, one, ref, resources
from .order_messages import message, msh, orc, pid, pv1
from .test_pharmacy import ROUTE, rde, rxd, rxe, tq1
from .test_rxo_variations import omp

IV = "RXR|IV^静脉^HL70162|LA^左臂^HL70163"
IM = "RXR|IM^肌注^HL70162|RD^右三角肌^HL70163"
HOSPITAL = "SZRMYY"


def order() -> str:
    # ORC-1 RE (a dispense follows), ORC-2 the placer order number
    return orc(f1="RE", f2="RX100^HIS", f3="")


def rds(*body: str, structure: str = "RDS_O13", event: str = "O13") -> str:
    return message(msh("RDS", event, structure, "DS2"), pid(), pv1(), *body)


def route(dosage: dict) -> str:
    return dosage["route"]["coding"][0]["code"]


def site(dosage: dict) -> str:
    return dosage["site"]["coding"][0]["code"]


def medication_of(bundle: dict, resource: dict) -> dict:
    return next(m for m in resources(bundle, "Medication") if ref(m) == resource["medicationReference"])


# RDS^O13: several RXD after one ORC -----------------------------------------------------------------------------


def two_fills(*, structure: str = "RDS_O13", event: str = "O13") -> dict:
    # the encoded order (orally, three times a day), then the first fill given by vein, the refill by muscle, each
    # with its own notes and lot
    return rds(
        order(),
        rxe(),
        tq1(),
        ROUTE,
        rxd(),
        IV,
        "NTE|1||首次发药",
        rxd(f1="2", f3="20260322100000", f18="B2026099"),
        IM,
        "NTE|1||续方发药",
        structure=structure,
        event=event,
    )


def test_each_dispense_reads_the_rxr_after_it(converter):
    first, refill = resources(convert(converter, two_fills()), "MedicationDispense")
    assert first["id"] != refill["id"]
    assert [route(d) for d in first["dosageInstruction"]] == ["IVINJ"]
    assert [site(d) for d in first["dosageInstruction"]] == ["LA"]
    # the refill used to read the first fill's RXR (the first RXR of the order)
    assert [route(d) for d in refill["dosageInstruction"]] == ["IM"]
    assert [site(d) for d in refill["dosageInstruction"]] == ["RD"]


def test_each_dispense_has_its_own_notes_and_medication(converter):
    bundle = convert(converter, two_fills())
    first, refill = resources(bundle, "MedicationDispense")
    # RXD-9 and the NTE after the RXD: each dispense its own (both used to have both NTE)
    assert [n["text"] for n in first["note"]] == ["请饭后服用", "首次发药"]
    assert [n["text"] for n in refill["note"]] == ["请饭后服用", "续方发药"]
    # what was dispensed, with its lot (both used to name the first fill's Medication)
    assert medication_of(bundle, first)["batch"]["lotNumber"] == "B2026031"
    assert medication_of(bundle, refill)["batch"]["lotNumber"] == "B2026099"


def test_each_dispense_fills_the_encoded_order_with_its_timing(converter):
    bundle = convert(converter, two_fills())
    request = one(bundle, "MedicationRequest")
    for dispense in resources(bundle, "MedicationDispense"):
        assert dispense["authorizingPrescription"] == [ref(request)]
        assert dispense["dosageInstruction"][0]["timing"]["code"]["coding"][0]["code"] == "TID"
    # the encoded order keeps its own route (RXR after RXE), not a dispense's
    assert [route(d) for d in request["dosageInstruction"]] == ["PO"]


def test_a_v23_dispense_reads_the_rxr_after_each_rxd(converter):
    bundle = convert(converter, two_fills(structure="RDS_O01", event="O01"))
    first, refill = resources(bundle, "MedicationDispense")
    assert route(first["dosageInstruction"][0]) == "IVINJ"
    assert route(refill["dosageInstruction"][0]) == "IM"


def test_a_dispense_without_its_own_rxr_takes_the_encoded_order_s_route(converter):
    # v2 requires an RXR after RXD; a sender that leaves it out dispensed for the encoded order's route, not for the
    # RXR of the fill before it
    bundle = convert(converter, rds(order(), rxe(), tq1(), ROUTE, rxd(), IV, rxd(f1="2")))
    first, refill = resources(bundle, "MedicationDispense")
    assert route(first["dosageInstruction"][0]) == "IVINJ"
    assert route(refill["dosageInstruction"][0]) == "PO"


def test_two_orders_each_with_its_dispense(converter):
    bundle = convert(
        converter,
        rds(order(), rxe(), tq1(), ROUTE, rxd(), IV, orc(f1="RE", f2="RX101^HIS", f3=""), rxe(), tq1(), rxd(), IM),
    )
    first, second = resources(bundle, "MedicationDispense")
    assert route(first["dosageInstruction"][0]) == "IVINJ"
    assert route(second["dosageInstruction"][0]) == "IM"
    assert first["authorizingPrescription"] != second["authorizingPrescription"]


def test_an_order_s_observation_is_not_a_dispense_s(converter):
    # OBX after the dispense is the order's (its OBSERVATION group), and comes out as before
    bundle = convert(
        converter,
        rds(order(), rxe(), tq1(), ROUTE, rxd(), IV, "OBX|1|NM|29463-7^体重^LN||62|kg^kg^UCUM||||||F"),
    )
    assert one(bundle, "Observation")["valueQuantity"]["value"] == 62
    assert route(one(bundle, "MedicationDispense")["dosageInstruction"][0]) == "IVINJ"


# RAS^O17: {RXA} RXR -----------------------------------------------------------------------------------------------


def ras(*administrations: str) -> str:
    return message(
        f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315093000||RAS^O17^RAS_O17|RAS2|P|2.5.1",
        pid(),
        pv1(f2="I"),
        "ORC|RE|P1^HIS",
        *administrations,
    )


def rxa(sub_id: str, when: str, lot: str) -> str:
    # RXA-2 administration sub-ID, RXA-3 when, RXA-5 what, RXA-6/7 dose, RXA-15 lot
    return f"RXA|1|{sub_id}|{when}||0401^硝苯地平^L|30|mg" + "|" * 8 + lot


def test_an_rxr_after_several_rxa_is_the_route_of_each(converter):
    bundle = convert(
        converter,
        ras(
            rxa("1", "20260315090500", "L1"),
            rxa("2", "20260315210000", "L2"),
            IV,
            "OBX|1|NM|8480-6^收缩压^LN||148|mm[Hg]^mmHg^UCUM|||||F",
        ),
    )
    morning, evening = resources(bundle, "MedicationAdministration")
    # the morning dose used to have no route (its ADMINISTRATION ended before the RXR)
    assert route(morning["dosage"]) == "IVINJ" and site(morning["dosage"]) == "LA"
    assert route(evening["dosage"]) == "IVINJ"
    # each its own Medication, with its lot
    assert medication_of(bundle, morning)["batch"]["lotNumber"] == "L1"
    assert medication_of(bundle, evening)["batch"]["lotNumber"] == "L2"
    # the OBX of the group is about both
    assert one(bundle, "Observation")["partOf"] == [ref(morning), ref(evening)]


def test_each_administration_with_its_own_rxr(converter):
    bundle = convert(
        converter,
        ras(rxa("1", "20260315090500", "L1"), IV, rxa("2", "20260315210000", "L2"), IM),
    )
    morning, evening = resources(bundle, "MedicationAdministration")
    assert route(morning["dosage"]) == "IVINJ"
    assert route(evening["dosage"]) == "IM" and site(evening["dosage"]) == "RD"
    assert morning["medicationReference"] != evening["medicationReference"]


# RGV^O15: one RXG per GIVE ----------------------------------------------------------------------------------------


def test_each_give_reads_its_own_rxr(converter):
    bundle = convert(
        converter,
        message(
            f"MSH|^~\\&|PHARM|{HOSPITAL}|NURSE|SZRMYY|20260315070000||RGV^O15^RGV_O15|RGV2|P|2.5.1",
            pid(),
            "ORC|RE|P7^HIS",
            "RXG|1|1||INS01^门冬胰岛素注射液^L|6||U^单位^L",
            IV,
            "RXG|2|1||INS01^门冬胰岛素注射液^L|4||U^单位^L",
            IM,
        ),
    )
    first, second = resources(bundle, "MedicationRequest")
    assert route(first["dosageInstruction"][0]) == "IVINJ"
    assert route(second["dosageInstruction"][0]) == "IM"


# RDE^O11: several RXE after one ORC --------------------------------------------------------------------------------


def test_each_encoded_drug_after_one_orc_has_its_own_timing_route_and_medication(converter):
    # the pharmacy encodes amoxicillin (TID, orally) and ibuprofen (BID, by vein) under one ORC
    bundle = convert(
        converter,
        rde(
            orc(f2="RX100^HIS", f3=""),
            rxe(),
            tq1(),
            ROUTE,
            rxe(f2="X0002^布洛芬注射液^L", f15="RX2026-0002"),
            tq1(f3="BID"),
            IV,
        ),
    )
    amoxicillin, ibuprofen = resources(bundle, "MedicationRequest")
    # both used to have both timings, the first RXR's route and the first drug's Medication
    assert [d["timing"]["code"]["coding"][0]["code"] for d in amoxicillin["dosageInstruction"]] == ["TID"]
    assert [d["timing"]["code"]["coding"][0]["code"] for d in ibuprofen["dosageInstruction"]] == ["BID"]
    assert [route(d) for d in amoxicillin["dosageInstruction"]] == ["PO"]
    assert [route(d) for d in ibuprofen["dosageInstruction"]] == ["IVINJ"]
    assert medication_of(bundle, amoxicillin)["code"]["coding"][0]["code"] == "X0001"
    assert medication_of(bundle, ibuprofen)["code"]["coding"][0]["code"] == "X0002"


# OMP^O09: several RXO after one ORC, and their components -----------------------------------------------------------


def test_each_ordered_drug_after_one_orc_has_its_own_route_notes_and_medication(converter):
    bundle = convert(
        converter,
        omp(
            "ORC|NW|CP600^HIS",
            "TQ1|1||TID",
            "RXO|YP010^二甲双胍缓释片^L|1||片",
            "RXR|PO^口服^HL70162",
            "NTE|1||餐中服用",
            "RXO|YP011^胰岛素注射液^L|6||U",
            "RXR|SC^皮下^HL70162",
            "NTE|1||餐前注射",
        ),
    )
    metformin, insulin = resources(bundle, "MedicationRequest")
    assert [route(d) for d in metformin["dosageInstruction"]] == ["PO"]
    assert [route(d) for d in insulin["dosageInstruction"]] == ["SQ"]  # used to be the first RXR's PO
    assert metformin["note"] == [{"text": "餐中服用"}] and insulin["note"] == [{"text": "餐前注射"}]
    assert medication_of(bundle, insulin)["code"]["coding"][0]["code"] == "YP011"
    # both keep the order's timing (TQ1 after ORC)
    assert all(r["dosageInstruction"][0]["timing"]["code"]["coding"][0]["code"] == "TID" for r in (metformin, insulin))


def test_an_ordered_infusion_has_its_components(converter):
    # RXC after RXO (OMP_O09 COMPONENT: base 5% glucose, additive potassium chloride, with a note): the Medication's
    # ingredients, which used to be lost
    bundle = convert(
        converter,
        omp(
            "ORC|NW|CP602^HIS",
            "RXO|YP020^葡萄糖氯化钾注射液^L|1||袋",
            "RXR|IV^静脉^HL70162",
            "RXC|B|G5^5%葡萄糖注射液^L|250|mL",
            "NTE|1||基液",
            "RXC|A|KCL^10%氯化钾注射液^L|10|mL",
        ),
    )
    (medication,) = resources(bundle, "Medication")
    assert [(i["itemCodeableConcept"]["coding"][0]["code"], i["isActive"]) for i in medication["ingredient"]] == [
        ("G5", False),
        ("KCL", True),
    ]
    assert medication["ingredient"][1]["strength"]["numerator"] == {
        "value": 10,
        "unit": "mL",
        "system": "http://unitsofmeasure.org",
        "code": "mL",
    }
    # a component's NTE is no note of the order
    assert "note" not in one(bundle, "MedicationRequest")
