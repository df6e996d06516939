"""A lab or imaging order (ServiceRequest) keeps one timing: the conjunction of several is not mapped (a decision);
several one-time timings (none repeats) are one Timing whose events are their starts.

R4 ``ServiceRequest.occurrence[x]`` holds one value, and a ``Timing`` has one ``code`` and one ``repeat`` and no
sequence: there is no element for "daily for 3 days, then (TQ.9 ``S``) weekly for 4 weeks". The v2-to-FHIR IG maps
neither TQ.9 (TQ[ServiceRequest]) nor TQ1-12 (TQ1[ServiceRequest]) for a ServiceRequest. So the order's timing is
the first that repeats (TQ1, else ORC-7, else OBR-27) and the others are left out (mappings/DIFFERENCES.md, "Several
timings of a lab or imaging order"). These tests pin that: valid R4, the first repetition's pattern and start.
"""

from __future__ import annotations

import pytest

from tests.mapping.conftest import convert, one

# 血常规 (complete blood count) every day for 3 days from 2026-04-01, then (S) once a week for 4 weeks
SERIES = "1^QD^D3^20260401^^^^^S~1^QW^W4^20260404"


def _orm(orc7: str, obr27: str) -> str:
    return (
        "\r".join(
            [
                "MSH|^~\\&|HIS|HZSYY|LIS|HZSYY|20260401090000||ORM^O01|LAB0401|P|2.3",
                "PID|1||0091452^^^HZSYY^MR~330102197005121220^^^CHN^NNCHN||孙丽华||19700512|F",
                "PV1|1|I|血液科^08^02^HZSYY||||B011^吴^国平",
                f"ORC|NW|LAB20260401-01^HIS|||||{orc7}",
                f"OBR|1|LAB20260401-01^HIS||CBC^血常规^L|||||||||||||||||||||||{obr27}",
            ]
        )
        + "\r"
    )


@pytest.mark.parametrize(("orc7", "obr27"), [("", SERIES), (SERIES, "")])
def test_the_first_repeating_timing_is_the_orders(converter, orc7, obr27):
    request = one(convert(converter, _orm(orc7, obr27)), "ServiceRequest")
    timing = request["occurrenceTiming"]
    assert timing["code"]["coding"][-1]["code"] == "QD"
    assert timing["repeat"]["boundsPeriod"] == {"start": "2026-04-01"}
    # the weekly step is not folded into this Timing (its pattern would then be wrong for the first three days)
    assert timing["repeat"]["periodUnit"] == "d"


# -- several one-time timings: each start is an event of the one Timing ---------------------------------------------


def _oml(*tq1: str, obr6: str = "") -> str:
    return (
        "\r".join(
            [
                "MSH|^~\\&|HIS|HZSYY|LIS|HZSYY|20260401070000||OML^O21^OML_O21|GLU0401|P|2.5.1",
                "PID|1||0091452^^^HZSYY^MR||孙丽华||19700512|F",
                "PV1|1|I|内分泌科^08^02^HZSYY",
                "ORC|NW|GLU20260401-01^HIS",
                *tq1,
                f"OBR|1|GLU20260401-01^HIS||2345-7^血糖^LN|||{obr6}",
            ]
        )
        + "\r"
    )


def test_every_one_time_tq1_of_an_order_is_an_event_of_its_timing(converter):
    # a glucose profile: blood drawn before breakfast, before lunch and before supper (three TQ1, each once)
    text = _oml(
        "TQ1|1||ONCE||||20260401070000",
        "TQ1|2||ONCE||||20260401110000",
        "TQ1|3||||||20260401170000",
    )
    request = one(convert(converter, text), "ServiceRequest")
    assert "occurrenceDateTime" not in request
    assert request["occurrenceTiming"] == {
        "event": ["2026-04-01T07:00:00+08:00", "2026-04-01T11:00:00+08:00", "2026-04-01T17:00:00+08:00"]
    }


def test_one_one_time_tq1_stays_the_occurrence_date_time(converter):
    request = one(convert(converter, _oml("TQ1|1||ONCE||||20260401070000")), "ServiceRequest")
    assert request["occurrenceDateTime"] == "2026-04-01T07:00:00+08:00"
    assert "occurrenceTiming" not in request


def test_a_repeating_tq1_beside_one_time_ones_stays_the_order_s_timing(converter):
    # a repeat pattern is the Timing (its repeat); the one-time TQ1's start is not folded into it as an event
    text = _oml("TQ1|1||Q4H^^HL70335||||20260401080000|20260402080000", "TQ1|2||ONCE||||20260403080000")
    timing = one(convert(converter, text), "ServiceRequest")["occurrenceTiming"]
    assert "event" not in timing
    assert timing["repeat"]["boundsPeriod"]["start"] == "2026-04-01T08:00:00+08:00"


# v2.3: the same profile as two repetitions of the order's TQ (TQ.2 once, TQ.4 the start)
PROFILE = "^ONCE^^20260401070000~^ONCE^^20260401110000"


@pytest.mark.parametrize(("orc7", "obr27"), [(PROFILE, ""), ("", PROFILE)])
def test_every_one_time_repetition_of_orc_7_or_obr_27_is_an_event(converter, orc7, obr27):
    request = one(convert(converter, _orm(orc7, obr27)), "ServiceRequest")
    assert request["occurrenceTiming"] == {"event": ["2026-04-01T07:00:00+08:00", "2026-04-01T11:00:00+08:00"]}
