"""PV1-52 other healthcare provider (v2.3–v2.6): a participant of the visit of type PART (IG PV1[Encounter] row 52).

Some HIS send the responsible nurse (责任护士) or the resident there; before the fix the field reached nothing. Like
the other doctor fields it is a group of Encounter.participant: an update that gives other participants and leaves
PV1-52 empty keeps the stored ones (keep mark), PV1-52 "" deletes them (null mark).
"""

from __future__ import annotations

from hub.mapping.nulls import KEEP_EXTENSION_URL, NULL_EXTENSION_URL
from hub.updates import merge_update

from .conftest import convert, one
from .test_keep_marks import adt, marks_of, participant_mark, pv1

V3 = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def roles(encounter: dict) -> list[tuple[str, str]]:
    return [
        (p["type"][0]["coding"][0]["code"], p["individual"]["identifier"]["value"]) for p in encounter["participant"]
    ]


def test_pv1_52_makes_a_part_participant_per_repetition(converter):
    # 2.4 admission: attending doctor 王医生 (PV1-7), two responsible nurses in PV1-52
    bundle = convert(converter, adt("A01", pv1(f7="1001^王^明", f52="N2001^赵^丽~N2002^钱^芳")))
    encounter = one(bundle, "Encounter")
    assert roles(encounter) == [("ATND", "1001"), ("PART", "N2001"), ("PART", "N2002")]
    part = encounter["participant"][1]
    assert part["type"] == [{"coding": [{"system": V3, "code": "PART", "display": "Participation"}]}]
    assert part["individual"]["display"] == "赵丽"


def test_an_update_without_pv1_52_keeps_the_stored_other_providers(converter):
    # A08 names a new attending doctor and leaves PV1-52 empty: the nurses an earlier message stored stay
    a01 = one(convert(converter, adt("A01", pv1(f7="1001^王^明", f52="N2001^赵^丽"))), "Encounter")
    bundle = convert(converter, adt("A08", pv1(f7="1003^陈^静")))
    assert participant_mark("PART") in marks_of(bundle, "Encounter", KEEP_EXTENSION_URL)
    merged = merge_update(a01, one(bundle, "Encounter"), kept=marks_of(bundle, "Encounter", KEEP_EXTENSION_URL))
    assert ("PART", "N2001") in roles(merged)
    assert ("ATND", "1003") in roles(merged)


def test_pv1_52_null_deletes_the_other_providers(converter):
    bundle = convert(converter, adt("A08", pv1(f7="1003^陈^静", f52='""')))
    assert marks_of(bundle, "Encounter", NULL_EXTENSION_URL) == [participant_mark("PART")]
    assert participant_mark("PART") not in marks_of(bundle, "Encounter", KEEP_EXTENSION_URL)
