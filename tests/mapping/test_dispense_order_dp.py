"""The order's dispensing provider (PRT-4 DP after the ORC, table 0912) of a dispense (RDS^O13, v2.8+): the
MedicationDispense's performer when the fill names nobody itself (no RXD-10, no PRT line after the RXD).

Senders that name the dispensing pharmacist once for the order (a PRT after the ORC) left the dispense without a
performer: the clinic pharmacist filling the next supply could not tell who dispensed the last. RXD-10 or the fill's
own lines win; of the encoded order's lines (after the RXE) a DP line is read as the ORC's, its PH line (the pharmacist
who verified it) is not the fill's.
"""

from __future__ import annotations

from typing import Any

from tests.mapping.conftest import convert, one

MSH = "MSH|^~\\&|HIS|SZRMYY|PHARM|SZRMYY|20260401093000||RDS^O13^RDS_O13|DS0401|P|2.8"
# PID-3 record number and resident ID number (GB 11643, valid check digit), PID-5 name, PID-7 birth, PID-8 sex
PID = "PID|1||MRN5521^^^SZRMYY^MR~440304195803154326^^^^NNCHN||黄^秀英||19580315|F"
PV1 = "PV1|1|O|心内科门诊^^^SZRMYY"
ORC = "ORC|RE|CF2026-0401^HIS"
# RXE-2 amlodipine 5 mg tablets, RXE-3/5 5 mg, RXE-10/11 28 tablets, RXE-12 two refills; once a day for 28 days
RXE = "RXE||Y0312^氨氯地平片^L|5||mg|TAB^片剂^L|||||28|片|2"
TQ1 = "TQ1|1||QD^每日一次^HL70335|||28^d|20260401"
ROUTE = "RXR|PO^口服^HL70162"
LIN = "P005^林^小梅^^^^^^SZRMYY"
GAO = "P006^高^峰^^^^^^SZRMYY"


def prt(role: str, who: str, action: str = "AD") -> str:
    # PRT-2 action code (table 0287), PRT-4 participation (table 0912), PRT-5 the person
    return f"PRT|1|{action}||{role}^^HL70912|{who}"


def rxd(pharmacist: str = "") -> str:
    # RXD-2 what was dispensed, RXD-3 when, RXD-4/5 amount, RXD-10 the dispensing pharmacist
    return f"RXD|1|Y0312^氨氯地平片^L|20260401093000|28|片||CF2026-0401|||{pharmacist}"


def rds(*, after_orc: tuple[str, ...] = (), after_rxe: tuple[str, ...] = (), fill: tuple[str, ...] = ()) -> str:
    return "\r".join([MSH, PID, PV1, ORC, *after_orc, RXE, *after_rxe, TQ1, ROUTE, *fill, ROUTE]) + "\r"


def performers(bundle: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [
        ((p.get("function") or {}).get("coding", [{}])[0].get("code"), p["actor"]["identifier"]["value"])
        for p in one(bundle, "MedicationDispense").get("performer", [])
    ]


def test_the_orders_dispensing_provider_dispenses_a_fill_that_names_nobody(converter):
    bundle = convert(converter, rds(after_orc=(prt("DP", LIN),), fill=(rxd(),)))
    assert one(bundle, "MedicationDispense")["performer"] == [
        {
            "actor": {
                "type": "Practitioner",
                "identifier": {"system": "urn:hub:id:SZRMYY", "value": "P005"},
                "display": "林小梅",
            }
        }
    ]


def test_the_fill_s_own_pharmacist_wins(converter):
    # RXD-10 names 高峰: the order's DP line is not added beside him
    bundle = convert(converter, rds(after_orc=(prt("DP", LIN),), fill=(rxd(GAO),)))
    assert performers(bundle) == [(None, "P006")]
    # a DP line of the fill's own likewise
    bundle = convert(converter, rds(after_orc=(prt("DP", LIN),), fill=(rxd(), prt("DP", GAO))))
    assert performers(bundle) == [(None, "P006")]


def test_a_withdrawn_line_dispenses_nothing(converter):
    bundle = convert(converter, rds(after_orc=(prt("DP", LIN, action="DE"),), fill=(rxd(),)))
    assert performers(bundle) == []


def test_the_encoded_orders_dispensing_provider_too(converter):
    # a DP line after the RXE names who dispenses the encoded order: the fill's performer when it names nobody
    bundle = convert(converter, rds(after_rxe=(prt("DP", LIN),), fill=(rxd(),)))
    assert performers(bundle) == [(None, "P005")]
    # its pharmacist (PH, who verified the encoded order) is not the fill's
    bundle = convert(converter, rds(after_rxe=(prt("PH", GAO),), fill=(rxd(),)))
    assert performers(bundle) == []
