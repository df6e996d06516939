"""One identifier per system and value in Patient.identifier.

IG PID[Patient] rows 2, 3 and 4 make PID-2 (patient ID, external: kept for backward compatibility), each PID-3
repetition and PID-4 (alternate patient ID) a CX[Identifier] of Patient.identifier. An identifier is its system and
its value (FHIR Identifier: "the value that is unique within the system"); its type only says what kind of number
it is. A sender that fills PID-2 with the number it also lists in PID-3 (the old single-id field, often without a
type) gives one identifier, not two: it is listed once, with the more informative type (the typed one; when both
are typed, the one listed first, PID-3's). Different numbers, or one number in two systems, stay different
identifiers.
"""

from __future__ import annotations

from .conftest import convert, one

MSH = "MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A01^ADT_A01|C1|P|2.5.1"
MR = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical record number"}
    ]
}


def identifiers(converter, pid: str) -> list[dict]:
    bundle = convert(converter, "\r".join([MSH, "EVN|A01", pid, "PV1|1|I"]) + "\r")
    return one(bundle, "Patient")["identifier"]


def test_pid2_with_the_number_of_pid3_is_one_identifier_with_pid3s_type(converter):
    # PID-2 without an assigning authority: the sending facility's (MSH-4), as PID-3's
    found = identifiers(converter, "PID|1|12345|12345^^^SZRMYY^MR||张^三")
    assert [(i["system"], i["value"]) for i in found] == [("urn:hub:id:SZRMYY", "12345")]
    assert found[0]["type"] == MR


def test_the_typed_identifier_wins_whichever_field_comes_first(converter):
    # PID-3 without a type, PID-4 (alternate id) with one: one identifier, typed
    found = identifiers(converter, "PID|1||12345^^^SZRMYY|12345^^^SZRMYY^MR|张^三")
    assert len(found) == 1 and found[0]["value"] == "12345" and found[0]["type"] == MR


def test_two_types_of_one_number_are_one_identifier_the_first_listed(converter):
    found = identifiers(converter, "PID|1|12345^^^SZRMYY^PI|12345^^^SZRMYY^MR~12345^^^SZRMYY^PT||张^三")
    assert len(found) == 1 and found[0]["type"] == MR


def test_different_numbers_and_systems_stay_different_identifiers(converter):
    found = identifiers(converter, "PID|1|999^^^SZRMYY|12345^^^SZRMYY^MR~12345^^^CITY^PI||张^三")
    assert [(i["system"], i["value"]) for i in found] == [
        ("urn:hub:id:SZRMYY", "12345"),
        ("urn:hub:id:CITY", "12345"),
        ("urn:hub:id:SZRMYY", "999"),
    ]
