"""A code a v2 or hub table read once per element does not have (report_unknown: sex, marital status, patient class,
relationship, body site, document type, coverage type …) is kept as the table's `unmapped` says and reported
(untranslated-code: the table and where, never the code, which is the patient's), so the operator can add it to
the sender's overlay; a code the table translates, or one of another standard system, is not reported."""

from __future__ import annotations

from .conftest import one, with_report
from .order_messages import orc
from .test_chinese import message
from .test_immunization import rxa
from .test_immunization_participations import vxu


def untranslated(report: list[dict]) -> list[dict]:
    return [entry for entry in report if entry["code"] == "untranslated-code"]


def with_marital_status(value: str) -> str:
    return message().replace("^518000^CHN^H||||||||", f"^518000^CHN^H|||||{value}|||")


def test_a_marital_status_no_table_has_is_kept_and_reported_without_its_value(converter):
    bundle, report = with_report(converter, with_marital_status("已婚"))
    assert one(bundle, "Patient")["maritalStatus"] == {"coding": [{"code": "已婚"}]}
    assert untranslated(report) == [{"code": "untranslated-code", "table": "v2-0002", "location": "PID^1^16"}]
    assert "已婚" not in str(report)


def test_codes_the_tables_translate_are_not_reported(converter):
    for value in ("M", "20", "S"):  # v2 table 0002 and GB/T 2261.2
        _bundle, report = with_report(converter, with_marital_status(value))
        assert untranslated(report) == [], value


def test_a_patient_class_and_a_sex_no_table_has(converter):
    text = message().replace("PV1|1|I|", "PV1|1|9|").replace("|19800101|M|", "|19800101|Q|")
    bundle, report = with_report(converter, text)
    assert one(bundle, "Encounter")["class"] == {"code": "9"}
    assert one(bundle, "Patient")["gender"] == "unknown"  # the table's default: no FHIR sex Q
    where = {(e["table"], e["location"]) for e in untranslated(report)}
    assert where == {("v2-0004", "PV1^1^2"), ("v2-0001", "PID^1^8")}


def test_a_body_site_of_another_standard_system_is_not_reported(converter):
    snomed = "RXR|IM^肌肉注射^HL70162|368208006^Left upper arm^SCT"
    unknown = "RXR|IM^肌肉注射^HL70162|XX^左手背"  # no system: looked up in table 0163
    order = (orc(f1="RE", f2="", f3="IZ-9001^SZRMYY"), rxa())
    _bundle, report = with_report(converter, vxu("UC1", *order, snomed))
    assert untranslated(report) == []
    bundle, report = with_report(converter, vxu("UC2", *order, unknown))
    assert one(bundle, "Immunization")["site"]["coding"][0]["code"] == "XX"
    assert [(e["table"], e["location"]) for e in untranslated(report)] == [("v2-0163", "RXR^1^2")]
