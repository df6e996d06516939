"""Repetitions of ORC-7 written exactly alike each keep their own ``Dosage.sequence`` (TQ.9 conjunction, table 0472).

A course that comes back after a pause is sent as the same repetition twice: 甲氨蝶呤 (methotrexate) once a day for
5 days, then (TQ.9 ``S``) nothing but folic acid days, then the same 5 days again. The built-in ``TQ_sequence`` finds
the repetition it is given among the field's repetitions by the very string the engine read it from
(``hub.mapping.runtime.repetitions``), not by its text: before, the third repetition, written as the first, got the
first one's sequence (1, 2, 1), which reads as "give these two courses together".

The messages are v2.4 pharmacy orders of a Chinese hospital (RDE^O11, OMP^O09, ORM^O01 with ORC-7); ``convert``
validates each Bundle (R4 schema, R4B models).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest

from hub.hl7 import er7
from hub.mapping.builtins import BUILTINS
from hub.mapping.runtime import Ctx, Env, field_items
from hub.mapping.structure import group_segments, parse_structure
from tests.mapping.conftest import convert, resources

PATIENT = "PID|1||0031877^^^BJXHYY^MR~110105197508123319^^^CHN^NNCHN||刘建国||19750812|M"
VISIT = "PV1|1|I|风湿免疫科^07^12^BJXHYY||||R031^周^敏"
# 甲氨蝶呤片 2.5 mg, give 4 tablets (10 mg); a course, a pause of folic acid days, the same course again
COURSE = "1^QD^D5^^^^^^S"
PAUSE = "1^QOD^D4^^^^^^S"
ENCODED = "RXE||Y1207^甲氨蝶呤片^L|10||mg|TAB^片剂^L|||||40|片|0"
ORIGINAL = "RXO|Y1207^甲氨蝶呤片^L|10||mg|TAB^片剂^L|||||40|片|0"
ROUTE = "RXR|PO^口服^HL70162"


def _message(kind: str, version: str, *segments: str) -> str:
    msh = f"MSH|^~\\&|HIS|BJXHYY|PHARM|BJXHYY|20260305091500||{kind}|{kind[:3]}0305|P|{version}"
    return "\r".join([msh, PATIENT, VISIT, *segments]) + "\r"


def _sequences(request: dict[str, Any]) -> list[int | None]:
    return [d.get("sequence") for d in request["dosageInstruction"]]


def test_a_course_sent_again_after_a_pause_is_the_third_step(converter):
    # RDE^O11 v2.4: course, pause, the same course. Before: [1, 2, 1]
    bundle = convert(
        converter,
        _message("RDE^O11^RDE_O11", "2.4", f"ORC|NW|RX20260305-01^HIS|||||{COURSE}~{PAUSE}~{COURSE}", ENCODED, ROUTE),
    )
    (request,) = resources(bundle, "MedicationRequest")
    assert _sequences(request) == [1, 2, 3]
    codes = [d["timing"]["code"]["coding"][-1]["code"] for d in request["dosageInstruction"]]
    assert codes == ["QD", "QOD", "QD"]


def test_two_alike_in_a_row_follow_each_other(converter):
    # two five-day courses back to back, then one in parallel (A) with the last: [1, 2, 2]. Before: [1, 1, 2]
    bundle = convert(
        converter,
        _message(
            "RDE^O11^RDE_O11",
            "2.4",
            f"ORC|NW|RX20260305-02^HIS|||||{COURSE}~1^QD^D5^^^^^^A~1^QHS^D5",
            ENCODED,
            ROUTE,
        ),
    )
    (request,) = resources(bundle, "MedicationRequest")
    assert _sequences(request) == [1, 2, 2]
    bundle = convert(
        converter,
        _message("RDE^O11^RDE_O11", "2.4", f"ORC|NW|RX20260305-03^HIS|||||{COURSE}~{COURSE}~{COURSE}", ENCODED, ROUTE),
    )
    (request,) = resources(bundle, "MedicationRequest")
    assert _sequences(request) == [1, 2, 3]


def test_each_encoded_order_of_one_orc_counts_its_own(converter):
    # one ORC, two RXE (ENCODING repeats): each MedicationRequest reads the ORC-7 repetitions again
    second = ENCODED.replace("Y1207^甲氨蝶呤片", "Y0455^叶酸片").replace("|10||mg|", "|5||mg|")
    bundle = convert(
        converter,
        _message(
            "RDE^O11^RDE_O11",
            "2.4",
            f"ORC|NW|RX20260305-04^HIS|||||{COURSE}~{PAUSE}~{COURSE}",
            ENCODED,
            ROUTE,
            second,
            ROUTE,
        ),
    )
    requests = resources(bundle, "MedicationRequest")
    assert len(requests) == 2
    assert [_sequences(r) for r in requests] == [[1, 2, 3], [1, 2, 3]]


@pytest.mark.parametrize(("kind", "version"), [("OMP^O09^OMP_O09", "2.4"), ("ORM^O01^ORM_O01", "2.3")])
def test_the_prescribers_order_counts_alike(converter, kind, version):
    bundle = convert(
        converter, _message(kind, version, f"ORC|NW|RX20260305-05^HIS|||||{COURSE}~{PAUSE}~{COURSE}", ORIGINAL, ROUTE)
    )
    (request,) = resources(bundle, "MedicationRequest")
    assert _sequences(request) == [1, 2, 3]


def test_the_builtin_reads_the_repetition_it_is_given():
    # the items of a repeating field are the strings the built-in finds by identity: the third repetition, equal
    # to the first, is the third
    text = _message("RDE^O11^RDE_O11", "2.4", f"ORC|NW|RX20260305-06^HIS|||||{COURSE}~{PAUSE}~{COURSE}", ENCODED)
    message = er7.parse(text)
    root, unplaced = group_segments(
        parse_structure(["MSH", "PID", "PV1", {"ORDER+": ["ORC", "RXE"]}]), message.segments
    )
    assert unplaced == []
    env = Env(message, UTC, "O11", "RDE_O11", root)
    orc = message.segments[3]
    items = field_items(env, orc, orc[7], None, None)
    assert [i[1] for i in items] == [COURSE, PAUSE, COURSE]
    sequence = BUILTINS["TQ_sequence"].make()
    ctx = Ctx(env, root.children["ORDER"][0], orc)
    assert [sequence(ctx, item, None) for item in items] == [1, 2, 3]
    # the same text not read from the field (a copy): the first repetition written as it
    assert sequence(ctx, (orc, "".join(list(COURSE)), 0), None) == 1
