"""The course of a dispense's and a give's one timing before v2.5 (TQ in RXE-1, ORC-7, RXG-3): a start and a length
end where the order's course ends.

The encoded order's MedicationRequest read TQ.4 start + TQ.3 duration (``D30``, ``X14`` times) as the end of the
course, and TQ.3 alone as ``boundsDuration``; the MedicationDispense of the same RDS (one dosage from RXE-1, else
ORC-7) and the give of an RGV (RXG-3) kept the start only, so a 30-day supply of 二甲双胍缓释片 read as open-ended on
the dispense a clinic pharmacist looks at for the next fill. Now they read the TQ as the order does.
"""

from __future__ import annotations

from typing import Any

from tests.mapping.conftest import convert, one, resources

UCUM = "http://unitsofmeasure.org"
# PID-3 record number and resident ID number (GB 11643, valid check digit), PID-5 name, PID-7 birth, PID-8 sex
PID = "PID|1||MRN6603^^^SZRMYY^MR~440303196507086320^^^^NNCHN||陈^淑芬||19650708|F"
# RXE-2 metformin extended-release 0.5 g tablets, RXE-3/5 1 g, RXE-6 tablet, RXE-10/11 60 tablets
METFORMIN = "RXE|{tq}|Y0451^二甲双胍缓释片^L|1||g|TAB^片剂^L|^晚餐时服用|||60|片|2"
# RXD-2 what was dispensed, RXD-3 when, RXD-4/5 60 tablets, RXD-10 the dispensing pharmacist
FILL = "RXD|1|Y0451^二甲双胍缓释片^L|20260401093000|60|片||CF2026-0501|||P005^林^小梅^^^^^^SZRMYY"
ROUTE = "RXR|PO^口服^HL70162"


def _message(kind: str, *segments: str) -> str:
    msh = f"MSH|^~\\&|HIS|SZRMYY|PHARM|SZRMYY|20260401093000||{kind}|CF0501|P|2.4"
    return "\r".join([msh, PID, "PV1|1|O|内分泌科门诊^^^SZRMYY", *segments]) + "\r"


def _repeat(resource: dict[str, Any]) -> dict[str, Any]:
    (dosage,) = resource["dosageInstruction"]
    return dosage["timing"]["repeat"]


def test_the_dispense_of_a_30_day_supply_ends_with_its_course(converter):
    # RXE-1: once a day (QD) for 30 days (TQ.3 D30) from 2026-04-01 (TQ.4)
    rds = _message(
        "RDS^O13^RDS_O13", "ORC|RE|CF2026-0501^HIS", METFORMIN.format(tq="1^QD^D30^20260401"), ROUTE, FILL, ROUTE
    )
    bundle = convert(converter, rds)
    expected = {"start": "2026-04-01", "end": "2026-04-30"}
    assert _repeat(one(bundle, "MedicationRequest"))["boundsPeriod"] == expected
    assert _repeat(one(bundle, "MedicationDispense"))["boundsPeriod"] == expected


def test_the_dispense_reads_the_orders_tq_alike(converter):
    # ORC-7 (RXE-1 empty): 30 days without a start — a duration; 14 doses (X14) — a count
    rds = _message("RDS^O13^RDS_O13", "ORC|RE|CF2026-0501^HIS|||||1^QD^D30", METFORMIN.format(tq=""), ROUTE, FILL)
    repeat = _repeat(one(convert(converter, rds), "MedicationDispense"))
    assert repeat["boundsDuration"] == {"value": 30, "unit": "d", "system": UCUM, "code": "d"}
    rds = _message("RDS^O13^RDS_O13", "ORC|RE|CF2026-0501^HIS|||||1^BID^X14", METFORMIN.format(tq=""), ROUTE, FILL)
    assert _repeat(one(convert(converter, rds), "MedicationDispense"))["count"] == 14


def test_a_give_ends_with_its_course(converter):
    # RGV^O15: RXG-3 (TQ) once a day for 7 days from 2026-04-01
    give = "RXG|1|1|1^QD^D7^20260401|Y0451^二甲双胍缓释片^L|1||g"
    rgv = _message("RGV^O15^RGV_O15", "ORC|RE|CF2026-0501^HIS", give, ROUTE)
    [given] = [r for r in resources(convert(converter, rgv), "MedicationRequest") if r["intent"] == "instance-order"]
    assert _repeat(given)["boundsPeriod"] == {"start": "2026-04-01", "end": "2026-04-07"}
