"""A TQ1 or PRT sent after the RXA of a vaccination (VXU^V04) belongs to that order, not to a new one.

v2.5.1 and later (ch. 4, VXU_V04): ORDER = ORC, [{TQ1, [{TQ2}]}], RXA, [RXR], [{OBX, [{NTE}]}]. The template makes
ORC optional (v2.3.1 and v2.4 send RXA without it), so ORDER could be opened by any of ORC, PRT, TQ1, TQ2 or RXA: a
TQ1 sent after the RXA opened an order with neither ORC nor RXA, and the RXR and OBX after it went there, away from
their vaccination (no route or site, no funding, no statement; Observations part of nothing). The grouping now
places such a segment in the order before it when no RXA follows before the next ORC (hub/mapping/structure.py).
A new ORC still opens a new order, as the standard says, and so does an RXA.

Each test is one message converted by the shipped mappings (``convert`` validates every Bundle against the R4
schema and the R4B models).
"""

from __future__ import annotations

from .conftest import convert, one, ref, resources
from .order_messages import HOSPITAL, message, msh, orc, pid, pv1
from .test_immunization import rxa

# the vaccination's own route and site, and its funding (the CDC guide's OBX, sub-id 1)
RXR = "RXR|IM^肌肉注射^HL70162|LA^左上臂^HL70163"
FUNDING = "OBX|1|CE|30963-3^Vaccine funding source^LN|1|VXC2^国家免疫规划^CDCPHINVS||||||F"
# TQ1-7 start: the day and time of the dose as the clinic scheduled it
TQ1 = "TQ1|1||||||20260315093000"
# PRT-4 participation (v2.8.2): the nurse who entered the record
PRT = "PRT|1|AD||EP^Entered by^HL70912||N02^赵^敏"


def vxu(*segments: str, control: str = "VXL1") -> str:
    return message(msh("VXU", "V04", "VXU_V04", control), pid(), pv1(), *segments)


def order(filler: str) -> str:
    return orc(f1="RE", f2="", f3=f"{filler}^{HOSPITAL}")


def _route(shot: dict) -> str:
    return shot["route"]["coding"][0]["code"]


def test_a_timing_after_the_rxa_leaves_route_and_observations_with_the_vaccination(converter):
    bundle = convert(converter, vxu(order("IZ-3001"), rxa(), TQ1, RXR, FUNDING))
    shot = one(bundle, "Immunization")
    assert _route(shot) == "IM"
    assert shot["site"]["coding"][0]["code"] == "LA"
    assert shot["fundingSource"]["coding"][0]["code"] == "VXC2"
    observation = one(bundle, "Observation")
    assert observation["partOf"] == [ref(shot)]


def test_a_participant_after_the_rxa_too(converter):
    bundle = convert(converter, vxu(order("IZ-3002"), rxa(), PRT, RXR, FUNDING))
    shot = one(bundle, "Immunization")
    assert _route(shot) == "IM"
    assert one(bundle, "Observation")["partOf"] == [ref(shot)]


def test_two_orders_each_with_a_late_timing(converter):
    # 乙肝疫苗 then 麻腮风疫苗 at one visit, each order's TQ1 after its RXA; the second ORC opens the second order
    mmr = rxa(f5="03^MMR^HL70292^1201^麻腮风联合减毒活疫苗^CNVAC", f15="M2026C")
    bundle = convert(
        converter,
        vxu(
            order("IZ-3003"),
            rxa(),
            TQ1,
            RXR,
            FUNDING,
            order("IZ-3004"),
            mmr,
            TQ1,
            "RXR|SC^皮下注射^HL70162|RA^右上臂^HL70163",
        ),
    )
    shots = {s["identifier"][0]["value"]: s for s in resources(bundle, "Immunization")}
    assert set(shots) == {"IZ-3003", "IZ-3004"}
    assert shots["IZ-3003"]["site"]["coding"][0]["code"] == "LA"
    assert shots["IZ-3004"]["site"]["coding"][0]["code"] == "RA"
    assert one(bundle, "Observation")["partOf"] == [ref(shots["IZ-3003"])]


def test_an_orc_after_the_rxa_still_opens_the_next_order(converter):
    # the standard's ORDER starts with ORC: an ORC after a vaccination is the next vaccination's, even when the
    # next one's RXR comes only after its RXA
    bundle = convert(converter, vxu(order("IZ-3005"), rxa(), RXR, order("IZ-3006"), rxa(f15="B2026B")))
    shots = {s["identifier"][0]["value"]: s for s in resources(bundle, "Immunization")}
    assert set(shots) == {"IZ-3005", "IZ-3006"}
    assert _route(shots["IZ-3005"]) == "IM"
    assert "route" not in shots["IZ-3006"]


def test_without_orc_a_timing_before_the_next_rxa_is_the_next_vaccination_s(converter):
    # orders without ORC (v2.3.1 style): a TQ1 followed by an RXA before any ORC opens that RXA's order, as before
    bundle = convert(converter, vxu(rxa(), RXR, TQ1, rxa(f15="B2026B")))
    shots = resources(bundle, "Immunization")
    assert len(shots) == 2
    assert [_route(s) if "route" in s else None for s in shots] == ["IM", None]
