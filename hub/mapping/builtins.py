"""Conversions written in Python, named by templates: primitives, a few composite parsers, finishers, checks.

Templates do the mapping; these do what a template cannot express as data: parse a number or a date,
split a structured numeric (SN) or a reference range, compose a telephone number, tell a Chinese name's
family name from the given name. Each is registered by name with the FHIR type it produces and the
arguments it takes, so the compiler can check a template's use of it at load time.

* :data:`BUILTINS` — ``type:`` names (``string``, ``dateTime``, ``NM_Quantity`` …);
* :data:`FINISHERS` — ``finish:`` names of datatype templates (``human_name``);
* :data:`VALIDATORS` — ``valid:`` names of conditions (``resident-id``).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from hub.errors import ConversionError
from hub.fhir.jsoncodec import FhirDecimal
from hub.hl7.er7 import Segment, unescape
from hub.identity import resident_id
from hub.mapping import datetimes
from hub.mapping.courses import AFTER, PARALLEL, UNKNOWN, Course, add_months, course_periods, courses_end
from hub.mapping.runtime import (
    COMPONENT_LEVEL,
    FIELD_LEVEL,
    SUBCOMPONENT_LEVEL,
    Ctx,
    Item,
    compile_getter,
    invalid_value,
    leaf,
    parse_path,
    repetitions,
    segment_seq,
    split,
)

Conv = Callable[[Ctx, Item, dict[str, Any] | None], Any]

# Whitespace other than space, tab, CR and LF is not allowed in FHIR strings by the R4 JSON schema
# (``^[ \r\n\t\S]+$``); ideographic spaces (U+3000) are common in Chinese text. They become plain spaces.
_ODD_SPACE = {cp: " " for cp in range(0x3001) if chr(cp).isspace() and chr(cp) not in " \t\r\n"}
_ODD_SPACE.update(dict.fromkeys((8287, 8232, 8233), " "))

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"  # a decimal as v2 writes one (NM), for the patterns below
_DECIMAL = re.compile(_NUMBER)
# Comparators and range separators also as Chinese input methods type them: full-width (＜, ＞, －), the
# minus sign (−) and the wave dash (〜).
_COMPARATOR_NUMBER = re.compile(rf"(<=|>=|<|>|≤|≥|＜＝|＞＝|＜|＞|≦|≧)?\s*({_NUMBER})")
# An NM value as some LIS write it, with its abnormal flag after the number ("6.8↑", "3.2 ↓"): the number is the
# value (the flag is the interpretation, resource/Observation.yaml)
_NM_FLAGGED = re.compile(rf"(<=|>=|<|>|≤|≥|＜＝|＞＝|＜|＞|≦|≧)?\s*({_NUMBER})\s*(?:↑↑|↓↓|↑|↓)?")
_RANGE = re.compile(rf"\s*({_NUMBER})\s*(-|~|～|–|—|－|−|〜|至|到)\s*({_NUMBER})\s*(\S.*)?")
_BOUND = re.compile(rf"\s*(<=|>=|<|>|≤|≥|＜＝|＞＝|＜|＞|≦|≧)\s*({_NUMBER})\s*(\S.*)?")
# A lower bound alone ("0-", "5~"): the range starts there and the sender gives no upper limit.
_FROM = re.compile(rf"\s*({_NUMBER})\s*(?:-|~|～|–|—|－|−|〜)\s*")
_BRACKETS = frozenset({"()", "（）", "[]", "【】"})
# What may follow the numbers of a range as its unit: not more of a number (":20" of "<1:20", "/40" of "1/40").
_NOT_A_UNIT = re.compile(r"[:/]\s*\d|[\d.]")
_WHITESPACE = re.compile(r"\s")
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TRUE = frozenset({"Y", "YES", "T", "TRUE", "1"})
_FALSE = frozenset({"N", "NO", "F", "FALSE", "0"})
_COMPARATORS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "≤": "<=", "≥": ">="}
_COMPARATORS.update({"＜": "<", "＜＝": "<=", "＞": ">", "＞＝": ">=", "≦": "<=", "≧": ">="})


def fhir_string(text: str) -> str | None:
    """Text fit for a FHIR ``string``: odd whitespace made plain, trimmed; None when empty."""
    if not text.isprintable():  # printable text has none of the odd spaces (nor tabs and line breaks)
        text = text.translate(_ODD_SPACE)
    return text.strip() or None


def fhir_code(text: str) -> str | None:
    """Text fit for a FHIR ``code``: no leading, trailing or repeated whitespace; None when empty."""
    return " ".join(text.split()) or None


def number(text: str) -> int | FhirDecimal:
    """A FHIR decimal from an HL7 NM: an int when there is no decimal point, else a FhirDecimal that keeps the
    digits as sent (``1.50`` stays 1.50: in FHIR the precision is part of the value).

    Raises:
        ValueError: not a number.
    """
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        raise ValueError("not a number")
    return _matched_number(text)


def _matched_number(text: str) -> int | FhirDecimal:
    """A number from text a pattern here has already matched as a decimal (a group of ``_COMPARATOR_NUMBER``,
    ``_RANGE`` or ``_BOUND``): what :func:`number` gives, without checking it again."""
    return nm_decimal(text) if "." in text else int(text)


def nm_decimal(text: str) -> FhirDecimal:
    """The FHIR decimal of an NM already matched as one, in JSON's spelling with the sender's digits: ``+1.20`` →
    1.20, ``.5`` → 0.5, ``007.50`` → 7.50, ``3.`` → 3 (v2 allows a sign, leading zeros and a bare point; JSON
    does not)."""
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("+-").partition(".")
    whole = whole.lstrip("0") or "0"
    return FhirDecimal(f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}")


def _number_or_none(text: str) -> int | FhirDecimal | None:
    try:
        return number(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Builtin:
    """A conversion a template can name in ``type:``."""

    name: str
    fhir: str  # the FHIR type it produces (a schema definition name)
    make: Callable[[], Conv]
    args: dict[str, str]  # argument name → FHIR type the argument's rule must produce
    description: str
    memo: bool = False  # worth keeping per message: the same value converts to the same result


BUILTINS: dict[str, Builtin] = {}


def _register(
    name: str, fhir: str, description: str, args: dict[str, str] | None = None, *, memo: bool = False
) -> Callable[[Conv], Conv]:
    def deco(conv: Conv) -> Conv:
        BUILTINS[name] = Builtin(name, fhir, lambda: conv, args or {}, description, memo)
        return conv

    return deco


def _leaf(ctx: Ctx, item: Item) -> str:
    raw = item[1]
    return leaf(ctx.env, raw, item[2]) if raw is not None else ""


# Primitives ------------------------------------------------------------------------------------------


@_register("string", "string", "the value as text (first component of a composite), unescaped and trimmed")
def _string(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    return fhir_string(_leaf(ctx, item))


@_register("markdown", "markdown", "the value as markdown text")
def _markdown(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    return fhir_string(_leaf(ctx, item))


@_register(
    "text",
    "string",
    "a text value (ST, TX, FT, an NTE's comment) whole, unescaped and trimmed: text has no components, so a "
    "component or subcomponent separator in it is the sender's unescaped '^' or '&' ('10^9/L', 'A&B'), kept as "
    "that character; separators at either end (padding) are dropped",
)
def _text(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    raw = item[1]
    if not raw:
        return None
    env = ctx.env
    return fhir_string(unescape(raw.strip(env.comp + env.sub), env.delims))


@_register("code", "code", "the value as a code (whitespace collapsed)")
def _code(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    return fhir_code(_leaf(ctx, item))


@_register("id", "id", "the value as a FHIR id; an error when it is not one")
def _id(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    if not text:
        return None
    if not _FHIR_ID.fullmatch(text):
        raise ValueError("not a valid FHIR id")
    return text


@_register("uri", "uri", "the value as a URI (trimmed; whitespace inside percent-encoded)")
def _uri(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item).strip()
    if " " in text or not text.isprintable():  # FHIR uri: no whitespace (a line break from \.br\, a tab …)
        text = _WHITESPACE.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), text)
    return text or None


@_register("decimal", "decimal", "an HL7 NM as a FHIR decimal; an error when it is not a number")
def _decimal(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    return number(text) if text else None


def _int_conv(minimum: int) -> Conv:
    def conv(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
        text = _leaf(ctx, item)
        if not text:
            return None
        if not re.fullmatch(r"[+-]?\d{1,10}", text):
            raise ValueError("not an integer")
        value = int(text)
        if value < minimum or value > 2_147_483_647:
            raise ValueError("integer out of range")
        return value

    return conv


BUILTINS["integer"] = Builtin("integer", "integer", lambda: _int_conv(-2_147_483_648), {}, "an integer")
BUILTINS["positiveInt"] = Builtin("positiveInt", "positiveInt", lambda: _int_conv(1), {}, "an integer ≥ 1")
BUILTINS["unsignedInt"] = Builtin("unsignedInt", "unsignedInt", lambda: _int_conv(0), {}, "an integer ≥ 0")


@_register("boolean", "boolean", "Y/N (also YES/NO, T/F, TRUE/FALSE, 1/0) as a boolean")
def _boolean(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item).upper()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean (Y/N)")


@_register(
    "resident_id_value",
    "string",
    "a resident identity card number: normalised (full-width folded, spaces removed, x → X) when it passes "
    "GB 11643, else the text as sent",
)
def _resident_id_value(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    if not text:
        return None
    return resident_id.normalize(text) if _valid_resident_id(text) else fhir_string(text)


@_register("date", "date", "a DTM/DT as a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD), time of day dropped", memo=True)
def _date(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    return datetimes.to_date(text) if text else None


@_register("dateTime", "dateTime", "a DTM as a FHIR dateTime at its own precision, in the sender's zone", memo=True)
def _datetime(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    return datetimes.to_datetime(text, ctx.env.tz) if text else None


@_register("instant", "instant", "a DTM with a time of day as a FHIR instant (a date alone gives nothing)", memo=True)
def _instant(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    return datetimes.to_instant(text, ctx.env.tz) if text else None


# Units of a duration (AIS-8, AIG-12, AIL-10, AIP-10: ISO+/ANSI codes, and what Chinese senders write) in seconds
_DURATION_UNITS: dict[str, int] = {
    **dict.fromkeys(("S", "SEC", "SECOND", "SECONDS", "秒"), 1),
    **dict.fromkeys(("MIN", "MINS", "MINUTE", "MINUTES", "M", "分", "分钟"), 60),
    **dict.fromkeys(("H", "HR", "HRS", "HOUR", "HOURS", "小时"), 3600),
    **dict.fromkeys(("D", "DAY", "DAYS", "天", "日"), 86400),
    **dict.fromkeys(("WK", "W", "WEEK", "WEEKS", "周"), 604800),
}


@_register(
    "instant_after",
    "instant",
    "a DTM with a time of day plus the arguments duration (a number) and unit (s, min, h, d, wk; 分钟, 小时 …) as "
    "an instant in the start's offset: the end of a scheduled resource's time (AIL-6 + AIL-9 AIL-10); with offset "
    "and offset_unit too, that much later again (the appointment's start + AIL-7 AIL-8 + AIL-9 AIL-10); nothing "
    "without a time of day, a number or a known unit",
    {"duration": "decimal", "unit": "string", "offset": "decimal", "offset_unit": "string"},
)
def _instant_after(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    start = datetimes.to_instant(text, ctx.env.tz) if text else None
    given = args or {}
    seconds = _seconds(given.get("duration"), given.get("unit"))
    if start is None:
        return None
    if seconds is None:
        _report_unread_unit(ctx, item, given.get("duration"), given.get("unit"), "duration")
        return None
    if "offset" in given or "offset_unit" in given:
        offset = _seconds(given.get("offset"), given.get("offset_unit"))
        if offset is None:
            _report_unread_unit(ctx, item, given.get("offset"), given.get("offset_unit"), "start offset")
            return None
        seconds += offset
    try:
        end = datetime.fromisoformat(start) + timedelta(seconds=seconds)
    except OverflowError:  # a length past the calendar's end (year 9999): no time, the message still converts
        raise ValueError("a length of time that ends after the year 9999") from None
    return end.isoformat(timespec="seconds")


@_register(
    "instant_with_end",
    "instant",
    "a DTM with a time of day as an instant (with offset and offset_unit, that much later), when instant_after gives "
    "an end with the same arguments (duration, unit; offset, offset_unit): the start of a scheduled time whose end "
    "instant_after gives, so that the two come together (R4 app-2, a Slot's start and end: a duration unit no table "
    "reads gives neither); nothing otherwise",
    {"duration": "decimal", "unit": "string", "offset": "decimal", "offset_unit": "string"},
)
def _instant_with_end(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    given = args or {}
    if _instant_after(ctx, item, given) is None:
        return None
    if "offset" in given or "offset_unit" in given:
        return _instant_after(ctx, item, {"duration": given.get("offset"), "unit": given.get("offset_unit")})
    text = _leaf(ctx, item)
    return datetimes.to_instant(text, ctx.env.tz) if text else None


@_register(
    "dateTime_after",
    "dateTime",
    "as instant_after, for a dateTime element: a participant's period in an appointment (the appointment's start "
    "TQ1-7 + AIP-7 AIP-8 offset + AIP-9 AIP-10 duration)",
    {"duration": "decimal", "unit": "string", "offset": "decimal", "offset_unit": "string"},
)
def _datetime_after(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    return _instant_after(ctx, item, args)


_RESOURCE_SEGMENTS = frozenset(("AIS", "AIG", "AIL", "AIP"))


def _report_unread_unit(ctx: Ctx, item: Item, amount: Any, unit: Any, what: str) -> None:
    """Say in the conversion report (``unread-unit``) that a length sent as a number and a unit no table reads gave
    no time: a participant's period then has its start alone, an appointment or a slot neither (R4 app-2). The
    location is the resource segment being mapped (an AIP whose end counts from TQ1-7), else the one read."""
    if not isinstance(amount, int | float) or not isinstance(unit, str) or not unit.strip():
        return
    seg = ctx.seg if ctx.seg is not None and ctx.seg.name in _RESOURCE_SEGMENTS else item[0]
    if seg is None:
        return
    env = ctx.env
    entry = {
        "code": "unread-unit",
        "location": f"{seg.name}^{segment_seq(env.message, seg)}",
        "detail": f"a {what} in a unit the hub cannot read as a length of time: the time it gives is left out",
    }
    if entry not in env.report:
        env.report.append(entry)


def _seconds(amount: Any, unit: Any) -> float | None:
    """A number of a duration unit (30, ``min``) in seconds; None without a number or a known unit."""
    per_unit = _DURATION_UNITS.get(unit.strip().upper()) if isinstance(unit, str) else None
    if per_unit is None or not isinstance(amount, int | float):
        return None
    return amount * per_unit


# A month or a year is no number of seconds: a course counts them on the calendar (TQ1-6 ``1^mo``, ``3^个月``, ``1^a``;
# TQ.3 ``L3``; a pattern Q1L), never as UCUM's mean month of 30.4375 days.
_CALENDAR_UNITS: dict[str, int] = {
    **dict.fromkeys(("MO", "MON", "MONTH", "MONTHS", "L", "月", "个月"), 1),
    **dict.fromkeys(("A", "Y", "YR", "YEAR", "YEARS", "ANN", "年"), 12),
}


def _length(amount: Any, unit: Any) -> tuple[float, int] | None:
    """A number of a duration unit as (seconds, 0), or (0, months) for months and years; None without a number or a
    known unit."""
    seconds = _seconds(amount, unit)
    if seconds is not None:
        return seconds, 0
    per_unit = _CALENDAR_UNITS.get(unit.strip().upper()) if isinstance(unit, str) else None
    whole = _whole(amount)
    if per_unit is None or whole is None:
        return None
    return 0, whole * per_unit


def _whole(amount: Any) -> int | None:
    """A whole number as an int; None for anything else (1.5, inf, text)."""
    if isinstance(amount, int):
        return amount
    if isinstance(amount, float) and amount.is_integer():
        return int(amount)
    return None


def _course_length(given: dict[str, Any]) -> tuple[float, int] | None:
    """How long a course lasts, as (seconds, months), by the first of: ``duration`` and ``unit`` (else ``unit_text``:
    TQ1-6); ``tq_duration`` (TQ.3: D7, L3; X<n> a count); ``count`` (TQ1-14, TQ.12) occurrences of ``pattern``
    (TQ1-3.1, TQ.2.1), each period of the pattern holding its frequency of them (BID × 15: 8 days, Q8H × 9: 72 h)."""
    length = _length(given.get("duration"), given.get("unit"))
    if length is None:
        length = _length(given.get("duration"), given.get("unit_text"))
    if length is not None:
        return length
    count = _whole(given.get("count"))
    tq = given.get("tq_duration")
    if isinstance(tq, str) and tq:
        m = _TQ_DURATION.fullmatch(tq.upper())
        if m is not None:
            return _length(int(m[2]), _RPT_UNITS[m[1]])
        m = _TQ_TIMES.fullmatch(tq.upper())
        count = int(m[1]) if m is not None else None
    pattern = given.get("pattern")
    if count is None or count <= 0 or not isinstance(pattern, str):
        return None
    repeat = repeat_pattern(pattern)
    if repeat is None or "periodUnit" not in repeat:
        return None
    periods = math.ceil(count / repeat["frequency"])
    return _length(periods * repeat["period"], repeat["periodUnit"])


def _shifted(ctx: Ctx, item: Item, args: dict[str, Any] | None, sign: int) -> Any:
    """A DTM moved by the course length of the arguments (:func:`_course_length`), forward for ``sign`` 1, back for
    -1, as a dateTime at the DTM's precision: with a time of day exactly, in the DTM's offset (months and years on
    the calendar: 2026-01-31T08:00 + 1 month is 2026-02-28T08:00); a date by whole days or months, counted
    inclusively (a 7-day course from 2026-03-15 ends 2026-03-21, a month from 2026-01-15 on 2026-02-14, from
    2026-01-31 on 2026-02-28: a date as ``Period.end`` includes that whole day); nothing for a coarser DTM, a unit
    finer than a day after a date, or a length that is no positive number of a known unit."""
    text = _leaf(ctx, item)
    length = _course_length(args or {}) if text else None
    if length is None:
        return None
    seconds, months = length
    if seconds <= 0 and months <= 0:
        return None
    year, month, day, hour, *_ = datetimes.parse(text)
    if month is None or day is None:
        return None
    try:
        if hour is None:
            start = date(year, month, day)
            if months:
                # the day before the same day of the month, months later (2026-03-01 for 2026-01-31: the course
                # runs through February); backwards, from the day after the end
                if sign > 0:
                    return (add_months(start, months) - timedelta(days=1)).isoformat()
                return add_months(start + timedelta(days=1), -months, last_day=True).isoformat()
            days, rest = divmod(seconds, 86400)
            if rest or not days:
                return None
            moved = start + timedelta(days=sign * (int(days) - 1))
            return moved.isoformat()
        begin = datetime.fromisoformat(datetimes.to_datetime(text, ctx.env.tz))
        if months:
            return add_months(begin, sign * months, last_day=True).isoformat(timespec="seconds")
        return (begin + timedelta(seconds=sign * seconds)).isoformat(timespec="seconds")
    except (OverflowError, ValueError):  # a duration past the years a date can have (999999^wk): no end to say
        return None


_SET_ID = _int_conv(-2_147_483_648)
_SHIFT_ARGS = {
    "duration": "decimal",
    "unit": "string",
    "unit_text": "string",
    "tq_duration": "string",
    "count": "decimal",
    "pattern": "string",
}


@_register(
    "dateTime_course_end",
    "dateTime",
    "a DTM (TQ1-7, the start) plus the length of a course: duration, unit (else unit_text; TQ1-6 service duration, "
    "IG TQ1 row 6), else tq_duration (TQ.3: D7, L3, X<n> times), else count occurrences (TQ1-14, TQ.12) of the "
    "repeat pattern pattern (BID × 14: 7 days); at the start's precision: a date plus whole days or months, "
    "counted inclusively (7 d from 2026-03-15: 2026-03-21; 1 mo from 2026-01-31: 2026-02-28), a time exactly (months "
    "and years on the calendar); nothing for a coarser start, a unit finer than a day after a date, or no positive "
    "number of a known unit (s, min, h, d, wk, mo, a; 天, 周, 个月, 年 …)",
    _SHIFT_ARGS,
)
def _datetime_course_end(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    return _shifted(ctx, item, args, 1)


@_register(
    "dateTime_course_start",
    "dateTime",
    "as dateTime_course_end, backwards: a DTM (TQ1-8, the end) minus the length, the start of the course that ends "
    "then (7 d ending 2026-03-21: 2026-03-15; 1 mo ending 2026-02-28: 2026-02-01)",
    _SHIFT_ARGS,
)
def _datetime_course_start(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    return _shifted(ctx, item, args, -1)


# The field of a TQ (quantity/timing, v2.3–v2.4; kept for compatibility later) in each segment that has one, and
# where to find those segments: an element of a repetition of ORC-7 is evaluated with the resource's segment (RXE,
# RXO) current, not the ORC
_TQ_FIELDS = {"ORC": 7, "RXE": 1, "OBR": 27}
_TQ_SEGMENTS = [(name, compile_getter(parse_path(name))) for name in _TQ_FIELDS]


def _tq_repetitions(ctx: Ctx, item: Item) -> tuple[list[str], int] | None:
    """The repetitions of the TQ field that the current item is a repetition of (ORC-7 of the nearest ORC …), and
    the item's place among them: the repetition that is the item's very string (the items of a repeating field are
    the strings of :func:`hub.mapping.runtime.repetitions`), so that two repetitions written alike keep their own
    places; else (a value not read from such an item) the first written as it."""
    raw = item[1]
    if raw is None or item[2] != FIELD_LEVEL:
        return None
    env = ctx.env
    rep = env.rep
    segments = [item[0]] if item[0] is not None else []
    for _name, getter in _TQ_SEGMENTS:
        segments.extend(found[0] for found in getter(ctx, None, FIELD_LEVEL) if found[0] is not None)
    equal: tuple[list[str], int] | None = None
    for seg in segments:
        field = _TQ_FIELDS.get(seg.name)
        value = seg[field] if field is not None else ""
        if rep in value:
            reps = repetitions(env, value)
            for at, text in enumerate(reps):
                if text is raw:
                    return reps, at
                if equal is None and text == raw:
                    equal = reps, at
    return equal


@_register(
    "TQ_sequence",
    "integer",
    "Dosage.sequence of a repetition of a TQ (ORC-7, RXE-1, OBR-27; v2.3–v2.4) among the field's repetitions, as "
    "TQ1_sequence reads TQ1-12: by the conjunctions TQ.9, counted from 1, the repetition after an A keeping the "
    "sequence, after S, C or none the next; nothing when no repetition has a conjunction",
)
def _tq_sequence(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    found = _tq_repetitions(ctx, item)
    if found is None:
        return None  # one timing: nothing to order
    reps, at = found
    env = ctx.env
    conjunctions = [leaf(env, _part(r.split(env.comp), 9), COMPONENT_LEVEL).upper() for r in reps]
    if not any(conjunctions):
        return None
    sequence = 1
    for rep, conjunction in zip(reps[:at], conjunctions, strict=False):
        if rep and rep != '""' and conjunction != "A":
            sequence += 1
    return sequence


def _tq1_run(ctx: Ctx, seg: Segment) -> list[Segment] | None:
    """The TQ1 segments sent together with ``seg`` (a TQ1): the run of TQ1 and TQ2 segments it is in."""
    segments = ctx.env.message.segments
    at = next((i for i, s in enumerate(segments) if s is seg), None)
    if at is None:
        return None
    first = at
    while first > 0 and segments[first - 1].name in ("TQ1", "TQ2"):
        first -= 1
    last = at
    while last + 1 < len(segments) and segments[last + 1].name in ("TQ1", "TQ2"):
        last += 1
    return [s for s in segments[first : last + 1] if s.name == "TQ1"]


@_register(
    "TQ1_sequence",
    "integer",
    "Dosage.sequence of a TQ1 among the TQ1 (and TQ2) segments sent together: when none of them has a conjunction "
    "(TQ1-12), its set id TQ1-1; else counted from 1, the next TQ1 after an A (asynchronous: in parallel) keeping "
    "the sequence (FHIR: dosages of one sequence are concurrent), after S (synchronous: next), C (actuation, then "
    "completion) or none the next one",
)
def _tq1_sequence(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    seg = item[0] if item[0] is not None else ctx.seg
    if seg is None or seg.name != "TQ1":
        return None
    run = _tq1_run(ctx, seg)
    if run is None:
        return None
    conjunctions = [leaf(ctx.env, s[12], FIELD_LEVEL).upper() for s in run]
    if not any(conjunctions):
        return _SET_ID(ctx, (seg, seg[1], FIELD_LEVEL), None)
    sequence = 1
    for before, conjunction in zip(run, conjunctions, strict=False):
        if before is seg:
            break
        if conjunction != "A":
            sequence += 1
    return sequence


def _moment(ctx: Ctx, text: str) -> date | None:
    """A DTM to the day or finer as a date, or a datetime in its offset (the sender's zone without one); None for
    nothing, a coarser value or no date at all (the rules that read it as a dateTime say so)."""
    if not text:
        return None
    try:
        year, month, day, hour, *_ = datetimes.parse(text)
        if month is None or day is None:
            return None
        if hour is None:
            return date(year, month, day)
        return datetime.fromisoformat(datetimes.to_datetime(text, ctx.env.tz))
    except ValueError:
        return None


def _follows(conjunctions: list[str], at: int, same_set: bool | None) -> str:
    """How timing ``at`` goes with the one before, as ``Dosage.sequence`` says it (TQ1_sequence, TQ_sequence): by
    the conjunctions when one is given (after an A in parallel, else after); without any, by the TQ1 set ids (the
    sequence: the same one in parallel, ``same_set``), and a TQ's repetitions say nothing."""
    if any(conjunctions):
        return PARALLEL if conjunctions[at - 1] == "A" else AFTER
    if same_set is None:
        return UNKNOWN
    return PARALLEL if same_set else AFTER


def _tq1_courses(ctx: Ctx, seg: Segment) -> list[Course] | None:
    """The courses of the TQ1 segments sent with ``seg``: TQ1-7 start, TQ1-8 end, TQ1-6 service duration, else
    TQ1-14 occurrences of the pattern TQ1-3, TQ1-12 conjunction (TQ1-1 set id without any)."""
    run = _tq1_run(ctx, seg)
    if run is None:
        return None
    env = ctx.env
    conjunctions = [leaf(env, s[12], FIELD_LEVEL).upper() for s in run]
    set_ids = [leaf(env, s[1], FIELD_LEVEL) for s in run]
    courses: list[Course] = []
    for at, tq1 in enumerate(run):
        duration = tq1[6].split(env.rep, 1)[0].split(env.comp)
        units = _part(duration, 2).split(env.sub)
        given = {
            "duration": _number_or_none(leaf(env, duration[0], COMPONENT_LEVEL)),
            "unit": leaf(env, units[0], SUBCOMPONENT_LEVEL),
            "unit_text": leaf(env, _part(units, 2), SUBCOMPONENT_LEVEL),
            "count": _number_or_none(leaf(env, tq1[14], FIELD_LEVEL)),
            "pattern": leaf(env, tq1[3].split(env.rep, 1)[0], FIELD_LEVEL),
        }
        courses.append(
            Course(
                _moment(ctx, leaf(env, tq1[7], FIELD_LEVEL)),
                _moment(ctx, leaf(env, tq1[8], FIELD_LEVEL)),
                _course_length(given),
                _follows(conjunctions, at, set_ids[at] == set_ids[at - 1]) if at else AFTER,
            )
        )
    return courses


def _tq_courses(ctx: Ctx, seg: Segment) -> list[Course] | None:
    """The courses of the repetitions of ``seg``'s TQ (ORC-7, RXE-1): TQ.4 start, TQ.5 end, TQ.3 duration (D7, L3,
    X<n> times), else TQ.12 occurrences of the pattern TQ.2.1, TQ.9 conjunction."""
    field = _TQ_FIELDS.get(seg.name)
    if field is None:
        return None
    env = ctx.env
    value = seg[field]
    return _rep_courses(ctx, repetitions(env, value) if env.rep in value else [value])


def _given(rep: str) -> bool:
    """Whether a repetition of a TQ says something (not empty, not the HL7 null)."""
    return bool(rep) and rep != '""'


def _rep_courses(ctx: Ctx, all_reps: list[str]) -> list[Course]:
    """The courses of the given repetitions of a TQ (empty ones and nulls left out), as :func:`_tq_courses` reads
    them."""
    env = ctx.env
    reps = [r for r in all_reps if _given(r)]
    parts = [[leaf(env, c, COMPONENT_LEVEL) for c in r.split(env.comp)] for r in reps]
    conjunctions = [_part(p, 9).upper() for p in parts]
    courses: list[Course] = []
    for at, tq in enumerate(parts):
        given = {"tq_duration": _part(tq, 3), "count": _number_or_none(_part(tq, 12)), "pattern": _part(tq, 2)}
        courses.append(
            Course(
                _moment(ctx, _part(tq, 4)),
                _moment(ctx, _part(tq, 5)),
                _course_length(given),
                _follows(conjunctions, at, None) if at else AFTER,
            )
        )
    return courses


@_register(
    "dateTime_courses_end",
    "dateTime",
    "the end of all the timings of an order (a taper): of the TQ1 segments sent with the item's TQ1 (from TQ1-7), "
    "else of the repetitions of the item's TQ (ORC-7, RXE-1: from ORC-7.4); each ends at its own end (TQ1-8, TQ.5), "
    "else its start plus its length (as dateTime_course_end reads TQ1-6, TQ1-14 × TQ1-3; TQ.3, TQ.12 × TQ.2), its "
    "start its own (TQ1-7, TQ.4), else that of the timing it runs in parallel with (after a conjunction A), else the "
    "day after (a time: the moment) every timing of the step before has ended (after S or C; without conjunctions "
    "by the TQ1 set ids); the latest end, at the starts' precision; nothing when one timing has no end to tell",
)
def _datetime_courses_end(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    seg = item[0]
    if seg is None:
        return None
    courses = _tq1_courses(ctx, seg) if seg.name == "TQ1" else _tq_courses(ctx, seg)
    end = courses_end(courses) if courses else None
    if end is None:
        return None
    return end.isoformat(timespec="seconds") if isinstance(end, datetime) else end.isoformat()


def _step_period(ctx: Ctx, item: Item) -> tuple[date | None, date | None] | None:
    """The start and end of the current TQ1's course among the TQ1 sent with it, or of the current repetition of a
    TQ (ORC-7, RXE-1) among the field's repetitions (:func:`course_periods`); None for the first (its dates are its
    own), one not found, or one whose start cannot be told."""
    seg = item[0] if item[0] is not None else ctx.seg
    if item[1] is not None:  # a value: a repetition of a TQ (a whole segment has none: a TQ1)
        found = _tq_repetitions(ctx, item)
        if found is None:
            return None
        reps, at = found
        if not _given(reps[at]):
            return None
        courses = _rep_courses(ctx, reps)
        at = sum(1 for r in reps[:at] if _given(r))
    else:
        if seg is None or seg.name != "TQ1":
            return None
        run = _tq1_run(ctx, seg)
        tq1_courses = _tq1_courses(ctx, seg)
        if run is None or tq1_courses is None:
            return None
        courses = tq1_courses
        at = next((i for i, s in enumerate(run) if s is seg), 0)
    periods = course_periods(courses)
    return periods[at] if 0 < at < len(periods) else None


def _iso(moment: date | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="seconds") if isinstance(moment, datetime) else moment.isoformat()


@_register(
    "dateTime_step_start",
    "dateTime",
    "the start of a later step of a taper (the current TQ1, not the first of those sent together; or the current "
    "repetition of a TQ, ORC-7 or RXE-1, not the first) sent without its own: that of the timing it runs in "
    "parallel with (after a conjunction A), else the day after (a time: the moment) every timing of the step "
    "before has ended (after S or C; without conjunctions by the TQ1 set ids; a TQ's say nothing), as "
    "dateTime_courses_end counts them; nothing when the step before has no end to tell",
)
def _datetime_step_start(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    period = _step_period(ctx, item)
    return _iso(period[0]) if period is not None else None


@_register(
    "dateTime_step_end",
    "dateTime",
    "the end of a later step of a taper sent without its own dates: the start dateTime_step_start tells plus its "
    "length (TQ1-6, else TQ1-14 × TQ1-3; TQ.3, else TQ.12 × TQ.2; a date counted inclusively); nothing without a "
    "length",
)
def _datetime_step_end(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    period = _step_period(ctx, item)
    return _iso(period[1]) if period is not None else None


@_register(
    "CQ_minutes",
    "unsignedInt",
    "a CQ (quantity^units: 30^min, 1^h, 2^小时) in whole minutes, for Timing.repeat.offset (TQ1-5); units as "
    "instant_after reads them (CQ.2.1, else CQ.2.2); nothing without a number, a known unit or whole minutes",
)
def _cq_minutes(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    raw = item[1]
    if raw is None or item[2] != FIELD_LEVEL:
        return None
    env = ctx.env
    components = raw.split(env.comp)
    amount = _number_or_none(leaf(env, components[0], COMPONENT_LEVEL))
    units = components[1].split(env.sub) if len(components) > 1 else []
    for unit in units[:2]:
        seconds = _seconds(amount, leaf(env, unit, SUBCOMPONENT_LEVEL))
        if seconds is not None:
            return int(seconds // 60) if seconds >= 0 and seconds % 60 == 0 else None
    return None


@_register(
    "CQ_length_minutes",
    "positiveInt",
    "as CQ_minutes, for a length (TQ1-6 service duration → Appointment.minutesDuration): nothing for zero minutes",
)
def _cq_length_minutes(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    minutes = _cq_minutes(ctx, item, args)
    return minutes if minutes else None


@_register(
    "minutes_length",
    "positiveInt",
    "a length (an NM: SCH-9, AIS-7) in the unit of the arguments unit (CE.1/CNE.1: ISO+, ANS+, UCUM codes s, min, "
    "h, d, wk; 分钟, 小时 …), else unit_text (CE.2), in whole minutes, for Appointment.minutesDuration; nothing "
    "without a number or a known unit, for zero, or for seconds that are no whole minutes (positiveInt: a rounded "
    "length would be one the sender did not send)",
    {"unit": "string", "unit_text": "string"},
)
def _minutes_length(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    amount = _number_or_none(text) if text else None
    given = args or {}
    seconds = _seconds(amount, given.get("unit"))
    if seconds is None:
        seconds = _seconds(amount, given.get("unit_text"))
    if seconds is None or seconds <= 0 or seconds % 60:
        return None
    return int(seconds // 60)


@_register("time", "time", "an HL7 TM as a FHIR time (hh:mm:ss)", memo=True)
def _time(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    return datetimes.to_time(text) if text else None


# Composites ------------------------------------------------------------------------------------------


def _parts(ctx: Ctx, item: Item) -> list[str]:
    raw = item[1]
    if raw is None:
        return []
    return [leaf(ctx.env, p, item[2] + 1) for p in split(ctx.env, raw, item[2])]


def _part(parts: list[str], n: int) -> str:
    return parts[n - 1] if n <= len(parts) else ""


@_register(
    "OBX_sub_id_group",
    "string",
    "the isolate an OBX-4 sub-id belongs to: OG.2 (group, v2.8.2's enhanced mode), else OG.1 (the sub-id of older "
    "versions) up to its first '.' or '-' ('1.2', '1-2' and '1' → '1'); a microbiology report's susceptibilities are "
    "numbered under their isolate so",
)
def _obx_sub_id_group(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    parts = _parts(ctx, item)
    group = _part(parts, 2).strip()
    if group:
        return fhir_string(group)
    original = _part(parts, 1)
    return fhir_string(re.split(r"[.-]", original, maxsplit=1)[0].strip())


# Country codes whose national numbers start with a 0 that is no trunk prefix (ITU-T E.164 national numbering
# plans): Italy, San Marino, Vatican City (+39 06 …), Côte d'Ivoire, Gabon, Republic of the Congo.
_ZERO_IS_PART_OF_THE_NUMBER = frozenset({"39", "378", "379", "225", "241", "242"})


def _without_trunk_prefix(number: str) -> str:
    """A national number without its domestic trunk prefix 0 (0755 → 755), kept when nothing else is left."""
    stripped = number[1:] if number.startswith("0") else number
    return stripped if stripped.strip(" -") else number


@_register(
    "XTN_value",
    "string",
    "a telephone number or e-mail address from an XTN, as the v2-to-FHIR IG orders it: XTN.4 for an Internet or "
    "X.400 address, else XTN.12 (unformatted number), else XTN.5–8 composed (+country area local Xextension; "
    "with a country code, the area code's trunk prefix 0 goes: +86 755), "
    "else XTN.1",
    memo=True,
)
def _xtn_value(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    parts = _parts(ctx, item)
    if not parts:
        return None
    equipment = _part(parts, 3).upper()
    email = _part(parts, 4)
    # v2.3 senders say "network address" by the use code alone (XTN.2 NET, no equipment type)
    if equipment in ("INTERNET", "X.400", "NET") or (not equipment and _part(parts, 2).upper() == "NET"):
        return fhir_string(email or parts[0])
    unformatted = _part(parts, 12)
    if unformatted:
        return fhir_string(unformatted)
    country, area, local, ext = _part(parts, 5), _part(parts, 6), _part(parts, 7), _part(parts, 8)
    if local:
        country = country.lstrip("+")
        if country and country not in _ZERO_IS_PART_OF_THE_NUMBER:
            # the international form has no domestic trunk prefix: +86 755, not +86 0755 (ITU-T E.164, E.123)
            if area:
                area = _without_trunk_prefix(area)
            else:
                local = _without_trunk_prefix(local)
        text = (f"+{country} " if country else "") + (f"{area} " if area else "") + local
        if ext:
            text += f" X{ext}"
        return fhir_string(text)
    if parts[0]:
        return fhir_string(parts[0])
    return fhir_string(email) if email else None


def _with_unit(value: dict[str, Any], unit: Any) -> dict[str, Any]:
    if isinstance(unit, dict):
        for key in ("unit", "system", "code"):
            if key in unit:
                value[key] = unit[key]
    return value


@_register(
    "NM_Quantity",
    "Quantity",
    "an NM (a comparator such as '<' before the number is kept; an abnormal flag ↑ or ↓ after it is left to the "
    "interpretation) as a Quantity with the unit argument; nothing when the text is not a number",
    {"unit": "Quantity"},
)
def _nm_quantity(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    m = _NM_FLAGGED.fullmatch(text) if text else None
    if m is None:
        return None
    out: dict[str, Any] = {"value": _matched_number(m[2])}
    if m[1]:
        out["comparator"] = _COMPARATORS[m[1]]
    return _with_unit(out, (args or {}).get("unit"))


@_register(
    "NM_Amount",
    "Quantity",
    "an amount (a give, dispense or administered amount: RXE-3, RXD-4, RXA-6 …) as NM_Quantity reads it; text that "
    "is no number ('1-2', 'two', '半') is an invalid value: left out and reported, never dropped without a word",
    {"unit": "Quantity"},
)
def _nm_amount(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    text = _leaf(ctx, item)
    if not text:
        return None
    out = _nm_quantity(ctx, item, args)
    if out is None:
        raise ValueError("not a number")
    return out


def _sn(ctx: Ctx, item: Item) -> tuple[str, int | float | None, str, int | float | None]:
    parts = _parts(ctx, item)
    if len(parts) == 1:
        return _sn_in_one(parts[0])
    return (
        _part(parts, 1),
        _number_or_none(_part(parts, 2)),
        _part(parts, 3),
        _number_or_none(_part(parts, 4)),
    )


_SN_IN_ONE = re.compile(rf"\s*({_NUMBER})\s*([:/+-])\s*({_NUMBER})?\s*")


def _sn_in_one(text: str) -> tuple[str, int | float | None, str, int | float | None]:
    """An SN a sender wrote as plain text, without its components: '5.6', '>5', '1:40', '3-5', '2+'."""
    m = _COMPARATOR_NUMBER.fullmatch(text.strip())
    if m:
        return m[1] or "", _matched_number(m[2]), "", None
    m = _SN_IN_ONE.fullmatch(text)
    if m and (m[3] is not None or m[2] == "+"):
        return "", _matched_number(m[1]), m[2], _matched_number(m[3]) if m[3] is not None else None
    return text, None, "", None


@_register(
    "SN_Quantity",
    "Quantity",
    "an SN without a second number (e.g. '<^5', '^7.2') as a Quantity",
    {"unit": "Quantity"},
)
def _sn_quantity(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    comparator, num1, separator, num2 = _sn(ctx, item)
    if num1 is None or separator or num2 is not None:
        return None
    out: dict[str, Any] = {"value": num1}
    if comparator and comparator != "=":
        if comparator not in _COMPARATORS:
            return None
        out["comparator"] = _COMPARATORS[comparator]
    return _with_unit(out, (args or {}).get("unit"))


@_register("SN_Range", "Range", "an SN range ('^10^-^20') as a Range", {"unit": "Quantity"})
def _sn_range(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    comparator, num1, separator, num2 = _sn(ctx, item)
    if separator != "-" or num1 is None or num2 is None or comparator not in ("", "="):
        return None
    unit = (args or {}).get("unit")
    return {"low": _with_unit({"value": num1}, unit), "high": _with_unit({"value": num2}, unit)}


@_register("SN_Ratio", "Ratio", "an SN ratio ('^1^:^128' or '^1^/^2') as a Ratio")
def _sn_ratio(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    comparator, num1, separator, num2 = _sn(ctx, item)
    if separator not in (":", "/") or num1 is None or num2 is None or comparator not in ("", "="):
        return None
    return {"numerator": {"value": num1}, "denominator": {"value": num2}}


@_register(
    "components_text",
    "string",
    "all components of a value as text, the empty ones left out, separated by a space ('1^2^3' → '1 2 3', "
    "'^1^:^40' → '1 : 40'): a value whose type cannot read it, kept rather than lost",
)
def _components_text(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    return fhir_string(" ".join(part.strip() for part in _parts(ctx, item) if part.strip()))


@_register("SN_string", "string", "an SN as text ('2^+' → '2+', '<>^5' → '<>5')")
def _sn_string(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    return fhir_string("".join(_parts(ctx, item)))


@_register(
    "ReferenceRange",
    "Observation_ReferenceRange",
    "an OBX-7 reference range ('3.5-5.0', '3.5~5.0', '<5', '>=10', '0-'): low/high with the unit argument, the text "
    "kept; the argument text, when given, is the range as a whole (OBX-7 sent with an unescaped '~', '3.9~6.1', "
    "reads as two repetitions)",
    {"unit": "Quantity", "text": "string"},
)
def _reference_range(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    whole = (args or {}).get("text")
    text = whole if isinstance(whole, str) else fhir_string(_leaf(ctx, item))
    if text is None:
        return None
    out: dict[str, Any] = {}
    bounds = reference_bounds(text)
    if bounds is not None:
        unit = (args or {}).get("unit")
        low, high = bounds
        if low is not None:
            out["low"] = _with_unit({"value": low}, unit)
        if high is not None:
            out["high"] = _with_unit({"value": high}, unit)
    out["text"] = text
    return out


def reference_bounds(text: str) -> tuple[int | float | None, int | float | None] | None:
    """The low and high limits a reference range's text gives (either may be None); None when it gives neither.

    Read: ``3.9-6.1``, ``3.9~6.1``, ``3.9--6.1`` (a Chinese LIS's separator), ``-3-3``, ``3.9-6.1 mmol/L``,
    ``<5``, ``≤40``, ``>=110``, ``0-`` (no upper limit),
    the full-width forms (``4.3－5.8``, ``＜10``, ``≧40``). Not read (text only): ``阴性``, ``<1:20`` (a titre),
    a range whose low limit is above its high one. Brackets around the whole (``(3.9-6.1)``) are read through.
    """
    if len(text) > 2 and text[0] + text[-1] in _BRACKETS:
        text = text[1:-1]
    m = _RANGE.fullmatch(text)
    if m:
        if m[4] is not None and _NOT_A_UNIT.match(m[4]):
            return None
        low, high = _matched_number(m[1]), _matched_number(m[3])
        if low > high and m[2] == "-" and m[3].startswith("-"):
            high = _matched_number(m[3][1:])  # "3.9--6.1": a doubled separator, not a negative upper limit
        if low > high:
            return None
        return low, high
    m = _BOUND.fullmatch(text)
    if m:
        if m[3] is not None and _NOT_A_UNIT.match(m[3]):
            return None
        value = _matched_number(m[2])
        return (None, value) if _COMPARATORS[m[1]] in ("<", "<=") else (value, None)
    m = _FROM.fullmatch(text)
    if m:
        return _matched_number(m[1]), None
    return None


# A Chinese name and nothing else (王伟, 阿卜杜·热合曼): what some Chinese HIS send in an XCN's id number (XCN.1)
# when they have no staff number (also the validator chinese-name, which XCN_Reference.yaml's identifier rule uses).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK_NAME = re.compile(f"[{_CJK}][{_CJK}·・]*")


@_register(
    "XCN_text",
    "string",
    "the person name of an XCN/XPN-like composite (components 2–7) as display text; a Chinese name sent alone in "
    "the id number (XCN.1 王伟, components 2–7 empty) is that name",
    memo=True,
)
def _xcn_text(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    raw = item[1]
    if raw is None:
        return None
    env = ctx.env
    parts = split(env, raw, item[2])
    level = item[2] + 1
    # components 2-7 read once each, the empty ones left out (a doctor is mostly D001^王^五: family and one given)
    texts = [leaf(env, p, level) if p else "" for p in parts[1:7]]
    if not any(texts):
        first = leaf(env, parts[0], level).strip() if parts and parts[0] else ""
        return first if _CJK_NAME.fullmatch(first) else None
    texts += [""] * (6 - len(texts))
    family, given1, given2, suffix, prefix, degree = texts
    given = [given1, given2] if given1 and given2 else [given1] if given1 else [given2] if given2 else []
    suffixes = [suffix, degree] if suffix and degree else [suffix] if suffix else [degree] if degree else []
    return name_text(family, given, [prefix] if prefix else [], suffixes)


# Names -----------------------------------------------------------------------------------------------


def is_cjk(text: str) -> bool:
    """True when ``text`` contains a CJK ideograph."""
    for ch in text:
        cp = ord(ch)
        if 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x3134F or 0xF900 <= cp <= 0xFAFF:
            return True
    return False


def name_text(
    family: str, given: list[str], prefix: list[str], suffix: list[str], *, family_first: bool = False
) -> str | None:
    """The display form of a name: ``张三`` for a Chinese name (no spaces), ``Dr. Adam Everyman III`` otherwise, or
    ``Lin Xiaowen`` when the sender says the family name comes first (XPN.11 ``F``, table 0444)."""
    if is_cjk(family) or any(is_cjk(g) for g in given):
        return fhir_string(family + "".join(given)) if (family or given) else None
    words = [*prefix, family, *given, *suffix] if family_first else [*prefix, *given, family, *suffix]
    return fhir_string(" ".join(w for w in words if w))


def human_name_text(name: dict[str, Any], *, family_first: bool) -> str | None:
    """:func:`name_text` of a FHIR HumanName's parts (family, given, prefix, suffix)."""
    return name_text(
        name.get("family") or "",
        name.get("given") or [],
        name.get("prefix") or [],
        name.get("suffix") or [],
        family_first=family_first,
    )


def split_chinese_name(full: str, compound_surnames: frozenset[str]) -> tuple[str, str] | None:
    """Family and given name of an unsplit Chinese name (``欧阳娜娜`` → ``欧阳``, ``娜娜``), or None.

    Only names of 2 to 5 ideographs are split; a name with a middle dot (transliterated names of minority or
    foreign origin, ``阿卜杜·热合曼``) is left as it is, its family name cannot be told by position.
    """
    if not 2 <= len(full) <= 5 or not all(is_cjk(ch) for ch in full):
        return None
    if len(full) >= 3 and full[:2] in compound_surnames:
        return full[:2], full[2:]
    return full[:1], full[1:]


Finisher = Callable[[dict[str, Any], Ctx], dict[str, Any] | None]
FinisherFactory = Callable[[Callable[[str], frozenset[str]]], Finisher]


# XPN.11 name assembly order as the IG maps it (datatype/XPN.yaml): F says the family name is written first
ASSEMBLY_ORDER = "http://hl7.org/fhir/StructureDefinition/humanname-assembly-order"


def _human_name_factory(table_codes: Callable[[str], frozenset[str]]) -> Finisher:
    compound = table_codes("chinese-compound-surnames")

    def finish(name: dict[str, Any], _ctx: Ctx) -> dict[str, Any] | None:
        family = name.get("family") or ""
        given = name.get("given") or []
        # The whole name in one component: in XPN.1 (张三, 欧阳娜娜, or 张 三 with a space the sender put between
        # family and given name), or, from a few HIS, in XPN.2 with XPN.1 empty.
        whole = family if family and not given else given[0] if not family and len(given) == 1 else ""
        if whole:
            words = whole.split()
            if len(words) == 2 and all(is_cjk(w) for w in words):
                name.setdefault("text", "".join(words))
                name["family"], name["given"] = words[0], [words[1]]
            else:
                parts = split_chinese_name(whole, compound)
                if parts is not None:
                    name.setdefault("text", whole)
                    name["family"] = parts[0]
                    name["given"] = [parts[1]]
        if "text" not in name:
            family_first = any(
                e.get("url") == ASSEMBLY_ORDER and e.get("valueCode") == "F" for e in name.get("extension") or []
            )
            text = human_name_text(name, family_first=family_first)
            if text:
                name["text"] = text
        return name

    return finish


# Flags a datatype template may set on an Identifier (an extension), each reported in the conversion report.
FLAG_EXTENSIONS = {"urn:hub:fhir:StructureDefinition:resident-id-invalid": "invalid-resident-id"}


def _report_flags_factory(_table_codes: Callable[[str], frozenset[str]]) -> Finisher:
    def finish(value: dict[str, Any], ctx: Ctx) -> dict[str, Any] | None:
        for extension in value.get("extension") or ():
            code = FLAG_EXTENSIONS.get(extension.get("url", ""))
            if code is None:
                continue
            seg = ctx.seg
            # Where, never what: the value may be personal data.
            where = f"{seg.name}^{segment_seq(ctx.env.message, seg)}" if seg is not None else None
            entry = {"code": code, "location": where}
            if entry not in ctx.env.report:
                ctx.env.report.append(entry)
        return value

    return finish


FINISHERS: dict[str, tuple[FinisherFactory, tuple[str, ...], str]] = {
    "human_name": (
        _human_name_factory,
        ("chinese-compound-surnames",),
        "HumanName: splits an unsplit Chinese name into family and given (compound surnames from the table "
        "chinese-compound-surnames; 张 三 at its space; the whole name in XPN.2 too) and sets text "
        "(张三 / Adam Everyman)",
    ),
    "report_flags": (
        _report_flags_factory,
        (),
        "Identifier: reports each flag extension (resident-id-invalid → invalid-resident-id) in the conversion "
        "report, with the segment it came from and never the value",
    ),
}


def _valid_resident_id(text: str) -> bool:
    # a CX declared as a resident ID is checked by four rules (type, system, flag, value): once a day is enough
    # (the check depends on the day: a birth date may not be in the future)
    return _valid_resident_id_on(text, date.today())


@lru_cache(maxsize=4096)
def _valid_resident_id_on(text: str, today: date) -> bool:
    return resident_id.validate(text, today=today)


def _legacy_resident_id(text: str) -> bool:
    return _legacy_resident_id_on(text, date.today())


@lru_cache(maxsize=4096)
def _legacy_resident_id_on(text: str, today: date) -> bool:
    return resident_id.from_legacy(text, today=today) is not None


VALIDATORS: dict[str, tuple[Callable[[str], bool], str]] = {
    "resident-id": (
        _valid_resident_id,
        "a Chinese resident identity card number: 18 characters, GB 11643 check character, region and birth date",
    ),
    "resident-id-legacy": (
        _legacy_resident_id,
        "a 15-digit resident identity card number issued before 1999 (no check character): a valid region and "
        "birth date",
    ),
    "chinese-name": (
        lambda text: _CJK_NAME.fullmatch(text) is not None,
        "a Chinese name and nothing else (王伟, 阿卜杜·热合曼): what XCN_text reads as the name in an XCN's id number",
    ),
}

__all__ = [
    "BUILTINS",
    "COMPONENT_LEVEL",
    "FIELD_LEVEL",
    "FINISHERS",
    "VALIDATORS",
    "Builtin",
    "Conv",
    "fhir_code",
    "fhir_string",
    "name_text",
    "number",
    "split_chinese_name",
]


# Attachments (MDM document content) ------------------------------------------------------------------------


@_register(
    "base64",
    "base64Binary",
    "text as base64 of its UTF-8: the value (unescaped, all its components), or the argument "
    "`text` (e.g. all repetitions of a field joined)",
    {"text": "string"},
)
def _base64(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
    if args and args.get("text"):
        text = str(args["text"])
    else:
        raw = item[1]
        if raw is None:
            return None
        # All of the value, not only its first component: a line of text may hold the component separator.
        text = unescape(raw, ctx.env.delims) if ctx.env.esc in raw else raw
    text = text.strip()
    return base64.b64encode(text.encode("utf-8")).decode("ascii") if text else None


@_register(
    "ED_data",
    "base64Binary",
    "an ED (encapsulated data) as base64: ED.5 by its encoding ED.4 (Base64 kept, Hex and A or none encoded); "
    "data that is not what its encoding says (a placeholder such as `<Base64 encoded>`) or of an encoding v2 does "
    "not define is left out and reported (invalid-value; refuses the message when invalid values do)",
)
def _ed_data(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    parts = _parts(ctx, item)
    encoding = _part(parts, 4).strip().upper()
    data = _part(parts, 5)
    if not data:
        return None
    if encoding == "BASE64":
        compact = "".join(data.split())
        try:
            base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            return _undecodable(ctx, item, "ED.5 is not the Base64 its encoding (ED.4) says")
        return compact or None
    if encoding == "HEX":
        try:
            return base64.b64encode(bytes.fromhex(data)).decode("ascii")
        except ValueError:
            return _undecodable(ctx, item, "ED.5 is not the Hex its encoding (ED.4) says")
    if encoding not in _ED_TEXT_ENCODINGS:
        # v2 table 0299 has A, Hex and Base64: the bytes of another encoding cannot be known, and its text under
        # the subtype's content type would be a document that is not one.
        return _undecodable(ctx, item, "ED.4 is an encoding v2 does not define (table 0299: A, Hex, Base64)")
    return base64.b64encode(data.encode("utf-8")).decode("ascii")


# ED.4 that says the data is text: A (no encoding, v2 table 0299), or none given (ED.4 is required, often left out)
_ED_TEXT_ENCODINGS = frozenset({"A", ""})


def _undecodable(ctx: Ctx, item: Item, why: str) -> None:
    """Leave out an ED's data that cannot be decoded, and say so (``invalid-value`` at OBX-5, never the data).

    Reported here rather than raised for its rule: the attachment keeps its content type, whichever rule reads
    the ED (one repetition of a repeating OBX-5 is a component, or an attachment of a DocumentReference's required
    content, whose rules do not leave an invalid value out).

    Raises:
        ConversionError: when invalid values refuse the message (strict).
    """
    seg = item[0] if item[0] is not None else ctx.seg
    field, location = "ED", None
    if seg is not None:
        location = f"{seg.name}^{segment_seq(ctx.env.message, seg)}"
        if seg.name == "OBX":  # ED_data reads OBX-5, the value of an OBX of type ED
            field, location = "OBX-5", f"{location}^5"
    invalid_value(ctx, ConversionError(f"{field} (ED): {why}; the data is left out", hl7_code="102", location=location))


# Timing: repeat patterns of orders (RPT, TQ1-3; TQ.2.1 of RXE-1, ORC-7) --------------------------------------

_RPT_UNITS = {"S": "s", "M": "min", "H": "h", "D": "d", "W": "wk", "L": "mo", "Y": "a"}
_RPT_UNIT_WORDS = {
    **{u: u for u in ("s", "min", "h", "d", "wk", "mo", "a")},
    **{k.lower(): v for k, v in _RPT_UNITS.items()},
    "sec": "s",
    "hr": "h",
    "hour": "h",
    "day": "d",
    "week": "wk",
    "month": "mo",
    "year": "a",
}
_RPT_EVERY = re.compile(r"Q(\d{1,3})([SMHDWLY])")  # Q6H: every 6 hours, Q2D: every 2 days
_RPT_WEEKDAYS = re.compile(r"QJ([1-7]{1,7})")  # QJ135: Monday, Wednesday and Friday
_RPT_PER_DAY = {"QD": 1, "QDAY": 1, "DAILY": 1, "OD": 1, "BID": 2, "TID": 3, "QID": 4}
_RPT_PER_WEEK = {"QW": 1, "BIW": 2, "TIW": 3}
_RPT_WHEN = {
    "QAM": "MORN",
    "QPM": "EVE",
    "QHS": "HS",
    "HS": "HS",
    "QN": "NIGHT",
    "每晚": "NIGHT",
    "每晚一次": "NIGHT",
    "睡前": "HS",
    "每早": "MORN",
    "每晨": "MORN",
    "每早一次": "MORN",
    "每晨一次": "MORN",
}
_WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Chinese prescriptions write the frequency out: 每日三次 (three times a day), 每8小时一次 (every 8 hours),
# 每2日1次 and 隔日一次 (every other day), 每周两次 (twice a week), 一日三次 (three times a day).
_CN_NUMBER = "(\\d{1,3}|[一二两三四五六七八九十]{1,3})"
# Months and years too: 每月一次 and 每个月1次 (once a month), 每3个月一次 (every three months), 每年一次 (once a year).
_CN_EVERY = re.compile(f"(?:每{_CN_NUMBER}?|一)(日|天|周|星期|小时|时|h|H|分钟|个月|月|年)(?:{_CN_NUMBER}次)?")
_CN_UNITS = {
    "日": "d",
    "天": "d",
    "周": "wk",
    "星期": "wk",
    "小时": "h",
    "时": "h",
    "h": "h",
    "H": "h",
    "分钟": "min",
    "个月": "mo",
    "月": "mo",
    "年": "a",
}
# … or as a rate: 3次/日 and 3/日 (three times a day), 2次/周 (twice a week), 1次/8小时 (every 8 hours), 1次/月
_CN_RATE = re.compile(f"{_CN_NUMBER}次?/{_CN_NUMBER}?(日|天|周|星期|小时|时|h|H|d|D|个月|月|年)")
_CN_RATE_UNITS = {**_CN_UNITS, "d": "d", "D": "d"}
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _cn_number(text: str | None) -> int | None:
    """1 for None; 3 for '3' or '三'; 12 for '十二'; None for what is not a small number."""
    if not text:
        return 1
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + _CN_DIGITS.get(text[1:], 0) if text[1:] in _CN_DIGITS else None
    if len(text) == 2 and text.endswith("十") and text[0] in _CN_DIGITS:
        return _CN_DIGITS[text[0]] * 10
    if len(text) == 3 and text[1] == "十" and text[0] in _CN_DIGITS and text[2] in _CN_DIGITS:
        return _CN_DIGITS[text[0]] * 10 + _CN_DIGITS[text[2]]
    return _CN_DIGITS.get(text) if len(text) == 1 else None


def repeat_pattern(code: str) -> dict[str, Any] | None:
    """Timing.repeat of a repeat pattern code (HL7 table 0335 and its common spellings, or Chinese text).

    ``Q6H`` → every 6 hours, ``BID`` → twice a day, ``QOD`` → every other day, ``QJ135`` → Monday, Wednesday,
    Friday, ``QAM`` → every morning, ``每日三次`` → three times a day; None for what it does not know (``PRN``
    says when, not how often: it is Dosage.asNeeded).
    """
    text = "".join(code.split())
    # written with dots (b.i.d., q.8.h.) as in Latin prescriptions
    upper = text.upper().replace(".", "")
    if not upper:
        return None
    if upper in _RPT_PER_DAY:
        return {"frequency": _RPT_PER_DAY[upper], "period": 1, "periodUnit": "d"}
    if upper in _RPT_PER_WEEK:
        return {"frequency": _RPT_PER_WEEK[upper], "period": 1, "periodUnit": "wk"}
    if upper == "QOD" or text.startswith("隔日"):
        return {"frequency": 1, "period": 2, "periodUnit": "d"}
    when = _RPT_WHEN.get(upper) or _RPT_WHEN.get(text) or _RPT_WHEN.get(text.replace("1次", "一次"))  # 每晚1次
    if when:
        return {"frequency": 1, "period": 1, "periodUnit": "d", "when": [when]}
    # ST/STAT (立即, Chinese orders' "st"): given once, now
    if upper in ("ONCE", "1X", "ST", "STAT", "立即"):
        return {"count": 1}
    m = _RPT_EVERY.fullmatch(upper)
    if m and int(m[1]) > 0:
        return {"frequency": 1, "period": int(m[1]), "periodUnit": _RPT_UNITS[m[2]]}
    m = _RPT_WEEKDAYS.fullmatch(upper)
    if m:
        days = sorted({int(d) for d in m[1]})
        return {"dayOfWeek": [_WEEKDAY_CODES[d - 1] for d in days]}
    m = _CN_EVERY.fullmatch(text)
    if m:
        period, frequency = _cn_number(m[1]), _cn_number(m[3])
        if period and frequency:
            return {"frequency": frequency, "period": period, "periodUnit": _CN_UNITS[m[2]]}
    m = _CN_RATE.fullmatch(text)
    if m:
        frequency, period = _cn_number(m[1]), _cn_number(m[2])
        if frequency and period:
            return {"frequency": frequency, "period": period, "periodUnit": _CN_RATE_UNITS[m[3]]}
    return None


@_register(
    "RPT_TimingRepeat",
    "Timing_Repeat",
    "a repeat pattern (RPT, TQ1-3, or the repeat pattern of a TQ: Q6H, BID, QOD, QJ135, QAM, 每日三次 …) as "
    "Timing.repeat (frequency, period, periodUnit, dayOfWeek, when); an RPT without a known code but with a "
    "period quantity and units (RPT.5, RPT.6) gives once per that period",
)
def _rpt_timing_repeat(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    parts = _parts(ctx, item)
    if not parts:
        return None
    found = repeat_pattern(parts[0])
    if found is not None or item[2] != FIELD_LEVEL:
        return found
    # RPT.5 period quantity, RPT.6 period units (h, d, wk … or the HL7 letters S M H D W L)
    quantity, units = _part(parts, 5), _part(parts, 6)
    unit = _RPT_UNIT_WORDS.get(units.lower()) or _RPT_UNIT_WORDS.get(units)
    if quantity.isdigit() and int(quantity) > 0 and unit:
        return {"frequency": 1, "period": int(quantity), "periodUnit": unit}
    return None


# The duration of a TQ (TQ.3, the quantity/timing of v2.3 and v2.4: RXE-1.3, ORC-7.3): a letter and a number
# (S10 seconds, M30 minutes, H12 hours, D7 days, W2 weeks, L3 months), X<n> times, T<n> until n doses, INDEF.
_TQ_DURATION = re.compile(r"\s*([SMHDWL])\s*(\d{1,5})\s*")
_TQ_TIMES = re.compile(r"\s*X\s*(\d{1,5})\s*")


@_register(
    "TQ_duration",
    "Duration",
    "the duration of a TQ (TQ.3, v2.3–v2.4: S10, M30, H12, D7, W2, L3 → a Duration in UCUM time units); X<n>, "
    "T<n>, INDEF and anything else give nothing",
)
def _tq_duration(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    m = _TQ_DURATION.fullmatch(_leaf(ctx, item).upper())
    if m is None or int(m[2]) == 0:
        return None
    unit = _RPT_UNITS[m[1]]
    return {"value": int(m[2]), "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


_TQ_MINUTES = {"S": 1, "M": 60, "H": 3600, "D": 86400, "W": 604800}


@_register(
    "TQ_minutes",
    "positiveInt",
    "the duration of a TQ (TQ.3: M30, H2, S120, D1, W1) in whole minutes, for Appointment.minutesDuration (IG "
    "TQ[Appointment] row 3); months (L), X<n>, INDEF, seconds that are no whole minutes and text give nothing",
)
def _tq_minutes(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    m = _TQ_DURATION.fullmatch(_leaf(ctx, item).upper())
    if m is None or m[1] not in _TQ_MINUTES:
        return None
    seconds = int(m[2]) * _TQ_MINUTES[m[1]]
    return seconds // 60 if seconds > 0 and seconds % 60 == 0 else None


@_register("TQ_count", "positiveInt", "the number of times of a TQ duration X<n> (TQ.3: X10 → 10); else nothing")
def _tq_count(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
    m = _TQ_TIMES.fullmatch(_leaf(ctx, item).upper())
    return int(m[1]) if m is not None and int(m[1]) > 0 else None


# The OBX value built-ins (NA/MA SampledData, MO money, values kept as text) live in their own module, which
# registers them here.
from hub.mapping import obx_values as _obx_values  # noqa: E402, F401
