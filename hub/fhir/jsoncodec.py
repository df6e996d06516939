"""FHIR JSON in and out, with the precision of every decimal kept.

FHIR R4 says the precision of a ``decimal`` is part of its value: ``1.50`` is not ``1.5``, and a server must
not change it (https://hl7.org/fhir/R4/datatypes.html#decimal, https://hl7.org/fhir/R4/json.html#primitive).
A Python float forgets it, so a decimal whose text a float would change is a :class:`FhirDecimal`: a float
(comparisons, sorting, search indexing and arithmetic work unchanged) that remembers the text it was read
from, and :func:`dumps` writes that text back exactly.

Reading stays on orjson's fast path: orjson gives exactly the document's numbers whenever every number's
shortest float text equals the text in the document (``1.5``, ``0.25``, ``7``). Only a document with a number
that would come back different (``1.50``, ``0.10``, ``1e3``, seventeen significant digits, an integer past
64 bits) is read a second time, with the standard library's parser, turning its decimals into FhirDecimals.
Which documents those are is told cheaply: the JSON the hub stores is orjson's, so orjson's reading written again
gives the same bytes exactly when no number changed; other text (a client's body, other spacing) is checked number
by number.
"""

from __future__ import annotations

import json
import re
from typing import Any, Self

import orjson

# A JSON number (RFC 8259 section 6), the grammar of a FHIR decimal in JSON.
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")

# A number token that orjson might not give back as written: one with a fraction or an exponent, or an integer
# of 19 digits or more (orjson reads an integer past 64 bits as a float). Found where JSON puts a value (after a
# colon, a comma or an opening bracket, before a comma or a closing bracket); text inside a string that looks
# the same costs only the slower, still exact, second reading.
_CANDIDATE = re.compile(rb"[:,\[]\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?=\s*[,\]}])")

_INT64_MIN = -(2**63)
_UINT64_MAX = 2**64 - 1


class FhirDecimal(float):
    """A FHIR decimal that keeps its text: equal to the float of that text, written back as that text."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> Self:
        """Args:
            text: the decimal as JSON writes a number (``1.50``, ``-0.010``, ``2.5e3``).

        Raises:
            ValueError: ``text`` is not a JSON number.
        """
        if not _JSON_NUMBER.fullmatch(text):
            raise ValueError(f"not a JSON number: {text[:40]!r}")
        value = super().__new__(cls, text)
        value.text = text
        return value

    def __repr__(self) -> str:
        return f"FhirDecimal({self.text!r})"

    def __str__(self) -> str:
        return self.text

    def __format__(self, spec: str) -> str:
        return self.text if not spec else super().__format__(spec)

    def __reduce__(self) -> tuple[type[FhirDecimal], tuple[str]]:
        return (FhirDecimal, (self.text,))


def _default(value: Any) -> Any:
    if isinstance(value, FhirDecimal):
        return orjson.Fragment(value.text)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any, *, option: int = 0) -> bytes:
    """FHIR JSON of ``value``: orjson's, with each FhirDecimal written as its text.

    Args:
        value: JSON data (dicts, lists, str, int, float, bool, None, FhirDecimal).
        option: orjson options (``orjson.OPT_SORT_KEYS``, ``orjson.OPT_INDENT_2`` …).

    Raises:
        TypeError: a value that is not JSON (orjson.JSONEncodeError is a TypeError).
    """
    return orjson.dumps(value, default=_default, option=option)


def loads(data: bytes | str) -> Any:
    """The JSON data of ``data``, every number as written: a decimal whose text a float would change comes back
    as a :class:`FhirDecimal`.

    Raises:
        orjson.JSONDecodeError: not JSON (a ValueError), as orjson reports it.
    """
    value = orjson.loads(data)
    raw = data.encode() if isinstance(data, str) else data
    # What the hub stored it wrote with orjson: written again, a document whose numbers a float keeps is the same
    # bytes (one orjson call in C). Anything else (a client's body, other spacing) is looked at number by number.
    if orjson.dumps(value) == raw or _exact(raw):
        return value
    return json.loads(raw, parse_float=FhirDecimal, parse_int=_integer)


def _exact(data: bytes) -> bool:
    """Whether orjson's reading of ``data`` (valid JSON) keeps every number's text."""
    return all(_token_exact(m[1]) for m in _CANDIDATE.finditer(data))


def _token_exact(token: bytes) -> bool:
    if b"." in token or b"e" in token or b"E" in token:
        return orjson.dumps(float(token)) == token
    return len(token) < 19 or _INT64_MIN <= int(token) <= _UINT64_MAX


def _integer(text: str) -> int | FhirDecimal:
    """An integer of the document: an int, or a FhirDecimal past 64 bits (which orjson cannot write as an int)."""
    value = int(text)
    return value if _INT64_MIN <= value <= _UINT64_MAX else FhirDecimal(text)


def copy(value: Any) -> Any:
    """A deep copy of JSON data, FhirDecimals kept: through orjson in C (several times faster than copy.deepcopy)
    when it holds none, else through :func:`dumps` and :func:`loads`."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return loads(dumps(value))
