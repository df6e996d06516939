"""FHIR date, dateTime and instant values as half-open UTC ranges ``[low, high)`` that respect precision.

``2024`` is the whole year, ``2024-03`` the month, ``2024-03-01`` the day, ``2024-03-01T10:00+08:00`` the
minute, and so on down to the digits of the fractional seconds (http://hl7.org/fhir/R4/search.html#date).
A value without a time zone (every date, and dateTimes that lack one) is taken in the hub's local time
zone, for indexed values and search values alike, so that a day means the same day on both sides.
Open ends (a Period without ``end``) are :data:`MIN` / :data:`MAX`, never NULL, so that range conditions
stay plain comparisons an index can serve.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

MIN = datetime(1, 1, 1, tzinfo=UTC)
MAX = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)

_VALUE = re.compile(
    r"(?P<y>[0-9]{4})(?:-(?P<m>[0-9]{2})(?:-(?P<d>[0-9]{2})"
    r"(?:T(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:\.(?P<f>[0-9]+))?)?(?P<tz>Z|[+-][0-9]{2}:[0-9]{2})?)?)?)?"
)


@lru_cache(maxsize=16)
def zone(name: str) -> tzinfo:
    """The tzinfo of an IANA zone name (cached)."""
    return ZoneInfo(name)


def _offset(text: str) -> tzinfo:
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(f"bad time zone offset {text!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _add_months(dt: datetime, months: int) -> datetime:
    total = dt.month - 1 + months
    return dt.replace(year=dt.year + total // 12, month=total % 12 + 1)


def _clamp(dt: datetime) -> datetime:
    """``dt`` in UTC, kept within [MIN, MAX]."""
    try:
        dt = dt.astimezone(UTC)
    except OverflowError:
        return MIN if dt.year < 5000 else MAX
    return MIN if dt < MIN else MAX if dt > MAX else dt


def parse_range(text: str, local: tzinfo) -> tuple[datetime, datetime]:
    """The UTC range ``[low, high)`` that a FHIR date/dateTime/instant value denotes.

    Args:
        text: the value, e.g. ``2024``, ``2024-03-01``, ``2024-03-01T10:00:00.25+08:00``.
        local: the time zone of values that carry none.

    Returns:
        ``(low, high)``, timezone-aware UTC datetimes.

    Raises:
        ValueError: the text is not such a value.
    """
    m = _VALUE.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not a FHIR date/dateTime: {text!r}")
    g = m.groupdict()
    tz = _offset(g["tz"]) if g["tz"] else local
    year = int(g["y"])
    if year == 0:
        raise ValueError("year 0000")
    try:
        if g["m"] is None:
            low = datetime(year, 1, 1, tzinfo=tz)
            high = low.replace(year=year + 1) if year < 9999 else MAX
            return _clamp(low), _clamp(high)
        month = int(g["m"])
        if g["d"] is None:
            low = datetime(year, month, 1, tzinfo=tz)
            high = _add_months(low, 1) if (year, month) < (9999, 12) else MAX
            return _clamp(low), _clamp(high)
        day = int(g["d"])
        if g["H"] is None:
            low = datetime(year, month, day, tzinfo=tz)
            step = timedelta(days=1)
        else:
            second = min(int(g["S"] or 0), 59)  # a leap second (:60) counts as :59
            fraction = g["f"] or ""
            micro = int((fraction + "000000")[:6])
            low = datetime(year, month, day, int(g["H"]), int(g["M"]), second, micro, tzinfo=tz)
            if g["S"] is None:
                step = timedelta(minutes=1)
            elif not fraction:
                step = timedelta(seconds=1)
            else:
                step = timedelta(microseconds=10 ** max(0, 6 - len(fraction)))
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a valid date: {text!r}") from exc
    try:
        high = low + step
    except OverflowError:
        return _clamp(low), MAX
    return _clamp(low), _clamp(high)


def instant(dt: datetime) -> str:
    """A FHIR instant for ``dt`` (naive datetimes are UTC), to the microsecond: ``2024-03-01T02:00:00.123456Z``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def shift(dt: datetime, delta: timedelta) -> datetime:
    """``dt + delta``, kept within [MIN, MAX]."""
    try:
        return _clamp(dt + delta)
    except OverflowError:
        return MIN if delta < timedelta(0) else MAX


def as_utc(dt: datetime) -> datetime:
    """``dt`` as an aware UTC datetime (a naive one, as SQLite returns them, is UTC)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def local_zone() -> tzinfo:
    """The hub's local time zone (``HUB_DEFAULT_TIMEZONE``): the zone of dates and dateTimes without one.

    The index stores ranges computed with it, so changing it needs a re-index of date parameters.
    """
    from hub.config import get_settings

    return zone(get_settings().default_timezone)
