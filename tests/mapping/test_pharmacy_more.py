"""Pharmacy timings the mappings used to lose: the dispense (RDS^O13) reads the encoded order's timing (TQ1 after
RXE, v2.5.1 ENCODING.TIMING_ENCODED), the original order (RXO: OMP^O09, ORM^O01) makes one dosage per timing as
the encoded order (RXE) does, and an order's TQ that repeats (ORC-7, before v2.5) gives one dosage per
repetition. One datatype template (TQ1_Timing) reads a TQ1 for all three.

Each test is one message, converted by the shipped mappings and checked field by field (``convert`` validates
every Bundle against the R4 schema and the R4B models).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from hub.mapping.builtins import repeat_pattern

from .conftest import convert, one, resources, with_report
from .order_messages import message, msh, orc, pid, pv1, segment
from .test_pharmacy import ROUTE, rde, rds, rxd, rxe, tq1
from .test_pharmacy_administration import ras, rgv
from .test_rxo_variations import omp, orm

V3_GTS = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
V2_0335 = "http://terminology.hl7.org/CodeSystem/v2-0335"
UCUM = "http://unitsofmeasure.org"

TID_A_WEEK = {
    "code": {"coding": [{"system": V3_GTS, "code": "TID", "display": "TID"}, {"system": V2_0335, "code": "TID"}]},
    "repeat": {
        "frequency": 3,
        "period": 1,
        "periodUnit": "d",
        "boundsPeriod": {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-22T09:00:00+08:00"},
    },
}
ONCE_A_DAY_AFTER = {
    "code": {"coding": [{"system": V3_GTS, "code": "QD", "display": "QD"}, {"system": V2_0335, "code": "QD"}]},
    "repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "boundsPeriod": {"start": "2026-03-22T09:00:00+08:00"}},
}


def dispense_dosages(converter, *order: str) -> list[dict]:
    return one(convert(converter, rds(*order)), "MedicationDispense")["dosageInstruction"]


def request_dosages(converter, text: str) -> list[dict]:
    return one(convert(converter, text), "MedicationRequest")["dosageInstruction"]


def order(control: str = "RE") -> str:
    # ORC-1 RE (a dispense follows), ORC-2 the placer order number; no TQ1 after it
    return orc(f1=control, f2="RX100^HIS", f3="")


# RDS^O13 -----------------------------------------------------------------------------------------------------


def test_a_dispense_reads_the_timing_of_the_encoded_order(converter):
    # v2.5.1 RDS_O13: ORC, RXE, TQ1 (TIMING_ENCODED, required with RXE), RXR, RXD, RXR — no TQ1 after ORC. The
    # dispense used to have a route and no timing.
    (dosage,) = dispense_dosages(converter, order(), rxe(), tq1(), ROUTE, rxd(f15="^温水送服"), ROUTE)
    assert dosage["sequence"] == 1
    assert dosage["timing"] == TID_A_WEEK
    assert dosage["text"] == "温水送服"  # RXD-15 special dispensing instructions
    assert dosage["route"]["coding"][0]["code"] == "PO"


def test_a_dispense_has_one_dosage_per_timing_of_the_encoded_order(converter):
    # three times a day for a week, then once a day (TQ1-1 the sequence)
    dosages = dispense_dosages(
        converter, order(), rxe(), tq1(), tq1(f1="2", f3="QD", f7="20260322090000", f8=""), ROUTE, rxd(), ROUTE
    )
    assert [d["sequence"] for d in dosages] == [1, 2]
    assert [d["timing"] for d in dosages] == [TID_A_WEEK, ONCE_A_DAY_AFTER]
    assert all(d["route"]["coding"][0]["code"] == "PO" for d in dosages)


def test_the_encoded_timing_wins_over_the_order_s(converter):
    # the prescriber wrote BID (TQ1 after ORC); the pharmacy encoded TID (TQ1 after RXE) and dispensed for it
    (dosage,) = dispense_dosages(converter, order(), tq1(f3="BID"), rxe(), tq1(), ROUTE, rxd(), ROUTE)
    assert dosage["timing"] == TID_A_WEEK


def test_without_an_encoded_order_the_dispense_reads_the_order_s_timing(converter):
    (dosage,) = dispense_dosages(converter, order(), tq1(f3="BID", f7="", f8=""), rxd(), ROUTE)
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}


def test_a_v23_dispense_reads_the_tq_of_the_encoded_order(converter):
    # before v2.5 the timing is RXE-1 (TQ: .2 interval Q8H); the dispense reads it in the encoded order's group
    (dosage,) = dispense_dosages(converter, order(), rxe(f1="^Q8H"), ROUTE, rxd(), ROUTE)
    assert dosage["timing"]["repeat"] == {"frequency": 1, "period": 8, "periodUnit": "h"}
    assert "sequence" not in dosage


def test_a_dispense_without_any_timing_keeps_its_route(converter):
    (dosage,) = dispense_dosages(converter, order(), rxd(), ROUTE)
    assert set(dosage) == {"route"}


# RXO: OMP^O09, ORM^O01 -----------------------------------------------------------------------------------------


def test_an_rxo_order_has_one_dosage_per_tq1(converter):
    # OMP^O09: 1 片 three times a day for a week, then once a day (TQ1-1 1 and 2), orally
    dosages = request_dosages(
        converter,
        omp(
            "ORC|NW|CP600^HIS",
            "TQ1|1||TID||||20260315090000|20260322090000",
            "TQ1|2||QD||||20260322090000",
            "RXO|YP010^二甲双胍缓释片^L|1||片",
            "RXR|PO^口服^HL70162",
        ),
    )
    assert [d["sequence"] for d in dosages] == [1, 2]
    assert [d["timing"] for d in dosages] == [TID_A_WEEK, ONCE_A_DAY_AFTER]
    for dosage in dosages:
        assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "片"}
        assert dosage["route"]["coding"][0]["code"] == "PO"


def test_an_orm_pharmacy_order_has_one_dosage_per_repetition_of_its_tq(converter):
    # ORM^O01 v2.4: ORC-7 repeats (TQ: .2 interval, .4 start, .5 end): twice a day for three days, then at night
    dosages = request_dosages(
        converter,
        orm(
            "ORC|NW|CP601^HIS|||||^BID^^20260315090000^20260318090000~^QHS^^20260318090000",
            "RXO|YP020^阿普唑仑片^L|0.4||mg",
            "RXR|PO",
            version="2.4",
        ),
    )
    assert [d["timing"]["repeat"] for d in dosages] == [
        {
            "frequency": 2,
            "period": 1,
            "periodUnit": "d",
            "boundsPeriod": {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-18T09:00:00+08:00"},
        },
        {
            "frequency": 1,
            "period": 1,
            "periodUnit": "d",
            "when": ["HS"],
            "boundsPeriod": {"start": "2026-03-18T09:00:00+08:00"},
        },
    ]
    for dosage in dosages:
        assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 0.4, "unit": "mg", "system": UCUM, "code": "mg"}


def test_an_rxo_order_without_a_timing_has_one_dosage(converter):
    (dosage,) = request_dosages(converter, omp("ORC|NW|CP602^HIS", "RXO|YP010^二甲双胍缓释片^L|1||片", "RXR|PO"))
    assert "timing" not in dosage and "sequence" not in dosage
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 1, "unit": "片"}


def test_the_tq_text_of_an_rxo_order_is_its_dosage_text(converter):
    # ORC-7.8 text (a v2.4 sender's instruction) was dropped
    (dosage,) = request_dosages(
        converter, orm("ORC|NW|CP603^HIS|||||^QD^^^^^^晨起空腹", "RXO|YP030^左甲状腺素钠片^L|50||ug", version="2.4")
    )
    assert dosage["text"] == "晨起空腹"


# RXE: RDE^O11 ----------------------------------------------------------------------------------------------------


def test_an_encoded_order_whose_order_tq_repeats_has_one_dosage_per_repetition(converter):
    # RDE^O11 v2.4 style: RXE-1 empty, ORC-7 repeats (Q6H for two days, then Q12H)
    text = rde(
        orc(f2="RX200^HIS", f3="", f7="^Q6H^^20260315090000^20260317090000~^Q12H^^20260317090000"),
        rxe(f1=""),
        ROUTE,
    )
    dosages = request_dosages(converter, text)
    assert [(d["timing"]["repeat"]["period"], d["timing"]["repeat"]["periodUnit"]) for d in dosages] == [
        (6, "h"),
        (12, "h"),
    ]
    assert [d["timing"]["repeat"]["boundsPeriod"]["start"] for d in dosages] == [
        "2026-03-15T09:00:00+08:00",
        "2026-03-17T09:00:00+08:00",
    ]
    assert all(d["doseAndRate"][0]["doseQuantity"]["value"] == 0.5 for d in dosages)


def test_one_order_tq_still_makes_one_dosage(converter):
    (dosage,) = request_dosages(converter, rde(orc(f2="RX201^HIS", f3="", f7="^BID"), rxe(f1=""), ROUTE))
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}


# TQ1_Timing: one reading of a TQ1 --------------------------------------------------------------------------------


def test_the_encoded_order_the_original_order_and_the_dispense_read_a_tq1_alike(converter):
    # TQ1-3 饭后每日两次 (no code: text), TQ1-4 explicit times, TQ1-6 14 天, TQ1-14 28 times
    timing = "TQ1|1||饭后每日两次|0800~2000||14^天||||||||28"
    expected = {
        "code": {"text": "饭后每日两次"},
        "repeat": {
            "boundsDuration": {"value": 14, "unit": "天", "system": UCUM, "code": "d"},
            "count": 28,
            "timeOfDay": ["08:00:00", "20:00:00"],
        },
    }
    (encoded,) = request_dosages(converter, rde(orc(f2="RX300^HIS", f3=""), rxe(), timing, ROUTE))
    (original,) = request_dosages(converter, omp("ORC|NW|CP700^HIS", timing, "RXO|YP010^二甲双胍缓释片^L|1||片"))
    (dispensed,) = dispense_dosages(converter, order(), rxe(), timing, ROUTE, rxd(), ROUTE)
    assert encoded["timing"] == original["timing"] == dispensed["timing"] == expected


def test_a_message_with_two_orders_keeps_each_dispense_s_timing(converter):
    # the inner lookup stays inside its own ORDER: the second dispense does not read the first order's timing
    text = message(
        msh("RDS", "O13", "RDS_O13", "DS9"),
        pid(),
        pv1(),
        order(),
        rxe(),
        tq1(),
        ROUTE,
        rxd(),
        ROUTE,
        orc(f1="RE", f2="RX101^HIS", f3=""),
        rxe(f15="RX2026-0002"),
        tq1(f3="QD", f8=""),
        ROUTE,
        rxd(f7="RX2026-0002"),
        ROUTE,
    )
    bundle = convert(converter, text)

    codes = sorted(
        d["timing"]["code"]["coding"][0]["code"]
        for given in resources(bundle, "MedicationDispense")
        for d in given["dosageInstruction"]
    )
    assert codes == ["QD", "TID"]


def test_an_rxe_1_timing_wins_over_a_repeating_order_tq(converter):
    # RXE-1 says the encoded timing (Q8H, its first component empty); ORC-7's repetitions are the order's: one dosage
    text = rde(orc(f2="RX202^HIS", f3="", f7="^BID~^QHS"), rxe(f1="^Q8H"), ROUTE)
    (dosage,) = request_dosages(converter, text)
    assert dosage["timing"]["repeat"] == {"frequency": 1, "period": 8, "periodUnit": "h"}


def test_an_rxo_order_whose_tq_has_only_a_priority_has_one_dosage(converter):
    # ORC-7 ^^^^^S (stat, no timing): one dosage, not one from ORC-7 and another without it
    text = orm("ORC|NW|CP604^HIS|||||^^^^^S", "RXO|YP040^肾上腺素注射液^L|1||mg", "RXR|IM", version="2.4")
    (dosage,) = request_dosages(converter, text)
    assert "timing" not in dosage
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 1
    assert one(convert(converter, text), "MedicationRequest")["priority"] == "stat"


def test_an_occurrence_duration_is_how_long_each_administration_lasts(converter):
    # TQ1-13 occurrence duration (IG TQ1[MedicationRequest] row 13): an infusion run over 30 分钟, resp. 1.5 h;
    # a unit that is no unit of time (盒) gives no duration (FHIR tim-1 needs its unit)
    def timing(tq1_13: str) -> dict:
        text = rde(orc(f2="RX400^HIS", f3=""), rxe(), f"TQ1|1||QD||||||||||{tq1_13}", ROUTE)
        (dosage,) = request_dosages(converter, text)
        return dosage["timing"]["repeat"]

    assert timing("30^分钟") == {"frequency": 1, "period": 1, "periodUnit": "d", "duration": 30, "durationUnit": "min"}
    assert timing("1.5^h")["duration"] == 1.5 and timing("1.5^h")["durationUnit"] == "h"
    assert "duration" not in timing("2^盒") and "durationUnit" not in timing("2^盒")


def test_the_give_pharmacy_instructions_of_an_encoded_order(converter):
    # RXE-21 give pharmacy/treatment instructions (repeating), as RXO-6 of the original order: additionalInstruction
    text = rde(orc(f2="RX401^HIS", f3=""), rxe(f21="^不可嚼碎~BX^避光保存^L"), tq1(), ROUTE)
    (dosage,) = request_dosages(converter, text)
    assert dosage["additionalInstruction"] == [
        {"text": "不可嚼碎"},
        {"coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "BX", "display": "避光保存"}], "text": "避光保存"},
    ]


def test_a_tq1_without_a_pattern_takes_the_order_s_tq(converter):
    # a v2.5 sender in transition: TQ1 says only the priority (S), ORC-7 (kept for compatibility) the pattern and
    # start. The pattern is the order's: read from ORC-7 (the RXO dosage did so before it read each TQ1), for the
    # encoded order too
    expected = {
        "code": {"coding": [{"system": V3_GTS, "code": "BID", "display": "BID"}, {"system": V2_0335, "code": "BID"}]},
        "repeat": {
            "frequency": 2,
            "period": 1,
            "periodUnit": "d",
            "boundsPeriod": {"start": "2026-03-15T09:00:00+08:00"},
        },
    }
    text = orm("ORC|NW|CP605^HIS|||||^BID^^20260315090000", "TQ1|1||||||||S", "RXO|YP010^二甲双胍缓释片^L|1||片")
    (original,) = request_dosages(converter, text)
    assert original["timing"] == expected
    encoded_text = rde(orc(f2="RX402^HIS", f3="", f7="^BID^^20260315090000"), rxe(), "TQ1|1||||||||S", ROUTE)
    (encoded,) = request_dosages(converter, encoded_text)
    assert encoded["timing"] == expected
    # a TQ1 with its own pattern and start keeps them
    text = orm(
        "ORC|NW|CP606^HIS|||||^BID^^20260315090000", "TQ1|1||TID||||20260316090000", "RXO|YP010^二甲双胍缓释片^L|1||片"
    )
    (own,) = request_dosages(converter, text)
    assert own["timing"]["code"]["coding"][0]["code"] == "TID"
    assert own["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-03-16T09:00:00+08:00"}


# RXG: RGV^O15 ----------------------------------------------------------------------------------------------------


def test_a_give_reads_its_tq1_as_the_orders_do(converter):
    # the first give's TQ1: start and end, run over 15 分钟 (TQ1-13); its second TQ1 the give repeated at 11:00.
    # A give used to read the first TQ1's pattern and bounds only, in one dosage.
    text = rgv().replace(
        "TQ1|1||||||202603150700|202603150715",
        "TQ1|1||||||202603150700|202603150715|||||15^分钟\rTQ1|2||||||202603151100",
        1,
    )
    gives = [r for r in resources(convert(converter, text), "MedicationRequest") if r["intent"] == "instance-order"]
    dosages = gives[0]["dosageInstruction"]
    assert [d["sequence"] for d in dosages] == [1, 2]
    assert dosages[0]["timing"]["repeat"] == {
        "boundsPeriod": {"start": "2026-03-15T07:00:00+08:00", "end": "2026-03-15T07:15:00+08:00"},
        "duration": 15,
        "durationUnit": "min",
    }
    assert dosages[1]["timing"]["repeat"] == {"boundsPeriod": {"start": "2026-03-15T11:00:00+08:00"}}
    for dosage in dosages:
        assert dosage["text"] == "餐前即刻"
        assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 6, "unit": "单位"}
        assert dosage["route"]["coding"][0]["code"] == "SQ"


# v2.3 and v2.3.1 pharmacy messages: RDS^O01, RGV^O01, RAS^O01 -------------------------------------------------------


def v23(code: str, *segments: str) -> str:
    # MSH-9 without a structure (v2.3): RDS^O01 → RDS_O01 by table 0354; they used to be refused (no mapping)
    msh = f"MSH|^~\\&|PHARM|SZRMYY|HIS|SZRMYY|20260315070000||{code}^O01|{code}23|P|2.3"
    return "\r".join([msh, "PID|1||MRN0002^^^SZRMYY^MR||陈建华||19600805|M", *segments]) + "\r"


# ORC-2/3 the order numbers; RXE-1 the encoded timing (TQ: BID from 08:00), RXE-2 the drug (NDC), RXE-3/5 2 TAB
V23_ORDER = ("ORC|RE|1000^OE|9999^RX", "RXE|1^BID^^20260315080000|0047-0402-30^Ampicillin 250 MG TAB^NDC|2||TAB")
BID_FROM_8 = {"frequency": 2, "period": 1, "periodUnit": "d", "boundsPeriod": {"start": "2026-03-15T08:00:00+08:00"}}


def test_a_v23_dispense_rds_o01(converter):
    # RXD-1 first fill, RXD-3 dispensed at 09:00, RXD-4/5 20 TAB
    bundle = convert(
        converter, v23("RDS", *V23_ORDER, "RXD|1|0047-0402-30^Ampicillin^NDC|20260315090000|20|TAB", "RXR|PO")
    )
    given, request = one(bundle, "MedicationDispense"), one(bundle, "MedicationRequest")
    assert given["status"] == "completed"
    assert given["whenHandedOver"] == "2026-03-15T09:00:00+08:00"
    assert given["quantity"] == {"value": 20, "unit": "TAB"}
    assert given["authorizingPrescription"] == [{"reference": f"MedicationRequest/{request['id']}"}]
    (dosage,) = given["dosageInstruction"]
    assert dosage["timing"]["repeat"] == BID_FROM_8
    assert dosage["route"]["coding"][0]["code"] == "PO"


def test_a_v23_give_rgv_o01(converter):
    bundle = convert(
        converter, v23("RGV", *V23_ORDER, "RXG|1|1|^BID^^20260315080000|0047-0402-30^Ampicillin^NDC|2||TAB", "RXR|PO")
    )
    requests = resources(bundle, "MedicationRequest")
    [order] = [r for r in requests if r["intent"] == "order"]
    [give] = [r for r in requests if r["intent"] == "instance-order"]
    assert give["basedOn"] == [{"reference": f"MedicationRequest/{order['id']}"}]
    (dosage,) = give["dosageInstruction"]
    assert dosage["timing"]["repeat"] == BID_FROM_8
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 2, "unit": "TAB"}


def test_a_v23_administration_ras_o01(converter):
    # RXA-3/4 given 08:00 to 08:05, RXA-6/7 2 TAB, RXA-20 CP complete
    text = v23(
        "RAS",
        *V23_ORDER,
        "RXA|0|1|20260315080000|20260315080500|0047-0402-30^Ampicillin^NDC|2|TAB||||||||||||CP",
        "RXR|PO",
    )
    bundle = convert(converter, text)
    given = one(bundle, "MedicationAdministration")
    assert given["status"] == "completed"
    assert given["effectivePeriod"] == {"start": "2026-03-15T08:00:00+08:00", "end": "2026-03-15T08:05:00+08:00"}
    assert given["request"] == {"reference": f"MedicationRequest/{one(bundle, 'MedicationRequest')['id']}"}
    assert given["dosage"]["dose"] == {"value": 2, "unit": "TAB"}


def test_chinese_frequencies_written_as_a_rate(converter):
    # 3次/日 (three times a day), 2次/周, 1次/8小时, 3/日: Chinese HIS write the frequency as a rate; 每晚1次 with
    # digits as 每晚一次 (and then no explicit time beside it: FHIR has timeOfDay or when, not both)
    assert repeat_pattern("3次/日") == {"frequency": 3, "period": 1, "periodUnit": "d"}
    assert repeat_pattern("3/日") == {"frequency": 3, "period": 1, "periodUnit": "d"}
    assert repeat_pattern("三次/天") == {"frequency": 3, "period": 1, "periodUnit": "d"}
    assert repeat_pattern("2次/周") == {"frequency": 2, "period": 1, "periodUnit": "wk"}
    assert repeat_pattern("1次/8小时") == {"frequency": 1, "period": 8, "periodUnit": "h"}
    assert repeat_pattern("每日11次") == {"frequency": 11, "period": 1, "periodUnit": "d"}
    assert repeat_pattern("0次/日") is None and repeat_pattern("次/日") is None
    (dosage,) = request_dosages(converter, rde(orc(f2="RX403^HIS", f3=""), rxe(), "TQ1|1||每晚1次|2100", ROUTE))
    assert dosage["timing"] == {
        "code": {"text": "每晚1次"},
        "repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["NIGHT"]},
    }


def test_a_refused_administration_without_a_reason_says_it_was_declined(converter):
    # RAS: RXA-20 RE without RXA-18 or RXA-9 — refused, not merely not given (NA): "Drug declined by patient"
    refused = "RXA|1|2|20260315210000||0401^硝苯地平控释片^L|30|mg" + "|" * 13 + "RE|A"
    not_given = "RXA|1|2|20260315210000||0401^硝苯地平控释片^L|30|mg" + "|" * 13 + "NA|A"
    by_reason = {}
    for text in (refused, not_given):
        administrations = resources(convert(converter, ras(second_rxa=text)), "MedicationAdministration")
        by_reason[text[-4:-2]] = administrations[1]
    assert by_reason["RE"]["status"] == by_reason["NA"]["status"] == "not-done"
    assert by_reason["RE"]["statusReason"] == [
        {"coding": [{"system": "http://snomed.info/sct", "code": "182895007", "display": "Drug declined by patient"}]}
    ]
    assert "statusReason" not in by_reason["NA"]
    # a refusal with its reason (RXA-18) keeps the reason only
    (given_reason,) = resources(convert(converter, ras()), "MedicationAdministration")[1]["statusReason"]
    assert given_reason["text"] == "患者拒绝服药"


def test_where_a_dispense_happened_and_where_it_went(converter):
    # RXE-40 the encoded order's dispensing pharmacy (门诊西药房), RXD-30 the dispense's own (v2.6+) winning over
    # it; RXD-13 dispense-to location (LA2: ward 5A, room 12) → destination
    (given,) = resources(convert(converter, rds()), "MedicationDispense")
    assert given["location"] == {"display": "门诊西药房"}
    assert "destination" not in given
    own = rds(order(), rxe(), tq1(), ROUTE, rxd(f13="5A^12^^SZRMYY", f30="PH02^住院药房^L"), ROUTE)
    (given,) = resources(convert(converter, own), "MedicationDispense")
    assert given["location"] == {"display": "住院药房"}
    assert given["destination"] == {"display": "SZRMYY 5A 12"}


# Any timing converts to valid FHIR ------------------------------------------------------------------------------

PATTERNS = ["", "TID", "BID^每日两次^L", "Q8H", "QHS", "每晚1次", "3次/日", "饭后每日两次", "PRN", "QJ135", "ST", "xyz"]
TIMES = ["", "0800", "0800~2000", "2100"]
DURATIONS = ["", "7^d", "14^天", "2^盒", "^d"]
OCCURRENCES = ["", "30^min", "1.5^小时", "2^盒", "abc^min"]
COUNTS = ["", "28", "0", "x"]
BOUNDS = [("", ""), ("20260315090000", ""), ("20260315090000", "20260322090000"), ("", "20260322090000")]


@st.composite
def timings(draw: st.DrawFn) -> str:
    start, end = draw(st.sampled_from(BOUNDS))
    fields = {
        3: draw(st.sampled_from(PATTERNS)),
        4: draw(st.sampled_from(TIMES)),
        6: draw(st.sampled_from(DURATIONS)),
        7: start,
        8: end,
        9: draw(st.sampled_from(["", "S", "R", "PRN"])),
        13: draw(st.sampled_from(OCCURRENCES)),
        14: draw(st.sampled_from(COUNTS)),
    }
    return segment("TQ1", {1: str(draw(st.integers(1, 3)))}, **{f"f{k}": v for k, v in fields.items()})


@pytest.mark.filterwarnings("ignore")
@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tq1s=st.lists(timings(), min_size=0, max_size=3),
    order_tq=st.sampled_from(["", "^BID", "^Q6H^^20260315080000~^QD", "^^^^^S"]),
    kind=st.sampled_from(["RDE", "OMP", "RDS", "RGV"]),
)
def test_any_timing_converts_to_valid_fhir_with_one_dosage_per_tq1(converter, tq1s, order_tq, kind):
    if kind == "OMP":
        text = omp(f"ORC|NW|CP900^HIS|||||{order_tq}", *tq1s, "RXO|YP010^二甲双胍缓释片^L|1||片", "RXR|PO")
    elif kind == "RDE":
        text = rde(orc(f2="RX900^HIS", f3="", f7=order_tq), rxe(), *tq1s, ROUTE)
    elif kind == "RDS":
        text = rds(order(), rxe(), *tq1s, ROUTE, rxd(), ROUTE)
    else:
        text = rgv().replace("TQ1|1||||||202603150700|202603150715", "\r".join(tq1s) or "NTE|1||-", 1)
    bundle = converter.convert(er7.parse(text), sender_timezone="Asia/Shanghai")
    assert validate_bundle(bundle, models=True) == []
    if not tq1s or kind == "RGV":
        return
    made = {"OMP": "MedicationRequest", "RDE": "MedicationRequest", "RDS": "MedicationDispense"}[kind]
    (resource,) = resources(bundle, made)
    assert len(resource["dosageInstruction"]) == len(tq1s)


def test_more_chinese_route_words(converter):
    # 鼻喷 (a nasal spray vaccine), 口服给药, 皮试 (an antibiotic skin test: intradermal) were kept as local routes
    # and reported; they are table 0162's NS, PO and ID
    for word, system, code in (
        ("鼻喷", "http://terminology.hl7.org/CodeSystem/v2-0162", "NS"),
        ("口服给药", "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration", "PO"),
        ("皮试", "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration", "IDINJ"),
    ):
        text = rde(orc(f2="RX500^HIS", f3=""), rxe(), tq1(), f"RXR|{word}")
        bundle, report = with_report(converter, text)
        (dosage,) = one(bundle, "MedicationRequest")["dosageInstruction"]
        assert dosage["route"]["coding"][0]["system"] == system and dosage["route"]["coding"][0]["code"] == code
        assert dosage["route"]["coding"][1] == {"code": word}  # the word as sent
        assert not [r for r in report if r.get("table") == "local-routes"]
