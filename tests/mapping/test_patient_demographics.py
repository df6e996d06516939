"""PID demographics beyond name and identifiers: religion (PID-17), birth place (PID-23), citizenship (PID-26),
nationality (PID-28), and the ethnic group (民族, PID-22; PID-10 from some Chinese senders) as GB 3304 codes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.mapping.conftest import convert, resources

ETHNIC = "http://hl7.org.cn/fhir/StructureDefinition/ext-person-ethnicGroup"
GB3304 = "http://hl7.org.cn/fhir/CodeSystem/gb3304"
KEEP = "urn:hub:fhir:StructureDefinition:hl7v2-keep"


def _adt(event: str = "A01", **fields: str) -> str:
    pid = [""] * 31
    pid[1], pid[3], pid[5], pid[7], pid[8] = "1", "MRN1^^^SZRMYY^MR", "王^五", "19491231", "M"
    for name, value in fields.items():
        pid[int(name[1:])] = value
    return (
        f"MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^{event}|M1|P|2.5.1||||||UNICODE UTF-8\r"
        f"EVN|{event}|20260315083000\r" + "PID|" + "|".join(pid[1:]) + "\rPV1|1|I\r"
    )


def _patient(converter: Any, text: str) -> dict[str, Any]:
    return resources(convert(converter, text), "Patient")[0]


def _extensions(patient: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in patient.get("extension", []) if e["url"] == url]


@pytest.mark.parametrize(
    ("pid22", "code", "display"),
    [
        ("01^汉族^GB3304", "HA", "汉族"),
        ("01", "HA", "汉族"),
        ("1^汉族", "HA", "汉族"),  # the leading zero dropped
        ("HA^汉族^GB/T 3304-1991", "HA", "汉族"),
        ("ha", "HA", "汉族"),
        ("^回族", "HU", "回族"),  # the name only, in CWE.2
        ("维吾尔", "UG", "维吾尔族"),  # the name without 族
        ("56^基诺族^GB 3304", "JN", "基诺族"),
    ],
)
def test_an_ethnic_group_in_any_gb3304_spelling_is_the_letter_code(converter, pid22, code, display):
    patient = _patient(converter, _adt(p22=pid22))
    assert _extensions(patient, ETHNIC) == [
        {"url": ETHNIC, "valueCoding": {"system": GB3304, "code": code, "display": display}}
    ]


@pytest.mark.parametrize(
    "pid22",
    [
        "N^Not Hispanic or Latino^HL70189",  # US ethnicity, table 0189
        "2186-5^Not Hispanic or Latino^CDCREC",
        "97^其他未识别民族",  # not a GB 3304 code
        "01^汉族^L",  # a local code system that is not GB 3304: not ours to read as it
        '""',
    ],
)
def test_a_coding_that_is_no_gb3304_code_makes_no_ethnic_group(converter, pid22):
    assert _extensions(_patient(converter, _adt(p22=pid22)), ETHNIC) == []


def test_an_ethnic_group_in_pid10_counts_and_is_written_once(converter):
    only_race = _patient(converter, _adt(p10="02^蒙古族^GB/T 3304"))
    assert [e["valueCoding"]["code"] for e in _extensions(only_race, ETHNIC)] == ["MG"]
    both = _patient(converter, _adt(p10="02^蒙古族^GB/T 3304", p22="MG"))
    assert [e["valueCoding"]["code"] for e in _extensions(both, ETHNIC)] == ["MG"]
    us_race = _patient(converter, _adt(p10="2106-3^White^CDCREC"))
    assert _extensions(us_race, ETHNIC) == []


def test_religion_birth_place_citizenship_and_nationality(converter):
    patient = _patient(
        converter,
        _adt(
            p17="BUD^佛教^HL70006",
            p23="广东省深圳市",
            p26="CHN^中国^ISO3166~HKG^中国香港^ISO3166",
            p28="CHN^中国^GB/T 2659",
        ),
    )
    religion = _extensions(patient, "http://hl7.org/fhir/StructureDefinition/patient-religion")
    assert religion == [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/patient-religion",
            "valueCodeableConcept": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0006", "code": "BUD", "display": "佛教"}
                ],
                "text": "佛教",
            },
        }
    ]
    birth = _extensions(patient, "http://hl7.org/fhir/StructureDefinition/patient-birthPlace")
    assert birth == [
        {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": {"text": "广东省深圳市"}}
    ]
    citizenship = _extensions(patient, "http://hl7.org/fhir/StructureDefinition/patient-citizenship")
    assert [
        (c["extension"][0]["url"], c["extension"][0]["valueCodeableConcept"]["coding"][0]) for c in citizenship
    ] == [
        ("code", {"system": "urn:iso:std:iso:3166", "code": "CHN", "display": "中国"}),
        ("code", {"system": "urn:iso:std:iso:3166", "code": "HKG", "display": "中国香港"}),
    ]
    (nationality,) = _extensions(patient, "http://hl7.org/fhir/StructureDefinition/patient-nationality")
    assert nationality["extension"] == [
        {
            "url": "code",
            "valueCodeableConcept": {
                "coding": [{"system": "urn:iso:std:iso:3166", "code": "CHN", "display": "中国"}],
                "text": "中国",
            },
        }
    ]


def test_empty_fields_make_no_extension(converter):
    assert "extension" not in _patient(converter, _adt())


def test_an_update_without_the_ethnic_group_keeps_the_stored_one(converter):
    """An A08 that leaves PID-22 empty says nothing about it: the entry's keep mark keeps the stored extension
    (hub.updates); one that sends it does not keep the stored one (its own replaces it)."""
    silent = convert(converter, _adt("A08", p17="BUD^佛教^HL70006"))
    entry = next(e for e in silent["entry"] if e["resource"]["resourceType"] == "Patient")
    keeps = [m["valueString"] for m in entry.get("extension", []) if m["url"] == KEEP]
    assert f"extension[url={ETHNIC}]" in keeps
    given = convert(converter, _adt("A08", p22="HU"))
    entry = next(e for e in given["entry"] if e["resource"]["resourceType"] == "Patient")
    keeps = [m["valueString"] for m in entry.get("extension", []) if m["url"] == KEEP]
    assert f"extension[url={ETHNIC}]" not in keeps


BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"


@pytest.mark.parametrize(
    ("pid7", "birth_time"),
    [
        ("198506151230", "1985-06-15T12:30:00+08:00"),  # the sender's local time: its zone's offset
        ("19850615123015+0215", "1985-06-15T12:30:15+02:15"),  # an offset sent is kept
        ("1985061512", "1985-06-15T12:00:00+08:00"),  # an hour only
    ],
)
def test_a_birth_time_is_the_birth_time_extension_on_the_birth_date(converter, pid7, birth_time):
    # IG PID[Patient] row 7: the date is birthDate, the time the core extension patient-birthTime on _birthDate
    patient = _patient(converter, _adt(p7=pid7))
    assert patient["birthDate"] == "1985-06-15"
    assert patient["_birthDate"] == {"extension": [{"url": BIRTH_TIME, "valueDateTime": birth_time}]}


def test_a_birth_date_without_a_time_has_no_birth_time(converter):
    assert "_birthDate" not in _patient(converter, _adt(p7="19850615"))
