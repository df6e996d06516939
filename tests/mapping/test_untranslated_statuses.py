"""A status, flag or other code of a table read once per element, that the table does not have, is reported
(untranslated-code: the table and where, never the code) and the message still converts: a result status read as
unknown, an abnormal flag kept without its system, a specimen availability left out … would otherwise pass
unnoticed (terminology/*.yaml, report_unknown)."""

from __future__ import annotations

from .conftest import one, resources, with_report
from .test_oru import HEADER, SPECIMEN, obx
from .test_untranslated_codes import untranslated


def where(report: list[dict]) -> set[tuple[str, str]]:
    return {(entry["table"], entry["location"]) for entry in untranslated(report)}


def oru(*segments: str) -> str:
    return "\r".join([*HEADER, *segments]) + "\r"


def test_a_result_status_and_an_abnormal_flag_no_table_has(converter):
    # OBX-8 危急 (critical, in words no table has), OBX-11 已审核 (verified, in words): a Chinese LIS's own
    text = oru(obx(1, "NM", "2823-3^Potassium^LN", "6.8", "mmol/L", "3.5-5.3", "危急", status="已审核"))
    bundle, report = with_report(converter, text)
    observation = one(bundle, "Observation")
    assert observation["status"] == "unknown"
    assert observation["interpretation"] == [{"coding": [{"code": "危急"}]}]  # kept, without a system
    assert where(report) == {("v2-0085", "OBX^1^11"), ("v2-0078", "OBX^1^8")}
    assert "危急" not in str(report) and "已审核" not in str(report)


def test_the_codes_of_table_0085_and_0078_are_not_reported(converter):
    # every OBX-11 code of v2 table 0085 (those the IG leaves unmapped are unknown, as before), flags of 0078
    statuses = "ABCDFINOPRSUVWX"
    flags = ["H", "LL", "↑", "阳性", "n"]
    lines = [
        obx(i + 1, "NM", "2823-3^Potassium^LN", "4.1", "mmol/L", "3.5-5.3", flags[i % len(flags)], status=code)
        for i, code in enumerate(statuses)
    ]
    bundle, report = with_report(converter, oru(*lines))
    assert untranslated(report) == []
    assert [o["status"] for o in resources(bundle, "Observation")].count("unknown") == 7  # B I N O R S V


def test_a_report_status_and_a_specimen_availability_no_table_has(converter):
    # OBR-25 审核中 (being verified), SPM-20 U (neither Y nor N)
    header = [*HEADER[:-1], HEADER[-1][: -len("CH|F")] + "CH|审核中"]
    segments = [*header, obx(1, "NM", "2823-3^Potassium^LN", "4.1", "mmol/L", "3.5-5.3"), SPECIMEN + "||U"]
    bundle, report = with_report(converter, "\r".join(segments) + "\r")
    assert one(bundle, "DiagnosticReport")["status"] == "unknown"
    assert "status" not in one(bundle, "Specimen")
    assert where(report) == {("v2-0123", "OBR^1^25"), ("specimen-availability", "SPM^1^20")}
