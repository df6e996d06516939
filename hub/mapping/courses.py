"""When a drug order's courses end: one course (a start and a length), or several in a row (a taper).

A course is a start and a length, (seconds, months): months and years count on the calendar. After a date the end
is the last day of the course, counted inclusively (7 days from 2026-03-15: 2026-03-21; a month from 2026-01-15:
2026-02-14), after a time of day the exact moment. An order of several timings (TQ1 segments, repetitions of a TQ)
says how each goes with the next (conjunction, HL7 table 0472, as ``Dosage.sequence`` reads it): a timing after one
that runs in parallel (``A``) starts with it, one after one that is followed (``S``, ``C``) starts when every timing
of the step before has ended (the day after a date, the same moment after a time). :func:`courses_end` is the end of
them all, the latest; nothing when a timing has neither an end nor a start and a length, or a start cannot be told.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

Moment = TypeVar("Moment", date, datetime)

# how a timing goes with the one before it
PARALLEL = "parallel"  # with it (after an A): the same start
AFTER = "after"  # after every timing of the step before it has ended (after S, C; a new set id)
UNKNOWN = "unknown"  # nothing says


@dataclass(frozen=True, slots=True)
class Course:
    """One timing of an order: its own start and end (a date, or a time of day with its offset), its length as
    (seconds, months), and how it goes with the timing before it (the first's is not read)."""

    start: date | None
    end: date | None
    length: tuple[float, int] | None
    follows: str


def add_months(moment: Moment, months: int, *, last_day: bool = False) -> Moment:
    """``moment`` that many months later (or earlier): the same day of the month, else (2026-01-31 + 1 month) the
    last day of the month, or with ``last_day`` false the first day of the next (the course through 2026-02-28
    ends before 2026-03-01)."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    days = calendar.monthrange(year, month + 1)[1]
    if moment.day <= days or last_day:
        return moment.replace(year=year, month=month + 1, day=min(moment.day, days))
    return moment.replace(year=year, month=month + 1, day=days) + timedelta(days=1)


def end_after(start: date, length: tuple[float, int]) -> date | None:
    """The end of a course of ``length`` from ``start`` (a ``datetime`` is a ``date`` too): a date by whole days or
    months counted inclusively, a time exactly (months on the calendar); None for no positive length, a length
    finer than a day after a date, or past the years a date can have.

    Raises:
        Nothing: an overflow is no end (None).
    """
    seconds, months = length
    if seconds <= 0 and months <= 0:
        return None
    try:
        if isinstance(start, datetime):
            if months:
                return add_months(start, months, last_day=True)
            return start + timedelta(seconds=seconds)
        if months:
            # the day before the same day of the month, months later (2026-03-01 for 2026-01-31: through February)
            return add_months(start, months) - timedelta(days=1)
        days, rest = divmod(seconds, 86400)
        if rest or not days:
            return None
        return start + timedelta(days=int(days) - 1)
    except (OverflowError, ValueError):  # 999999^wk
        return None


def _next_start(end: date) -> date | None:
    """Where the course after one that ends at ``end`` starts: the next day after a date, the moment after a time;
    None after the calendar's last day (9999-12-31: no day follows it)."""
    if isinstance(end, datetime):
        return end
    return end + timedelta(days=1) if end < date.max else None


def _later(a: date, b: date) -> date:
    """The later of two ends (both dates or both times: :func:`courses_end` checks)."""
    return b if b > a else a


def course_periods(courses: Sequence[Course]) -> list[tuple[date | None, date | None]]:
    """The start and end of each of an order's courses taken as their conjunctions say, as far as they can be told:
    a course's own start, else that of the one it runs in parallel with, else the day after (a time: the moment)
    every course of the step before has ended; its own end, else its start plus its length. The list stops before
    the first course whose start cannot be told (nothing says how it follows, or the step before has no end); a
    course without a length ("until review") is its start alone, and ends the list. Empty when dates and times of
    day are mixed (nothing to compare)."""
    kinds = {type(m) for c in courses for m in (c.start, c.end) if m is not None}
    if len(kinds) > 1:
        return []
    out: list[tuple[date | None, date | None]] = []
    step_start: date | None = None  # the start of the current step (timings in parallel)
    step_end: date | None = None  # the latest end of the current step
    for at, course in enumerate(courses):
        if at and course.follows == UNKNOWN and course.start is None:
            break
        if at and course.follows != PARALLEL:
            if step_end is None:
                break  # the step before has no end: nothing says when this one starts
            step_start, step_end = _next_start(step_end), None
            if step_start is None:
                break
        start = course.start if course.start is not None else step_start
        end = course.end
        if end is None and start is not None and course.length is not None:
            end = end_after(start, course.length)
        if end is not None and start is not None and type(end) is not type(start):
            break
        out.append((start, end))
        if end is None:
            break
        if step_start is None or (course.start is not None and course.follows != PARALLEL):
            step_start = start
        step_end = end if step_end is None else _later(step_end, end)
    return out


def courses_end(courses: Sequence[Course]) -> date | None:
    """The end of an order's courses taken as their conjunctions say: the latest end of all; None when one of them
    has no end of its own and no start (its own, the one it runs in parallel with, or the end of the step before)
    with a length, or when dates and times of day are mixed (nothing to compare)."""
    periods = course_periods(courses)
    if not courses or len(periods) < len(courses):
        return None
    latest: date | None = None
    for _, end in periods:
        if end is None:
            return None
        latest = end if latest is None else _later(latest, end)
    return latest
