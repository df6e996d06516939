"""A pharmacy give (RGV^O15, MedicationRequest of intent instance-order) has the order's ordering provider as its
requester, as the encoded order does: a person a withdrawn ordering provider line of the order names (PRT-2
``DE``/``D``/``UN``, PRT-4 ``OP``; by id number, or by name when the line has none) is not the give's requester
either, though ORC-12 names them. Before, the give kept ORC-12's person while the encoded order beside it lost them."""

from __future__ import annotations

import pytest

from .conftest import convert, resources


def rgv(orc12: str, *prt: str) -> str:
    segments = [
        "MSH|^~\\&|PHARM|SZRMYY|HUB|CITY|20260401100000||RGV^O15^RGV_O15|G1|P|2.8",
        "PID|1||MRN1^^^SZRMYY^MR||黄^秀英||19580315|F",
        "PV1|1|I|心内科^01^01",
        f"ORC|RE|CF1^HIS|RX1^PHARM|||||||||{orc12}",
        *prt,
        "TQ1|1||QD^每日一次^HL70335||||20260401|20260428",
        "RXE||Y0312^氨氯地平片^L|5||mg|TAB^片剂^L||||28|TAB^片^L|2|||CF1",
        "RXG|1|1|^^^20260401090000^20260401090000|Y0312^氨氯地平片^L|5||mg|TAB^片剂^L",
        "RXR|PO^口服^HL70162",
    ]
    return "\r".join(segments) + "\r"


def requesters(text: str, converter) -> dict[str, object]:
    found = {}
    for request in resources(convert(converter, text), "MedicationRequest"):
        found[request["intent"]] = request.get("requester")
    return found


@pytest.mark.parametrize(
    ("orc12", "line"),
    [("D001^王^伟", "PRT|1|DE||OP^^HL70912|D001^王^伟"), ("^王^伟", "PRT|1|D||OP^^HL70912|^王^伟")],
)
def test_a_withdrawn_ordering_provider_is_not_the_give_s_requester(converter, orc12, line):
    found = requesters(rgv(orc12, line), converter)
    assert found == {"order": None, "instance-order": None}


def test_the_give_s_requester_is_the_order_s(converter):
    found = requesters(rgv("D001^王^伟", "PRT|1|DE||OP^^HL70912|D017^刘^洋"), converter)
    assert found["instance-order"] == found["order"] == {"identifier": {"value": "D001"}, "display": "王伟"}
