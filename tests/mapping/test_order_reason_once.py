"""An order's reason given both as OBR-31 and as a DG1 of the order (HIS send the clinical diagnosis in both) is one
reasonCode; other diagnoses stay reasons of their own."""

from __future__ import annotations

from .conftest import convert, one


def oml(*dg1: str) -> str:
    return (
        "\r".join(
            [
                "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20261127080000||OML^O21^OML_O21|HIS8001|P|2.5.1",
                "PID|1||0012345^^^SZRMYY^MR||王小明||19900315|M",
                "ORC|NW|ORD200^HIS||||||||||1234^李^医生",
                # OBR-31 reason for study: heart failure (ICD-10)
                "OBR|1|ORD200^HIS||CBC^血常规^L|||20261127080000||||L|||||1234^李^医生|||||||||||||||I50.9^心力衰竭^I10",
                *dg1,
            ]
        )
        + "\r"
    )


def test_the_diagnosis_sent_as_obr_31_and_dg1_is_one_reason(converter):
    order = one(convert(converter, oml("DG1|1||I50.9^心力衰竭^I10||20261125|A")), "ServiceRequest")
    assert [r["coding"][0]["code"] for r in order["reasonCode"]] == ["I50.9"]


def test_other_diagnoses_are_reasons_of_their_own(converter):
    order = one(
        convert(converter, oml("DG1|1||I50.9^心力衰竭^I10||20261125|A", "DG1|2||E11.9^2型糖尿病^I10||20261125|A")),
        "ServiceRequest",
    )
    assert [r["coding"][0]["code"] for r in order["reasonCode"]] == ["I50.9", "E11.9"]
