"""A TQ1 sent after the RXD of a pharmacy dispense (RDS^O13, RDS^O01) is that dispense's own timing.

v2.5.1 RDS_O13 ORDER: ORC, [{TQ1, [{TQ2}]}], [ORDER_DETAIL], [ENCODING: RXE, [{NTE}], {TQ1, [{TQ2}]}, {RXR},
[{RXC}]], RXD, [{NTE}], {RXR}, [{RXC}], ...: a TQ1 has no place after the RXD. Pharmacy systems send one there for
the dispense (how the dispensed supply is to be taken). The grouping used to put it with the encoded order's
timing (ENCODING, the innermost open group that names TQ1), out of order: the MedicationRequest got one more
dosage, and the MedicationDispense, which reads the encoded order's timings, one more too. The library's RDS
grammar now lets the dispense group (DISPENSE: RXD, PRT, NTE, TQ1, TQ2, RXR, RXC, CDO) have timings of its own, as
ENCODING has after its RXE: the dispense reads its own TQ1 (scope inner finds the DISPENSE's first), the encoded
order only its own. A dispense without a TQ1 still reads the encoded order's timing.

Each test is one message converted by the shipped mappings (``convert`` validates every Bundle against the R4
schema and the R4B models).
"""

from __future__ import annotations

from .conftest import convert, one, resources
from .test_pharmacy import ROUTE, rxd, rxe, tq1
from .test_pharmacy_groups import IM, IV, order, rds, route

BID = {"f3": "BID", "f7": "20260315100000", "f8": "20260318100000"}  # the dispense's: twice a day, three days
QD = {"f3": "QD", "f7": "20260322100000", "f8": "20260329100000"}  # the refill's: once a day, a week


def codes(resource: dict) -> list[str]:
    return [d["timing"]["code"]["coding"][0]["code"] for d in resource["dosageInstruction"]]


def test_a_tq1_after_the_rxd_is_the_dispense_s_timing(converter):
    # 头孢呋辛 encoded TID by mouth; the pharmacy dispenses it BID for the vein, its TQ1 and RXR after the RXD
    bundle = convert(converter, rds(order(), rxe(), tq1(), ROUTE, rxd(), tq1(**BID), IV))
    request, dispense = one(bundle, "MedicationRequest"), one(bundle, "MedicationDispense")
    assert codes(request) == ["TID"]  # the encoded order's timing only
    assert route(request["dosageInstruction"][0]) == "PO"
    assert codes(dispense) == ["BID"]  # its own, not the encoded order's beside it
    assert route(dispense["dosageInstruction"][0]) == "IVINJ"
    assert dispense["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["start"].startswith("2026-03-15T10")


def test_in_a_v23_dispense_too(converter):
    bundle = convert(
        converter,
        rds(order(), rxe(), tq1(), ROUTE, rxd(), tq1(**BID), IV, structure="RDS_O01", event="O01"),
    )
    assert codes(one(bundle, "MedicationRequest")) == ["TID"]
    assert codes(one(bundle, "MedicationDispense")) == ["BID"]


def test_two_fills_each_with_its_own_timing(converter):
    bundle = convert(
        converter,
        rds(
            order(),
            rxe(),
            tq1(),
            ROUTE,
            rxd(),
            "NTE|1||首次发药",  # the dispense's note before its timing
            tq1(**BID),
            IV,
            rxd(f1="2", f3="20260322100000", f18="B2026099"),
            tq1(**QD),
            IM,
            "NTE|1||续方发药",
        ),
    )
    first, refill = resources(bundle, "MedicationDispense")
    assert codes(first) == ["BID"] and route(first["dosageInstruction"][0]) == "IVINJ"
    assert codes(refill) == ["QD"] and route(refill["dosageInstruction"][0]) == "IM"
    assert [n["text"] for n in first["note"]][-1] == "首次发药"
    assert [n["text"] for n in refill["note"]][-1] == "续方发药"
    assert codes(one(bundle, "MedicationRequest")) == ["TID"]


def test_a_dispense_without_a_timing_reads_the_encoded_order_s(converter):
    # guard (unchanged): no TQ1 after the RXD; the dispense's one dosage is the encoded order's timing
    bundle = convert(converter, rds(order(), rxe(), tq1(), ROUTE, rxd(), IV))
    dispense = one(bundle, "MedicationDispense")
    assert codes(dispense) == ["TID"]
    assert route(dispense["dosageInstruction"][0]) == "IVINJ"
    assert codes(one(bundle, "MedicationRequest")) == ["TID"]
