"""ORM^O01 pharmacy orders: each RXO with its own RXR, RXC and NTE (v2.3-2.5 ORM: the order detail; v2 ch. 4's
pharmacy ORM: RXO, its NTE, RXR, then RXC each with the components' NTE). Several drugs ordered after one ORC are
each a MedicationRequest and a Medication with their own route, notes and components; a lab order (OBR) converts
as before.

Each test is one message, converted by the shipped mappings and checked field by field (``convert`` validates
every Bundle against the R4 schema and the R4B models).
"""

from __future__ import annotations

from .conftest import convert, one, ref, resources

PATIENT = "PID|1||MRN002^^^SZRMYY^MR||王五||19650302|F"
VISIT = "PV1|1|O|心内科门诊"


def orm(*order: str, version: str = "2.5") -> str:
    msh = f"MSH|^~\\&|HIS|SZRMYY|PHARM|SZRMYY|20260401090000||ORM^O01^ORM_O01|ORM1|P|{version}"
    return "\r".join([msh, PATIENT, VISIT, *order])


def route(request: dict) -> list[str]:
    return [d["route"]["coding"][0]["code"] for d in request.get("dosageInstruction", []) if "route" in d]


def medication_of(bundle: dict, request: dict) -> dict:
    return next(m for m in resources(bundle, "Medication") if ref(m) == request["medicationReference"])


def ingredients(medication: dict) -> list[str]:
    return [i["itemCodeableConcept"]["coding"][0]["code"] for i in medication.get("ingredient", [])]


def test_each_ordered_drug_after_one_orc_has_its_own_route_notes_and_medication(converter):
    # ORC-2 placer number; TQ1-3 TID for the order; two RXO, each with its RXR-1 route and an NTE after it
    bundle = convert(
        converter,
        orm(
            "ORC|NW|ORD6001^HIS",
            "TQ1|1||TID",
            "RXO|YP010^二甲双胍缓释片^L|1||片",
            "NTE|1||餐中服用",
            "RXR|PO^口服^HL70162",
            "RXO|YP011^胰岛素注射液^L|6||U",
            "RXR|SC^皮下^HL70162",
            "NTE|1||餐前注射",
        ),
    )
    metformin, insulin = resources(bundle, "MedicationRequest")
    assert route(metformin) == ["PO"]
    assert route(insulin) == ["SQ"]  # was the first RXR's PO
    assert metformin["note"] == [{"text": "餐中服用"}] and insulin["note"] == [{"text": "餐前注射"}]  # were both
    assert medication_of(bundle, metformin)["code"]["coding"][0]["code"] == "YP010"
    assert medication_of(bundle, insulin)["code"]["coding"][0]["code"] == "YP011"
    # both keep the order's ORC and TQ1
    for request in (metformin, insulin):
        assert request["dosageInstruction"][0]["timing"]["code"]["coding"][0]["code"] == "TID"
        assert request["identifier"][0]["value"] == "ORD6001"
    assert resources(bundle, "ServiceRequest") == []


def test_each_ordered_infusion_has_its_own_components(converter):
    # v2.3 ORM: two infusions after one ORC, each RXO with its RXR and its RXC (B base, A additive); the NTE after
    # an RXC is the component's, no note of the order
    bundle = convert(
        converter,
        orm(
            "ORC|NW|ORD6002^HIS",
            "RXO|YP020^葡萄糖氯化钾注射液^L|1||袋",
            "RXR|IV^静脉^HL70162",
            "RXC|B|G5^5%葡萄糖注射液^L|250|mL",
            "NTE|1||基液",
            "RXC|A|KCL^10%氯化钾注射液^L|10|mL",
            "RXO|YP021^氯化钠注射液^L|1||袋",
            "RXR|IVGTT^静滴^HL70162",
            "RXC|B|NS^0.9%氯化钠注射液^L|100|mL",
            version="2.3",
        ),
    )
    first, second = resources(bundle, "MedicationRequest")
    assert ingredients(medication_of(bundle, first)) == ["G5", "KCL"]
    assert ingredients(medication_of(bundle, second)) == ["NS"]  # was G5, KCL, NS for both
    assert "note" not in first and "note" not in second


def test_an_ordered_drug_without_components_reads_none_of_another_s(converter):
    bundle = convert(
        converter,
        orm(
            "ORC|NW|ORD6003^HIS",
            "RXO|YP002^阿司匹林肠溶片^L|100||mg",
            "RXR|PO^口服^HL70162",
            "RXO|YP020^葡萄糖注射液^L|1||袋",
            "RXR|IV^静脉^HL70162",
            "RXC|B|G5^5%葡萄糖注射液^L|250|mL",
        ),
    )
    aspirin, infusion = resources(bundle, "MedicationRequest")
    assert ingredients(medication_of(bundle, aspirin)) == []
    assert ingredients(medication_of(bundle, infusion)) == ["G5"]


def test_a_drug_without_its_own_rxr_has_no_route_of_another(converter):
    bundle = convert(
        converter,
        orm(
            "ORC|NW|ORD6004^HIS",
            "RXO|YP002^阿司匹林肠溶片^L|100||mg",
            "RXO|YP011^胰岛素注射液^L|6||U",
            "RXR|SC^皮下^HL70162",
        ),
    )
    aspirin, insulin = resources(bundle, "MedicationRequest")
    assert route(aspirin) == [] and route(insulin) == ["SQ"]


def test_two_orders_each_with_its_drug_and_a_lab_order_beside_them(converter):
    # two ORC each with one RXO, then a lab order (ORC, OBR, NTE, OBX): the lab order's note and result stay its own
    bundle = convert(
        converter,
        orm(
            "ORC|NW|ORD6005^HIS",
            "RXO|YP002^阿司匹林肠溶片^L|100||mg",
            "RXR|PO^口服^HL70162",
            "NTE|1||饭后服用",
            "ORC|NW|ORD6006^HIS",
            "RXO|YP011^胰岛素注射液^L|6||U",
            "RXR|SC^皮下^HL70162",
            "ORC|NW|LAB6007^HIS",
            "OBR|1|LAB6007^HIS||2345-7^Glucose^LN",
            "NTE|1||空腹采血",
            "OBX|1|NM|39156-5^BMI^LN||24.5|kg/m2",
        ),
    )
    aspirin, insulin = resources(bundle, "MedicationRequest")
    assert route(aspirin) == ["PO"] and route(insulin) == ["SQ"]
    assert aspirin["note"] == [{"text": "饭后服用"}] and "note" not in insulin
    lab = one(bundle, "ServiceRequest")
    assert lab["note"] == [{"text": "空腹采血"}]
    assert lab["supportingInfo"] == [ref(one(bundle, "Observation"))]


def test_an_orc_alone_is_still_an_order_and_an_rxo_order_is_not(converter):
    # ORC^CA alone (no OBR, no RXO): the ServiceRequest of the order; an RXO order makes none
    cancel = convert(converter, orm("ORC|CA|ORD6008^HIS"))
    assert one(cancel, "ServiceRequest")["status"] == "revoked"
    drug = convert(converter, orm("ORC|NW|ORD6009^HIS", "RXO|YP002^阿司匹林肠溶片^L|100||mg"))
    assert resources(drug, "ServiceRequest") == [] and len(resources(drug, "MedicationRequest")) == 1
