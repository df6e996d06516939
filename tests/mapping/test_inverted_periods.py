"""A period whose end is before its start (R4 Period invariant per-1: "If present, start SHALL have a lower value
than end"): the two v2 timestamps it is built from (TQ1-7/TQ1-8, RXE-1.4/RXE-1.5, PV1-44/PV1-45 …) are kept only as
far as they make a valid Period. The start stays, the end is left out (a Period without an end is one whose end is
not known) and the conversion report says so (``invalid-value``: where and why, never the values); a strict
conversion refuses the message, as it does for any invalid value.

Timestamps of different precision or offsets are compared by the instants they can mean: the end is dropped only
when every instant it can mean comes before every instant the start can mean.
"""

from __future__ import annotations

import pytest

from hub.errors import ConversionError
from hub.hl7 import er7

from .conftest import convert, one, with_report
from .order_messages import orc
from .test_adt import adt, pv1
from .test_pharmacy import ROUTE, rde, rxe, tq1

REASON = "the end is before the start (R4 per-1): the end is left out"


def bounds(bundle) -> dict:
    return one(bundle, "MedicationRequest")["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]


def invalid(report) -> list:
    return [e for e in report if e["code"] == "invalid-value"]


def test_a_timing_ending_before_it_starts_keeps_its_start_and_is_reported(converter):
    text = rde(orc(f2="RX100^HIS", f3=""), rxe(), tq1(f7="20260322090000", f8="20260315090000"), ROUTE)
    bundle, report = with_report(converter, text)
    assert bounds(bundle) == {"start": "2026-03-22T09:00:00+08:00"}
    # the order's validity is the same course (TQ1-7, TQ1-8): its end is left out too, and reported as such
    validity = one(bundle, "MedicationRequest")["dispenseRequest"]["validityPeriod"]
    assert validity == {"start": "2026-03-22T09:00:00+08:00"}
    assert invalid(report) == [
        {"code": "invalid-value", "location": "TQ1^1^8", "detail": f"TQ1-8 → repeat.boundsPeriod.end: {REASON}"},
        {
            "code": "invalid-value",
            "location": "TQ1^1^8",
            "detail": f"TQ1-8 → dispenseRequest.validityPeriod.end: {REASON}",
        },
    ]
    assert "2026" not in str(report)  # never the values


def test_a_timing_ending_before_it_starts_is_refused_when_strict(converter):
    text = rde(orc(f2="RX100^HIS", f3=""), rxe(), tq1(f7="20260322090000", f8="20260315090000"), ROUTE)
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(text), strict=True)
    assert caught.value.location == "TQ1^1^8"


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # the same day at two precisions: in order either way round (the day holds the time)
        ("202603151200", "20260315", {"start": "2026-03-15T12:00:00+08:00", "end": "2026-03-15"}),
        ("20260315", "202603151200", {"start": "2026-03-15", "end": "2026-03-15T12:00:00+08:00"}),
        # a start and an end at the same instant: per-1 allows it
        (
            "20260315090000",
            "20260315090000",
            {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-15T09:00:00+08:00"},
        ),
        # 09:30 in Beijing is 01:30 UTC, after 01:00 UTC: in order although its clock time is later
        (
            "20260315010000+0000",
            "20260315093000+0800",
            {"start": "2026-03-15T01:00:00+00:00", "end": "2026-03-15T09:30:00+08:00"},
        ),
    ],
)
def test_timestamps_in_order_across_precisions_and_offsets_are_kept(converter, start, end, expected):
    bundle, report = with_report(converter, rde(orc(f2="RX100^HIS", f3=""), rxe(), tq1(f7=start, f8=end), ROUTE))
    assert bounds(bundle) == expected
    assert invalid(report) == []


def test_an_end_before_the_start_in_another_offset_is_left_out(converter):
    # 09:30 in Beijing (01:30 UTC) is before 02:00 UTC, although its clock time is later
    text = rde(orc(f2="RX100^HIS", f3=""), rxe(), tq1(f7="20260315020000+0000", f8="20260315093000+0800"), ROUTE)
    bundle, report = with_report(converter, text)
    assert bounds(bundle) == {"start": "2026-03-15T02:00:00+00:00"}
    assert {e["location"] for e in invalid(report)} == {"TQ1^1^8"}


def test_an_end_date_before_the_start_day_is_left_out(converter):
    text = rde(orc(f2="RX100^HIS", f3=""), rxe(), tq1(f7="202603161200", f8="20260315"), ROUTE)
    bundle, report = with_report(converter, text)
    assert bounds(bundle) == {"start": "2026-03-16T12:00:00+08:00"}
    assert {e["location"] for e in invalid(report)} == {"TQ1^1^8"}


def test_an_order_timing_rxe_1_ending_before_it_starts(converter):
    # RXE-1 quantity/timing (TQ, before v2.5): TQ.4 start, TQ.5 end
    encoded = rxe(f1="1^BID^^20260322^20260315")
    bundle, report = with_report(converter, rde(orc(f2="RX100^HIS", f3=""), encoded, ROUTE))
    assert bounds(bundle) == {"start": "2026-03-22"}
    assert {e["location"] for e in invalid(report)} == {"RXE^1^1"}


def test_a_discharge_before_the_admission_keeps_the_admission(converter):
    visit = pv1(f44="20260320083000", f45="20260315113000")
    bundle, report = with_report(converter, adt("A03", pv1=visit))
    assert one(bundle, "Encounter")["period"] == {"start": "2026-03-20T08:30:00+08:00"}
    assert invalid(report) == [
        {"code": "invalid-value", "location": "PV1^1^45", "detail": f"PV1-45 → period.end: {REASON}"}
    ]


def test_a_discharge_after_the_admission_is_kept(converter):
    bundle = convert(converter, adt("A03", pv1=pv1(f44="20260315083000", f45="20260320113000")))
    assert one(bundle, "Encounter")["period"] == {
        "start": "2026-03-15T08:30:00+08:00",
        "end": "2026-03-20T11:30:00+08:00",
    }


@pytest.mark.parametrize("start", ["99991231", "9999", "999912", "99991231235959"])
def test_a_start_at_the_end_of_the_calendar_is_compared_too(converter, start):
    # the last day, month or year the calendar has (9999-12-31): the instant after it is past datetime's range
    visit = pv1(f44=start, f45="20260320113000")
    bundle, report = with_report(converter, adt("A03", pv1=visit))
    assert "end" not in one(bundle, "Encounter")["period"]
    assert {e["location"] for e in invalid(report)} == {"PV1^1^45"}
    # an end on that last day after a start before it is in order
    visit = pv1(f44="20260315083000", f45=start)
    bundle, report = with_report(converter, adt("A03", pv1=visit))
    assert "end" in one(bundle, "Encounter")["period"] and invalid(report) == []
