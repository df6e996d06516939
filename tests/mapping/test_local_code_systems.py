"""A sender's local code system (CWE.3 ``L``, ``99zzz`` or any name that is no standard system) is kept as a
system scoped by the sending facility, ``urn:hub:code:<facility>:<name>``.

Without it, ``GLU^血糖^L`` from one hospital and ``GLU^葡萄糖^L`` from another were two codings of the same code with
no system: anybody's code, and the city's exam-result recognition could not tell one hospital's GLU from
another's. A coding whose CWE.3 is empty says nothing about its system and stays without one; a standard system
(LN, I10, HL70078 …) is its URI as before.
"""

from __future__ import annotations

from pathlib import Path

from hub.mapping import Converter

from .conftest import convert, mappings_copy, one, resources, with_report

PID = "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F"
OBR = "OBR|1|P100^HIS|F200^LIS|PANEL^生化^L|||20260315080000|||||||||||||||||CH|F"


def oru(*segments: str, facility: str = "SZRMYY") -> str:
    msh = f"MSH|^~\\&|LIS|{facility}|HUB|CITY|20260315093000||ORU^R01^ORU_R01|C1|P|2.5.1"
    return "\r".join([msh, PID, OBR, *segments]) + "\r"


def observation(bundle, code):
    (found,) = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == code]
    return found


def test_a_local_code_is_in_the_sending_facilitys_local_system(converter):
    bundle = convert(converter, oru("OBX|1|NM|GLU^血糖^L||5.6|mmol/L|||||F"))
    assert observation(bundle, "GLU")["code"]["coding"] == [
        {"system": "urn:hub:code:SZRMYY:L", "code": "GLU", "display": "血糖"}
    ]
    report = one(bundle, "DiagnosticReport")
    assert report["code"]["coding"] == [{"system": "urn:hub:code:SZRMYY:L", "code": "PANEL", "display": "生化"}]


def test_two_hospitals_local_codes_are_two_systems(converter):
    first = observation(convert(converter, oru("OBX|1|NM|GLU^血糖^L||5.6|mmol/L|||||F")), "GLU")
    second = observation(convert(converter, oru("OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|||||F", facility="SZEY")), "GLU")
    assert first["code"]["coding"][0]["system"] != second["code"]["coding"][0]["system"]
    assert second["code"]["coding"][0]["system"] == "urn:hub:code:SZEY:L"


def test_a_named_local_system_and_a_coded_value_keep_their_name(converter):
    bundle = convert(
        converter,
        oru("OBX|1|CWE|HBSAG^乙肝表面抗原^99LAB||NEG^阴性^99RES||||||F"),
    )
    found = observation(bundle, "HBSAG")
    assert found["code"]["coding"][0]["system"] == "urn:hub:code:SZRMYY:99LAB"
    assert found["valueCodeableConcept"]["coding"] == [
        {"system": "urn:hub:code:SZRMYY:99RES", "code": "NEG", "display": "阴性"}
    ]


def test_the_facility_is_the_oid_when_msh4_has_no_namespace(converter):
    msh4 = "^2.16.156.10011.1.5.1^ISO"
    found = observation(convert(converter, oru("OBX|1|NM|GLU^血糖^L||5.6|mmol/L|||||F", facility=msh4)), "GLU")
    assert found["code"]["coding"][0]["system"] == "urn:hub:code:2.16.156.10011.1.5.1:L"


def test_a_code_without_a_coding_system_name_and_a_standard_one_are_as_before(converter):
    bundle = convert(
        converter,
        oru("OBX|1|NM|GLU^血糖||5.6|mmol/L|||||F", "OBX|2|NM|2160-0^Creatinine^LN||80|umol/L|||||F"),
    )
    assert observation(bundle, "GLU")["code"]["coding"] == [{"code": "GLU", "display": "血糖"}]
    assert observation(bundle, "2160-0")["code"]["coding"][0]["system"] == "http://loinc.org"


def test_a_local_code_the_table_lists_is_still_translated_and_an_unlisted_one_reported(tmp_path: Path):
    mappings = mappings_copy(tmp_path)
    table = mappings / "terminology" / "local-lab-tests.yaml"
    table.write_text(table.read_text(encoding="utf-8").replace("codes: {}", 'codes:\n  GLU: "2345-7"\n'), "utf-8")
    converter = Converter.load(mappings)
    bundle, report = with_report(
        converter, oru("OBX|1|NM|GLU^血糖^L||5.6|mmol/L|||||F", "OBX|2|NM|TBIL^总胆红素^L||12|umol/L|||||F")
    )
    glu = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "2345-7"]
    assert len(glu) == 1
    assert glu[0]["code"]["coding"][0]["system"] == "http://loinc.org"
    assert {"system": "urn:hub:code:SZRMYY:L", "code": "GLU", "display": "血糖"} in glu[0]["code"]["coding"]
    unmapped = [entry["value"] for entry in report if entry["code"] == "unmapped-local-code"]
    assert "TBIL" in unmapped
    assert "GLU" not in unmapped
