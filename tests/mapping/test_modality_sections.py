"""A RIS's report whose OBR-24 is the DICOM modality (IHE Radiology sends the modality there: MR, US, DX …) is an
imaging report: its category is table 0074's section (MR → NMR), its results are imaging observations, and its local
procedure code is looked up among the imaging codes; table 0074's own codes (PT, physical therapy) stay theirs."""

from __future__ import annotations

import pytest

from .conftest import convert, one, resources

V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"


def oru(section: str) -> str:
    return (
        "\r".join(
            [
                "MSH|^~\\&|RIS|SZRMYY|HIS|SZRMYY|20261127160000||ORU^R01^ORU_R01|RIS200|P|2.5.1",
                "PID|1||0012345^^^SZRMYY^MR||王小明||19900315|M",
                # OBR-4 local procedure code, OBR-7 exam time, OBR-24 the modality, OBR-25 final
                f"OBR|1|ORD9^HIS|RIS9^RIS|MR002^头颅MRI平扫^L|||20261127143000|||||||||||||||||{section}|F",
                "OBX|1|TX|18782-3^影像所见^LN||脑实质未见异常信号。||||||F",
            ]
        )
        + "\r"
    )


@pytest.mark.parametrize(
    ("modality", "section"),
    [("MR", "NMR"), ("US", "RUS"), ("DX", "RX"), ("CR", "RX"), ("DR", "RX"), ("MG", "RX"), ("PET", "NMS")],
)
def test_a_dicom_modality_is_an_imaging_section(converter, modality, section):
    bundle = convert(converter, oru(modality))
    (category,) = one(bundle, "DiagnosticReport")["category"]
    assert [c["code"] for c in category["coding"]] == [section]
    assert all(c["system"] == V2_0074 for c in category["coding"])
    (result,) = resources(bundle, "Observation")
    (coding,) = result["category"][0]["coding"]
    assert coding["system"].endswith("/observation-category") and coding["code"] == "imaging"


def test_table_0074_codes_keep_their_meaning(converter):
    (category,) = one(convert(converter, oru("PT")), "DiagnosticReport")["category"]
    assert category["coding"][0] == {"system": V2_0074, "code": "PT", "display": "Physical Therapy"}
    (category,) = one(convert(converter, oru("CT")), "DiagnosticReport")["category"]
    assert category["coding"][0]["code"] == "CT"
