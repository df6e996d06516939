"""Timings of drug orders sent the v2.3/v2.4 way (the TQ of ORC-7 and RXE-1), courses that end at a computed date,
and courses counted in months and years.

* TQ.9 conjunction (HL7 table 0472), the TQ's own, says how a repetition of ORC-7 goes with the next as TQ1-12 does
  for TQ1 segments: ``Dosage.sequence`` the same after ``A`` (in parallel), the next after ``S`` (then) or ``C``.
* ``dispenseRequest.validityPeriod`` ends where the one timing's course ends: start + service duration (TQ1-7 +
  TQ1-6), start + total occurrences of the pattern (TQ1-14: BID × 14 is 7 days), and before v2.5 the TQ's start +
  its duration (TQ.4 + TQ.3: ``D7``, ``L3``) or + its total occurrences (TQ.12, ``X<n>``).
* Months and years are counted on the calendar (TQ1-6 ``1^mo``, ``3^个月``, ``1^a``; TQ.3 ``L<n>``): a month from
  2026-01-15 runs through 2026-02-14, from 2026-01-31 through 2026-02-28 (February has no 31st); with a time of day
  the end is that time on the same day of the month (else the month's last day).

The messages are those of Chinese hospital information systems that still send v2.4 pharmacy orders (RDE^O11,
OMP^O09, ORM^O01 with ORC-7); ``convert`` validates each Bundle (R4 schema, R4B models).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.mapping.conftest import convert, one, resources

PATIENT = "PID|1||0012345^^^GDSZYY^MR~440106196403021234^^^CHN^NNCHN||陈志强||19640302|M"
VISIT = "PV1|1|I|心内科^12^03^GDSZYY||||D102^王^海峰"
# RXE: 醋酸泼尼松片 (prednisone acetate) 5 mg tablets, give 2 tablets; RXR oral
ENCODED = "RXE|{tq}|Y0301^醋酸泼尼松片^L|10||mg|TAB^片剂^L|||||60|片|0"
ORIGINAL = "RXO|Y0301^醋酸泼尼松片^L|10||mg|TAB^片剂^L|||||60|片|0"
ROUTE = "RXR|PO^口服^HL70162"


def _message(kind: str, version: str, *segments: str) -> str:
    msh = f"MSH|^~\\&|HIS|GDSZYY|PHARM|GDSZYY|20260120083000||{kind}|{kind[:3]}0120|P|{version}"
    return "\r".join([msh, PATIENT, VISIT, *segments]) + "\r"


def _rde(*segments: str, version: str = "2.4") -> str:
    return _message("RDE^O11^RDE_O11", version, *segments)


def _request(bundle: dict[str, Any]) -> dict[str, Any]:
    return one(bundle, "MedicationRequest")


def _bounds(dosage: dict[str, Any]) -> dict[str, Any]:
    return dosage["timing"]["repeat"].get("boundsPeriod", {})


def _validity(bundle: dict[str, Any]) -> dict[str, Any]:
    return _request(bundle)["dispenseRequest"].get("validityPeriod", {})


# TQ.9 conjunction of ORC-7 -----------------------------------------------------------------------------------


def test_rde_order_tq_taper_follows_its_conjunction(converter):
    # RDE^O11 v2.4: ORC-7 repeats (RXE-1 empty): 泼尼松 three times a day for 3 days from 2026-01-20, then (TQ.9 S)
    # twice a day for 4 days. Before: neither dosage had a sequence (nothing said they follow each other) and the
    # courses had their starts only.
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260120-01^HIS|||||1^TID^D3^20260120^^^^^S~1^BID^D4^20260123",
            ENCODED.format(tq=""),
            ROUTE,
        ),
    )
    dosages = _request(bundle)["dosageInstruction"]
    assert [d.get("sequence") for d in dosages] == [1, 2]
    assert [_bounds(d) for d in dosages] == [
        {"start": "2026-01-20", "end": "2026-01-22"},
        {"start": "2026-01-23", "end": "2026-01-26"},
    ]
    # the prescription is valid until the taper's last course ends (tests/mapping/test_taper_validity.py)
    assert _validity(bundle) == {"start": "2026-01-20", "end": "2026-01-26"}


def test_rde_order_tq_parallel_timings_share_a_sequence(converter):
    # mornings and, at the same time (TQ.9 A), bedtimes, then (S) mornings only; a C (actuation, then completion)
    # also moves on
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260120-02^HIS|||||1^QAM^^20260120^^^^^A~1^QHS^^20260120^^^^^S~1^QAM^^20260127^^^^^C~"
            "1^QAM^^^20260203",
            ENCODED.format(tq=""),
            ROUTE,
        ),
    )
    dosages = _request(bundle)["dosageInstruction"]
    codes = [d["timing"]["code"] for d in dosages]  # QHS is no table 0335 code: its text
    assert [c["coding"][-1]["code"] if "coding" in c else c["text"] for c in codes] == ["QAM", "QHS", "QAM", "QAM"]
    assert [d.get("sequence") for d in dosages] == [1, 1, 2, 3]


def test_order_tq_without_conjunctions_keeps_no_sequence(converter):
    # two repetitions that say nothing of how they go together: as before, no sequence is made up
    bundle = convert(
        converter,
        _rde("ORC|NW|RX20260120-03^HIS|||||1^QAM~1^QHS", ENCODED.format(tq=""), ROUTE),
    )
    assert [d.get("sequence") for d in _request(bundle)["dosageInstruction"]] == [None, None]


@pytest.mark.parametrize(
    ("kind", "version", "segments"),
    [
        ("OMP^O09^OMP_O09", "2.4", ("ORC|NW|RX20260120-04^HIS|||||1^TID^D3^20260120^^^^^S~1^QD^D7^20260123",)),
        ("ORM^O01^ORM_O01", "2.3", ("ORC|NW|RX20260120-04^HIS|||||1^TID^D3^20260120^^^^^S~1^QD^D7^20260123",)),
    ],
)
def test_original_order_tq_taper_follows_its_conjunction(converter, kind, version, segments):
    # the prescriber's order (RXO: OMP^O09, ORM^O01) reads ORC-7 as the pharmacy's encoded order does
    bundle = convert(converter, _message(kind, version, *segments, ORIGINAL, ROUTE))
    dosages = _request(bundle)["dosageInstruction"]
    assert [d.get("sequence") for d in dosages] == [1, 2]
    assert [_bounds(d) for d in dosages] == [
        {"start": "2026-01-20", "end": "2026-01-22"},
        {"start": "2026-01-23", "end": "2026-01-29"},
    ]


# The validity of the prescription ends with its course ---------------------------------------------------------


@pytest.mark.parametrize(
    ("tq1", "validity"),
    [
        # TQ1-7 + TQ1-6 service duration (days counted inclusively)
        ("TQ1|1||TID|||14^d|20260120", {"start": "2026-01-20", "end": "2026-02-02"}),
        # TQ1-7 + TQ1-14 total occurrences of the pattern: BID × 14 doses is 7 days
        ("TQ1|1||BID||||20260120|||||||14", {"start": "2026-01-20", "end": "2026-01-26"}),
        # … with a time of day: Q8H × 9 doses from 08:00 is 72 hours
        (
            "TQ1|1||Q8H||||202601200800|||||||9",
            {"start": "2026-01-20T08:00:00+08:00", "end": "2026-01-23T08:00:00+08:00"},
        ),
        # a Chinese frequency: once a month (每月一次), 6 injections: six calendar months
        ("TQ1|1||每月一次||||20260115|||||||6", {"start": "2026-01-15", "end": "2026-07-14"}),
        # an end given by the sender stays the end
        ("TQ1|1||TID|||14^d|20260120|20260125", {"start": "2026-01-20", "end": "2026-01-25"}),
    ],
)
def test_validity_ends_with_the_course_of_a_tq1(converter, tq1, validity):
    # RDE^O11 v2.5.1. Before: the validity period had only its start (TQ1-8 was the only end it read)
    bundle = convert(converter, _rde("ORC|NW|RX20260120-05^HIS", ENCODED.format(tq=""), tq1, ROUTE, version="2.5.1"))
    assert _validity(bundle) == validity


@pytest.mark.parametrize(
    ("where", "tq", "validity", "bounds"),
    [
        # RXE-1 (the encoded order's TQ): start TQ.4 + duration TQ.3 D7
        ("RXE", "1^TID^D7^20260120", {"start": "2026-01-20", "end": "2026-01-26"}, {"end": "2026-01-26"}),
        # ORC-7: L3, three calendar months
        ("ORC", "1^QD^L3^20260131", {"start": "2026-01-31", "end": "2026-04-30"}, {"end": "2026-04-30"}),
        # X14: fourteen times, twice a day (the dosage keeps count 14 and no end of its own)
        ("ORC", "1^BID^X14^20260120", {"start": "2026-01-20", "end": "2026-01-26"}, {}),
        # TQ.12 total occurrences, 21 times three times a day
        ("RXE", "1^TID^^20260120^^^^^^^^21", {"start": "2026-01-20", "end": "2026-01-26"}, {}),
    ],
)
def test_validity_ends_with_the_course_of_a_tq(converter, where, tq, validity, bounds):
    # RDE^O11 v2.4 with the timing in RXE-1 or ORC-7. Before: the validity had its start only, the dosage's
    # bounds too
    orc = f"ORC|NW|RX20260120-06^HIS|||||{tq if where == 'ORC' else ''}"
    rxe = ENCODED.format(tq=tq if where == "RXE" else "")
    bundle = convert(converter, _rde(orc, rxe, ROUTE))
    assert _validity(bundle) == validity
    (dosage,) = _request(bundle)["dosageInstruction"]
    assert _bounds(dosage) == {"start": validity["start"], **bounds}


def test_original_order_validity_ends_with_its_course(converter):
    # OMP^O09 v2.4: the prescriber's order, ORC-7 start and L1 (one month from 2026-01-31: through February)
    bundle = convert(
        converter,
        _message("OMP^O09^OMP_O09", "2.4", "ORC|NW|RX20260120-07^HIS|||||1^QD^L1^20260131", ORIGINAL, ROUTE),
    )
    assert _validity(bundle) == {"start": "2026-01-31", "end": "2026-02-28"}


def test_several_tq1_validity_ends_with_the_last_course_not_the_first(converter):
    # a taper in TQ1 segments: the first course's end is not the prescription's; the last one's is
    # (tests/mapping/test_taper_validity.py)
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260120-08^HIS",
            ENCODED.format(tq=""),
            "TQ1|1||TID|||3^d|20260120|||||S",
            "TQ1|2||BID|||4^d|20260123",
            ROUTE,
            version="2.5.1",
        ),
    )
    assert _validity(bundle) == {"start": "2026-01-20", "end": "2026-01-26"}


# Months and years on the calendar -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "duration", "bounds"),
    [
        ("20260115", "", "1^mo", {"start": "2026-01-15", "end": "2026-02-14"}),
        # February has no 31st: the month runs through its last day
        ("20260131", "", "1^mo", {"start": "2026-01-31", "end": "2026-02-28"}),
        ("20260131", "", "3^个月", {"start": "2026-01-31", "end": "2026-04-30"}),
        ("20280229", "", "1^a", {"start": "2028-02-29", "end": "2029-02-28"}),
        # the unit as text only (CQ.2.2)
        ("20260301", "", "1^&个月", {"start": "2026-03-01", "end": "2026-03-31"}),
        (
            "202601310800",
            "",
            "1^mo",
            {"start": "2026-01-31T08:00:00+08:00", "end": "2026-02-28T08:00:00+08:00"},
        ),
        # backwards from an end: the month that ends on 2026-02-28 is February
        ("", "20260228", "1^mo", {"start": "2026-02-01", "end": "2026-02-28"}),
        ("", "20261231", "1^年", {"start": "2026-01-01", "end": "2026-12-31"}),
    ],
)
def test_a_course_in_months_or_years(converter, start, end, duration, bounds):
    # RDE^O11 v2.5.1: TQ1-6 in months or years. Before: no end (or start) at all, months having no fixed length
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260120-09^HIS",
            ENCODED.format(tq=""),
            f"TQ1|1||QD|||{duration}|{start}|{end}",
            ROUTE,
            version="2.5.1",
        ),
    )
    (dosage,) = _request(bundle)["dosageInstruction"]
    assert _bounds(dosage) == bounds
    assert _validity(bundle) == bounds


def test_a_course_in_months_without_a_start_is_a_duration_in_mo(converter):
    # TQ1-6 alone: boundsDuration in UCUM mo; a monthly pattern (Q1L, 每3个月一次) is periodUnit mo
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260120-10^HIS",
            ENCODED.format(tq=""),
            "TQ1|1||Q1L|||6^mo||||||A",
            "TQ1|2||每3个月一次|||1^a",
            ROUTE,
            version="2.5.1",
        ),
    )
    monthly, quarterly = _request(bundle)["dosageInstruction"]
    assert monthly["timing"]["repeat"]["boundsDuration"] == {
        "value": 6,
        "unit": "mo",
        "system": "http://unitsofmeasure.org",
        "code": "mo",
    }
    assert monthly["timing"]["repeat"]["periodUnit"] == "mo"
    assert quarterly["timing"]["repeat"]["boundsDuration"]["code"] == "a"
    assert (quarterly["timing"]["repeat"]["period"], quarterly["timing"]["repeat"]["periodUnit"]) == (3, "mo")
    assert resources(bundle, "MedicationRequest") == [_request(bundle)]


def test_a_course_after_one_ending_on_the_calendar_s_last_day_has_no_start(converter):
    # the first course ends on 9999-12-31 (TQ.5): there is no day after it for the next (TQ.9 S) to start on; the
    # order converts, the second course without a start of its own, the validity without an end
    bundle = convert(
        converter,
        _rde("ORC|NW|RX20260120-02^HIS|||||1^TID^^20260120^99991231^^^^S~1^BID^D4", ENCODED.format(tq=""), ROUTE),
    )
    dosages = _request(bundle)["dosageInstruction"]
    assert _bounds(dosages[0]) == {"start": "2026-01-20", "end": "9999-12-31"}
    assert _bounds(dosages[1]) == {}
    assert "end" not in _validity(bundle)
