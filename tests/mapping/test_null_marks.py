"""The HL7 null ("") marks: a "" deletes what its field made, not what other fields of the same list made.

The mark format (hub.mapping.nullmark), the marks the converter writes (hub.mapping.nulls) and how a merge applies
them (hub.updates.merge_update). The pipeline tests are in tests/test_conversion_semantics.py.
"""

from __future__ import annotations

import pytest

from hub.mapping.nullmark import NullMark
from hub.mapping.nulls import NULL_EXTENSION_URL
from hub.updates import merge_update

from .conftest import convert

HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"
PID = "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def participant_mark(code: str) -> str:
    return f"participant[type.coding.system={V3}][type.coding.code={code}]"


def a08(*segments: str, pid: str = PID) -> str:
    msh = f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||ADT^A08^ADT_A01|C1|P|2.5.1"
    return "\r".join([msh, "EVN|A08|20260315083000", pid, *segments]) + "\r"


def pv1(**fields: str) -> str:
    # PV1-2 class, PV1-3 location, PV1-19 visit number
    values = {2: "I", 3: "内科^301^2", 19: "V0001^^^SZRMYY^VN"}
    values.update({int(k[1:]): v for k, v in fields.items()})
    return "|".join(["PV1", "1", *[values.get(i, "") for i in range(2, max(values) + 1)]])


def marks_of(bundle, rtype: str) -> list[str]:
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith(f"{rtype}/")]
    return [x["valueString"] for x in entry.get("extension", []) if x["url"] == NULL_EXTENSION_URL]


# -- the mark format -------------------------------------------------------------------------------------------


def test_a_mark_is_a_path_with_optional_selectors():
    whole = NullMark.parse("period.end")
    assert (whole.path, whole.where, whole.element) == ("period.end", (), "period")
    text = participant_mark("ATND")
    mark = NullMark.parse(text)
    assert mark.path == "participant"
    assert mark.where == (("type.coding.system", V3), ("type.coding.code", "ATND"))
    assert str(mark) == text
    for bad in ("", "participant[", "participant[type]", "participant[=ATND]", "a..b", "participant[a=b]x"):
        with pytest.raises(ValueError, match="not a null mark"):
            NullMark.parse(bad)


def test_an_item_matches_when_every_selector_finds_its_value_through_lists():
    mark = NullMark.parse(participant_mark("ATND"))
    attending = {"type": [{"coding": [{"system": V3, "code": "ATND"}]}], "individual": {"display": "王一"}}
    two_types = {"type": [{"coding": [{"system": V3, "code": "ADM"}]}, {"coding": [{"system": V3, "code": "ATND"}]}]}
    admitting = {"type": [{"coding": [{"system": V3, "code": "ADM"}]}]}
    other_system = {"type": [{"coding": [{"system": "urn:local", "code": "ATND"}]}]}
    assert mark.matches(attending) and mark.matches(two_types)
    assert not mark.matches(admitting) and not mark.matches(other_system) and not mark.matches({})
    # booleans as true/false
    assert NullMark.parse("ingredient[isActive=true]").matches({"isActive": True})
    assert not NullMark.parse("ingredient[isActive=true]").matches({"isActive": False})


# -- the marks the converter writes ----------------------------------------------------------------------------


def test_a_null_in_one_of_several_fields_of_a_list_marks_that_fields_items(converter):
    # PV1-7 "" (attending), PV1-17 the admitting doctor: the attending doctor only
    bundle = convert(converter, a08(pv1(f7='""', f17="D004^孙^四")))
    assert marks_of(bundle, "Encounter") == [participant_mark("ATND")]
    # every doctor field "": each doctor by its type (PV1-8 and PV2-13 both make the referrer)
    pv2 = "PV2" + "|" * 12 + '|""'
    bundle = convert(converter, a08(pv1(f7='""', f8='""', f9='""', f17='""'), pv2))
    assert sorted(marks_of(bundle, "Encounter")) == sorted(participant_mark(c) for c in ("ATND", "REF", "CON", "ADM"))
    # PV2-8 "" (expected admit): that extension only, by its url, not PV2-9's
    pv2 = "PV2" + "|" * 7 + '|""|20260320'
    assert marks_of(convert(converter, a08(pv1(), pv2)), "Encounter") == [
        "extension[url=http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedStartDate]"
    ]


def test_no_mark_when_the_message_gives_what_the_field_names(converter):
    # PV1-7 "" but a ROL names the attending doctor (ROL-3 AT): the message gives one, nothing is deleted
    rol = "ROL|1|AD|AT^Attending^HL70443|D020^赵^六"
    assert marks_of(convert(converter, a08(pv1(f7='""'), rol)), "Encounter") == []


def test_a_field_whose_items_cannot_be_told_apart_deletes_only_with_all_its_list(converter):
    # PV1-11 (temporary location) is active, as PV1-3's (assigned) is: "" in PV1-11 alone deletes nothing …
    assert marks_of(convert(converter, a08(pv1(f11='""'))), "Encounter") == []
    # … PV1-42 (pending location) is the only one reserved: its location only
    assert marks_of(convert(converter, a08(pv1(f42='""'))), "Encounter") == ["location[status=reserved]"]
    # PID-2 (patient id) and PID-3 (identifier list) are both CX identifiers, no discriminator
    assert marks_of(convert(converter, a08(pv1(), pid='PID|1|""|MRN0001^^^SZRMYY^MR||张三')), "Patient") == []
    # PD1-4 (primary care provider) and PD1-3 (primary facility) are both generalPractitioner, told apart by their
    # Reference type: "" in one deletes its items only
    assert marks_of(convert(converter, a08('PD1||||""', pv1())), "Patient") == [
        "generalPractitioner[type=Practitioner]"
    ]
    bundle = convert(converter, a08('PD1|||""|""', pv1()))
    assert marks_of(bundle, "Patient") == [
        "generalPractitioner[type=Practitioner]",
        "generalPractitioner[type=Organization]",
    ]


def test_a_field_alone_in_its_element_deletes_it_whole(converter):
    # PID-11 address, PID-16 marital status, PV1-36 discharge disposition: one field each
    pid = PID + '|||""|||||""'
    bundle = convert(converter, a08(pv1(f36='""'), pid=pid))
    assert marks_of(bundle, "Patient") == ["address", "maritalStatus"]
    assert marks_of(bundle, "Encounter") == ["hospitalization.dischargeDisposition"]


# -- how a merge applies them ----------------------------------------------------------------------------------


def _participant(code: str, who: str) -> dict:
    return {"type": [{"coding": [{"system": V3, "code": code}]}], "individual": {"display": who}}


def test_a_selector_mark_removes_the_stored_items_it_matches_only():
    stored = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "in-progress",
        "participant": [_participant("ATND", "王一"), _participant("REF", "李二"), _participant("ADM", "孙四")],
    }
    new = {"resourceType": "Encounter", "id": "e1", "status": "in-progress"}
    merged = merge_update(stored, new, [participant_mark("ATND")])
    assert merged["participant"] == [_participant("REF", "李二"), _participant("ADM", "孙四")]
    # the last items of a list: the list goes
    merged = merge_update(merged, new, [participant_mark("REF"), participant_mark("ADM")])
    assert "participant" not in merged
    # a whole-element mark is as before: the element goes unless the message gives it
    assert "participant" not in merge_update(stored, new, ["participant"])


def test_a_selector_mark_keeps_what_the_message_gives_and_applies_to_united_lists():
    dl = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "DL"}]},
        "value": "B1",
    }
    mrn = {"system": "urn:mrn", "value": "MRN0001"}
    stored = {"resourceType": "Patient", "id": "p1", "identifier": [mrn, dl]}
    new = {"resourceType": "Patient", "id": "p1", "identifier": [mrn]}
    mark = "identifier[type.coding.system=http://terminology.hl7.org/CodeSystem/v2-0203][type.coding.code=DL]"
    # identifiers are united (the stored DL would stay); the mark removes it
    assert merge_update(stored, new, [mark])["identifier"] == [mrn]
    # an item the converted resource gives is never removed
    given = {"resourceType": "Patient", "id": "p1", "identifier": [mrn, dl]}
    assert merge_update(stored, given, [mark])["identifier"] == [mrn, dl]
