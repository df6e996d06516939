"""The patient's allergies (AL1) sent with an order → AllergyIntolerance, as an ADT or a referral sends them.

Laboratory and pharmacy order messages (ORM_O01, OML_O21, OMG_O19, OMP_O09, RDE_O01/O11/O25, RDS_O13/O01) carry the
patient's allergies in the PATIENT part of their grammar (IG OML_O21 and ORM_O01: AL1[AllergyIntolerance]); a
pharmacy needs them most. Each AL1 is an AllergyIntolerance of the patient, keyed as the ADT one (patient and
allergen), without deleting allergies the message does not list (whether an order sends the whole list is unknown).
"""

from __future__ import annotations

import pytest

from hub.mapping import Converter

from .conftest import convert, ref, resources
from .order_messages import message, msh, obr, orc, pid, pv1

# AL1-2 allergen type (DA drug), AL1-3 allergen (a local code), AL1-4 severity (SV severe), AL1-5 reactions
# (repeating), AL1-6 identification date
DRUG = "AL1|1|DA^Drug allergy^HL70127|LOC-PEN^Penicillins^L|SV^Severe^HL70128|Hives~Wheezing|20240102"
# AL1-2 FA food, AL1-3 the allergen, AL1-4 MO moderate
FOOD = "AL1|2|FA^Food allergy^HL70127|LOC-SES^Sesame^L|MO"
# RXO-1 requested give code, RXO-2/4 amount and units; RXE-2 give code, RXE-3/5 amount and units;
# RXD-1 fill, RXD-2 dispensed code, RXD-3 when, RXD-4/5 amount
RXO = "RXO|LOC-AMX^Amoxicillin 250 mg capsule^L|250||mg"
RXE = "RXE|^^^20260315090000^^R|LOC-AMX^Amoxicillin 250 mg capsule^L|250||mg"
RXD = "RXD|1|LOC-AMX^Amoxicillin 250 mg capsule^L|20260315100000|21|CAP"


def _order(structure: str) -> str:
    code, event = structure.split("_")
    head = msh(code, event, structure, "ALG1")
    if structure in ("ORM_O01", "OML_O21", "OMG_O19"):
        return message(head, pid(), pv1(), DRUG, FOOD, orc(), obr())
    if structure == "OMP_O09":
        return message(head, pid(), pv1(), DRUG, FOOD, orc(), RXO)
    if structure in ("RDS_O13", "RDS_O01"):  # AL1 before the visit in this grammar
        return message(head, pid(), DRUG, FOOD, pv1(), orc(f1="RE"), RXE, RXD)
    return message(head, pid(), pv1(), DRUG, FOOD, orc(), RXE)


ORDERS = ["ORM_O01", "OML_O21", "OMG_O19", "OMP_O09", "RDE_O01", "RDE_O11", "RDE_O25", "RDS_O13", "RDS_O01"]


@pytest.mark.parametrize("structure", ORDERS)
def test_each_al1_of_an_order_is_an_allergy_of_the_patient(converter: Converter, structure: str) -> None:
    bundle = convert(converter, _order(structure))
    patient = resources(bundle, "Patient")[0]
    allergies = resources(bundle, "AllergyIntolerance")
    assert [a["code"]["coding"][0]["code"] for a in allergies] == ["LOC-PEN", "LOC-SES"]
    drug, food = allergies
    assert drug["patient"] == ref(patient)
    assert drug["encounter"] == ref(resources(bundle, "Encounter")[0])
    assert drug["category"] == ["medication"]
    assert drug["criticality"] == "high"
    assert [r["manifestation"][0]["text"] for r in drug["reaction"]] == ["Hives", "Wheezing"]
    assert food["category"] == ["food"]


@pytest.mark.parametrize("structure", ["ORM_O01", "RDE_O11"])
def test_an_order_and_an_admission_make_the_same_allergy(converter: Converter, structure: str) -> None:
    # The allergy an order sends again is the one the ADT made (same patient, same allergen): one resource id.
    adt = message(msh("ADT", "A01", "ADT_A01", "ALG0"), "EVN|A01", pid(), pv1(), DRUG)
    admitted = resources(convert(converter, adt), "AllergyIntolerance")
    ordered = resources(convert(converter, _order(structure)), "AllergyIntolerance")
    assert admitted[0]["id"] == ordered[0]["id"]


def test_an_order_without_al1_makes_no_allergy(converter: Converter) -> None:
    text = message(msh("ORM", "O01", "ORM_O01", "ALG2"), pid(), pv1(), orc(), obr())
    assert resources(convert(converter, text), "AllergyIntolerance") == []


@pytest.mark.parametrize("structure", ["OML_O21", "OMG_O19"])
def test_a_prior_results_allergy_makes_no_allergy(converter: Converter, structure: str) -> None:
    # PRIOR_RESULT (after the order's OBR): its own PID, PV1 and AL1 describe an earlier result sent for context
    # (IG OML_O21 rows 6.4.10.x map it to nothing); only the patient's AL1 is an allergy.
    code, event = structure.split("_")
    prior = (
        "PID|1||MRN0001^^^SZRMYY^MR||张三",
        "PV1|1|O",
        "AL1|1|DA^Drug allergy^HL70127|LOC-OLD^Retired drug^L",
        "ORC|RE|P050^HIS",
        "OBR|1|P050^HIS||2345-7^Glucose^LN",
        "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|||||F",
    )
    text = message(msh(code, event, structure, "ALG3"), pid(), pv1(), DRUG, orc(), obr(), *prior)
    allergies = resources(convert(converter, text), "AllergyIntolerance")
    assert [a["code"]["coding"][0]["code"] for a in allergies] == ["LOC-PEN"]


def test_an_order_deletes_no_allergy_and_marks_no_set(converter: Converter) -> None:
    # Not snapshot mode: no set mark on the Patient's entry (the hub would delete stored allergies not sent) and
    # no DELETE entry.
    bundle = convert(converter, _order("ORM_O01"))
    for entry in bundle["entry"]:
        assert "AllergyIntolerance?" not in str(entry.get("extension", ""))
        assert entry.get("request", {}).get("method") != "DELETE"
