"""Amounts of pharmacy orders, dispenses and administrations that are no number are kept or reported, never dropped
without a word.

RXE-3/RXE-4 (give amount minimum/maximum), RXO-2/RXO-3 (requested give amount), RXE-10 (dispense amount), RXD-4
(actual dispense amount), RXA-6 (administered amount) are NM. A sender that writes "1-2", "two" or "半" there gives
no number: the dose it would be is left out. Where FHIR has text for it (Dosage.text) the amount is kept there as
written; in every case the conversion report says which field could not be read (invalid-value, never the value).
"""

from __future__ import annotations

from .conftest import one, with_report
from .test_pharmacy import rde, rds, rxd, rxe, tq1
from .test_pharmacy_administration import ras
from .test_rxo_variations import omp


def invalid_at(report):
    return {e["location"] for e in report if e["code"] == "invalid-value"}


def dosage_of(bundle, resource="MedicationRequest"):
    (dosage,) = one(bundle, resource)["dosageInstruction"]
    return dosage


def test_a_maximum_give_amount_that_is_no_number_is_kept_in_the_text_and_reported(converter):
    # RXE-3 1, RXE-4 "two" (tablets, RXE-5), RXE-7 the instructions
    bundle, report = with_report(converter, rde("ORC|NW|ORD9201", "RXE||YP030^布洛芬片^L|1|two|片||^疼痛时服用"))
    dosage = dosage_of(bundle)
    assert dosage["text"] == "1-two片 疼痛时服用"
    assert "doseAndRate" not in dosage  # no range that says "at least 1"
    assert "RXE^1^4" in invalid_at(report)


def test_a_minimum_give_amount_that_is_no_number_is_kept_in_the_text_and_reported(converter):
    # RXE-3 "半" (half), RXE-4 1: the upper bound stays a dose, the whole amount the text
    bundle, report = with_report(converter, rde("ORC|NW|ORD9202", "RXE||YP030^布洛芬片^L|半|1|片"))
    dosage = dosage_of(bundle)
    assert dosage["text"] == "半-1片"
    assert dosage["doseAndRate"][0]["doseRange"] == {"high": {"value": 1, "unit": "片"}}
    assert "RXE^1^3" in invalid_at(report)


def test_a_give_amount_range_of_numbers_is_a_dose_range_without_a_report(converter):
    bundle, report = with_report(converter, rde("ORC|NW|ORD9203", "RXE||YP030^布洛芬片^L|1|2|片"))
    dose = dosage_of(bundle)["doseAndRate"][0]["doseRange"]
    assert dose == {"low": {"value": 1, "unit": "片"}, "high": {"value": 2, "unit": "片"}}
    assert invalid_at(report) == set()


def test_a_dispense_amount_that_is_no_number_is_reported(converter):
    # RXE-10 "一盒" (a box), RXE-11 its unit
    bundle, report = with_report(converter, rde("ORC|NW|ORD9204", rxe(f10="一盒"), tq1()))
    assert "quantity" not in one(bundle, "MedicationRequest").get("dispenseRequest", {})
    assert "RXE^1^10" in invalid_at(report)


def test_an_actual_dispense_amount_that_is_no_number_is_reported(converter):
    # RDS: RXD-4 "二十四"
    text = rds("ORC|RE|RX100^HIS", rxe(), tq1(), rxd(f4="二十四"))
    bundle, report = with_report(converter, text)
    assert "quantity" not in one(bundle, "MedicationDispense")
    assert "RXD^1^4" in invalid_at(report)


def test_an_administered_amount_that_is_no_number_is_reported(converter):
    # RAS: RXA-6 "half" (mg, RXA-7)
    rxa = "RXA|1|1|20260315090500|20260315091000|0401^硝苯地平控释片^L|half|mg|TAB^片剂^L||N012^王^芳"
    bundle, report = with_report(converter, ras(first_rxa=rxa))
    assert "RXA^1^6" in invalid_at(report)


def test_a_requested_maximum_that_is_no_number_is_kept_in_the_text_and_reported(converter):
    # OMP: RXO-2 1, RXO-3 "2-3" (tablets, RXO-4)
    text = omp("ORC|NW|P9301^HIS", "RXO|YP030^布洛芬片^L|1|2-3|片")
    bundle, report = with_report(converter, text)
    dosage = dosage_of(bundle)
    assert dosage["text"].startswith("1-2-3片")
    assert "doseAndRate" not in dosage
    assert "RXO^1^3" in invalid_at(report)
