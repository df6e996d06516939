"""Several timings of one drug order, and a course given as a start (or an end) and a service duration.

TQ1-12 conjunction (HL7 table 0472) says how a TQ1 and the next one go together: S (synchronous) the next one
after this one, A (asynchronous) the next one in parallel with it, C an actuation time followed by a completion
time. FHIR R4 has no conjunction; its Dosage.sequence orders dosage instructions, and instructions with the same
sequence are concurrent. So each TQ1 stays a dosage (IG TQ1[MedicationRequest]), and its sequence says what the
conjunction said: the same sequence after an A, the next one after an S or a C. Without any conjunction the
sequence is TQ1-1, as before.

TQ1-6 service duration (IG TQ1[MedicationRequest] row 6): with TQ1-7 start and no end, the end is start + duration;
with TQ1-8 end and no start, the start is end - duration; with neither, Timing.repeat.boundsDuration. A date moves by
whole days counted inclusively (a 7-day course from 2026-03-15 runs to 2026-03-21); a time moves exactly.

Each test converts one message of a Shenzhen hospital with the shipped mappings; ``convert`` validates the Bundle
(R4 schema, R4B models).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.mapping.conftest import convert, one

MSH = "MSH|^~\\&|HIS|SZRMYY|PHARM|SZRMYY|20260315083000||{type}|{control}|P|2.5.1||||||UNICODE UTF-8"
PATIENT = "PID|1||MRN20260315^^^SZRMYY^MR~440304198705123626^^^CHN^NNCHN||林晓雯||19870512|F"
VISIT = "PV1|1|O|呼吸内科门诊^^^SZRMYY||||D017^周^建国"
# RXE: 甲泼尼龙片 (methylprednisolone) 4 mg tablets, give 1 tablet; RXR oral
ENCODED = "RXE|^^^20260315090000^^R|Y0217^甲泼尼龙片^L|1||片|TAB^片剂^L|^晨起顿服|||14|片|0"
ORIGINAL = "RXO|Y0217^甲泼尼龙片^L|1||片|TAB^片剂^L|||||14|片|0"
ROUTE = "RXR|PO^口服^HL70162"
DISPENSE = "RXD|1|Y0217^甲泼尼龙片^L|20260315100000|14|片|TAB^片剂^L|RX2026-0315"


def _message(kind: str, *segments: str) -> str:
    head = MSH.format(type=kind, control=kind.split("^")[2] + "-0315")
    return "\r".join([head, PATIENT, VISIT, *segments]) + "\r"


def _dosages(bundle: dict[str, Any], rtype: str = "MedicationRequest") -> list[dict[str, Any]]:
    return one(bundle, rtype)["dosageInstruction"]


def _sequences(dosages: list[dict[str, Any]]) -> list[int | None]:
    return [d.get("sequence") for d in dosages]


def _codes(dosages: list[dict[str, Any]]) -> list[str]:
    # the pattern as table 0335 codes it, else as text (QAM, QHS)
    codes = [d["timing"]["code"] for d in dosages]
    return [c["coding"][-1]["code"] if "coding" in c else c["text"] for c in codes]


# Conjunction -------------------------------------------------------------------------------------------------


def test_rde_parallel_timings_share_a_sequence(converter):
    # RDE^O11: one tablet every morning (QAM) and, at the same time, one at bedtime (QHS): TQ1-12 A on the first.
    # Before: sequences 1 and 2 (TQ1-1), which FHIR reads as one after the other.
    text = _message(
        "RDE^O11^RDE_O11",
        "ORC|NW|RX20260315-01^HIS",
        ENCODED,
        "TQ1|1||QAM||||20260315|20260328||||A",
        "TQ1|2||QHS||||20260315|20260328",
        ROUTE,
    )
    dosages = _dosages(convert(converter, text))
    assert _codes(dosages) == ["QAM", "QHS"]
    assert _sequences(dosages) == [1, 1]


def test_omp_sequential_timings_follow_each_other_whatever_the_set_ids(converter):
    # OMP^O09: a taper, three times a day for 3 days, then (S) twice a day for 4 days; the HIS numbers every TQ1
    # "1". Before: both sequence 1, concurrent, which would give five tablets a day from the first day.
    text = _message(
        "OMP^O09^OMP_O09",
        "ORC|NW|RX20260315-02^HIS",
        "TQ1|1||TID|||3^d|20260315|||||S",
        "TQ1|1||BID|||4^d|20260318",
        ORIGINAL,
        ROUTE,
    )
    dosages = _dosages(convert(converter, text))
    assert _codes(dosages) == ["TID", "BID"]
    assert _sequences(dosages) == [1, 2]
    assert dosages[0]["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-03-15", "end": "2026-03-17"}
    assert dosages[1]["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-03-18", "end": "2026-03-21"}


def test_rds_dispense_reads_the_encoded_orders_conjunctions(converter):
    # RDS^O13: the encoded order's timings (TQ1 after RXE): mornings and bedtimes in parallel (A), then (S) a
    # last week of mornings only; the dispense and the order both say 1, 1, 2 (before: 1, 2, 3)
    text = _message(
        "RDS^O13^RDS_O13",
        "ORC|RE|RX20260315-03^HIS",
        ENCODED,
        "TQ1|1||QAM|||7^d|20260315|||||A",
        "TQ1|2||QHS|||7^d|20260315|||||S",
        "TQ1|3||QAM|||7^d|20260322",
        ROUTE,
        DISPENSE,
    )
    bundle = convert(converter, text)
    for rtype in ("MedicationRequest", "MedicationDispense"):
        dosages = _dosages(bundle, rtype)
        assert _codes(dosages) == ["QAM", "QHS", "QAM"], rtype
        assert _sequences(dosages) == [1, 1, 2], rtype


def test_an_actuation_timing_is_followed_by_its_completion(converter):
    # C: the first TQ1 says when to start (stat), the second when it must be done; R4 has no such pair, so they
    # stay two dosages in that order, without the set ids (both "1")
    text = _message(
        "RDE^O11^RDE_O11",
        "ORC|NW|RX20260315-04^HIS",
        ENCODED,
        "TQ1|1||ONCE||||202603150900|||||C",
        "TQ1|1||ONCE|||||202603151200",
        ROUTE,
    )
    dosages = _dosages(convert(converter, text))
    assert _sequences(dosages) == [1, 2]


# Service duration with a start or an end ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "duration", "bounds"),
    [
        ("20260315", "", "7^d", {"start": "2026-03-15", "end": "2026-03-21"}),
        ("20260315", "", "14^天", {"start": "2026-03-15", "end": "2026-03-28"}),
        ("20260315", "", "2^wk", {"start": "2026-03-15", "end": "2026-03-28"}),
        (
            "202603150800",
            "",
            "36^h",
            {"start": "2026-03-15T08:00:00+08:00", "end": "2026-03-16T20:00:00+08:00"},
        ),
        ("", "20260321", "7^d", {"start": "2026-03-15", "end": "2026-03-21"}),
        (
            "",
            "20260316200000",
            "90^min",
            {"start": "2026-03-16T18:30:00+08:00", "end": "2026-03-16T20:00:00+08:00"},
        ),
    ],
)
def test_a_course_with_a_start_or_an_end_and_a_duration(converter, start, end, duration, bounds):
    # RDE^O11: TQ1-6 service duration with TQ1-7 start or TQ1-8 end. Before: the bounds were the given end only,
    # the duration lost (Timing.repeat.bounds[x] is one choice and boundsPeriod came first)
    text = _message(
        "RDE^O11^RDE_O11",
        "ORC|NW|RX20260315-05^HIS",
        ENCODED,
        f"TQ1|1||QD|||{duration}|{start}|{end}",
        ROUTE,
    )
    (dosage,) = _dosages(convert(converter, text))
    assert dosage["timing"]["repeat"]["boundsPeriod"] == bounds


def test_a_duration_that_does_not_fit_the_start_says_no_end(converter):
    # four courses from a date: 7 days (ends 2026-03-21); 36 hours (after a date, no end can be said); a duration
    # without a number; a duration past any date (a typo: 999999 weeks). Only the first gets an end; nothing is
    # made up for the others, and the message converts.
    text = _message(
        "RDE^O11^RDE_O11",
        "ORC|NW|RX20260315-08^HIS",
        ENCODED,
        "TQ1|1||QD|||7^d|20260315|||||A",
        "TQ1|2||QD|||36^h|20260315|||||A",
        "TQ1|3||QD|||^^^d^天|20260315|||||A",
        "TQ1|4||QD|||999999^wk|20260315",
        ROUTE,
    )
    bounds = [d["timing"]["repeat"]["boundsPeriod"] for d in _dosages(convert(converter, text))]
    assert bounds == [{"start": "2026-03-15", "end": "2026-03-21"}, *[{"start": "2026-03-15"}] * 3]


def test_the_original_order_and_the_dispense_end_the_course_alike(converter):
    # OMP^O09 (RXO) and RDS^O13 (RXD) read the TQ1 with the same datatype (TQ1_Timing)
    requested = _dosages(
        convert(
            converter,
            _message("OMP^O09^OMP_O09", "ORC|NW|RX20260315-06^HIS", "TQ1|1||BID|||5^d|20260315", ORIGINAL, ROUTE),
        )
    )
    assert requested[0]["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-03-15", "end": "2026-03-19"}
    dispensed = _dosages(
        convert(
            converter,
            _message(
                "RDS^O13^RDS_O13",
                "ORC|RE|RX20260315-07^HIS",
                ENCODED,
                "TQ1|1||BID|||5^d||20260319",
                ROUTE,
                DISPENSE,
            ),
        ),
        "MedicationDispense",
    )
    assert dispensed[0]["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-03-15", "end": "2026-03-19"}
