"""PV2-38 mode of arrival (v2.5+, table 0430): the Encounter's core extension encounter-modeOfArrival (IG PV2[Encounter]
row 38). Chinese HIS send how an inpatient came in (入院方式: 步行, 轮椅, 平车, 救护车); before the fix the field
reached nothing.
"""

from __future__ import annotations

from hub.mapping.nulls import KEEP_EXTENSION_URL, NULL_EXTENSION_URL

from .conftest import convert, one
from .test_adt_variations import message, pid, pv1, segment

URL = "http://hl7.org/fhir/StructureDefinition/encounter-modeOfArrival"
MARK = f"extension[url={URL}]"


def encounter_entry(converter, *pv2_fields: tuple[int, str]) -> dict:
    pv2 = segment("PV2", **{f"f{n}": v for n, v in pv2_fields})
    bundle = convert(converter, message(pid(), pv1(), pv2, event="A01", version="2.5"))
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith("Encounter/")]
    assert one(bundle, "Encounter") is entry["resource"]
    return entry


def arrival(entry: dict) -> list[dict]:
    return [x["valueCoding"] for x in entry["resource"].get("extension", []) if x["url"] == URL]


def marks(entry: dict, url: str) -> list[str]:
    return [x["valueString"] for x in entry.get("extension", []) if x["url"] == url]


def test_an_hl7_0430_code_is_the_mode_of_arrival(converter):
    entry = encounter_entry(converter, (38, "A^Ambulance^HL70430"))
    assert arrival(entry) == [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0430", "code": "A", "display": "Ambulance"}
    ]


def test_a_local_code_or_a_word_is_kept_as_sent(converter):
    assert arrival(encounter_entry(converter, (38, "3^平车^99RYFS"))) == [
        {"system": "urn:hub:code:RMYY:99RYFS", "code": "3", "display": "平车"}
    ]
    assert arrival(encounter_entry(converter, (38, "轮椅"))) == [{"code": "轮椅"}]


def test_an_update_without_pv2_38_keeps_it_and_a_null_deletes_it(converter):
    # PV2-8 (expected admission) given, PV2-38 empty: the stored mode of arrival stays
    entry = encounter_entry(converter, (8, "20260320"))
    assert arrival(entry) == []
    assert MARK in marks(entry, KEEP_EXTENSION_URL)
    assert marks(encounter_entry(converter, (38, '""')), NULL_EXTENSION_URL) == [MARK]
