"""The segments of an insurance group no resource carries — IN3 (certification: the v2-to-FHIR IG does not map it
yet), the insurance's ROL and PRT — are reported (unmapped-segment), not dropped without a word; the insurance's
IN1 still makes its Coverage."""

from __future__ import annotations

import pytest

from .conftest import one, with_report

PID = "PID|1||MRN1^^^H1^MR||张三||19800101|M"
PV1 = "PV1|1|I|W1^1^1||||||||||||||||V1^^^H1^VN"
IN1 = "IN1|1|PLAN1^城镇职工医保|INS1^^^H1|深圳市医保局"
IN3 = "IN3|1|CERT-9|||||||||||||||||||||||||"
ROL = "ROL|1|AD|IR^Insurance Rep^HL70443|R001^王^伟"


def unmapped(report: list[dict]) -> list[str]:
    return [entry["location"] for entry in report if entry["code"] == "unmapped-segment"]


@pytest.mark.parametrize("event", ["A01^ADT_A01", "A03^ADT_A03", "A05^ADT_A05", "A06^ADT_A06", "A16^ADT_A16"])
def test_an_insurance_s_certification_and_role_are_reported(converter, event):
    code = event.split("^")[0]
    text = "\r".join(
        [f"MSH|^~\\&|HIS|H1|HUB|CITY|20260315083000||ADT^{event}|C1|P|2.5.1", f"EVN|{code}", PID, PV1, IN1, IN3, ROL]
    )
    bundle, report = with_report(converter, text + "\r")
    assert one(bundle, "Coverage")["status"] == "active"
    assert unmapped(report) == ["IN3^1", "ROL^1"]
    assert all("CERT-9" not in entry.get("detail", "") for entry in report)


def test_a_financial_insurance_s_certification_is_reported(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|H1|HUB|CITY|20260315083000||DFT^P11^DFT_P11|C2|P|2.5.1",
            "EVN|P11",
            PID,
            PV1,
            "FT1|1|||20260315083000||CG|LAB1^血常规^L|||1|||||||||||||||||100.00^CNY",
            IN1,
            IN3,
        ]
    )
    _bundle, report = with_report(converter, text + "\r")
    assert unmapped(report) == ["IN3^1"]
