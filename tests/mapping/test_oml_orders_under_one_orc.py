"""OML^O21 with one ORC and two OBR (some HIS send one common order segment for the tests ordered together).

The v2.5.1 grammar has one OBSERVATION_REQUEST (OBR …) per ORDER (ORC …); a second OBR without its own ORC is
outside it, but it is an order the sender sent: each OBR is a ServiceRequest of its own, and each reads the
ORC's common order data (order control and status, placer group ORC-4, transaction time ORC-9, ordering provider
ORC-12, the order's timing TQ1), its own notes, diagnoses and specimens.
"""

from __future__ import annotations

import pytest

from .conftest import convert, one, ref, resources

HEAD = (
    "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20261127080000||OML^O21^OML_O21|HIS8001|P|2.5.1",
    "PID|1||0012345^^^SZRMYY^MR||王小明||19900315|M",
    "PV1|1|O|内科^^^SZRMYY||||||||||||||||V01^^^SZRMYY^VN",
)
# ORC-2 placer number, ORC-4 placer group, ORC-9 transaction time, ORC-12 ordering provider
ORC = "ORC|NW|ORD200^HIS||G1^HIS|||||20261127080000|||1234^李^医生"
# TQ1-7 start, TQ1-9 priority (R routine): the order's timing
TQ1 = "TQ1|1||||||20261127090000||R"


def oml(*segments: str) -> str:
    return "\r".join((*HEAD, *segments)) + "\r"


def by_code(bundle):
    return {request["code"]["coding"][0]["code"]: request for request in resources(bundle, "ServiceRequest")}


def placer(request):
    return [i["value"] for i in request["identifier"] if i["type"]["coding"][0]["code"] == "PLAC"]


def test_each_obr_is_an_order_with_the_orc_s_common_data(converter):
    bundle = convert(
        converter,
        oml(
            ORC,
            TQ1,
            "OBR|1|ORD200^HIS||CBC^血常规^L|||20261127080000",
            "NTE|1||空腹",
            # the second test, with its own placer number, note, diagnosis and specimen
            "OBR|2|ORD201^HIS||GLU^血糖^L|||20261127080000",
            "NTE|1||餐后两小时",
            "DG1|1||E11.9^2型糖尿病^I10",
            "SPM|1|S1&HIS||BLD^全血^HL70487",
        ),
    )
    requests = by_code(bundle)
    assert set(requests) == {"CBC", "GLU"}
    cbc, glucose = requests["CBC"], requests["GLU"]
    assert cbc["id"] != glucose["id"]
    for request in (cbc, glucose):
        assert request["status"] == "active" and request["intent"] == "order"
        assert request["requester"]["display"] == "李医生"
        assert request["authoredOn"] == "2026-11-27T08:00:00+08:00"
        assert request["requisition"]["value"] == "G1"
        assert request["occurrenceDateTime"] == "2026-11-27T09:00:00+08:00"
        assert request["priority"] == "routine"
    assert cbc["note"] == [{"text": "空腹"}] and glucose["note"] == [{"text": "餐后两小时"}]
    assert "reasonCode" not in cbc and glucose["reasonCode"][0]["coding"][0]["code"] == "E11.9"
    assert "specimen" not in cbc and glucose["specimen"] == [ref(one(bundle, "Specimen"))]
    assert placer(cbc) == ["ORD200"] and "ORD201" in placer(glucose)


def test_the_second_order_keeps_its_id_when_sent_again(converter):
    # keyed on the ORC's number as the first (ORC-2 first, v2: the same as OBR-2), the later one numbered in message
    # order: the same message sent again updates the same two orders
    text = oml(ORC, "OBR|1|ORD200^HIS||CBC^血常规^L", "OBR|2|ORD201^HIS||GLU^血糖^L")
    first, again = by_code(convert(converter, text)), by_code(convert(converter, text))
    assert {code: r["id"] for code, r in first.items()} == {code: r["id"] for code, r in again.items()}
    assert first["CBC"]["id"] != first["GLU"]["id"]


def test_obrs_without_numbers_share_the_orc_s_number(converter):
    bundle = convert(converter, oml(ORC, "OBR|1|||CBC^血常规^L", "OBR|2|||GLU^血糖^L"))
    cbc, glucose = by_code(bundle)["CBC"], by_code(bundle)["GLU"]
    assert cbc["id"] != glucose["id"]
    assert placer(cbc) == placer(glucose) == ["ORD200"]
    assert glucose["status"] == "active" and glucose["requester"]["display"] == "李医生"


def test_two_orders_each_with_its_orc_are_unchanged(converter):
    bundle = convert(
        converter,
        oml(
            ORC,
            "OBR|1|ORD200^HIS||CBC^血常规^L",
            "ORC|NW|ORD201^HIS||G1^HIS|||||20261127080000|||5678^张^医生",
            "OBR|1|ORD201^HIS||GLU^血糖^L",
        ),
    )
    requests = by_code(bundle)
    assert requests["CBC"]["requester"]["display"] == "李医生"
    assert requests["GLU"]["requester"]["display"] == "张医生"
    assert "occurrenceDateTime" not in requests["GLU"]


def test_the_orc_s_ordering_provider_line_and_notes_are_each_order_s(converter):
    # v2.7+: PRT-4 OP after the ORC, and an NTE sent between the ORC and its first OBR
    bundle = convert(
        converter,
        oml(
            "ORC|NW|ORD200^HIS",
            "PRT|1|AD||OP^^HL70912|D9^赵^六^^^^^^SZRMYY",
            "NTE|1||加急",
            "OBR|1|ORD200^HIS||CBC^血常规^L",
            "NTE|1||空腹",
            "OBR|2|ORD201^HIS||GLU^血糖^L",
        ),
    )
    cbc, glucose = by_code(bundle)["CBC"], by_code(bundle)["GLU"]
    assert cbc["requester"]["display"] == glucose["requester"]["display"] == "赵六"
    assert cbc["note"] == [{"text": "加急"}, {"text": "空腹"}] and glucose["note"] == [{"text": "加急"}]


def test_an_orc_alone_is_still_an_order_of_its_own(converter):
    # a cancel sent as ORC alone: the ServiceRequest of the ORC (no OBR in its order)
    request = one(convert(converter, oml("ORC|CA|ORD200^HIS")), "ServiceRequest")
    assert request["status"] == "revoked"


# The later OBR with its own placer number is that order, whichever message names it: a status change the
# laboratory sends for it alone (ORC and OBR of its own, OML^O21 or ORM^O01), a cancel sent as its ORC alone.
def sc_for_ord201(structure: str, event: str) -> str:
    return "\r".join(
        (
            f"MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20261127100000||{structure[:3]}^{event}^{structure}|HIS8002|P|2.5.1",
            HEAD[1],
            HEAD[2],
            "ORC|SC|ORD201^HIS||G1^HIS|IP||||20261127100000",
            "OBR|1|ORD201^HIS||GLU^血糖^L",
        )
    )


def test_a_later_obr_s_own_number_keys_its_order_in_every_message(converter):
    placed = by_code(convert(converter, oml(ORC, "OBR|1|ORD200^HIS||CBC^血常规^L", "OBR|2|ORD201^HIS||GLU^血糖^L")))
    for structure, event in (("OML_O21", "O21"), ("ORM_O01", "O01")):
        (changed,) = resources(convert(converter, sc_for_ord201(structure, event)), "ServiceRequest")
        assert changed["id"] == placed["GLU"]["id"], structure
    cancel = oml("ORC|CA|ORD201^HIS")
    assert one(convert(converter, cancel), "ServiceRequest")["id"] == placed["GLU"]["id"]
    # the first OBR is the ORC's own order (ORC-2 is its OBR-2): keyed on ORC-2 as a single order is
    assert one(convert(converter, oml("ORC|CA|ORD200^HIS")), "ServiceRequest")["id"] == placed["CBC"]["id"]


def test_a_later_obr_with_its_own_number_is_not_named_by_the_orc_s_number(converter):
    # ORC-2 ORD200 is the first order's placer number: a search by it (an ORU^R01 for ORD200 names its order so)
    # finds that order only
    placed = by_code(convert(converter, oml(ORC, "OBR|1|ORD200^HIS||CBC^血常规^L", "OBR|2|ORD201^HIS||GLU^血糖^L")))
    assert placer(placed["CBC"]) == ["ORD200"]
    assert placer(placed["GLU"]) == ["ORD201"]


def test_obrs_sharing_the_orc_s_number_stay_two_orders(converter):
    # the same number in OBR-2 of both (and ORC-2): two orders the sender numbered alike, numbered in message order
    text = oml(ORC, "OBR|1|ORD200^HIS||CBC^血常规^L", "OBR|2|ORD200^HIS||GLU^血糖^L")
    requests = by_code(convert(converter, text))
    assert requests["CBC"]["id"] != requests["GLU"]["id"]
    assert requests["CBC"]["id"] == one(convert(converter, oml("ORC|CA|ORD200^HIS")), "ServiceRequest")["id"]
    assert by_code(convert(converter, text))["GLU"]["id"] == requests["GLU"]["id"]


def test_omg_o19_s_orders_under_one_orc_each_have_its_common_data(converter):
    # OMG^O19 (general clinical orders) sent as OML^O21 is: one ORC, two OBR, each its own placer number
    text = oml(
        ORC,
        TQ1,
        "OBR|1|ORD200^HIS||93000^心电图^C4",
        "NTE|1||静息",
        "OBR|2|ORD201^HIS||71046^胸部X线^C4",
        "NTE|1||站立位",
    ).replace("OML^O21^OML_O21", "OMG^O19^OMG_O19")
    requests = by_code(convert(converter, text))
    electrocardiogram, chest = requests["93000"], requests["71046"]
    for request in (electrocardiogram, chest):
        assert request["status"] == "active" and request["requester"]["display"] == "李医生"
        assert request["authoredOn"] == "2026-11-27T08:00:00+08:00"
        assert request["requisition"]["value"] == "G1"
        assert request["occurrenceDateTime"] == "2026-11-27T09:00:00+08:00"
    assert electrocardiogram["note"] == [{"text": "静息"}] and chest["note"] == [{"text": "站立位"}]
    assert placer(electrocardiogram) == ["ORD200"] and placer(chest) == ["ORD201"]


@pytest.mark.parametrize(
    ("structure", "before"),
    [
        # OMI^O23 (imaging orders): ORC, timing, the OBR of each study ordered
        ("OMI^O23^OMI_O23", ()),
        # OML^O33 (orders on one specimen): the specimen first, then ORC and its OBR
        ("OML^O33^OML_O33", ("SPM|1|S1&HIS||BLD^全血^HL70487",)),
        # OML^O35 (orders on one container of a specimen): the specimen, the container, then ORC and its OBR
        ("OML^O35^OML_O35", ("SPM|1|S1&HIS||BLD^全血^HL70487", "SAC|||C1^HIS")),
    ],
)
def test_the_orders_under_one_orc_of_other_order_structures_each_have_its_common_data(converter, structure, before):
    # one ORC for two orders (the tests ordered together), each OBR its own placer number and note
    text = oml(
        *before,
        ORC,
        TQ1,
        "OBR|1|ORD200^HIS||71046^胸部X线^C4",
        "NTE|1||站立位",
        "OBR|2|ORD201^HIS||74176^腹部CT^C4",
        "NTE|1||空腹",
    ).replace("OML^O21^OML_O21", structure)
    requests = by_code(convert(converter, text))
    chest, abdomen = requests["71046"], requests["74176"]
    for request in (chest, abdomen):
        assert request["status"] == "active" and request["requester"]["display"] == "李医生"
        assert request["authoredOn"] == "2026-11-27T08:00:00+08:00"
        assert request["requisition"]["value"] == "G1"
        assert request["occurrenceDateTime"] == "2026-11-27T09:00:00+08:00"
    assert chest["note"] == [{"text": "站立位"}] and abdomen["note"] == [{"text": "空腹"}]
    assert placer(chest) == ["ORD200"] and placer(abdomen) == ["ORD201"]
