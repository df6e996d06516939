"""TQ1 fields an R4 Timing or MedicationRequest can hold that the pharmacy templates skipped.

IG TQ1[MedicationRequest] row 5: TQ1-5 relative time and units → dosageInstruction.timing.repeat.offset (minutes
from the event); FHIR tim-9 allows an offset only with the event it counts from (repeat.when), so only a repeat
pattern that says when (QHS, QAM, 睡前 …) takes it. Row 9: TQ1-9 priority → MedicationRequest.priority, which a
give (RGV^O15's instance-order) did not have. One datatype template (TQ1_Timing) reads a TQ1 for the encoded order
(RDE), the original order (OMP), the dispense (RDS) and the give (RGV).

Each test is one message, converted by the shipped mappings and checked field by field (``convert`` validates
every Bundle against the R4 schema and the R4B models).
"""

from __future__ import annotations

import pytest

from .conftest import convert, one, resources
from .order_messages import message, msh, orc, pid
from .test_pharmacy import ROUTE, rde, rds, rxd, rxe, tq1
from .test_rxo_variations import omp


def order_timing(converter, *timing: str) -> dict:
    # RDE^O11: the encoded order with the TQ1 given (TQ1-3 pattern, TQ1-5 relative time)
    bundle = convert(converter, rde(orc(f2="RX100^HIS", f3=""), rxe(), *timing, ROUTE))
    return one(bundle, "MedicationRequest")["dosageInstruction"][0]["timing"]


@pytest.mark.parametrize(
    ("relative", "minutes"),
    [("30^min", 30), ("30^min^UCUM", 30), ("1^h", 60), ("2^小时", 120), ("^^^min^分钟", None), ("1^d", 1440)],
)
def test_relative_time_is_the_offset_from_the_patterns_event(converter, relative, minutes):
    # at bedtime (QHS: when HS), TQ1-5 after it
    timing = order_timing(converter, tq1(f3="QHS", f5=relative, f7="", f8=""))
    assert timing["repeat"]["when"] == ["HS"]
    assert timing["repeat"].get("offset") == minutes


def test_a_chinese_pattern_that_says_when_takes_the_offset(converter):
    timing = order_timing(converter, tq1(f3="睡前", f5="30^分钟", f7="", f8=""))
    assert timing["repeat"]["when"] == ["HS"] and timing["repeat"]["offset"] == 30


@pytest.mark.parametrize("relative", ["90^s", "abc^min", "30^盒", "-30^min"])
def test_a_relative_time_that_is_no_whole_number_of_minutes_is_left_out(converter, relative):
    timing = order_timing(converter, tq1(f3="QAM", f5=relative, f7="", f8=""))
    assert timing["repeat"]["when"] == ["MORN"] and "offset" not in timing["repeat"]


def test_a_relative_time_without_an_event_is_left_out(converter):
    # FHIR tim-9: no offset without when; BID says how often, not when
    timing = order_timing(converter, tq1(f3="BID", f5="30^min", f7="", f8=""))
    assert timing["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}


def test_the_original_order_and_the_dispense_read_the_relative_time(converter):
    requested = one(
        convert(
            converter,
            omp("ORC|NW|CP601^HIS", "TQ1|1||QHS||30^min", "RXO|YP011^艾司唑仑片^L|1||片", "RXR|PO^口服^HL70162"),
        ),
        "MedicationRequest",
    )
    assert requested["dosageInstruction"][0]["timing"]["repeat"]["offset"] == 30
    dispensed = one(
        convert(converter, rds(orc(f1="RE", f2="RX100^HIS", f3=""), rxe(), tq1(f3="QHS", f5="15^min"), ROUTE, rxd())),
        "MedicationDispense",
    )
    assert dispensed["dosageInstruction"][0]["timing"]["repeat"]["offset"] == 15


# RGV^O15: the give's priority ----------------------------------------------------------------------------------


def rgv(*give: str, version: str = "2.5.1") -> str:
    return message(
        msh("RGV", "O15", "RGV_O15", "RGV9").replace("|2.5.1|", f"|{version}|"),
        pid(),
        orc(f1="RE", f2="P7^HIS", f3=""),
        *give,
    )


def gives(converter, text: str) -> list[dict]:
    return [r for r in resources(convert(converter, text), "MedicationRequest") if r["intent"] == "instance-order"]


def test_a_give_has_the_priority_of_its_timing(converter):
    # the give's TQ1-9 S (stat), the bedtime dose 30 minutes after (TQ1-5)
    (give,) = gives(converter, rgv("RXG|1|1||INS01^门冬胰岛素注射液^L|6||U^单位^L", "TQ1|1||QHS||30^min||||S"))
    assert give["priority"] == "stat"
    assert give["dosageInstruction"][0]["timing"]["repeat"]["offset"] == 30


def test_a_give_without_its_own_timing_has_the_order_s_priority(converter):
    # TQ1 after ORC: the order's timing, A (as soon as possible)
    text = rgv("RXG|1|1||INS01^门冬胰岛素注射液^L|6||U^单位^L").replace("RXG|", "TQ1|1||||||||A\rRXG|")
    (give,) = gives(converter, text)
    assert give["priority"] == "asap"


def test_a_v23_give_has_the_priority_of_its_tq(converter):
    # before v2.5: RXG-3 TQ, .6 the priority (S stat)
    (give,) = gives(converter, rgv("RXG|1|1|^BID^^^^S|INS01^门冬胰岛素注射液^L|6||U^单位^L", version="2.3"))
    assert give["priority"] == "stat"
