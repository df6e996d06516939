"""OMP^O09 (pharmacy/treatment order) → MedicationRequest, Medication, Patient, Encounter, Observation, field by field.

A continuous prescription (长期处方) of a primary clinic's patient: dose, route, quantity, refills (RXO-13),
validity, status from ORC-1/ORC-5; the pharmacy's RDE^O11 for the same order is the next version of it.
"""

from __future__ import annotations

import pytest

from hub.errors import ConversionError

from .conftest import convert, one, ref, resources
from .order_messages import message, msh, orc, pid, pv1, segment

UCUM = "http://unitsofmeasure.org"


def rxo(**fields: str) -> str:
    # RXO-1 requested give code (local drug code, Chinese name), RXO-2 give amount, RXO-4 give units,
    # RXO-5 dosage form, RXO-7 provider's administration instructions, RXO-9 substitutions (G generic),
    # RXO-11/12 dispense amount and units, RXO-13 refills, RXO-20 indication
    base = {
        1: "X2001^苯磺酸氨氯地平片^L",
        2: "5",
        4: "mg^mg^UCUM",
        5: "TAB^片^L",
        7: "^每日早晨一次",
        9: "G",
        11: "28",
        12: "片^片",
        13: "5",
        20: "I10^原发性高血压^I10",
    }
    return segment("RXO", base, **fields)


def tq1(**fields: str) -> str:
    # TQ1-3 repeat pattern (QD once a day), TQ1-7/8 start and end of the treatment, TQ1-9 priority (R routine)
    return segment("TQ1", {1: "1", 3: "QD", 7: "20260401", 8: "20260930", 9: "R"}, **fields)


ROUTE = "RXR|PO^口服^HL70162"


def omp(*order: str, control: str = "OMP1") -> str:
    body = order or (orc(f2="CP300^HIS", f3=""), tq1(), rxo(), "NTE|1||血压稳定后可续方", ROUTE)
    return message(msh("OMP", "O09", "OMP_O09", control), pid(), pv1(), *body)


def test_a_continuous_prescription_field_by_field(converter):
    bundle = convert(converter, omp())
    request, medication = one(bundle, "MedicationRequest"), one(bundle, "Medication")
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    assert request["status"] == "active"  # ORC-1 NW
    assert request["intent"] == "original-order"
    assert request["subject"] == ref(patient) and request["encounter"] == ref(encounter)
    assert request["medicationReference"] == ref(medication)
    assert medication["code"]["coding"][0]["code"] == "X2001" and medication["code"]["text"] == "苯磺酸氨氯地平片"
    assert medication["form"]["coding"][0]["code"] == "TAB"
    placer = next(i for i in request["identifier"] if i["type"]["coding"][0]["code"] == "PLAC")
    assert placer["value"] == "CP300"
    assert request["requester"]["identifier"]["value"] == "D001" and request["requester"]["display"] == "王伟"
    assert request["reasonCode"][0]["coding"][0]["code"] == "I10"
    assert request["note"] == [{"text": "血压稳定后可续方"}]
    [dosage] = request["dosageInstruction"]
    assert dosage["text"] == "每日早晨一次"
    assert dosage["route"]["coding"][0]["code"] == "PO"
    assert dosage["timing"]["repeat"]["frequency"] == 1 and dosage["timing"]["repeat"]["period"] == 1
    assert dosage["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-04-01", "end": "2026-09-30"}
    [dose] = dosage["doseAndRate"]
    assert dose["doseQuantity"] == {"value": 5, "unit": "mg", "system": UCUM, "code": "mg"}
    dispense = request["dispenseRequest"]
    assert dispense["numberOfRepeatsAllowed"] == 5  # RXO-13 refills
    assert dispense["quantity"]["value"] == 28 and dispense["quantity"]["unit"] == "片"
    # validity: the order's effective time (ORC-15) is empty, so the timing's start and end (TQ1-7/8)
    assert dispense["validityPeriod"] == {"start": "2026-04-01", "end": "2026-09-30"}
    assert request["substitution"]["allowedCodeableConcept"]["coding"][0]["code"] == "G"


def test_the_effective_date_wins_for_the_validity(converter):
    # ORC-15 order effective date/time: the prescription is valid from then, the end still from TQ1-8
    bundle = convert(converter, omp(orc(f2="CP301^HIS", f3="", f15="20260405"), tq1(), rxo(), ROUTE))
    validity = one(bundle, "MedicationRequest")["dispenseRequest"]["validityPeriod"]
    assert validity == {"start": "2026-04-05", "end": "2026-09-30"}


@pytest.mark.parametrize(
    ("orc1", "orc5", "status"),
    [
        ("NW", "", "active"),
        ("DC", "", "stopped"),  # discontinue
        ("CA", "", "cancelled"),
        ("HD", "", "on-hold"),
        ("SC", "CM", "completed"),  # a status change: ORC-5 says it
        ("SC", "IP", "active"),
    ],
)
def test_the_status_from_the_order_control_then_the_order_status(converter, orc1, orc5, status):
    text = omp(orc(f1=orc1, f2="CP302^HIS", f3="", f5=orc5), tq1(), rxo(), ROUTE)
    assert one(convert(converter, text), "MedicationRequest")["status"] == status


def test_the_pharmacy_encoded_order_is_the_next_version(converter):
    from .test_pharmacy import rde, rxe
    from .test_pharmacy import tq1 as rxe_tq1

    ordered = one(convert(converter, omp()), "MedicationRequest")
    encoded = one(convert(converter, rde(orc(f2="CP300^HIS", f3=""), rxe(), rxe_tq1(), ROUTE)), "MedicationRequest")
    assert encoded["id"] == ordered["id"]
    assert encoded["intent"] == "order"


def test_two_orders_and_an_observation_of_the_order(converter):
    # OBX of the order (the weight the dose depends on), and a second drug with a range of dose (RXO-2/3)
    weight = "OBX|1|NM|29463-7^体重^LN||72|kg^kg^UCUM|||||F"
    second = (orc(f2="CP304^HIS", f3=""), rxo(f1="X2002^二甲双胍片^L", f2="500", f3="1000"), ROUTE)
    bundle = convert(converter, omp(orc(f2="CP303^HIS", f3=""), tq1(), rxo(), ROUTE, weight, *second))
    requests = resources(bundle, "MedicationRequest")
    assert len(requests) == 2 and len(resources(bundle, "Medication")) == 2
    low_high = requests[1]["dosageInstruction"][0]["doseAndRate"][0]["doseRange"]
    assert (low_high["low"]["value"], low_high["high"]["value"]) == (500, 1000)
    observation = one(bundle, "Observation")
    assert observation["valueQuantity"]["value"] == 72
    assert observation["subject"] == ref(one(bundle, "Patient"))


def test_an_order_without_rxo_is_refused(converter):
    with pytest.raises(ConversionError, match="RXO segment is missing"):
        convert(converter, omp(orc(f2="CP305^HIS", f3=""), tq1()))


def test_the_response_is_refused(converter):
    text = message(msh("ORP", "O10", "ORP_O10", "ORP1"), "MSA|AA|OMP1", pid())
    with pytest.raises(ConversionError, match=r"ORP\^O10 of structure ORP_O10: a response to a pharmacy") as caught:
        convert(converter, text)
    assert caught.value.location == "MSH^1^9^2" and caught.value.hl7_code == "201"


def test_omp_and_omi_are_accepted_by_default():
    from hub.config import Settings

    allowed = Settings().allowed_message_types
    assert "OMP" in allowed and "OMI" in allowed
