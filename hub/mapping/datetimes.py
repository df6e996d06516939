"""HL7 v2 DTM/TS/DT/TM values → FHIR date, dateTime, instant and time, keeping precision.

HL7 v2 (2.5.1 §2.A.22): ``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]``. FHIR R4 dateTime is ``YYYY``,
``YYYY-MM``, ``YYYY-MM-DD`` or a full time with seconds *and* a zone offset ("If hours and minutes are
specified, a time zone SHALL be populated"; "Seconds must be provided … but may be zero-filled"). So:

* a value to the day or coarser stays as coarse (a birth date stays a date, a year stays a year);
* a value with hours or minutes gets ``:00`` for the missing minutes/seconds, as the FHIR spec requires;
* a value without an offset is local time of the sender: its offset at that instant comes from the IANA
  zone (``zoneinfo``), so a summer time in a zone with daylight saving gets the summer offset; the zone is the
  one configured for the sender, else MSH-7's offset (:func:`offset_zone`), else the default zone;
* fractional seconds are kept digit for digit.

Many Chinese HIS systems send ``2024-03-01 08:30:00`` in DTM fields; that ISO-like spelling is accepted too.
Anything else raises :class:`ValueError` (the engine turns it into a ConversionError with the location).
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DTM = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,9}))?)?)?)?)?)?\s*(Z|[+-]\d{4})?"
)
_ISO = re.compile(
    r"(\d{4})-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?"
)
_TM = re.compile(r"(\d{2})(?::?(\d{2})(?::?(\d{2})(?:\.(\d{1,9}))?)?)?\s*([+-]\d{4})?")

Parts = tuple[int, int | None, int | None, int | None, int | None, int | None, str, str | None]


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The zone for an IANA name.

    Raises:
        ValueError: unknown zone name.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def offset_zone(text: str) -> tzinfo | None:
    """The fixed zone of a DTM's offset (``20260315083000+0800`` → UTC+08:00), None when it has none or is no
    DTM: MSH-7's offset is the message's default zone (v2.5.1 §2.14.9.7)."""
    try:
        offset = parse(text)[7]
    except ValueError:
        return None
    return fixed_zone(offset) if offset is not None else None


def fixed_zone(offset: str) -> tzinfo:
    """The zone of a FHIR offset (``+08:00``, ``-05:00``, ``Z``)."""
    if offset == "Z":
        return UTC
    minutes = int(offset[1:3]) * 60 + int(offset[4:6])
    return timezone(timedelta(minutes=-minutes if offset[0] == "-" else minutes))


def _int(text: str | None) -> int | None:
    return int(text) if text is not None else None


def parse(text: str) -> Parts:
    """Split a DTM into (year, month, day, hour, minute, second, fraction digits, offset '+hh:mm' or None).

    Raises:
        ValueError: not a DTM, or an impossible date or time.
    """
    m = _DTM.fullmatch(text)
    if m is None:
        m = _ISO.fullmatch(text)
        if m is None:
            raise ValueError("not an HL7 date/time")
    year = int(m[1])
    month, day, hour, minute, second = _int(m[2]), _int(m[3]), _int(m[4]), _int(m[5]), _int(m[6])
    fraction = m[7] or ""
    offset = m[8]
    if year == 0:
        raise ValueError("year 0000")
    if month is not None and not 1 <= month <= 12:
        raise ValueError("month out of range")
    # every month has days 1-28: calendar.monthrange (a weekday computed on the way) only for the days after
    if (
        day is not None
        and month is not None
        and not 1 <= day <= 28
        and not 1 <= day <= calendar.monthrange(year, month)[1]
    ):
        raise ValueError("day out of range")
    if hour is not None and hour > 23:
        raise ValueError("hour out of range")
    if minute is not None and minute > 59:
        raise ValueError("minute out of range")
    if second is not None and second > 59:
        raise ValueError("second out of range")
    if offset is not None:
        offset = _offset_text(offset)
    return year, month, day, hour, minute, second, fraction, offset


def _offset_text(raw: str) -> str:
    if raw == "Z":
        return "Z"
    digits = raw[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if minutes > 59 or hours > 14 or (hours == 14 and minutes):
        raise ValueError("zone offset out of range")
    return f"{raw[0]}{digits[:2]}:{digits[2:]}"


@lru_cache(maxsize=8192)
def _zone_offset(tz: tzinfo, year: int, month: int, day: int, hour: int, minute: int) -> str:
    delta = datetime(year, month, day, hour, minute, tzinfo=tz).utcoffset()
    total = int(delta.total_seconds()) if delta is not None else 0
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"


def to_date(text: str) -> str:
    """FHIR ``date`` (``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``); a time of day is dropped."""
    year, month, day, *_ = parse(text)
    if month is None:
        return f"{year:04d}"
    if day is None:
        return f"{year:04d}-{month:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}"


def to_datetime(text: str, tz: tzinfo) -> str:
    """FHIR ``dateTime`` at the value's own precision; local times get the offset of ``tz``."""
    year, month, day, hour, minute, second, fraction, offset = parse(text)
    if month is None:
        return f"{year:04d}"
    if day is None:
        return f"{year:04d}-{month:02d}"
    if hour is None:
        return f"{year:04d}-{month:02d}-{day:02d}"
    minute = minute or 0
    if offset is None:
        offset = _zone_offset(tz, year, month, day, hour, minute)
    frac = f".{fraction}" if fraction else ""
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second or 0:02d}{frac}{offset}"


def to_instant(text: str, tz: tzinfo) -> str | None:
    """FHIR ``instant``: needs a time of day; a value to the day or coarser gives None."""
    parts = parse(text)
    if parts[3] is None:
        return None
    return to_datetime(text, tz)


def to_time(text: str) -> str:
    """FHIR ``time`` (``hh:mm:ss``) from an HL7 TM (``HH[MM[SS[.S…]]]``); a zone offset is dropped.

    Raises:
        ValueError: not a TM, or out of range.
    """
    m = _TM.fullmatch(text)
    if m is None:
        raise ValueError("not an HL7 time")
    hour, minute, second = int(m[1]), int(m[2] or 0), int(m[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("time out of range")
    frac = f".{m[4]}" if m[4] else ""
    return f"{hour:02d}:{minute:02d}:{second:02d}{frac}"
