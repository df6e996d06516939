"""R4 Period invariant per-1 (``start <= end``) for a period built from two v2 timestamps (TQ1-7/TQ1-8, PV1-44/45,
AIS-4 plus a duration …): an end before its start is no end (the sender's error), so it is left out, the start kept,
and the conversion report says so (``invalid-value``; see :func:`hub.mapping.runtime.invalid_value`).

Each value is a FHIR ``date`` or ``dateTime`` of any precision (``2025``, ``2025-01-01``,
``2025-01-01T12:00:00+08:00``): the instants it can mean are an interval. An end is before its start only when every
instant it can mean is before every instant the start can mean (``2025-01-01`` and ``2025-01-01T12:00:00+08:00``
are in order either way round), as FHIRPath's comparison of dateTimes of different precision decides; a value
without an offset (a date) is read in the sender's zone.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from typing import Any

from hub.mapping.datetimes import fixed_zone
from hub.mapping.fhirschema import FhirSchema

_DATETIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def _interval(text: str, tz: tzinfo) -> tuple[datetime, datetime] | None:
    """The first instant ``text`` can mean and the instant right after the last one; None for no dateTime."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    zone = fixed_zone(offset) if offset else tz
    try:
        if month is None:
            first = datetime(int(year), 1, 1, tzinfo=zone)
            return first, _month_after(int(year), 12, zone)
        if day is None:
            y, m = int(year), int(month)
            return datetime(y, m, 1, tzinfo=zone), _month_after(y, m, zone)
        first = datetime(int(year), int(month), int(day), tzinfo=zone)
        if hour is None:
            return first, _plus(first, timedelta(days=1))
        first = first.replace(hour=int(hour), minute=int(minute))
        if second is None:
            return first, _plus(first, timedelta(minutes=1))
        first = first.replace(second=int(second))
        if fraction is None:
            return first, _plus(first, timedelta(seconds=1))
        digits = fraction[:6]
        first = first.replace(microsecond=int(digits.ljust(6, "0")))
        return first, _plus(first, timedelta(microseconds=10 ** (6 - len(digits))))
    except ValueError:  # no such day (2025-02-30): nothing to compare
        return None


def _month_after(year: int, month: int, zone: tzinfo) -> datetime:
    """The first instant after the month (the calendar's last instant after December 9999)."""
    if month < 12:
        return datetime(year, month + 1, 1, tzinfo=zone)
    if year < datetime.max.year:
        return datetime(year + 1, 1, 1, tzinfo=zone)
    return datetime.max.replace(tzinfo=zone)


def _plus(first: datetime, step: timedelta) -> datetime:
    """``first + step``, or the calendar's last instant when that is past 9999-12-31 (the day 9999-12-31 ends there:
    an end before it is still before it)."""
    try:
        return first + step
    except OverflowError:
        return datetime.max.replace(tzinfo=first.tzinfo)


def ends_before(end: object, start: object, tz: tzinfo) -> bool:
    """Whether the period end ``end`` is certainly before the start ``start`` (R4 per-1 broken).

    Args:
        end: the end's value (a FHIR date or dateTime; anything else, the HL7 null ``""`` say, is never before).
        start: the start's value, likewise.
        tz: the sender's zone, for values without an offset.

    Returns:
        True when every instant ``end`` can mean comes before every instant ``start`` can mean.
    """
    if not isinstance(end, str) or not isinstance(start, str):
        return False
    ends = _interval(end, tz)
    starts = _interval(start, tz)
    return ends is not None and starts is not None and ends[1] <= starts[0]


# element types not walked for Periods: primitives (lower case), and those that hold none a message sets
_NOT_WALKED = frozenset(("Extension", "Narrative", "Resource", "ResourceList", "Meta", "Coding", "CodeableConcept"))


def drop_inverted_ends(resource: dict[str, Any], schema: FhirSchema, tz: tzinfo) -> tuple[dict[str, Any], list[str]]:
    """A stored version merged with a message's (:func:`hub.updates.merge_update`) may put one message's end after
    another's start (an A03's discharge time before the A01's admission): each Period that ends before it starts
    (R4 per-1) loses its end, its start kept, as within one message.

    Args:
        resource: the merged resource (not changed).
        schema: the R4 schema, which tells the Period elements.
        tz: the zone of a date without an offset.

    Returns:
        The resource (itself when nothing is dropped, else a copy of the parts changed) and the path of each end
        dropped (``Encounter.period.end``).
    """
    dropped: list[str] = []
    rtype = str(resource.get("resourceType"))
    return _walk(resource, rtype, rtype, schema, tz, dropped), dropped


def _walk(
    node: dict[str, Any], type_name: str, path: str, schema: FhirSchema, tz: tzinfo, dropped: list[str]
) -> dict[str, Any]:
    out = node
    for key, value in node.items():
        info = schema.element(type_name, key)
        if info is None or info.type[:1].islower() or info.type in _NOT_WALKED:
            continue
        items = value if isinstance(value, list) else [value]
        fixed = []
        for item in items:
            if not isinstance(item, dict):
                fixed.append(item)
            elif info.type == "Period":
                if ends_before(item.get("end"), item.get("start"), tz):
                    dropped.append(f"{path}.{key}.end")
                    item = {k: v for k, v in item.items() if k != "end"}
                fixed.append(item)
            else:
                fixed.append(_walk(item, info.type, f"{path}.{key}", schema, tz, dropped))
        if any(a is not b for a, b in zip(fixed, items, strict=True)):
            if out is node:
                out = dict(node)
            out[key] = fixed if isinstance(value, list) else fixed[0]
    return out
