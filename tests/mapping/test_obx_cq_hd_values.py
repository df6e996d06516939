"""OBX values of type CQ (quantity^units) keep their own unit; HD values (a DICOM UID) are the identifier, not the
sender's components."""

from __future__ import annotations

from .conftest import convert, resources


def oru(*obx: str) -> str:
    return (
        "\r".join(
            [
                "MSH|^~\\&|LIS|SZRMYY|HIS|SZRMYY|20261127093015||ORU^R01^ORU_R01|LIS5001|P|2.5.1",
                "PID|1||0012345^^^SZRMYY^MR||王小明||19900315|M",
                "OBR|1|ORD5^HIS|LAB5^LIS|URINE^24小时尿^L|||20261127070500",
                *obx,
            ]
        )
        + "\r"
    )


def test_a_cq_value_keeps_its_own_unit_else_obx_6(converter):
    bundle = convert(
        converter,
        oru(
            "OBX|1|CQ|UVOL^24小时尿量^L||1850^mL||||||F",
            "OBX|2|CQ|UVOL^24小时尿量^L|2|1.85^L&升&UCUM||||||F",
            "OBX|3|CQ|UVOL^24小时尿量^L|3|1600|mL|||||F",
            "OBX|4|CQ|UVOL^24小时尿量^L|4|约两千^mL||||||F",
        ),
    )
    first, second, third, fourth = resources(bundle, "Observation")
    ml = {"unit": "mL", "system": "http://unitsofmeasure.org", "code": "mL"}
    assert first["valueQuantity"] == {"value": 1850, **ml}
    assert second["valueQuantity"] == {"value": 1.85, "unit": "升", "system": "http://unitsofmeasure.org", "code": "L"}
    assert third["valueQuantity"] == {"value": 1600, **ml}
    assert fourth["valueString"] == "约两千 mL"  # not a number: the text, its components apart


def test_an_hd_value_is_its_identifier(converter):
    bundle = convert(
        converter,
        oru(
            "OBX|1|HD|^Study Instance UID|1|1.2.156.112605.1.777||||||F",
            "OBX|2|HD|^Study Instance UID|2|^1.2.156.112605.1.778^ISO||||||F",
            "OBX|3|HD|DEV^设备^L|3|12345||||||F",
        ),
    )
    assert [o.get("valueString") for o in resources(bundle, "Observation")] == [
        "1.2.156.112605.1.777",
        "1.2.156.112605.1.778",
        "12345",  # a namespace id, not a quantity
    ]
