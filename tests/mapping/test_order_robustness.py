"""Bad orders, results, prescriptions and vaccinations: a mutated message converts to valid FHIR R4 or raises a
ConversionError with a location; nothing else (no engine error, no invalid resource)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import ConversionError, Hl7ParseError
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from tests.support.paths import CORPUS

from .order_messages import orm
from .test_immunization import vxu
from .test_oul import r22
from .test_pharmacy import rde, rds

LOCATION = re.compile(r"^[A-Z][A-Z0-9]{2}\^\d+(\^\d+)*$")
FAMILIES = ("|ORM^", "|OML^", "|OMG^", "|OUL^", "|RDE^", "|RDS^", "|VXU^")

SEEDS = [orm(), r22(), rde(), rds(), vxu()]
for _path in sorted(CORPUS.glob("*/*.hl7")):
    _text = _path.read_bytes().decode("utf-8-sig")
    if any(family in _text[:300] for family in FAMILIES):
        SEEDS.append(_text)

NOISE = st.lists(
    st.one_of(
        st.sampled_from(
            ["|", "^", "~", "&", "\\", '""', "20261340", "-1", "1.5", "abc", "Q0H", "每日三次", "\u3000", "D"]
        ),
        st.text(max_size=4),
    ),
    max_size=5,
).map("".join)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = [line for line in draw(st.sampled_from(SEEDS)).replace("\n", "\r").split("\r") if line]
    index = draw(st.integers(1, len(lines) - 1))  # MSH stays readable
    action = draw(st.sampled_from(["replace", "drop-segment", "repeat-segment"]))
    if action == "drop-segment":
        del lines[index]
    elif action == "repeat-segment":
        lines.insert(index, lines[index])
    else:
        fields = lines[index].split("|")
        position = draw(st.integers(1, max(1, len(fields) - 1)))
        fields[position : position + 1] = [draw(NOISE)]
        lines[index] = "|".join(fields)
    return "\r".join(lines) + "\r"


def test_the_seeds_are_there():
    assert len(SEEDS) >= 25


@pytest.mark.slow  # large corpus messages, converted and validated 150 times: ten seconds or so
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutations_convert_to_valid_fhir_or_raise_conversion_error(converter, text):
    try:
        message = er7.parse(text)
    except Hl7ParseError:
        return
    try:
        bundle = converter.convert(message)
    except ConversionError as exc:
        assert "internal mapping error" not in exc.message
        assert exc.location is None or LOCATION.match(exc.location), exc.location
        return
    assert validate_bundle(bundle) == []
