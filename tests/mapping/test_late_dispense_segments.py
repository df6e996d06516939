"""An RXR sent after a stray TQ1 after the RXD of a pharmacy dispense (RDS^O13, RDS^O01) is the dispense's route.

v2.5.1 RDS_O13 ORDER: ORC, [{TQ1, [{TQ2}]}], [ORDER_DETAIL], [ENCODING: RXE, [{NTE}], {TQ1, [{TQ2}]}, {RXR},
[{RXC}]], RXD, [{NTE}], {RXR}, [{RXC}], ... : the RXR after the RXD is the dispense's. A TQ1 has no place after the
RXD; the grouping put it with the encoded order's timing (ENCODING), out of order, which closed the dispense. The
RXR after it then went to ENCODING too (the innermost open group that names RXR), so the dispense read the encoded
order's route. The library's RDS grammar now gives the dispense group timings of its own (test_dispense_own_timing):
the TQ1 is the dispense's, and the RXR after it too, also when the encoded order has no RXR of its own.

Each test is one message converted by the shipped mappings (``convert`` validates every Bundle against the R4
schema and the R4B models).
"""

from __future__ import annotations

from .conftest import convert, one, resources
from .test_pharmacy import ROUTE, rxd, rxe, tq1
from .test_pharmacy_groups import IM, IV, order, rds, route, site


def test_the_rxr_after_a_late_timing_is_the_dispense_s_route(converter):
    # 头孢呋辛 encoded by mouth (RXR PO after the RXE), dispensed for the vein: the pharmacy system sends the
    # dispense's TQ1 after its RXD, then the dispense's RXR
    bundle = convert(converter, rds(order(), rxe(), tq1(), ROUTE, rxd(), tq1(), IV))
    # (one dosage instruction per timing of the encoded order, which the stray TQ1 joined: each with the route)
    dispense = one(bundle, "MedicationDispense")
    assert {route(d) for d in dispense["dosageInstruction"]} == {"IVINJ"}
    assert {site(d) for d in dispense["dosageInstruction"]} == {"LA"}
    # the encoded order keeps its own route, not the dispense's
    assert {route(d) for d in one(bundle, "MedicationRequest")["dosageInstruction"]} == {"PO"}


def test_in_a_v23_dispense_too(converter):
    bundle = convert(converter, rds(order(), rxe(), ROUTE, rxd(), tq1(), IV, structure="RDS_O01", event="O01"))
    assert route(one(bundle, "MedicationDispense")["dosageInstruction"][0]) == "IVINJ"
    assert route(one(bundle, "MedicationRequest")["dosageInstruction"][0]) == "PO"


def test_two_fills_each_with_a_late_timing(converter):
    bundle = convert(
        converter,
        rds(
            order(),
            rxe(),
            tq1(),
            ROUTE,
            rxd(),
            tq1(),
            IV,
            "NTE|1||首次发药",
            rxd(f1="2", f3="20260322100000", f18="B2026099"),
            tq1(f7="20260322100000"),
            IM,
            "NTE|1||续方发药",
        ),
    )
    first, refill = resources(bundle, "MedicationDispense")
    assert route(first["dosageInstruction"][0]) == "IVINJ"
    assert route(refill["dosageInstruction"][0]) == "IM"
    assert [n["text"] for n in first["note"]][-1] == "首次发药"
    assert [n["text"] for n in refill["note"]][-1] == "续方发药"
    assert {route(d) for d in one(bundle, "MedicationRequest")["dosageInstruction"]} == {"PO"}


def test_an_rxr_after_the_dispense_s_timing_is_the_dispense_s_also_when_the_encoded_order_has_none(converter):
    # RXE with no RXR before the dispense: the TQ1 after the RXD is the dispense's timing and the RXR after it the
    # dispense's route (v2.5.1: RXD, NTE, RXR+ after the ENCODING), as in RXE, RXD, RXR; the encoded order, which
    # the sender gave no route, has none (before the dispense's own timing, the TQ1 went to the encoded order and
    # took the RXR there with it)
    bundle = convert(converter, rds(order(), rxe(), rxd(), tq1(), IV))
    assert "route" not in one(bundle, "MedicationRequest")["dosageInstruction"][0]
    assert route(one(bundle, "MedicationDispense")["dosageInstruction"][0]) == "IVINJ"
