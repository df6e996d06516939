"""``repeats`` counts the non-empty items of its source, as ``present`` reads them (README, "Conditions"): an empty
repetition (``a~~b``, a trailing or leading ``~``) and a ``""`` repetition are no item (the reader skips them), and
neither is a repetition without text — only separators (``^^^``), null components (``""^""``), whitespace —,
which ``repeats`` counted before; an item with text in any component (``~^芳``) is one. The closure and the
condition the code generator writes in line agree."""

from __future__ import annotations

import pytest

from .conftest import convert, one
from .test_present_condition import _answers, compiler  # noqa: F401  (the fixture)

# PID-5 as sent → whether {from: PID-5, repeats: true} holds
FIELDS = [
    ("张^三~李^四", True),
    ('张三~""~李四', True),  # a null between two names: still two names
    ("张三~~李四", True),
    ("~^芳~李四", True),  # an item whose first component is empty but whose second has text
    ("张^三", False),
    ("张^三~", False),  # a trailing repetition separator
    ("~张^三", False),
    ("张三~~", False),
    ('张三~""', False),  # a null repetition
    ('""~张三', False),
    ("张三~^ ^", False),  # whitespace only
    ("张三~ ", False),
    ("张^三~^^^", False),  # separators only
    ('张^三~""^""', False),  # null components
    ('张^三~""^""~李四', True),
    ("~~", False),
    ('""', False),
    ("", False),
]


@pytest.mark.parametrize(("pid5", "expected"), FIELDS)
def test_repeats_counts_non_empty_items_only(compiler, pid5, expected):  # noqa: F811
    assert _answers(compiler, {"from": "PID-5", "repeats": True}, None, 0, pid5) == (expected, expected)
    assert _answers(compiler, {"from": "PID-5", "repeats": False}, None, 0, pid5) == (not expected, not expected)


def _result(value: str) -> str:
    return (
        "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|R1|P|2.5.1\r"
        "PID|1||MRN0001^^^SZRMYY^MR||张三\r"
        "OBR|1|P1|F1|2345-7^Glucose^LN|||20260315090000\r"
        f"OBX|1|NM|2345-7^Glucose^LN||{value}|mmol/L|3.9-6.1||||F\r"
    )


@pytest.mark.parametrize("value", ["5.6~", '5.6~""', "5.6~~", "5.6~^", '5.6~""^""', "5.6~ "])
def test_a_numeric_result_with_an_empty_repetition_is_one_quantity(converter, value):
    # OBX-5 with a trailing empty or null repetition is one value, not components (IG: OBX-5 with more than one
    # repetition → components; an empty repetition is none)
    observation = one(convert(converter, _result(value)), "Observation")
    assert observation["valueQuantity"]["value"] == 5.6
    assert "component" not in observation
    assert observation["referenceRange"][0]["low"]["value"] == 3.9


def test_a_numeric_result_that_repeats_is_components(converter):
    observation = one(convert(converter, _result("5.6~6.1")), "Observation")
    assert [c["valueQuantity"]["value"] for c in observation["component"]] == [5.6, 6.1]
    assert "valueQuantity" not in observation
