"""A lab or imaging order (ServiceRequest) keeps one timing: the conjunction of several is not mapped (a decision).

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
