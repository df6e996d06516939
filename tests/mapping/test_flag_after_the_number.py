"""A numeric result sent with its abnormal flag after the number (some LIS write OBX-5 as they display it: "6.8↑",
"3.2 ↓") is the number, with the flag as its interpretation when OBX-8 gives none; OBX-8 wins when it is sent."""

from __future__ import annotations

import pytest

from .conftest import convert, one

V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def result(converter, obx: str) -> dict:
    text = "\r".join(
        [
            "MSH|^~\\&|LIS|SZRMYY|HIS|SZRMYY|20261127093015||ORU^R01^ORU_R01|V002|P|2.5.1",
            "PID|1||0012345^^^SZRMYY^MR||王小明||19900315|M",
            "OBR|1|ORD8^HIS|LAB8^LIS|BIO^生化^L|||20261127070500|||||||||||||||20261127091000||CH|F",
            obx,
        ]
    )
    return one(convert(converter, text + "\r"), "Observation")


@pytest.mark.parametrize(
    ("value", "number", "flag"),
    [("6.8↑", 6.8, "H"), ("3.2 ↓", 3.2, "L"), ("25.1↑↑", 25.1, "HH"), ("2.1↓↓", 2.1, "LL")],
)
def test_the_flag_after_the_number_is_its_interpretation(converter, value, number, flag):
    observation = result(converter, f"OBX|1|NM|GLU^血糖^L||{value}|mmol/L|3.9-6.1||||F")
    assert observation["valueQuantity"]["value"] == number
    assert [c["code"] for i in observation["interpretation"] for c in i["coding"]] == [flag]
    assert observation["interpretation"][0]["coding"][0]["system"] == V3


def test_obx_8_wins_and_a_value_without_a_flag_has_none(converter):
    observation = result(converter, "OBX|1|NM|K^钾^L||2.5↓|mmol/L|3.5-5.3|LL|||F")
    assert observation["valueQuantity"]["value"] == 2.5
    assert [c["code"] for c in observation["interpretation"][0]["coding"]][0] == "LL"
    assert len(observation["interpretation"]) == 1
    assert "interpretation" not in result(converter, "OBX|1|NM|NA^钠^L||140|mmol/L|137-147||||F")


def test_untyped_value_with_a_flag(converter):
    observation = result(converter, "OBX|1||CRP^C反应蛋白^L||15.2↑|mg/L|0-10||||F")
    assert observation["valueQuantity"]["value"] == 15.2
    assert observation["interpretation"][0]["coding"][0]["code"] == "H"
