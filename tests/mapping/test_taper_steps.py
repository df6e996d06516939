"""The steps of a taper as a clinic pharmacist fills them: when each step runs, and until when the order is valid.

A 泼尼松 (prednisone) taper is sent as one TQ1 per step (v2.5+), or as repetitions of ORC-7 (v2.3–v2.4), joined by
their conjunctions (HL7 table 0472: ``S`` then, ``A`` at the same time). Only the first step usually carries its dates
(TQ1-7 start, TQ1-8 end); a later step says its length (TQ1-6 service duration) and follows the one before.

* A later step sent without its own dates gets the course its conjunction says, as the order's validity counts it:
  ``boundsPeriod`` 2026-04-06..2026-04-10 for the second five days after ``S``, the first step's start after ``A``
  (at the same time) — not a bare ``boundsDuration`` of 5 days that the pharmacist must count from the first step,
  nor a dose whose dates nobody wrote down. A step without a length ("until review") has its start alone.
* An order whose last step has no length ("until review", 维持量) has no end to tell: its
  ``dispenseRequest.validityPeriod`` has no end — not the first step's own end (TQ1-8, TQ.5), which made a
  prescription whose maintenance dose was running look expired after its first step.

``convert`` validates each Bundle (R4 schema, R4B models).
"""

from __future__ import annotations

from typing import Any

from tests.mapping.conftest import convert, one

# PID-3 record number and resident ID number (GB 11643, valid check digit), PID-5 name, PID-7 birth, PID-8 sex
PATIENT = "PID|1||MRN7781^^^SZRMYY^MR~440303196507086320^^^^NNCHN||陈^淑芬||19650708|F"
VISIT = "PV1|1|O|风湿免疫科门诊^^^SZRMYY||||D023^周^建华^^^^^^SZRMYY"
# RXE-2 prednisone 5 mg tablets, RXE-3/5 the first step's 30 mg, RXE-6 tablet, RXE-10/11 dispense 60 tablets
ENCODED = "RXE|{tq}|Y0301^醋酸泼尼松片^L|30||mg|TAB^片剂^L|^早餐后顿服|||60|片|0"
ORIGINAL = "RXO|Y0301^醋酸泼尼松片^L|30||mg|TAB^片剂^L|^早餐后顿服||||60|片|0"
ROUTE = "RXR|PO^口服^HL70162"

# 30 mg a day from 2026-04-01 through 2026-04-05 (TQ1-7, TQ1-8), then 5 mg a day until the next review (no length)
UNTIL_REVIEW = ("TQ1|1|6^片|QD^每日一次^HL70335||||20260401|20260405||||S", "TQ1|2|1^片|QD^每日一次^HL70335")


def _message(kind: str, version: str, *segments: str) -> str:
    msh = f"MSH|^~\\&|HIS|SZRMYY|PHARM|SZRMYY|20260401081000||{kind}|{kind[:3]}0401|P|{version}"
    return "\r".join([msh, PATIENT, VISIT, *segments]) + "\r"


def _request(bundle: dict[str, Any]) -> dict[str, Any]:
    return one(bundle, "MedicationRequest")


def _validity(bundle: dict[str, Any]) -> dict[str, Any]:
    return _request(bundle)["dispenseRequest"].get("validityPeriod", {})


def test_a_taper_ending_until_review_has_no_validity_end(converter):
    # RDE^O11 v2.5.1: the pharmacy's encoded order
    rde = _message("RDE^O11^RDE_O11", "2.5.1", "ORC|NW|CF20260401-3^HIS", ENCODED.format(tq=""), *UNTIL_REVIEW, ROUTE)
    assert _validity(convert(converter, rde)) == {"start": "2026-04-01"}
    # OMP^O09: the doctor's order alike
    omp = _message("OMP^O09^OMP_O09", "2.5.1", "ORC|NW|CF20260401-3^HIS", *UNTIL_REVIEW, ORIGINAL, ROUTE)
    assert _validity(convert(converter, omp)) == {"start": "2026-04-01"}


def test_an_orc_7_taper_ending_until_review_has_no_validity_end(converter):
    # v2.4: ORC-7 repetitions (RXE-1 empty), the first from 04-01 through 04-05 (TQ.4, TQ.5) then (TQ.9 S) a
    # maintenance dose without a duration
    orc = "ORC|NW|CF20260401-4^HIS|||||1^QD^^20260401^20260405^^^^S~1^QD"
    rde = _message("RDE^O11^RDE_O11", "2.4", orc, ENCODED.format(tq=""), ROUTE)
    assert _validity(convert(converter, rde)) == {"start": "2026-04-01"}
    omp = _message("OMP^O09^OMP_O09", "2.4", orc, ORIGINAL, ROUTE)
    assert _validity(convert(converter, omp)) == {"start": "2026-04-01"}


def test_one_timing_keeps_its_own_end(converter):
    # guard: one TQ1 with its end is the order's validity
    rde = _message("RDE^O11^RDE_O11", "2.5.1", "ORC|NW|CF20260401-5^HIS", ENCODED.format(tq=""), UNTIL_REVIEW[0], ROUTE)
    assert _validity(convert(converter, rde)) == {"start": "2026-04-01", "end": "2026-04-05"}


# 30 mg, 20 mg, 10 mg a day for 5 days each from 2026-04-01, then 5 mg a day until the next review: one after the other
TAPER = (
    "TQ1|1|6^片|QD^每日一次^HL70335|||5^d|20260401|||||S",
    "TQ1|2|4^片|QD^每日一次^HL70335|||5^d||||||S",
    "TQ1|3|2^片|QD^每日一次^HL70335|||5^d||||||S",
    "TQ1|4|1^片|QD^每日一次^HL70335",
)
STEPS = [
    {"start": "2026-04-01", "end": "2026-04-05"},
    {"start": "2026-04-06", "end": "2026-04-10"},
    {"start": "2026-04-11", "end": "2026-04-15"},
    {"start": "2026-04-16"},
]


def _bounds(dosages: list[dict[str, Any]]) -> list[Any]:
    return [d["timing"]["repeat"].get("boundsPeriod", d["timing"]["repeat"].get("boundsDuration")) for d in dosages]


def test_each_later_step_of_a_taper_has_its_own_dates(converter):
    rde = _message("RDE^O11^RDE_O11", "2.5.1", "ORC|NW|CF20260401-6^HIS", ENCODED.format(tq=""), *TAPER, ROUTE)
    request = _request(convert(converter, rde))
    assert [d["sequence"] for d in request["dosageInstruction"]] == [1, 2, 3, 4]
    assert _bounds(request["dosageInstruction"]) == STEPS
    # the doctor's order (OMP^O09) alike
    omp = _message("OMP^O09^OMP_O09", "2.5.1", "ORC|NW|CF20260401-6^HIS", *TAPER, ORIGINAL, ROUTE)
    assert _bounds(_request(convert(converter, omp))["dosageInstruction"]) == STEPS


def test_the_dispense_of_a_taper_reads_the_steps_alike(converter):
    # RDS^O13: the encoded order's TQ1 (v2.5.1 TIMING_ENCODED), then the first fill (RXD-3 when, RXD-4/5 amount,
    # RXD-10 the dispensing pharmacist)
    rds = _message(
        "RDS^O13^RDS_O13",
        "2.5.1",
        "ORC|RE|CF20260401-7^HIS",
        ENCODED.format(tq=""),
        *TAPER,
        ROUTE,
        "RXD|1|Y0301^醋酸泼尼松片^L|20260401093000|60|片|TAB^片剂^L|CF20260401-7|||P005^林^小梅^^^^^^SZRMYY",
        ROUTE,
    )
    dispense = one(convert(converter, rds), "MedicationDispense")
    assert _bounds(dispense["dosageInstruction"]) == STEPS


def test_a_step_at_the_same_time_starts_with_the_one_it_runs_beside(converter):
    # 甲巯咪唑 (methimazole) 10 mg in the morning for 28 days from 2026-04-01 and, at the same time (A), 5 mg at
    # bedtime for 14 days; then (S) 5 mg in the morning for 28 days: from the day after the longer one ended
    rde = _message(
        "RDE^O11^RDE_O11",
        "2.5.1",
        "ORC|NW|CF20260401-8^HIS",
        "RXE||Y0520^甲巯咪唑片^L|10||mg|TAB^片剂^L|||||84|片|0",
        "TQ1|1|2^片|QAM^每日早晨^HL70335|||28^d|20260401|||||A",
        "TQ1|2|1^片|QHS^每晚睡前^HL70335|||14^d||||||S",
        "TQ1|3|1^片|QAM^每日早晨^HL70335|||28^d",
        ROUTE,
    )
    request = _request(convert(converter, rde))
    assert [d["sequence"] for d in request["dosageInstruction"]] == [1, 1, 2]
    assert _bounds(request["dosageInstruction"]) == [
        {"start": "2026-04-01", "end": "2026-04-28"},
        {"start": "2026-04-01", "end": "2026-04-14"},
        {"start": "2026-04-29", "end": "2026-05-26"},
    ]
    assert _validity(convert(converter, rde)) == {"start": "2026-04-01", "end": "2026-05-26"}


def test_a_step_after_one_without_a_length_keeps_its_duration(converter):
    # the first step has no length: nothing says when the second starts; it stays "5 days" (boundsDuration)
    rde = _message(
        "RDE^O11^RDE_O11",
        "2.5.1",
        "ORC|NW|CF20260401-9^HIS",
        ENCODED.format(tq=""),
        "TQ1|1|6^片|QD^每日一次^HL70335||||20260401|||||S",
        "TQ1|2|4^片|QD^每日一次^HL70335|||5^d",
        ROUTE,
    )
    bounds = _bounds(_request(convert(converter, rde))["dosageInstruction"])
    assert bounds[0] == {"start": "2026-04-01"}
    assert bounds[1] == {"value": 5, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"}


# v2.4: the same taper as repetitions of ORC-7 (RXE-1 empty): TQ.2 interval, TQ.3 duration, TQ.4 start, TQ.9 S
ORC_TAPER = "ORC|NW|CF20260401-10^HIS|||||1^QD^D5^20260401^^^^^S~1^QD^D5^^^^^^S~1^QD^D5^^^^^^S~1^QD"


def test_each_later_repetition_of_an_orc_7_taper_has_its_own_dates(converter):
    rde = _message("RDE^O11^RDE_O11", "2.4", ORC_TAPER, ENCODED.format(tq=""), ROUTE)
    request = _request(convert(converter, rde))
    assert [d["sequence"] for d in request["dosageInstruction"]] == [1, 2, 3, 4]
    assert _bounds(request["dosageInstruction"]) == STEPS
    # the doctor's order (OMP^O09) and the dispense (RDS^O13) alike
    omp = _message("OMP^O09^OMP_O09", "2.4", ORC_TAPER, ORIGINAL, ROUTE)
    assert _bounds(_request(convert(converter, omp))["dosageInstruction"]) == STEPS
    fill = "RXD|1|Y0301^醋酸泼尼松片^L|20260401093000|60|片|TAB^片剂^L|CF20260401-10|||P005^林^小梅^^^^^^SZRMYY"
    rds = _message("RDS^O13^RDS_O13", "2.4", ORC_TAPER.replace("NW", "RE"), ENCODED.format(tq=""), ROUTE, fill, ROUTE)
    assert _bounds(one(convert(converter, rds), "MedicationDispense")["dosageInstruction"]) == STEPS


def test_orc_7_repetitions_without_conjunctions_keep_their_durations(converter):
    # nothing says whether they follow each other or run together (a TQ has no set id): no dates are made up
    orc = "ORC|NW|CF20260401-11^HIS|||||1^QAM^D5^20260401~1^QHS^D5"
    rde = _message("RDE^O11^RDE_O11", "2.4", orc, ENCODED.format(tq=""), ROUTE)
    bounds = _bounds(_request(convert(converter, rde))["dosageInstruction"])
    assert bounds == [
        {"start": "2026-04-01", "end": "2026-04-05"},
        {"value": 5, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"},
    ]
