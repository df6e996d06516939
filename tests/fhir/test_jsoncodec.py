"""hub.fhir.jsoncodec: FHIR JSON whose decimals keep their text (FHIR R4 datatypes: decimal precision is part of
the value), read on orjson's fast path whenever that is exact."""

from __future__ import annotations

import copy
import pickle

import orjson
import pytest

from hub.fhir import jsoncodec
from hub.fhir.jsoncodec import FhirDecimal


@pytest.mark.parametrize(
    "text",
    [
        b'{"value":1.50}',
        b'{"value":0.010,"unit":"mg/L"}',
        b"[1.50,2.50,3.0,4]",
        b'{"value":-0.50}',
        b'{"value":1e3}',
        b'{"value":2.5E-7}',
        b'{"value":1.2345678901234567}',
        b'{"value":123456789012345678901234567890}',
        b'{"value":0.1000000000000000055511151231257827}',
    ],
)
def test_a_number_a_float_would_change_is_written_back_as_read(text):
    assert jsoncodec.dumps(jsoncodec.loads(text)) == text
    assert jsoncodec.dumps(jsoncodec.loads(text.decode())) == text


def test_the_read_values_are_floats_that_compare_sort_and_count_as_numbers():
    value = jsoncodec.loads(b'{"a":1.50,"b":[0.10,7]}')
    a, (b, seven) = value["a"], value["b"]
    assert isinstance(a, FhirDecimal) and a.text == "1.50"
    assert a == 1.5 and hash(a) == hash(1.5) and a > 1.4 and b < a
    assert a + b == pytest.approx(1.6) and type(a + b) is float
    assert type(seven) is int
    assert f"{a}" == "1.50" and f"{a:.1f}" == "1.5" and str(a) == "1.50"
    assert copy.deepcopy(a).text == "1.50" and pickle.loads(pickle.dumps(a)).text == "1.50"


def test_a_document_a_float_keeps_exactly_is_read_by_orjson_alone():
    text = b'{"a":1.5,"b":[0.25,3,1.0,-2.75],"when":"2026-03-15T08:00:00.100+08:00","t":"10:30.50"}'
    value = jsoncodec.loads(text)
    assert value == orjson.loads(text)
    assert not any(isinstance(v, FhirDecimal) for v in [value["a"], *value["b"]])


def test_a_number_looking_text_inside_a_string_is_not_changed():
    text = b'{"note":"ratio 1:0.50, next","value":1.5}'
    assert jsoncodec.loads(text) == {"note": "ratio 1:0.50, next", "value": 1.5}
    assert jsoncodec.dumps(jsoncodec.loads(text)) == text


def test_sorted_and_indented_output_keeps_the_text():
    value = {"b": FhirDecimal("0.10"), "a": [FhirDecimal("1.50")]}
    assert jsoncodec.dumps(value, option=orjson.OPT_SORT_KEYS) == b'{"a":[1.50],"b":0.10}'
    assert jsoncodec.dumps(value, option=orjson.OPT_INDENT_2) == b'{\n  "b": 0.10,\n  "a": [\n    1.50\n  ]\n}'


@pytest.mark.parametrize("text", ["1.", ".5", "+1", "01.5", "1.5 ", "NaN", "0x10", ""])
def test_a_decimal_is_a_json_number(text):
    with pytest.raises(ValueError):
        FhirDecimal(text)


@pytest.mark.parametrize("text", [b'{"value":NaN}', b'{"value":1.50', b"\xff", b'{"value":01.50}'])
def test_what_is_not_json_is_refused(text):
    with pytest.raises(orjson.JSONDecodeError):
        jsoncodec.loads(text)


def test_what_is_not_json_data_is_not_written():
    with pytest.raises(TypeError):
        jsoncodec.dumps({"value": {1, 2}})


def test_other_spacing_is_read_number_by_number():
    """A client's body is not orjson's compact text: writing it again differs anyway, the numbers decide."""
    pretty = jsoncodec.loads(b'{\n  "value": 1.50,\n  "low": [ 2.5 ]\n}')
    assert pretty["value"].text == "1.50" and pretty["low"] == [2.5]
    plain = jsoncodec.loads('{ "value" : 1.5 , "n" : [ 1 , 2.25 ] }')
    assert plain == {"value": 1.5, "n": [1, 2.25]} and type(plain["value"]) is float
