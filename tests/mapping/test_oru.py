"""ORU^R01 → Patient, Encounter, DiagnosticReport, Observations, Specimen, checked field by field."""

from __future__ import annotations

import pytest

from hub.errors import ConversionError
from hub.hl7 import er7

from .conftest import convert, one, ref, resources, with_report

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"

HEADER = [
    "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|R1|P|2.5.1",
    "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F",
    # PV1-19 visit number: the results belong to this Encounter
    "PV1|1|O|||||||||||||||||V0001^^^SZRMYY^VN",
    # ORC-2/3 placer/filler order numbers
    "ORC|RE|P100^HIS|F200^LIS",
    # OBR-2/3 order numbers, OBR-4 panel, OBR-7 collected, OBR-22 reported, OBR-24 section, OBR-25 status
    "OBR|1|P100^HIS|F200^LIS|24323-8^Comprehensive metabolic panel^LN|||20260315080000|||||||||||||||"
    "20260315091500||CH|F",
]


def obx(
    n: int,
    value_type: str,
    code: str,
    value: str,
    units: str = "",
    ref_range: str = "",
    flag: str = "",
    status: str = "F",
    when: str = "",
) -> str:
    # OBX-2 value type, OBX-3 code, OBX-5 value, OBX-6 units, OBX-7 range, OBX-8 flag, OBX-11 status, OBX-14 time
    return f"OBX|{n}|{value_type}|{code}||{value}|{units}|{ref_range}|{flag}|||{status}|||{when}"


# Twenty observations of every value type the mapping knows.
OBSERVATIONS = [
    obx(1, "NM", "2345-7^Glucose^LN", "5.6", "mmol/L^mmol/L^UCUM", "3.9-6.1", "N"),
    obx(2, "NM", "2160-0^Creatinine^LN", "132", "umol/L", "45-84", "H"),
    obx(3, "NM", "6690-2^WBC^LN", "12.5", "10\\S\\9/L", "3.5-9.5", "H~A"),  # 10^9/L, escaped
    obx(4, "NM", "718-7^Hemoglobin^LN", "<5", "g/L", ">=110", "LL"),
    obx(5, "NM", "2951-2^Sodium^LN", "positive", "mmol/L"),
    obx(6, "SN", "5195-3^HBsAg^LN", "<^0.05", "IU/mL"),
    obx(7, "SN", "5196-1^HBsAg titer^LN", "^1^:^128"),
    obx(8, "SN", "2000-8^Calcium range^LN", "^2.1^-^2.6", "mmol/L"),
    obx(9, "SN", "5778-6^Urine color^LN", "^2^+"),
    obx(10, "ST", "5767-9^Urine appearance^LN", "微浑"),
    obx(11, "TX", "11526-1^Pathology study^LN", "line one~line two"),
    obx(12, "FT", "18748-4^Imaging report^LN", "first\\.br\\second"),
    obx(13, "CWE", "882-1^ABO+Rh group^LN", "278149003^Blood group A Rh(D) positive^SCT"),
    obx(14, "DT", "11778-8^Delivery date^LN", "20261001"),
    obx(15, "TS", "8665-2^Last menstrual period^LN", "202602011200"),
    obx(16, "TM", "8691-8^Time^LN", "1230"),
    obx(17, "NM", "2093-3^Cholesterol^LN", "5.2", "mmol/L", "<5.2", "H", status="C"),
    obx(18, "NM", "2571-8^Triglyceride^LN", "1.1", "mmol/L", status="P", when="20260315083000"),
    obx(19, "NM", "1742-6^ALT^LN", "", "U/L", status="X"),
    obx(20, "NM", "1920-8^AST^LN", "88", "U/L", "<40", "↑", status="D"),
]
# OBX 2 carries a note (NTE belongs to the OBX before it).
NOTE = "NTE|1||Sample slightly haemolysed"
# SPM-2 specimen ids (placer^filler), SPM-4 type, SPM-17 collection period, SPM-18 received
SPECIMEN = "SPM|1|S1^S9001&LIS|| SER^Serum^HL70487|||||||||||||20260315080000^20260315081000|202603150830"


def oru(*, specimen: bool = True, observations: list[str] = OBSERVATIONS) -> str:
    segments = [*HEADER, observations[0], observations[1], NOTE, *observations[2:]]
    if specimen:
        segments.append(SPECIMEN)
    return "\r".join(segments) + "\r"


@pytest.fixture(scope="module")
def bundle(converter):
    return convert(converter, oru())


def by_code(bundle, code):
    (found,) = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == code]
    return found


def test_resources_and_references(bundle):
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds == ["Organization", "Patient", "Encounter", "DiagnosticReport", "Specimen", *["Observation"] * 20]
    report = one(bundle, "DiagnosticReport")
    observations = resources(bundle, "Observation")
    assert report["result"] == [ref(o) for o in observations]  # in message order
    assert report["specimen"] == [ref(one(bundle, "Specimen"))]
    for resource in [report, *observations, one(bundle, "Specimen")]:
        assert resource["subject"] == ref(one(bundle, "Patient"))
    for resource in [report, *observations]:
        assert resource["encounter"] == ref(one(bundle, "Encounter"))


def test_diagnostic_report_field_by_field(bundle):
    report = one(bundle, "DiagnosticReport")
    v2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
    assert report["identifier"] == [
        {
            "type": {"coding": [{"system": v2_0203, "code": "FILL", "display": "Filler Identifier"}]},
            "system": "urn:hub:id:LIS",
            "value": "F200",
        },
        {
            "type": {"coding": [{"system": v2_0203, "code": "PLAC", "display": "Placer Identifier"}]},
            "system": "urn:hub:id:HIS",
            "value": "P100",
        },
    ]
    assert report["status"] == "final"
    assert report["category"] == [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "CH", "display": "Chemistry"}]}
    ]
    assert report["code"] == {
        "coding": [{"system": LOINC, "code": "24323-8", "display": "Comprehensive metabolic panel"}],
        "text": "Comprehensive metabolic panel",
    }
    assert report["effectiveDateTime"] == "2026-03-15T08:00:00+08:00"
    assert report["issued"] == "2026-03-15T09:15:00+08:00"


def test_numeric_observation_with_ucum_unit_range_and_interpretation(bundle):
    glucose = by_code(bundle, "2345-7")
    assert glucose["status"] == "final"
    assert glucose["category"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "laboratory",
                    "display": "Laboratory",
                },
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "CH"},
            ]
        }
    ]
    assert glucose["valueQuantity"] == {"value": 5.6, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}
    assert glucose["referenceRange"] == [
        {
            "low": {"value": 3.9, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
            "high": {"value": 6.1, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
            "text": "3.9-6.1",
        }
    ]
    assert glucose["interpretation"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    "code": "N",
                    "display": "Normal",
                },
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0078", "code": "N"},
            ]
        }
    ]
    # No OBX-14: the order's observation time.
    assert glucose["effectiveDateTime"] == "2026-03-15T08:00:00+08:00"
    assert glucose["issued"] == "2026-03-15T09:15:00+08:00"


def test_units_become_ucum_when_they_are_known_spellings(bundle):
    assert by_code(bundle, "2160-0")["valueQuantity"] == {
        "value": 132,
        "unit": "umol/L",
        "system": UCUM,
        "code": "umol/L",
    }
    assert by_code(bundle, "6690-2")["valueQuantity"] == {
        "value": 12.5,
        "unit": "10^9/L",
        "system": UCUM,
        "code": "10*9/L",
    }
    assert [i["coding"][0]["code"] for i in by_code(bundle, "6690-2")["interpretation"]] == ["H", "A"]


def test_comparators_and_one_sided_ranges(bundle):
    hemoglobin = by_code(bundle, "718-7")
    assert hemoglobin["valueQuantity"] == {"value": 5, "comparator": "<", "unit": "g/L", "system": UCUM, "code": "g/L"}
    assert hemoglobin["referenceRange"] == [
        {"low": {"value": 110, "unit": "g/L", "system": UCUM, "code": "g/L"}, "text": ">=110"}
    ]
    assert hemoglobin["interpretation"][0]["coding"][0]["code"] == "LL"


def test_a_number_that_is_not_one_is_kept_as_text(bundle):
    sodium = by_code(bundle, "2951-2")
    assert sodium["valueString"] == "positive"
    assert "valueQuantity" not in sodium


def test_structured_numerics(bundle):
    assert by_code(bundle, "5195-3")["valueQuantity"] == {
        "value": 0.05,
        "comparator": "<",
        "unit": "IU/mL",
        "system": UCUM,
        "code": "[IU]/mL",
    }
    assert by_code(bundle, "5196-1")["valueRatio"] == {"numerator": {"value": 1}, "denominator": {"value": 128}}
    assert by_code(bundle, "2000-8")["valueRange"] == {
        "low": {"value": 2.1, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
        "high": {"value": 2.6, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
    }
    assert by_code(bundle, "5778-6")["valueString"] == "2+"


def test_text_values(bundle):
    assert by_code(bundle, "5767-9")["valueString"] == "微浑"
    assert by_code(bundle, "11526-1")["valueString"] == "line one\nline two"  # repetitions, one per line
    assert by_code(bundle, "18748-4")["valueString"] == "first\nsecond"  # FT line break escape


def test_coded_date_and_time_values(bundle):
    assert by_code(bundle, "882-1")["valueCodeableConcept"] == {
        "coding": [
            {"system": "http://snomed.info/sct", "code": "278149003", "display": "Blood group A Rh(D) positive"}
        ],
        "text": "Blood group A Rh(D) positive",
    }
    assert by_code(bundle, "11778-8")["valueDateTime"] == "2026-10-01"  # a date stays a date
    assert by_code(bundle, "8665-2")["valueDateTime"] == "2026-02-01T12:00:00+08:00"
    assert by_code(bundle, "8691-8")["valueTime"] == "12:30:00"


def test_result_status_and_own_effective_time(bundle):
    assert by_code(bundle, "2093-3")["status"] == "corrected"
    triglyceride = by_code(bundle, "2571-8")
    assert triglyceride["status"] == "preliminary"
    assert triglyceride["effectiveDateTime"] == "2026-03-15T08:30:00+08:00"  # OBX-14 before OBR-7
    alt = by_code(bundle, "1742-6")
    assert alt["status"] == "cancelled"
    assert not any(key.startswith("value") for key in alt)
    ast = by_code(bundle, "1920-8")
    assert ast["status"] == "entered-in-error"
    # A Chinese laboratory's arrow, translated; it is not a v2 code, so it is kept as sent, with no system.
    assert ast["interpretation"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    "code": "H",
                    "display": "High",
                },
                {"code": "↑"},
            ]
        }
    ]
    assert ast["referenceRange"] == [
        {"high": {"value": 40, "unit": "U/L", "system": UCUM, "code": "U/L"}, "text": "<40"}
    ]


def test_notes_belong_to_the_observation_before_them(bundle):
    assert by_code(bundle, "2160-0")["note"] == [{"text": "Sample slightly haemolysed"}]
    assert all("note" not in o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] != "2160-0")


def test_specimen_field_by_field(bundle):
    specimen = one(bundle, "Specimen")
    assert [(i["type"]["coding"][0]["code"], i["value"]) for i in specimen["identifier"]] == [
        ("FILL", "S9001"),
        ("PLAC", "S1"),
    ]
    assert specimen["type"] == {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0487", "code": "SER", "display": "Serum"}],
        "text": "Serum",
    }
    assert specimen["collection"] == {
        "collectedPeriod": {"start": "2026-03-15T08:00:00+08:00", "end": "2026-03-15T08:10:00+08:00"}
    }
    assert specimen["receivedTime"] == "2026-03-15T08:30:00+08:00"
    for observation in resources(bundle, "Observation"):
        assert observation["specimen"] == ref(specimen)


def test_without_spm_there_is_no_specimen(converter):
    bundle = convert(converter, oru(specimen=False))
    assert resources(bundle, "Specimen") == []
    assert "specimen" not in one(bundle, "DiagnosticReport")
    assert all("specimen" not in o for o in resources(bundle, "Observation"))
    assert len(resources(bundle, "Observation")) == 20


def test_an_observation_about_the_patient_has_no_specimen(converter):
    # OBX after the PID (IG ORU_R01 row 4.1.7.1): the patient's weight, whatever the order's specimen is
    weight = obx(1, "NM", "29463-7^Body weight^LN", "62.5", "kg", when="20260315080000")
    segments = [HEADER[0], HEADER[1], weight, *HEADER[2:], OBSERVATIONS[0], SPECIMEN]
    bundle = convert(converter, "\r".join(segments) + "\r")
    specimen = one(bundle, "Specimen")
    assert "specimen" not in by_code(bundle, "29463-7")
    assert by_code(bundle, "2345-7")["specimen"] == ref(specimen)
    assert one(bundle, "DiagnosticReport")["result"] == [ref(by_code(bundle, "2345-7"))]


def test_two_orders_make_two_reports_with_their_own_results(converter):
    second = [
        "OBR|2|P101^HIS|F201^LIS|58410-2^CBC panel^LN|||20260315081500|||||||||||||||20260315092000||HM|P",
        obx(1, "NM", "6690-2^WBC^LN", "7.1", "10*9/L"),
        obx(2, "NM", "718-7^Hemoglobin^LN", "135", "g/L"),
    ]
    text = "\r".join([*HEADER, OBSERVATIONS[0], *second]) + "\r"
    bundle = convert(converter, text)
    first_report, second_report = resources(bundle, "DiagnosticReport")
    observations = resources(bundle, "Observation")
    assert first_report["result"] == [ref(observations[0])]
    assert second_report["result"] == [ref(observations[1]), ref(observations[2])]
    assert second_report["status"] == "preliminary"
    assert second_report["category"][0]["coding"][0]["code"] == "HM"


def test_an_observation_without_a_code_takes_the_order_s(converter):
    text = "\r".join([*HEADER, "OBX|1|TX|||Impression: normal||||||F"]) + "\r"
    observation = one(convert(converter, text), "Observation")
    assert observation["code"]["coding"][0]["code"] == "24323-8"
    assert observation["valueString"] == "Impression: normal"


def test_a_report_without_a_code_says_it_is_unknown(converter):
    text = "\r".join([*HEADER[:4], "OBR|1|P100^HIS|F200^LIS||||20260315080000", OBSERVATIONS[0]]) + "\r"
    report = one(convert(converter, text), "DiagnosticReport")
    assert report["code"] == {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "code": "unknown",
                "display": "Unknown",
            }
        ]
    }


def test_an_oru_without_an_order_is_observations_of_the_patient(converter):
    # no OBR: no report, the OBX are the patient's (more in test_lab_more.py)
    bundle = convert(converter, "\r".join([*HEADER[:3], OBSERVATIONS[0]]) + "\r")
    assert resources(bundle, "DiagnosticReport") == []
    assert one(bundle, "Observation")["subject"] == ref(one(bundle, "Patient"))


def test_a_bad_timestamp_in_the_third_obx_loses_only_that_time(converter):
    bad = obx(3, "NM", "6690-2^WBC^LN", "1", when="20261340")
    text = "\r".join([*HEADER, OBSERVATIONS[0], OBSERVATIONS[1], bad]) + "\r"
    result = converter.convert_with_report(er7.parse(text))
    wbc = by_code(result.bundle, "6690-2")
    # the unreadable OBX-14 is left out: the observation takes the specimen's collection time (OBR-7), as the others
    assert wbc["valueQuantity"]["value"] == 1
    assert (
        wbc["effectiveDateTime"]
        == by_code(result.bundle, "2345-7")["effectiveDateTime"]
        == ("2026-03-15T08:00:00+08:00")
    )
    assert len(resources(result.bundle, "Observation")) == 3
    assert [(r["code"], r["location"]) for r in result.report] == [("invalid-value", "OBX^3^14")]
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(text), strict=True)
    assert caught.value.location == "OBX^3^14"


def test_a_repeating_value_is_one_component_per_repetition(converter):
    # OBX-5 repeats (IG ORM_O01 4.2.5.1, OML_O21 6.4.7.1: OBX[Observation-Component]): two blood pressure
    # readings, two coded findings; a repeating text is still one text, a single value still the value
    observations = [
        obx(1, "NM", "8867-4^Heart rate^LN", "60~120", "/min^/min^UCUM", "70-80", "A"),
        obx(2, "CWE", "882-1^ABO+Rh group^LN", "A^Group A^L~B^Group B^L"),
        obx(3, "TX", "11526-1^Pathology study^LN", "line one~line two"),
        obx(4, "NM", "2345-7^Glucose^LN", "5.6~", "mmol/L^mmol/L^UCUM", "3.9-6.1"),
    ]
    result = convert(converter, oru(specimen=False, observations=observations))
    rate = by_code(result, "8867-4")
    assert "valueQuantity" not in rate and "referenceRange" not in rate
    code = {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}], "text": "Heart rate"}
    per_minute = {"unit": "/min", "system": UCUM, "code": "/min"}
    reference_range = [{"low": {"value": 70, **per_minute}, "high": {"value": 80, **per_minute}, "text": "70-80"}]
    assert rate["component"] == [
        {"code": code, "valueQuantity": {"value": 60, **per_minute}, "referenceRange": reference_range},
        {"code": code, "valueQuantity": {"value": 120, **per_minute}, "referenceRange": reference_range},
    ]
    assert rate["interpretation"][0]["coding"][0]["code"] == "A"  # the flag is the whole OBX's
    group = by_code(result, "882-1")
    assert "valueCodeableConcept" not in group
    assert [c["valueCodeableConcept"]["coding"][0]["code"] for c in group["component"]] == ["A", "B"]
    assert by_code(result, "11526-1")["valueString"] == "line one\nline two"
    assert "component" not in by_code(result, "11526-1")
    glucose = by_code(result, "2345-7")  # an empty second repetition is no repetition
    assert glucose["valueQuantity"]["value"] == 5.6
    assert "component" not in glucose
    assert glucose["referenceRange"][0]["text"] == "3.9-6.1"


def test_an_image_or_a_pointer_to_one_is_the_value_as_an_attachment(converter):
    # OBX-2 ED (OBX-5: source^type^subtype^encoding^data) and RP (OBX-5.1 the URL): R4 has no Attachment value,
    # so it is R5's Observation.value as its cross-version extension (IG OBX[Observation] row 5)
    url = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value"
    observations = [
        obx(1, "ED", "18748-4^Imaging report^LN", "^IM^JPEG^Base64^VGhpcyBpcyBhIHRlc3Q="),
        obx(2, "RP", "18782-3^Radiology study^LN", "http://pacs.example.cn/viewer?study=1\\T\\series=2^^IM^JPEG"),
        obx(3, "ED", "11526-1^Pathology study^LN", "App5^NS^Octet-stream^Base64"),  # no data: a placeholder
    ]
    result = convert(converter, oru(specimen=False, observations=observations))
    image = by_code(result, "18748-4")
    assert image["extension"] == [
        {"url": url, "valueAttachment": {"contentType": "image/jpeg", "data": "VGhpcyBpcyBhIHRlc3Q="}}
    ]
    assert by_code(result, "18782-3")["extension"] == [
        {"url": url, "valueAttachment": {"url": "http://pacs.example.cn/viewer?study=1&series=2"}}
    ]
    assert "extension" not in by_code(result, "11526-1")
    assert not any(key.startswith("value") for key in image)


def test_an_obx_without_code_and_value_says_nothing(converter):
    observations = [
        obx(1, "NM", "2345-7^Glucose^LN", "5.6", "mmol/L"),
        "OBX|2|ED|||App5^NS^Octet-stream^Base64||||||F",  # no OBX-3, an ED without its data
        "OBX|3|RP|||^^IM^JPEG||||||F",  # no OBX-3, an RP without its pointer
        "OBX|4|ST|||||||||F",  # nothing at all
        "OBX|5|TX|||Specimen received late||||||F",  # a text line without its own code: kept, the order's code
        obx(6, "NM", "1742-6^ALT^LN", "", "U/L", status="X"),  # a code without a value: kept (cannot be obtained)
    ]
    result = convert(converter, oru(specimen=False, observations=observations))
    kept = resources(result, "Observation")
    assert [o["code"]["coding"][0]["code"] for o in kept] == ["2345-7", "24323-8", "1742-6"]
    assert kept[1]["valueString"] == "Specimen received late"
    assert one(result, "DiagnosticReport")["result"] == [ref(o) for o in kept]


def test_the_order_s_document_is_a_document_reference(converter):
    # v2.9 ORU_R01 COMMON_ORDER: ORC, PRT*, [ORDER_DOCUMENT: OBX, PRT*, TXA] before the OBR. The TXA had no place
    # (unplaced-segment, converted to nothing): it is the order's document, a DocumentReference as the TXA of an
    # MDM (IG MDM_T02 row 6) and of an OUL's order. TXA-2 document type, TXA-12 unique document number, TXA-17
    # completion status AU authenticated, TXA-19 availability AV available
    text = "\r".join(
        [
            HEADER[0].replace("|P|2.5.1", "|P|2.9"),
            *HEADER[1:3],
            "ORC|RE|P100^HIS|F200^LIS",
            "OBX|1|ED|PDF^报告^L||^AP^PDF^Base64^JVBERi0xLjQ=||||||F",
            "TXA|1|PATH^病理报告^L||20260315100000||||||||DOC100^LIS|||||AU||AV",
            HEADER[4],
            obx(1, "NM", "6690-2^白细胞^LN", "6.1", "10*9/L"),
        ]
    )
    bundle, report = with_report(converter, text + "\r")
    assert [e for e in report if e["code"] == "unplaced-segment"] == []
    document = one(bundle, "DocumentReference")
    assert document["masterIdentifier"]["value"] == "DOC100"
    assert document["type"]["coding"][0]["code"] == "PATH"
    assert document["status"] == "current" and document["docStatus"] == "final"
    assert document["subject"] == ref(one(bundle, "Patient"))
    assert document["context"]["encounter"] == [ref(one(bundle, "Encounter"))]
    # the order's report is made as before, with its result
    assert len(resources(bundle, "DiagnosticReport")) == 1
    assert one(bundle, "DiagnosticReport")["result"]
