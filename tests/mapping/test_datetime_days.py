"""Days of the month in HL7 date/times: the days after the 28th are checked against the month's length (the fast
path in hub.mapping.datetimes.parse skips the calendar only for days 1-28)."""

from __future__ import annotations

import pytest

from hub.mapping import datetimes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260228", "2026-02-28"),
        ("20240229", "2024-02-29"),  # a leap year
        ("20000229", "2000-02-29"),  # a leap century year
        ("20260131", "2026-01-31"),
        ("20260430", "2026-04-30"),
        ("20261231", "2026-12-31"),
    ],
)
def test_days_that_exist(text: str, expected: str) -> None:
    assert datetimes.to_date(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "20260229",  # 2026 is no leap year
        "19000229",  # nor is 1900
        "20260230",
        "20260431",  # April has 30 days
        "20261131",
        "20260100",
        "20260132",
    ],
)
def test_days_that_do_not(text: str) -> None:
    with pytest.raises(ValueError, match="day out of range"):
        datetimes.parse(text)
