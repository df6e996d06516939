"""PR1-7 procedure minutes: with PR1-5 timed to the minute, the Procedure was performed over a period, PR1-5 to PR1-5
plus PR1-7 minutes (IG PR1[Procedure] rows 5 and 7). A surgery an HIS reports with its start and length
(腹腔镜胆囊切除术, 90 minutes) lost its length before the fix; without a time of day or without minutes PR1-5 stays
the time performed.
"""

from __future__ import annotations

import pytest

from .conftest import convert, one
from .test_adt_variations import message, pid, pv1, segment


def performed(converter, pr5: str, pr7: str, event: str = "A08", structure: str = "ADT_A01") -> dict:
    pr1 = segment("PR1", f1="1", f3="51.2201^腹腔镜胆囊切除术^ICD9CM", f5=pr5, f7=pr7, f11="1004^吴^强")
    bundle = convert(converter, message(pid(), pv1(), pr1, event=event, structure=structure, version="2.4"))
    procedure = one(bundle, "Procedure")
    return {k: v for k, v in procedure.items() if k.startswith("performed")}


def test_a_timed_procedure_with_its_minutes_is_a_period(converter):
    assert performed(converter, "202603161000", "90") == {
        "performedPeriod": {"start": "2026-03-16T10:00:00+08:00", "end": "2026-03-16T11:30:00+08:00"}
    }
    # an offset and seconds as sent; a surgery past midnight ends the next day
    assert performed(converter, "20260316100000+0800", "45")["performedPeriod"]["end"] == "2026-03-16T10:45:00+08:00"
    assert performed(converter, "202603162330", "120")["performedPeriod"]["end"] == "2026-03-17T01:30:00+08:00"


def test_a_bar_procedure_with_minutes_is_a_period_too(converter):
    assert "performedPeriod" in performed(converter, "202603161000", "90", event="P12", structure="BAR_P12")


@pytest.mark.parametrize(
    ("pr5", "pr7", "expected"),
    [
        ("20260316", "90", "2026-03-16"),  # a date alone: no period can be made (IG: PR1-5 to the minute)
        ("202603161000", "", "2026-03-16T10:00:00+08:00"),  # no minutes
        ("2026031610", "30", "2026-03-16T10:00:00+08:00"),  # to the hour only
        ("202603161000", "约90", "2026-03-16T10:00:00+08:00"),  # minutes that are no number
    ],
)
def test_without_a_timed_start_or_minutes_pr1_5_is_the_time_performed(converter, pr5, pr7, expected):
    assert performed(converter, pr5, pr7) == {"performedDateTime": expected}
