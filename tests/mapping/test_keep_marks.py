"""Keep marks: an empty field of a list the message gives keeps that field's stored items; ROL-2 DE withdraws one.

The marks the converter writes (hub.mapping.nulls), how a merge applies them (hub.updates.merge_update) and the
``withdraw`` key. The pipeline tests (A01 then A08, SQLite and PostgreSQL) are in tests/test_conversion_semantics.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import MappingTemplateError
from hub.mapping.engine import Converter
from hub.mapping.nulls import KEEP_EXTENSION_URL, NULL_EXTENSION_URL
from hub.updates import merge_update

from .conftest import convert, mappings_copy

HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"
PID = "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def participant_mark(code: str) -> str:
    return f"participant[type.coding.system={V3}][type.coding.code={code}]"


def adt(event: str, *segments: str, pid: str = PID) -> str:
    msh = f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||ADT^{event}^ADT_A01|C1|P|2.5.1"
    return "\r".join([msh, f"EVN|{event}|20260315083000", pid, *segments]) + "\r"


def pv1(**fields: str) -> str:
    # PV1-2 class, PV1-3 location, PV1-19 visit number
    values = {2: "I", 3: "内科^301^2", 19: "V0001^^^SZRMYY^VN"}
    values.update({int(k[1:]): v for k, v in fields.items()})
    return "|".join(["PV1", "1", *[values.get(i, "") for i in range(2, max(values) + 1)]])


def marks_of(bundle, rtype: str, url: str = KEEP_EXTENSION_URL) -> list[str]:
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith(f"{rtype}/")]
    return [x["valueString"] for x in entry.get("extension", []) if x["url"] == url]


def participants(marks: list[str]) -> list[str]:
    return [m for m in marks if m.startswith("participant")]


# -- the keep marks the converter writes -----------------------------------------------------------------------


def test_a_list_the_message_gives_keeps_the_items_of_its_empty_fields(converter):
    # PV1-17 (admitting doctor) given, PV1-7/8/9/52 and PV2-13 empty: the attending, referring, consulting doctors
    # and the other providers (PV1-52)
    bundle = convert(converter, adt("A08", pv1(f17="D004^孙^四")))
    expected = [participant_mark(c) for c in ("ATND", "REF", "CON", "PART")]
    assert participants(marks_of(bundle, "Encounter")) == expected
    # the same in an A01 (see mappings/README.md: an empty field says nothing in any message)
    bundle = convert(converter, adt("A01", pv1(f17="D004^孙^四")))
    assert participants(marks_of(bundle, "Encounter")) == expected
    # PID-13 given, PID-14 empty: the work phone
    bundle = convert(converter, adt("A08", pv1(), pid=PID + "|||||13800138000^PRN^CP"))
    assert "telecom[use=work]" in marks_of(bundle, "Patient")


def test_no_keep_mark_without_the_list_or_for_what_the_message_gives_or_deletes(converter):
    # no participant in the message: the stored list stays whole without marks
    assert participants(marks_of(convert(converter, adt("A08", pv1())), "Encounter")) == []
    # PV1-7 "" deletes the attending doctor (null mark), the others are kept
    bundle = convert(converter, adt("A08", pv1(f7='""', f17="D004^孙^四")))
    assert marks_of(bundle, "Encounter", NULL_EXTENSION_URL) == [participant_mark("ATND")]
    assert participants(marks_of(bundle, "Encounter")) == [participant_mark(c) for c in ("REF", "CON", "PART")]
    # a ROL that names the consultant (ROL-3 CP): the message gives one, the stored consultant is replaced
    rol = "ROL|1|AD|CP^Consulting Provider^HL70443|D031^周^九"
    bundle = convert(converter, adt("A08", pv1(f17="D004^孙^四"), rol))
    assert participants(marks_of(bundle, "Encounter")) == [participant_mark(c) for c in ("ATND", "REF", "PART")]
    # PV2-13 gives a referrer while PV1-8 is empty: the referrer is the message's (PV1-8 and PV2-13 share it)
    pv2 = "PV2" + "|" * 12 + "|D040^蒋^十"
    bundle = convert(converter, adt("A08", pv1(f17="D004^孙^四"), pv2))
    assert participants(marks_of(bundle, "Encounter")) == [participant_mark(c) for c in ("ATND", "CON", "PART")]
    # PV1-8 "" while PV2-13 is empty: no null mark (the stored referrer may be PV2-13's), so it is kept
    bundle = convert(converter, adt("A08", pv1(f8='""', f17="D004^孙^四")))
    assert marks_of(bundle, "Encounter", NULL_EXTENSION_URL) == []
    assert participant_mark("REF") in marks_of(bundle, "Encounter")


def test_no_keep_mark_on_a_type_the_hub_replaces_whole(converter):
    # IN1-2 plan given, IN1-8 group empty: a Coverage is sent whole and replaced whole (hub.updates), so its class
    # list has no keep mark; the Patient of the same message (merged) has its own
    in1 = "IN1|1|PLAN01^城镇职工|INS01^^^^^^^^^NI|医保局"
    bundle = convert(converter, adt("A08", pv1(), in1, pid=PID + "|||||13800138000^PRN^CP"))
    assert marks_of(bundle, "Coverage") == []
    assert "telecom[use=work]" in marks_of(bundle, "Patient")


def test_a_list_without_discriminator_has_no_keep_mark(converter):
    # PV1-3 and PV1-11 both make an active location: the message's list replaces the stored one
    bundle = convert(converter, adt("A08", pv1(f11="急诊^1^1")))
    assert not [m for m in marks_of(bundle, "Encounter") if m.startswith("location[status=active]")]
    assert "location[status=reserved]" in marks_of(bundle, "Encounter")  # PV1-42 has its own


def test_the_general_practitioners_are_told_apart_by_their_reference_type(converter):
    # PD1-4 (a doctor) given, PD1-3 (the facility) empty: the stored facility is kept
    bundle = convert(converter, adt("A08", "PD1||||D009^钱^九", pv1()))
    assert [m for m in marks_of(bundle, "Patient") if m.startswith("generalPractitioner")] == [
        "generalPractitioner[type=Organization]"
    ]
    [patient] = [e["resource"] for e in bundle["entry"] if e["request"]["url"].startswith("Patient/")]
    assert patient["generalPractitioner"][0]["type"] == "Practitioner"
    # a ROL PP doctor is a Practitioner too: with PD1-4 empty, it replaces the stored doctor, the facility stays
    bundle = convert(converter, adt("A08", pv1(), "ROL|1|AD|PP^Primary Care Provider^HL70443|D019^钱^十九"))
    assert [m for m in marks_of(bundle, "Patient") if m.startswith("generalPractitioner")] == [
        "generalPractitioner[type=Organization]"
    ]


def test_rol_de_withdraws_the_role_it_names(converter):
    rol = "ROL|2|DE|CP^Consulting Provider^HL70443|D031^周^九"
    bundle = convert(converter, adt("A08", pv1(f17="D004^孙^四"), rol))
    withdrawn = f"participant[type.coding.system={V3}][type.coding.code=CON][individual.identifier.value=D031]"
    assert marks_of(bundle, "Encounter", NULL_EXTENSION_URL) == [withdrawn]
    assert participant_mark("CON") in marks_of(bundle, "Encounter")  # PV1-9's other consultants stay
    # the withdrawn role is not a participant of the message
    [encounter] = [e["resource"] for e in bundle["entry"] if e["request"]["url"].startswith("Encounter/")]
    assert [p["individual"]["identifier"]["value"] for p in encounter["participant"]] == ["D004"]


# -- how a merge applies them ----------------------------------------------------------------------------------


def _participant(code: str, who: str) -> dict:
    return {"type": [{"coding": [{"system": V3, "code": code}]}], "individual": {"display": who}}


def test_a_keep_mark_puts_back_the_stored_items_it_matches_after_the_messages():
    stored = {
        "resourceType": "Encounter",
        "id": "e1",
        "participant": [_participant("ATND", "王一"), _participant("REF", "李二"), _participant("ADM", "孙四")],
    }
    new = {"resourceType": "Encounter", "id": "e1", "participant": [_participant("ADM", "周五")]}
    merged = merge_update(stored, new, kept=[participant_mark("ATND"), participant_mark("REF")])
    assert merged["participant"] == [
        _participant("ADM", "周五"),
        _participant("ATND", "王一"),
        _participant("REF", "李二"),
    ]
    assert new["participant"] == [_participant("ADM", "周五")]  # the converted resource is not changed
    # without keep marks the message's list replaces (today's behaviour where no discriminator tells items apart)
    assert merge_update(stored, new)["participant"] == [_participant("ADM", "周五")]
    # an item the message gives too is not doubled
    again = {"resourceType": "Encounter", "id": "e1", "participant": [_participant("ATND", "王一")]}
    assert merge_update(stored, again, kept=[participant_mark("ATND")])["participant"] == [_participant("ATND", "王一")]


def test_a_null_mark_deletes_after_the_keep_marks():
    # ROL-2 DE: the CON item D031 is withdrawn, the other stored consultant stays (PV1-9 empty)
    def con(who: str) -> dict:
        return {**_participant("CON", who), "individual": {"identifier": {"value": who}}}

    stored = {"resourceType": "Encounter", "id": "e1", "participant": [con("D031"), con("D032")]}
    new = {"resourceType": "Encounter", "id": "e1", "participant": [_participant("ADM", "周五")]}
    withdrawn = "participant[type.coding.code=CON][individual.identifier.value=D031]"
    merged = merge_update(stored, new, [withdrawn], kept=[participant_mark("CON")])
    assert merged["participant"] == [_participant("ADM", "周五"), con("D032")]


def test_a_keep_mark_of_a_nested_list_copies_what_it_changes():
    stored = {"resourceType": "Encounter", "id": "e1", "hospitalization": {"specialArrangement": [{"text": "A"}]}}
    given = {"text": "B"}
    new = {"resourceType": "Encounter", "id": "e1", "hospitalization": {"specialArrangement": [given]}}
    merged = merge_update(stored, new, kept=["hospitalization.specialArrangement[text=A]"])
    assert merged["hospitalization"]["specialArrangement"] == [given, {"text": "A"}]
    assert new["hospitalization"]["specialArrangement"] == [given]


# -- the withdraw key ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("        withdraw: [type.coding.code]\n        elements:\n", None),
        ("        withdraw: []\n        elements:\n", "'withdraw' is for a list element"),
    ],
)
def test_the_withdraw_key(tmp_path: Path, new: str, reason: str | None):
    mappings = mappings_copy(tmp_path)
    path = mappings / "message/ADT_A01.yaml"
    text = path.read_text(encoding="utf-8")
    old = "        withdraw: [type.coding.system, type.coding.code, individual.identifier.value]\n        elements:\n"
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    if reason is None:
        Converter.load(mappings)
        return
    with pytest.raises(MappingTemplateError, match=reason):
        Converter.load(mappings)


def test_withdraw_is_for_a_list_of_the_resource(tmp_path: Path):
    mappings = mappings_copy(tmp_path)
    path = mappings / "resource/Patient.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "  - path: gender\n    from: PID-8\n    withdraw: [code]\n", encoding="utf-8")
    with pytest.raises(MappingTemplateError, match="'withdraw' is for a list element"):
        Converter.load(mappings)


def test_rol_de_withdraws_the_patients_own_doctor(converter):
    # ROL-3 PP (primary care provider) with ROL-2 DE, in a message that gives no general practitioner: before,
    # the stored one stayed (nothing replaced the list); now the null mark names it by its number
    rol = "ROL|1|DE|PP^Primary Care Provider^HL70443|D009^钱^九"
    bundle = convert(converter, adt("A08", rol, pv1()))
    assert marks_of(bundle, "Patient", NULL_EXTENSION_URL) == ["generalPractitioner[identifier.value=D009]"]
    stored = {
        "resourceType": "Patient",
        "id": "p1",
        "generalPractitioner": [{"identifier": {"value": "D009"}}, {"identifier": {"value": "C001"}}],
    }
    merged = merge_update(
        stored, {"resourceType": "Patient", "id": "p1"}, ["generalPractitioner[identifier.value=D009]"]
    )
    assert merged["generalPractitioner"] == [{"identifier": {"value": "C001"}}]


@pytest.mark.parametrize("empty", ["", "^^", "^^^^^^", "~", "^ ^"])
def test_a_field_of_empty_components_keeps_as_an_empty_field_does(converter, empty):
    # PV1-7 (attending doctor) and PV1-6 (prior location) written with separators only: not valued, as || is
    bundle = convert(converter, adt("A08", pv1(f6=empty, f7=empty, f17="D004^孙^四")))
    marks = marks_of(bundle, "Encounter")
    assert participant_mark("ATND") in marks and "location[status=completed]" in marks


def test_withdraw_of_a_single_valued_element_of_a_replaced_type_is_refused(tmp_path: Path):
    # a Coverage is replaced whole: a withdrawn single value has nothing stored to be taken from
    mappings = mappings_copy(tmp_path)
    path = mappings / "resource/Coverage.yaml"
    text = path.read_text(encoding="utf-8")
    rule = "  - path: policyHolder\n    from: IN1-16\n    withdraw: [display]\n    type: XCN_Reference\n"
    path.write_text(text + rule, encoding="utf-8")
    with pytest.raises(MappingTemplateError, match="'withdraw' is for a list element"):
        Converter.load(mappings)


def test_a_mark_with_selectors_removes_the_stored_single_value_it_matches():
    stored = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "requester": {"identifier": {"system": "urn:hub:id:SZRMYY", "value": "D001"}, "display": "王伟"},
    }
    new = {"resourceType": "MedicationRequest", "id": "m1", "status": "active"}
    assert "requester" not in merge_update(stored, new, ["requester[identifier.value=D001]"])
    # another person withdrawn: the stored requester stays
    assert merge_update(stored, new, ["requester[identifier.value=D017]"])["requester"] == stored["requester"]
    # the message names a requester: it stands
    given = {"identifier": {"value": "D017"}, "display": "刘洋"}
    merged = merge_update(stored, {**new, "requester": given}, ["requester[identifier.value=D001]"])
    assert merged["requester"] == given
