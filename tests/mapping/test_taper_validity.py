"""A prescription of several timings (a taper) is valid until its last course ends.

``dispenseRequest.validityPeriod.end`` of an order of several timings (TQ1 segments from v2.5, repetitions of ORC-7
before) was left out, since the first timing's end would cut the taper short. Now it is computed from all of them
(built-in ``dateTime_courses_end``, hub/mapping/courses.py), as their conjunctions (HL7 table 0472, TQ1-12 / TQ.9)
order the dosages: a timing after ``S`` (or ``C``) starts the day after the step before it has ended, one after
``A`` runs in parallel with it (the step ends with the later of the two); each ends at its own end, else its start
plus its service duration (TQ1-6, TQ.3) or its occurrences of the pattern (TQ1-14, TQ.12). When one timing has no
end to tell, the validity has no end (the first timing's own end, TQ1-8, is not the order's).

The prescriptions are those of Chinese hospitals: 泼尼松 (prednisone) and 甲泼尼龙 (methylprednisolone) tapers,
甲巯咪唑 (methimazole) in months, an antibiotic by doses. ``convert`` validates each Bundle (R4 schema, R4B models).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from hub.mapping.courses import AFTER, PARALLEL, UNKNOWN, Course, courses_end
from tests.mapping.conftest import convert, one

PATIENT = "PID|1||0077301^^^ZJSRMYY^MR~330106198203154512^^^CHN^NNCHN||赵永康||19820315|M"
VISIT = "PV1|1|O|肾内科^^^ZJSRMYY||||K115^钱^慧"
ENCODED = "RXE|{tq}|Y0301^醋酸泼尼松片^L|30||mg|TAB^片剂^L|||||84|片|0"
ORIGINAL = "RXO|Y0301^醋酸泼尼松片^L|30||mg|TAB^片剂^L|||||84|片|0"
ROUTE = "RXR|PO^口服^HL70162"

# 泼尼松 30 mg a day for 5 days, then 20 mg for 5 days, then 10 mg for 5 days, then 5 mg for 7 days: one course after
# the other (S), only the first with its start
PREDNISONE = (
    "TQ1|1|6^片|QD|||5^d|20260401|||||S",
    "TQ1|2|4^片|QD|||5^d||||||S",
    "TQ1|3|2^片|QD|||5^d||||||S",
    "TQ1|4|1^片|QD|||7^d",
)


def _message(kind: str, version: str, *segments: str) -> str:
    msh = f"MSH|^~\\&|HIS|ZJSRMYY|PHARM|ZJSRMYY|20260401081000||{kind}|{kind[:3]}0401|P|{version}"
    return "\r".join([msh, PATIENT, VISIT, *segments]) + "\r"


def _rde(*segments: str, version: str = "2.5.1") -> str:
    return _message("RDE^O11^RDE_O11", version, *segments)


def _validity(bundle: dict[str, Any]) -> dict[str, Any]:
    return one(bundle, "MedicationRequest")["dispenseRequest"].get("validityPeriod", {})


def test_a_prednisone_taper_in_tq1_segments(converter):
    # RDE^O11 v2.5.1: 04-01..04-05, 04-06..04-10, 04-11..04-15, 04-16..04-22. Before: no end
    bundle = convert(converter, _rde("ORC|NW|RX20260401-01^HIS", ENCODED.format(tq=""), *PREDNISONE, ROUTE))
    assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-22"}
    dosages = one(bundle, "MedicationRequest")["dosageInstruction"]
    assert [d["sequence"] for d in dosages] == [1, 2, 3, 4]


def test_timings_in_parallel_end_with_the_later(converter):
    # 甲泼尼龙: mornings for 7 days and (A) bedtimes for 3 days from 04-01, then (S) mornings for 7 more days: the
    # first step ends 04-07 (the later of the two), the second runs 04-08..04-14. Before: no end
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260401-02^HIS",
            ENCODED.format(tq=""),
            "TQ1|1||QAM|||7^d|20260401|||||A",
            "TQ1|2||QHS|||3^d||||||S",
            "TQ1|3||QAM|||7^d",
            ROUTE,
        ),
    )
    assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-14"}


def test_courses_counted_in_doses_and_by_the_hour(converter):
    # 头孢呋辛 BID × 6 doses (3 days) from 04-01, then QD × 4 doses: through 04-07
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260401-03^HIS",
            ENCODED.format(tq=""),
            "TQ1|1||BID||||20260401|||||S||6",
            "TQ1|2||QD|||||||||||4",
            ROUTE,
        ),
    )
    assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-07"}
    # every 8 hours × 9 from 08:00 (72 h), then every 12 hours × 4 (48 h): the moment the last dose's period ends
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260401-04^HIS",
            ENCODED.format(tq=""),
            "TQ1|1||Q8H||||202604010800|||||S||9",
            "TQ1|2||Q12H|||||||||||4",
            ROUTE,
        ),
    )
    assert _validity(bundle) == {"start": "2026-04-01T08:00:00+08:00", "end": "2026-04-06T08:00:00+08:00"}


def test_a_taper_in_months(converter):
    # 甲巯咪唑 once a day for a month from 01-15 (through 02-14), then (S) for 2 months from 02-15: through 04-14
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260115-05^HIS",
            ENCODED.format(tq=""),
            "TQ1|1|2^片|QD|||1^mo|20260115|||||S",
            "TQ1|2|1^片|QD|||2^个月",
            ROUTE,
        ),
    )
    assert _validity(bundle) == {"start": "2026-01-15", "end": "2026-04-14"}


def test_without_conjunctions_the_set_ids_order_the_courses(converter):
    # TQ1-1 1 and 2 (Dosage.sequence 1, 2: one after the other): 5 days, then 3 days
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260401-06^HIS",
            ENCODED.format(tq=""),
            "TQ1|1||TID|||5^d|20260401",
            "TQ1|2||BID|||3^d",
            ROUTE,
        ),
    )
    assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-08"}
    # each with its own start and end: the latest end
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260401-07^HIS",
            ENCODED.format(tq=""),
            "TQ1|1||QAM||||20260401|20260410",
            "TQ1|1||QHS||||20260401|20260405",
            ROUTE,
        ),
    )
    assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-10"}


def test_the_first_timings_own_end_is_not_the_orders(converter):
    # the first step sent with its end (TQ1-8), the next by its duration. Before: the validity ended with the first
    # step (2026-04-05)
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260401-08^HIS",
            ENCODED.format(tq=""),
            "TQ1|1||QD||||20260401|20260405||||S",
            "TQ1|2||QD|||5^d",
            ROUTE,
        ),
    )
    assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-10"}


def test_a_course_without_a_length_says_no_end(converter):
    # the last step has no duration ("until review"): no end, not the first timing's own end (before: 2026-04-05,
    # a prescription that looked expired while its last step ran) …
    bundle = convert(
        converter,
        _rde(
            "ORC|NW|RX20260401-09^HIS",
            ENCODED.format(tq=""),
            "TQ1|1||QD||||20260401|20260405||||S",
            "TQ1|2||QD",
            ROUTE,
        ),
    )
    assert _validity(bundle) == {"start": "2026-04-01"}
    # … and without one, no end
    bundle = convert(
        converter,
        _rde("ORC|NW|RX20260401-10^HIS", ENCODED.format(tq=""), "TQ1|1||QD|||5^d|20260401|||||S", "TQ1|2||QD", ROUTE),
    )
    assert _validity(bundle) == {"start": "2026-04-01"}


def test_an_orc_7_taper_before_v25(converter):
    # RDE^O11 v2.4, ORC-7 repetitions (RXE-1 empty): 5 days from 04-01, then 5, then 7: through 04-17
    orc = "ORC|NW|RX20260401-11^HIS|||||1^QD^D5^20260401^^^^^S~1^QD^D5^^^^^^S~1^QD^D7"
    bundle = convert(converter, _rde(orc, ENCODED.format(tq=""), ROUTE, version="2.4"))
    assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-17"}
    # the prescriber's order alike (ORM^O01 v2.3, OMP^O09 v2.4)
    for kind, version in (("ORM^O01^ORM_O01", "2.3"), ("OMP^O09^OMP_O09", "2.4")):
        bundle = convert(converter, _message(kind, version, orc, ORIGINAL, ROUTE))
        assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-17"}, kind


def test_orc_7_repetitions_without_conjunctions(converter):
    # each with its own start: the latest end …
    bundle = convert(
        converter,
        _rde("ORC|NW|RX20260401-12^HIS|||||1^QAM^D7^20260401~1^QHS^D3^20260405", ENCODED.format(tq=""), version="2.4"),
    )
    assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-07"}
    # … the second without a start: nothing says when it starts (a TQ has no set id), no end
    bundle = convert(
        converter,
        _rde("ORC|NW|RX20260401-13^HIS|||||1^QAM^D7^20260401~1^QHS^D3", ENCODED.format(tq=""), version="2.4"),
    )
    assert _validity(bundle) == {"start": "2026-04-01"}


def test_the_prescribers_tq1_taper(converter):
    # OMP^O09 v2.5.1 with the order's TQ1 segments
    bundle = convert(
        converter, _message("OMP^O09^OMP_O09", "2.5.1", "ORC|NW|RX20260401-14^HIS", *PREDNISONE, ORIGINAL, ROUTE)
    )
    assert _validity(bundle) == {"start": "2026-04-01", "end": "2026-04-22"}


CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("courses", "end"),
    [
        # two in parallel, the second longer, then one after them
        (
            [
                Course(date(2026, 4, 1), None, (3 * 86400, 0), AFTER),
                Course(None, None, (5 * 86400, 0), PARALLEL),
                Course(None, None, (2 * 86400, 0), AFTER),
            ],
            date(2026, 4, 7),
        ),
        # by the hour
        (
            [
                Course(datetime(2026, 4, 1, 8, tzinfo=CST), None, (36 * 3600, 0), AFTER),
                Course(None, None, (12 * 3600, 0), AFTER),
            ],
            datetime(2026, 4, 3, 8, tzinfo=CST),
        ),
        # a date and a time of day: nothing to compare
        (
            [
                Course(date(2026, 4, 1), None, (86400, 0), AFTER),
                Course(datetime(2026, 4, 3, 8, tzinfo=CST), None, (3600, 0), AFTER),
            ],
            None,
        ),
        # nothing says when the second starts
        ([Course(date(2026, 4, 1), None, (86400, 0), AFTER), Course(None, None, (86400, 0), UNKNOWN)], None),
        # no start for the first
        ([Course(None, None, (86400, 0), AFTER)], None),
        # a length finer than a day after a date
        ([Course(date(2026, 4, 1), None, (3600, 0), AFTER)], None),
    ],
)
def test_courses_end(courses, end):
    assert courses_end(courses) == end
