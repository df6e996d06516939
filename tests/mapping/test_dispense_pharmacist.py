"""PRT-4 PH (pharmacist, not the primary dispensing one; v2 tables 0443/0912) of a dispense (RDS, after RXD): a
MedicationDispense.performer with the function PH of v2 table 0443, beside the dispensing provider (RXD-10, DP)."""

from __future__ import annotations

from .conftest import convert, one
from .order_messages import message, msh, orc, pid, pv1
from .test_order_participations import person, prt
from .test_pharmacy import ROUTE, rxd, rxe, tq1

# RXD-10 read as every XCN field is (no type); a PRT line's person is a Practitioner
RXD_10 = {"actor": {"identifier": {"system": "urn:hub:id:SZRMYY", "value": "P001"}, "display": "陈静"}}
PH = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0443", "code": "PH"}]}


def rds(control: str, *after_rxd: str, after_rxe: tuple[str, ...] = ()) -> str:
    return message(
        msh("RDS", "O13", "RDS_O13", control),
        pid(),
        pv1(),
        orc(f1="RE", f2="RX120^HIS", f3=""),
        tq1(),
        rxe(),
        *after_rxe,
        ROUTE,
        # RXD-10 the dispensing pharmacist 陈静
        rxd(f10="P001^陈^静^^^^^^SZRMYY"),
        *after_rxd,
        ROUTE,
    )


def test_a_dispense_s_pharmacist_is_a_performer_with_function_ph(converter):
    bundle = convert(converter, rds("DS31", prt(1, "PH", "P003^宋^雅琴^^^^^^SZRMYY")))
    dispenser, pharmacist = one(bundle, "MedicationDispense")["performer"]
    assert dispenser == RXD_10
    assert pharmacist == {"function": PH, "actor": person("P003", "宋雅琴")}


def test_the_dispensing_pharmacist_named_again_as_ph_stays_two_functions(converter):
    # RXD-10's pharmacist also the checking one (PH): one person, two functions, two items; DP merges with RXD-10
    bundle = convert(
        converter,
        rds("DS32", prt(1, "DP", "P001^陈^静^^^^^^SZRMYY"), prt(2, "PH", "P001^陈^静^^^^^^SZRMYY")),
    )
    assert one(bundle, "MedicationDispense")["performer"] == [
        {"actor": person("P001", "陈静")},
        {"function": PH, "actor": person("P001", "陈静")},
    ]


def test_a_withdrawn_ph_line_and_the_encoded_order_s_ph_name_no_performer(converter):
    bundle = convert(
        converter,
        rds(
            "DS33",
            prt(1, "PH", "P003^宋^雅琴^^^^^^SZRMYY", action="DE"),
            # the pharmacist who verified the encoded order (after RXE): the order's, not the fill's
            after_rxe=(prt(1, "PH", "P004^韩^梅^^^^^^SZRMYY"),),
        ),
    )
    assert one(bundle, "MedicationDispense")["performer"] == [RXD_10]
