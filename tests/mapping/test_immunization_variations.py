"""Vaccination records (VXU^V04) as real senders vary them: a Chinese national vaccine code with CVX beside it,
the dose number in series, a refusal, units and routes in Chinese.

Each test is one message, converted by the shipped mappings and checked field by field (``convert`` validates
every Bundle against the R4 schema and the R4B models).
"""

from __future__ import annotations

from hub.hl7 import er7

from .conftest import convert, one

CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"
ROUTE_V3 = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
V2_0163 = "http://terminology.hl7.org/CodeSystem/v2-0163"
SITES = {"LUA": "Left Upper Arm", "RVL": "Right Vastus Lateralis", "LG": "Left Gluteus Medius"}


def vxu(*order: str, version: str = "2.5.1") -> str:
    msh = f"MSH|^~\\&|EPI|SZCDC|IIS|CITY|20260315083000||VXU^V04^VXU_V04|VXU1|P|{version}|||ER|AL"
    return "\r".join([msh, "PID|1||MRN001^^^SZRMYY^MR||王小明||20250101|M", *order])


# RXA-3/4 administered, RXA-5 the national code (0201 乙肝疫苗) with CVX 08 as its alternate, RXA-6/7 10 微克 (UCUM
# ug), RXA-9 00 new record, RXA-10 administering nurse, RXA-15 lot, RXA-16 expiry, RXA-17 manufacturer (MVX),
# RXA-20 CP complete, RXA-21 A add
RXA = (
    "RXA|0|1|20260315100000|20260315100000|0201^乙肝疫苗(酿酒酵母)^CN_VACCINE^08^Hep B, adolescent or pediatric^CVX"
    "|10|ug^微克^UCUM||00^新接种^NIP001|N01^张^护士|^^^SZCDC||||LOT2026A|20270630|MSD^Merck^MVX|||CP|A"
)


def test_a_chinese_vaccination_field_by_field(converter):
    bundle = convert(
        converter,
        vxu(
            "ORC|RE||IMM9001^SZCDC|||||||||D001^刘^医生",
            RXA,
            "RXR|肌内注射|LA^左上臂^HL70163",
            "OBX|1|NM|30973-2^Dose number in series^LN|1|2||||||F",
        ),
    )
    immunization = one(bundle, "Immunization")
    assert immunization["status"] == "completed"
    # the national code as sent (in the sender's system of that name: none the hub could name), the CVX code beside it
    assert immunization["vaccineCode"]["coding"] == [
        {"system": "urn:hub:code:SZCDC:CN_VACCINE", "code": "0201", "display": "乙肝疫苗(酿酒酵母)"},
        {"system": CVX, "code": "08", "display": "Hep B, adolescent or pediatric"},
    ]
    assert immunization["occurrenceDateTime"] == "2026-03-15T10:00:00+08:00"
    assert immunization["primarySource"] is True
    assert immunization["lotNumber"] == "LOT2026A"
    assert immunization["expirationDate"] == "2027-06-30"
    assert immunization["manufacturer"] == {
        "identifier": {"system": "http://hl7.org/fhir/sid/mvx", "value": "MSD"},
        "display": "Merck",
    }
    assert immunization["doseQuantity"] == {"value": 10, "unit": "微克", "system": UCUM, "code": "ug"}
    # 肌内注射 (the pharmacopoeia's word for intramuscular) is IM
    assert immunization["route"]["coding"][0] == {
        "system": ROUTE_V3,
        "code": "IM",
        "display": "Injection, intramuscular",
    }
    assert immunization["site"]["coding"][0]["code"] == "LA"
    performers = {p["function"]["coding"][0]["code"]: p["actor"]["display"] for p in immunization["performer"]}
    assert performers == {"AP": "张护士", "OP": "刘医生"}
    # OBX 30973-2 dose number in series
    assert immunization["protocolApplied"] == [{"doseNumberPositiveInt": 2}]


def test_a_dose_number_written_in_words_is_kept_as_text(converter):
    bundle = convert(converter, vxu("ORC|RE||IMM9002", RXA, "OBX|1|ST|30973-2^Dose number in series^LN|1|第2剂"))
    assert one(bundle, "Immunization")["protocolApplied"] == [{"doseNumberString": "第2剂"}]


def test_without_a_dose_number_there_is_no_protocol_applied(converter):
    bundle = convert(converter, vxu("ORC|RE||IMM9003", RXA))
    assert "protocolApplied" not in one(bundle, "Immunization")


def test_a_refusal_with_an_unknown_amount(converter):
    # RXA-6 999 (amount unknown), RXA-18 refusal reason 00 (parental decision), RXA-20 RE refused
    rxa = "RXA|0|1|20260315|20260315|0301^脊灰灭活疫苗^CN_VACCINE^10^IPV^CVX|999||||||||||||00^家长拒绝^NIP002||RE"
    immunization = one(convert(converter, vxu("ORC|RE||IMM9004^SZCDC", rxa)), "Immunization")
    assert immunization["status"] == "not-done"
    assert immunization["statusReason"] == {
        "coding": [{"system": "urn:hub:code:SZCDC:NIP002", "code": "00", "display": "家长拒绝"}],
        "text": "家长拒绝",
    }
    assert "doseQuantity" not in immunization
    assert immunization["occurrenceDateTime"] == "2026-03-15"


def test_a_deleted_record_is_entered_in_error(converter):
    rxa = RXA.replace("|CP|A", "|CP|D")
    immunization = one(convert(converter, vxu("ORC|RE||IMM9001^SZCDC", rxa)), "Immunization")
    assert immunization["status"] == "entered-in-error"


def test_a_site_written_in_chinese_translates_and_a_coded_site_is_kept(converter):
    # RXR-2 in words (接种部位): 左上臂 left upper arm, 右大腿前外侧 right anterolateral thigh (vastus lateralis)
    for word, code in (("左上臂", "LUA"), ("右大腿前外侧", "RVL"), ("左臀部", "LG")):
        immunization = one(convert(converter, vxu("ORC|RE||IMM9101", RXA, f"RXR|IM|{word}")), "Immunization")
        assert immunization["site"]["coding"] == [
            {"system": V2_0163, "code": code, "display": SITES[code]},
            {"code": word},
        ], word
    # coded by the sender in table 0163: kept as coded, its display included
    coded = one(convert(converter, vxu("ORC|RE||IMM9102", RXA, "RXR|IM|LD^左三角肌^HL70163")), "Immunization")
    assert coded["site"] == {"coding": [{"system": V2_0163, "code": "LD", "display": "左三角肌"}], "text": "左三角肌"}
    # a word no table knows stays as sent
    other = one(convert(converter, vxu("ORC|RE||IMM9103", RXA, "RXR|IM|左前臂内侧")), "Immunization")
    assert other["site"] == {"coding": [{"code": "左前臂内侧"}]}


def test_a_manufacturer_sent_by_name_alone_is_no_identifier(converter):
    # RXA-17 with the maker's name in CWE.1 (no text, no system), as Chinese immunization systems send it
    rxa = RXA.replace("MSD^Merck^MVX", "北京天坛生物制品股份有限公司")
    immunization = one(convert(converter, vxu("ORC|RE||IMM9201", rxa)), "Immunization")
    assert immunization["manufacturer"] == {"display": "北京天坛生物制品股份有限公司"}


def test_a_national_vaccine_code_is_reported_for_mapping_and_a_cvx_code_is_not(converter):
    text = vxu("ORC|RE||IMM9301", RXA)
    result = converter.convert_with_report(er7.parse(text), sender_timezone="Asia/Shanghai")
    reported = [entry for entry in result.report if entry.get("table") == "local-vaccines"]
    assert reported == [
        {
            "code": "unmapped-local-code",
            "table": "local-vaccines",
            "value": "0201",
            "system": "CN_VACCINE",
            "display": "乙肝疫苗(酿酒酵母)",
            "location": "RXA^1^5",
        }
    ]
    cvx_only = RXA.replace("0201^乙肝疫苗(酿酒酵母)^CN_VACCINE^08^Hep B, adolescent or pediatric^CVX", "08^Hep B^CVX")
    result = converter.convert_with_report(er7.parse(vxu("ORC|RE||IMM9302", cvx_only)), sender_timezone="Asia/Shanghai")
    assert not [entry for entry in result.report if entry.get("table") == "local-vaccines"]
    assert one(result.bundle, "Immunization")["vaccineCode"]["coding"] == [
        {"system": CVX, "code": "08", "display": "Hep B"}
    ]
