"""The search index rows of one resource: what each search parameter's path reaches, by parameter type.

The value's JSON shape tells its datatype (a CodeableConcept has ``coding``, an Identifier ``value``, a
Period ``start``/``end``…), with the parameter's ``shape`` where that is ambiguous (a ContactPoint looks
like an Identifier). Values that cannot be indexed (an unparsable date, a contained reference) are skipped:
the resource is still stored, it is only not found through that value.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from hub.fhir.dates import MAX, MIN, parse_range
from hub.fhir.search_params import RESOURCE_TYPES, SearchParam, indexed_params

# Column lengths of the index tables (hub.db.tables): longer values are cut, here and in queries alike.
STRING_MAX = 512
CODE_MAX = 255
SYSTEM_MAX = 255
UNIT_MAX = 64
ID_MAX = 255

# The string parts of a HumanName and an Address.
_STRING_PARTS = (
    "text",
    "family",
    "given",
    "prefix",
    "suffix",
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
)
_SPACE = re.compile(r"\s+")
_HISTORY = re.compile(r"/_history/[^/]*$")


def normalize(text: str) -> str:
    """A string as the index compares it: compatibility forms unified, accents removed, case folded,
    white space collapsed (http://hl7.org/fhir/R4/search.html#string)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("\x00", ""))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACE.sub(" ", stripped.casefold()).strip()[:STRING_MAX]


def parse_reference(reference: str) -> tuple[str | None, str] | None:
    """``(type, id)`` of a reference string: ``Type/id``, ``Type/id/_history/v``, or an absolute URL ending so.

    A reference whose tail is not ``Type/id`` (``urn:uuid:…``, an external URL) keeps the whole string as
    its id with no type; a contained reference (``#x``) gives None.
    """
    ref = reference.replace("\x00", "").strip()
    if not ref or ref.startswith("#"):
        return None
    ref = _HISTORY.sub("", ref)
    parts = ref.rsplit("/", 2)
    if len(parts) >= 2 and parts[-2] in RESOURCE_TYPES and parts[-1]:
        return parts[-2], parts[-1][:ID_MAX]
    return None, ref[:ID_MAX]


@dataclass(slots=True)
class IndexRows:
    """The rows of one resource in each index table (without resource type and id)."""

    tokens: set[tuple[str, str | None, str | None]] = field(default_factory=set)  # param, system, code
    strings: set[tuple[str, str, str]] = field(default_factory=set)  # param, normalised, exact
    dates: set[tuple[str, datetime, datetime]] = field(default_factory=set)  # param, low, high
    references: set[tuple[str, str | None, str]] = field(default_factory=set)  # param, target type, id
    quantities: set[tuple[str, Decimal, str | None, str | None]] = field(default_factory=set)  # param, v, sys, code


def _cut(text: Any, limit: int) -> str | None:
    if text is None or text == "":
        return None
    return str(text).replace("\x00", "")[:limit] or None


def _tokens(param: SearchParam, value: Any, rows: IndexRows) -> None:
    name = param.name
    if isinstance(value, bool):
        rows.tokens.add((name, param.system, "true" if value else "false"))
    elif isinstance(value, str | int):
        rows.tokens.add((name, _cut(param.system, SYSTEM_MAX), _cut(value, CODE_MAX)))
    elif isinstance(value, dict):
        if param.shape == "ContactPoint":
            if value.get("value"):
                rows.tokens.add((name, _cut(value.get("system"), SYSTEM_MAX), _cut(value["value"], CODE_MAX)))
        elif "coding" in value:  # CodeableConcept
            for coding in value.get("coding") or ():
                if isinstance(coding, dict) and coding.get("code"):
                    rows.tokens.add((name, _cut(coding.get("system"), SYSTEM_MAX), _cut(coding["code"], CODE_MAX)))
        elif value.get("value") is not None:  # Identifier
            rows.tokens.add((name, _cut(value.get("system"), SYSTEM_MAX), _cut(value["value"], CODE_MAX)))
        elif value.get("code"):  # Coding
            rows.tokens.add((name, _cut(value.get("system"), SYSTEM_MAX), _cut(value["code"], CODE_MAX)))


def _strings(param: SearchParam, value: Any, rows: IndexRows) -> None:
    texts: list[str] = []
    if isinstance(value, str):
        texts.append(value)
    elif isinstance(value, dict):  # HumanName, Address
        for key in _STRING_PARTS:
            part = value.get(key)
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, list):
                texts.extend(p for p in part if isinstance(p, str))
    for text in texts:
        norm = normalize(text)
        if norm:
            rows.strings.add((param.name, norm, text.replace("\x00", "").strip()[:STRING_MAX]))


def _dates(param: SearchParam, value: Any, suffix: str | None, rows: IndexRows, local: tzinfo) -> None:
    if isinstance(value, str):
        if suffix not in (None, "DateTime", "Date", "Instant"):
            return
        try:
            low, high = parse_range(value, local)
        except ValueError:
            return
        rows.dates.add((param.name, low, high))
    elif isinstance(value, dict):
        if "start" in value or "end" in value:  # Period
            _period(param, value, rows, local)
        elif "event" in value or "repeat" in value:  # Timing
            for event in value.get("event") or ():
                _dates(param, event, None, rows, local)
            repeat = value.get("repeat")
            if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
                _period(param, repeat["boundsPeriod"], rows, local)


def _period(param: SearchParam, period: dict[str, Any], rows: IndexRows, local: tzinfo) -> None:
    try:
        low = parse_range(period["start"], local)[0] if isinstance(period.get("start"), str) else MIN
        high = parse_range(period["end"], local)[1] if isinstance(period.get("end"), str) else MAX
    except ValueError:
        return
    if low < high:
        rows.dates.add((param.name, low, high))


def _references(param: SearchParam, value: Any, rows: IndexRows) -> None:
    ref = value.get("reference") if isinstance(value, dict) else value
    if not isinstance(ref, str):
        return
    parsed = parse_reference(ref)
    if parsed is None:
        return
    rtype, rid = parsed
    if param.targets and rtype not in param.targets:
        return
    rows.references.add((param.name, rtype, rid))


def _quantities(param: SearchParam, value: Any, rows: IndexRows) -> None:
    if not isinstance(value, dict):
        return
    number = value.get("value")
    if isinstance(number, bool) or not isinstance(number, int | float):
        return
    if isinstance(number, float) and not math.isfinite(number):
        return
    try:
        amount = Decimal(str(number))
    except InvalidOperation:
        return
    code = value.get("code") or value.get("unit")
    rows.quantities.add((param.name, amount, _cut(value.get("system"), SYSTEM_MAX), _cut(code, UNIT_MAX)))


def extract(resource: dict[str, Any], local: tzinfo, params: tuple[SearchParam, ...] | None = None) -> IndexRows:
    """The index rows of ``resource`` for its type's search parameters.

    Args:
        resource: the resource (its ``resourceType`` picks the parameters).
        local: the time zone of dates and dateTimes that carry none.
        params: these parameters instead of the type's (tests, re-indexing one parameter).
    """
    rows = IndexRows()
    for param in indexed_params(resource["resourceType"]) if params is None else params:
        kind = param.type
        for path in param.paths:
            for value, suffix in path.evaluate(resource):
                if kind == "token" or kind == "uri":
                    _tokens(param, value, rows)
                elif kind == "string":
                    _strings(param, value, rows)
                elif kind == "date":
                    _dates(param, value, suffix, rows, local)
                elif kind == "reference":
                    _references(param, value, rows)
                elif kind == "quantity":
                    _quantities(param, value, rows)
    return rows
