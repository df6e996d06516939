"""Bad input: mutated corpus messages either convert to valid FHIR R4 or raise ConversionError; nothing else."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import ConversionError, Hl7ParseError
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from tests.support.paths import CORPUS

from .test_adt import adt
from .test_oru import oru

LOCATION = re.compile(r"^[A-Z][A-Z0-9]{2}\^\d+(\^\d+)*$")

SEEDS = [adt("A01"), adt("A04"), adt("A08"), oru()]
for _path in sorted(CORPUS.glob("*/*.hl7")):
    _text = _path.read_bytes().decode("utf-8-sig")
    if "|ADT^" in _text[:200] or "|ORU^" in _text[:200]:
        SEEDS.append(_text)

# Text that exercises the parser and the converters: delimiters, escapes, HL7 nulls, digits and dates,
# CJK, odd whitespace.
PIECES = st.sampled_from(
    [
        "|",
        "^",
        "~",
        "&",
        "\\",
        "\\F\\",
        "\\S\\",
        "\\X0D\\",
        "\\.br\\",
        "\\E",
        '""',
        "19800101",
        "2026133",
        "99999999999999",
        "+0800",
        "-2",
        "1.5",
        "<",
        "^-^",
        "张三",
        "\u3000",
        "\t",
        " ",
        "NM",
        "SN",
        "CWE",
        "A",
        "Y",
    ]
)
NOISE = st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=6).map("".join)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS)).replace("\r\n", "\r").replace("\n", "\r")
    lines = [line for line in text.split("\r") if line]
    index = draw(st.integers(1, len(lines) - 1))  # MSH stays readable
    fields = lines[index].split("|")
    action = draw(st.sampled_from(["replace", "drop", "repeat", "truncate", "drop-segment", "repeat-segment"]))
    position = draw(st.integers(1, max(1, len(fields) - 1))) if len(fields) > 1 else 1
    if action == "replace":
        fields[position : position + 1] = [draw(NOISE)]
    elif action == "drop" and len(fields) > 2:
        del fields[position]
    elif action == "repeat":
        fields.insert(position, fields[min(position, len(fields) - 1)])
    elif action == "truncate":
        cut = draw(st.integers(0, len(lines[index])))
        lines[index] = lines[index][:cut]
        return "\r".join(lines) + "\r"
    elif action == "drop-segment":
        del lines[index]
        return "\r".join(lines) + "\r"
    elif action == "repeat-segment":
        lines.insert(index, lines[index])
        return "\r".join(lines) + "\r"
    lines[index] = "|".join(fields)
    return "\r".join(lines) + "\r"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_convert_to_valid_fhir_or_raise_conversion_error(converter, text):
    try:
        message = er7.parse(text)
    except Hl7ParseError:
        return
    try:
        bundle = converter.convert(message)
    except ConversionError as exc:
        assert "internal mapping error" not in exc.message  # a bug of the engine, not of the message
        # An operator can act on it: an ERR-2 style location (SEG^seq[^field…]) whenever there is one.
        assert exc.location is None or LOCATION.match(exc.location), exc.location
        return
    assert validate_bundle(bundle) == []


def _patient(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def test_control_characters_inside_fields_are_removed_and_reported(converter):
    # A NUL inside the name, a ^A and an ESC in the street, a DEL in the city (not allowed in v2 text, v2.5.1
    # §2.7, nor in a FHIR string); a hex escape of a control character (\X1B\) in the contact's name too. A TAB
    # is none (FT/TX text may hold one, a FHIR string may): the ward's name is not reported.
    text = (
        adt("A01")
        .replace("||张三||", "||张\x00三||")
        .replace("深南大道1号^^深圳市", "深南\x01大道\x1b1号^^深\x7f圳市")
        .replace("|李四|", "|李\\X1B\\四|")
        .replace("|内科^", "|内\t科^")
    )
    result = converter.convert_with_report(er7.parse(text), sender_timezone="Asia/Shanghai")
    patient = _patient(result.bundle)
    assert patient["name"][0]["text"] == "张三"
    assert (patient["address"][0]["line"], patient["address"][0]["city"]) == (["深南大道1号"], "深圳市")
    assert patient["contact"][0]["name"]["text"] == "李四"
    detail = "control characters (not allowed in v2 text nor in a FHIR string) removed from the value"
    controls = [r for r in result.report if r["code"] == "control-character"]
    assert controls == [
        {"code": "control-character", "location": "PID^1^5", "detail": detail},
        {"code": "control-character", "location": "PID^1^11", "detail": detail},
        {"code": "control-character", "location": "NK1^1^2", "detail": detail},
    ]
    assert validate_bundle(result.bundle) == []


def test_a_message_without_control_characters_reports_none(converter):
    result = converter.convert_with_report(er7.parse(adt("A01")), sender_timezone="Asia/Shanghai")
    assert [r for r in result.report if r["code"] == "control-character"] == []
