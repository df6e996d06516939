"""A dispense (RDS^O13, RDS^O01) says how to take the medication with one dosage per timing of the order it fills.

Before v2.5 the timings are the repetitions of ORC-7 (TQ): a pharmacy that dispenses a 泼尼松 (prednisone) taper
sends the ward's order as it came, 10 mg three times a day for 3 days, then (TQ.9 ``S``) twice a day for 4 days, then
once a day for 7 days. The order's MedicationRequest had a dosage per repetition; the MedicationDispense had one, the
first repetition's, so the patient's dispensing label lost two of the three steps. Now the dispense has each, in
the order their conjunctions say (``Dosage.sequence``), with the dispense's route (its RXR) and special dispensing
instructions (RXD-15). From v2.5 each TQ1 of the order was already a dosage of the dispense (guard tests).

The messages are those of a Chinese hospital's pharmacy (v2.3/v2.4 ORC-7, v2.5.1 TQ1); ``convert`` validates each
Bundle (R4 schema, R4B models).
"""

from __future__ import annotations

from typing import Any

from tests.mapping.conftest import convert, one

PATIENT = "PID|1||0058214^^^SHRJYY^MR~310104196811052428^^^CHN^NNCHN||王秀英||19681105|F"
VISIT = "PV1|1|I|呼吸科^21^05^SHRJYY||||H207^孙^立新"
TAPER = "1^TID^D3^20260310^^^^^S~1^BID^D4^20260313^^^^^S~1^QD^D7^20260317"
# 醋酸泼尼松片 5 mg, give 2 tablets; 42 tablets dispensed
ENCODED = "RXE|{tq}|Y0301^醋酸泼尼松片^L|10||mg|TAB^片剂^L|||||42|片|0"
DISPENSE = "RXD|1|Y0301^醋酸泼尼松片^L|20260310101500|42|片^片|TAB^片剂^L|RX20260310-{n}||||||||^早餐后顿服"
ROUTE = "RXR|PO^口服^HL70162"


def _rds(version: str, structure: str, *segments: str) -> str:
    event = structure.split("_")[1]
    msh = f"MSH|^~\\&|PIVAS|SHRJYY|HIS|SHRJYY|20260310101500||RDS^{event}^{structure}|DS0310|P|{version}"
    return "\r".join([msh, PATIENT, VISIT, *segments]) + "\r"


def _steps(resource: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            d.get("sequence"),
            d["timing"]["code"]["coding"][-1]["code"],
            d["timing"]["repeat"].get("boundsPeriod"),
            d["route"]["coding"][0]["code"],
        )
        for d in resource["dosageInstruction"]
    ]


STEPS = [
    (1, "TID", {"start": "2026-03-10", "end": "2026-03-12"}, "PO"),
    (2, "BID", {"start": "2026-03-13", "end": "2026-03-16"}, "PO"),
    (3, "QD", {"start": "2026-03-17", "end": "2026-03-23"}, "PO"),
]


def test_a_v24_dispense_of_a_taper_has_each_step(converter):
    # RDS^O13 v2.4, the timing in ORC-7 (RXE-1 empty). Before: one dosage (TID, its start only)
    bundle = convert(
        converter,
        _rds(
            "2.4",
            "RDS_O13",
            f"ORC|RE|RX20260310-01^HIS|||||{TAPER}",
            ENCODED.format(tq=""),
            ROUTE,
            DISPENSE.format(n=1),
            ROUTE,
        ),
    )
    dispense = one(bundle, "MedicationDispense")
    assert _steps(dispense) == STEPS
    # as the order it fills says them
    assert _steps(one(bundle, "MedicationRequest")) == STEPS
    # the dispense's special instructions (RXD-15) on each step
    assert {d["text"] for d in dispense["dosageInstruction"]} == {"早餐后顿服"}


def test_a_v23_dispense_of_a_taper_has_each_step(converter):
    # RDS^O01 v2.3: the same
    bundle = convert(
        converter,
        _rds(
            "2.3",
            "RDS_O01",
            f"ORC|RE|RX20260310-02^HIS|||||{TAPER}",
            ENCODED.format(tq=""),
            ROUTE,
            DISPENSE.format(n=2),
            ROUTE,
        ),
    )
    assert _steps(one(bundle, "MedicationDispense")) == STEPS


def test_the_dispense_takes_the_dispenses_own_route(converter):
    # encoded by mouth, dispensed with its own RXR IV: every step has the dispense's route
    bundle = convert(
        converter,
        _rds(
            "2.4",
            "RDS_O13",
            "ORC|RE|RX20260310-03^HIS|||||1^Q12H^D2^20260310^^^^^S~1^QD^D3^20260312",
            ENCODED.format(tq=""),
            ROUTE,
            DISPENSE.format(n=3),
            "RXR|IV^静脉^HL70162",
        ),
    )
    dosages = one(bundle, "MedicationDispense")["dosageInstruction"]
    assert [(d["sequence"], d["route"]["coding"][0]["code"]) for d in dosages] == [(1, "IVINJ"), (2, "IVINJ")]


def test_an_encoded_tq_is_still_the_one_timing(converter):
    # guard: RXE-1 gives the encoded order's timing (one), ORC-7's repetitions are the original order's
    bundle = convert(
        converter,
        _rds(
            "2.4",
            "RDS_O13",
            f"ORC|RE|RX20260310-04^HIS|||||{TAPER}",
            ENCODED.format(tq="1^TID^D3^20260310"),
            ROUTE,
            DISPENSE.format(n=4),
            ROUTE,
        ),
    )
    (dosage,) = one(bundle, "MedicationDispense")["dosageInstruction"]
    assert dosage["timing"]["code"]["coding"][-1]["code"] == "TID"
    assert "sequence" not in dosage


def test_one_orc_7_timing_is_one_dosage(converter):
    # guard: ORC-7 without repetitions: one dosage, as before
    bundle = convert(
        converter,
        _rds(
            "2.4",
            "RDS_O13",
            "ORC|RE|RX20260310-05^HIS|||||1^BID^^20260310",
            ENCODED.format(tq=""),
            ROUTE,
            DISPENSE.format(n=5),
            ROUTE,
        ),
    )
    (dosage,) = one(bundle, "MedicationDispense")["dosageInstruction"]
    assert dosage["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-03-10"}


def test_several_tq1_of_the_order_are_each_a_dosage(converter):
    # guard (v2.5.1): the order's timings (TQ1 after ORC) of the same taper, one dosage each already
    bundle = convert(
        converter,
        _rds(
            "2.5.1",
            "RDS_O13",
            "ORC|RE|RX20260310-06^HIS",
            "TQ1|1||TID|||3^d|20260310|||||S",
            "TQ1|2||BID|||4^d|20260313|||||S",
            "TQ1|3||QD|||7^d|20260317",
            ENCODED.format(tq=""),
            ROUTE,
            DISPENSE.format(n=6),
            ROUTE,
        ),
    )
    assert _steps(one(bundle, "MedicationDispense")) == STEPS
