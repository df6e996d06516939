"""Values and reference ranges as Chinese input methods type them: full-width comparators (＜0.5, ≧40, ＜＝0.5)
and range separators (4.3－5.8 full-width hyphen, 0.45−1.7 minus sign, 3.5〜5.3 wave dash) read as their ASCII
forms are; before, the value was text and the range had no limits."""

from __future__ import annotations

import pytest

from .conftest import convert, one


def result(converter, obx: str) -> dict:
    text = "\r".join(
        [
            "MSH|^~\\&|LIS|SZRMYY|HIS|SZRMYY|20261127093015||ORU^R01^ORU_R01|RR002|P|2.5.1",
            "PID|1||0012345^^^SZRMYY^MR||王小明||19900315|M",
            "OBR|1|ORD8^HIS|LAB8^LIS|BIO^生化^L|||20261127070500|||||||||||||||20261127091000||CH|F",
            obx,
        ]
    )
    return one(convert(converter, text + "\r"), "Observation")


def limits(observation: dict) -> tuple:
    (rng,) = observation["referenceRange"]
    return rng.get("low", {}).get("value"), rng.get("high", {}).get("value")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4.3－5.8", (4.3, 5.8)), ("0.45−1.7", (0.45, 1.7)), ("3.5〜5.3", (3.5, 5.3)), ("＜10", (None, 10)),
     ("≧40", (40, None)), ("＜＝0.5", (None, 0.5)), ("＞＝3", (3, None)), ("≦1.2", (None, 1.2)), ("0－", (0, None))],
)  # fmt: skip
def test_full_width_reference_ranges(converter, text, expected):
    observation = result(converter, f"OBX|1|NM|K^钾^L||4.1|mmol/L|{text}|N|||F")
    assert limits(observation) == expected
    assert observation["referenceRange"][0]["text"] == text


def test_full_width_comparators_of_a_value(converter):
    assert result(converter, "OBX|1|NM|CRP^C反应蛋白^L||＜0.5|mg/L||||F")["valueQuantity"]["comparator"] == "<"
    sn = result(converter, "OBX|1|SN|PCT^降钙素原^L||＞＝^0.05|ng/mL||||F")["valueQuantity"]
    assert (sn["value"], sn["comparator"]) == (0.05, ">=")
