"""``scope: around``: every segment of a name in the current group and in each group around it, the nearest group's
first, so that a ``where`` finds the nearest that passes (an RDE's ordering provider, PRT-4 OP, after the ORC
beside the RXE's own PRT lines of other roles)."""

from __future__ import annotations

from datetime import UTC

from hub.hl7 import er7
from hub.mapping.runtime import Ctx, Env, compile_getter, compile_texts, parse_path
from hub.mapping.structure import Node, group_segments, parse_structure
from hub.mapping.templates import Condition, ValueSpec

STRUCTURE = parse_structure(
    [
        "MSH",
        "PID",
        "PV1?",
        "PRT*",
        {
            "ORDER+": [
                "ORC",
                "PRT*",
                {"ORDER_DETAIL?": ["RXO", "PRT*"]},
                {"ENCODING+": ["RXE", "PRT*", "RXR*"]},
            ]
        },
    ]
)

MESSAGE = "\r".join(
    [
        "MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||RDE^O11^RDE_O11|RX9|P|2.8",
        "PID|1||MRN20260315^^^SZRMYY^MR||刘^德华||19680927|M",
        "PV1|1|O",
        "PRT|1|AD||AT^^HL70912|D0001^王^建国^^^^^^SZRMYY",  # the visit's attending doctor
        "ORC|NW|RX300^HIS",
        "PRT|1|AD||OP^^HL70912|D1003^陈^志远^^^^^^SZRMYY",  # the order's ordering provider
        "RXO|X0001^阿莫西林胶囊^L",
        "PRT|1|AD||EP^^HL70912|N6001^周^婷^^^^^^SZRMYY",  # the original order's, beside the encoded one
        "RXE||X0001^阿莫西林胶囊^L|0.5||g",
        "PRT|1|AD||PH^^HL70912|P5001^黄^芳^^^^^^SZRMYY",  # the encoded order's pharmacist
        "RXR|PO^口服^HL70162",
        "RXE||X0002^布洛芬缓释胶囊^L|0.3||g",  # a second drug encoded after the ORC, with no PRT of its own
        "RXR|PO^口服^HL70162",
    ]
)


def context(name: str, index: int = 0) -> tuple[Ctx, Node]:
    """The context of the ``index``-th segment ``name`` of the message, in the group it was placed in."""
    message = er7.parse(MESSAGE)
    root, unplaced = group_segments(STRUCTURE, message.segments)
    assert unplaced == []
    env = Env(message, UTC, "O11", "RDE_O11", root)
    found: list[tuple[Ctx, Node]] = []
    stack = [root]
    while stack:
        node = stack.pop()
        for children in node.children.values():
            stack.extend(children)
        found.extend((Ctx(env, node, seg), node) for seg in node.segs.get(name, ()))
    found.sort(key=lambda pair: message.segments.index(pair[0].seg))
    return found[index]


def roles(segments: list[er7.Segment]) -> list[str]:
    return [seg[4].split("^")[0] for seg in segments]


def test_find_around_gives_every_group_s_segments_from_the_nearest_out():
    _, encoding = context("RXE")
    assert roles(encoding.find_around("PRT")) == ["PH", "OP", "AT"]
    # 'up' stops at the nearest group that has any; the original order's (ORDER_DETAIL, beside) is not around
    assert roles(encoding.find("PRT")) == ["PH"]
    _, second = context("RXE", 1)
    assert roles(second.find_around("PRT")) == ["OP", "AT"]
    assert second.find_around("NTE") == []


def test_a_field_path_reads_the_field_of_each_segment_around():
    ctx, _ = context("RXE")
    getter = compile_getter(parse_path("PRT-4.1"), "around")
    assert [item[1] for item in getter(ctx, None, 0)] == ["PH", "OP", "AT"]
    # each item keeps its own segment, which a 'where' on the item reads
    assert [item[0][5].split("^")[0] for item in getter(ctx, None, 0)] == ["P5001", "D1003", "D0001"]
    assert compile_texts(parse_path("PRT-4"), "around")(ctx) == ("PH", "OP", "AT")
    # the current segment, when it has the name, is the only one (as for 'below' and 'up')
    prt, _ = context("PRT", 3)
    assert compile_texts(parse_path("PRT-4"), "around")(prt) == ("PH",)


def test_whole_segments_around_and_the_scope_in_templates():
    ctx, _ = context("RXE", 1)
    getter = compile_getter(parse_path("PRT"), "around")
    assert roles([item[0] for item in getter(ctx, None, 0)]) == ["OP", "AT"]
    assert ValueSpec.model_validate({"path": "requester", "from": "PRT", "scope": "around"}).scope == "around"
    assert Condition.model_validate({"from": "PRT-4", "scope": "around", "in": ["OP"]}).scope == "around"
