"""Fields a message carries that no rule reads: the conversion report's ``unmapped-field``.

At load, each compiled message template knows the fields its rules read, segment by segment (element ``from``
paths, conditions, id keys, ``format``, and what the datatype templates they reach read: every absolute path the
compiler resolves, :attr:`hub.mapping.compiler.Unit.reads`), and the fields declared ``not_carried`` (the library's
``not_carried.yaml``, the message template's, its resource templates', a sender overlay's). For a segment id the
template reads at all, every other field is one whose value would be dropped without a word: a message that gives
it text is told so, once per segment id and field (at its first segment), never with the value.

A segment whose id no rule reads any field of (an ADT's DB1 or ARV, an ORM's FT1, a site's Z-segment, v2.5.1
§2.8.3, that no overlay maps) is reported whole instead (``unmapped-segment``, once per segment id): its data would
otherwise go without a word, and the report says which template or sender overlay to write (mappings/README.md,
"Sender overlays"). Not MSH, not a segment id declared ``not_carried`` whole (SFT, the sending software), not a
Z-segment the message structure names, and not a segment reported whole already (``unmapped-segment`` of the
template's ``unmapped``, ``unplaced-segment``), which is not reported field by field either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from hub.hl7 import er7
from hub.mapping.runtime import segment_seq

# segment id → (the unread field numbers up to the highest known one, ascending; that highest known field)
FieldChecks = dict[str, tuple[tuple[int, ...], int]]

CODE = "unmapped-field"
WHOLE = frozenset({"unmapped-segment", "unplaced-segment"})


def field_checks(reads: Iterable[tuple[str, int]], not_carried: Iterable[str]) -> FieldChecks:
    """What to look at in each segment id the rules read: the fields neither read nor declared ``not_carried``
    (``PID-1``), below the highest known one; every field after it is unread too."""
    known: dict[str, set[int]] = {}
    for segment, number in reads:
        known.setdefault(segment, set()).add(number)
    declared: dict[str, set[int]] = {}
    for name in not_carried:
        segment, _, text = name.partition("-")
        if not text:
            continue  # a segment declared whole (known_segments)
        declared.setdefault(segment, set()).add(int(text))
    checks: FieldChecks = {}
    for segment, numbers in known.items():
        numbers |= declared.get(segment, set())
        top = max(numbers)
        checks[segment] = (tuple(n for n in range(1, top) if n not in numbers), top)
    return checks


# segment ids a message template knows (known_segments), and the fields declared not_carried per segment id: a
# segment of another id whose text is only in such fields (EVN|A05: the trigger event) has lost nothing
Known = tuple[frozenset[str], dict[str, frozenset[int]]]


def known_segments(reads: Iterable[tuple[str, int]], structure: Iterable[str], not_carried: Iterable[str]) -> Known:
    """The segment ids a message template knows: those its rules read a field of, the Z-segments its structure
    names, MSH, and those declared ``not_carried`` whole (``SFT``); and the fields declared per segment id. A
    segment of any other id with text in another field is reported whole."""
    named = {segment for segment in structure if segment[:1] == "Z"}
    whole: set[str] = set()
    fields: dict[str, set[int]] = {}
    for name in not_carried:
        segment, _, text = name.partition("-")
        if text:
            fields.setdefault(segment, set()).add(int(text))
        else:
            whole.add(segment)
    ids = frozenset({segment for segment, _ in reads} | named | whole | {"MSH"})
    return ids, {segment: frozenset(numbers) for segment, numbers in fields.items()}


def report_unread_fields(
    checks: FieldChecks, message: er7.Message, report: list[dict[str, Any]], known: Known = (frozenset(), {})
) -> None:
    """Append one ``unmapped-field`` entry per segment id and field that a segment of ``message`` gives text in
    and no rule reads (the location of the first such segment, ``OBR^1^13``; never the value), and one
    ``unmapped-segment`` entry per segment id with text that the template does not know (:func:`known_segments`)."""
    found: dict[tuple[str, int], list[er7.Segment]] | None = None
    sites: dict[str, list[er7.Segment]] | None = None
    for seg in message.segments:
        check = checks.get(seg.name)
        if check is None:
            if seg.name not in known[0]:
                sites = {} if sites is None else sites
                sites.setdefault(seg.name, []).append(seg)
            continue
        fields = seg.fields
        last = len(fields)
        gaps, top = check
        for n in gaps:
            if n >= last:
                break
            if fields[n]:
                found = _note(found, seg, n)
        for n in range(top + 1, last):
            if fields[n]:
                found = _note(found, seg, n)
    if found is None and sites is None:
        return
    # where a segment was reported whole already (the template's unmapped, unplaced-segment): not again
    whole = {entry.get("location") for entry in report if entry.get("code") in WHOLE}
    empty = _empty_text(message.delimiters).fullmatch
    for (name, number), segments in (found or {}).items():

        def gives_text(seg: er7.Segment, number: int = number) -> bool:
            return empty(seg.fields[number]) is None

        located = _located(message, segments, gives_text, whole)
        if located:
            more = f" (and in {len(located) - 1} more {name})" if len(located) > 1 else ""
            report.append(
                {
                    "code": CODE,
                    "location": f"{located[0]}^{number}",
                    "detail": f"{name}-{number} has a value that no rule reads: it is not carried over{more}",
                }
            )
    for name, segments in (sites or {}).items():
        quiet = known[1].get(name, frozenset())

        def has_text(seg: er7.Segment, quiet: frozenset[int] = quiet) -> bool:
            return any(empty(value) is None for n, value in enumerate(seg.fields) if n and n not in quiet)

        located = _located(message, segments, has_text, whole)
        if located:
            more = f" (and {len(located) - 1} more {name})" if len(located) > 1 else ""
            what = "a site's own segment" if name[0] == "Z" else "a segment"
            report.append(
                {
                    "code": "unmapped-segment",
                    "location": located[0],
                    "detail": f"{what} ({name}) that no rule of the template or an overlay reads: not converted{more}",
                }
            )


def _located(
    message: er7.Message, segments: list[er7.Segment], has_text: Callable[[er7.Segment], bool], whole: set[Any]
) -> list[str]:
    """Where each of ``segments`` that ``has_text`` is (``OBR^2``), those reported whole left out."""
    located = [f"{seg.name}^{segment_seq(message, seg)}" for seg in segments if has_text(seg)]
    return [where for where in located if where not in whole]


def _note(
    found: dict[tuple[str, int], list[er7.Segment]] | None, seg: er7.Segment, number: int
) -> dict[tuple[str, int], list[er7.Segment]]:
    if found is None:
        found = {}
    found.setdefault((seg.name, number), []).append(seg)
    return found


def _empty_text(d: er7.Delimiters) -> re.Pattern[str]:
    """A field without text: separators, HL7 nulls (``""``) and whitespace only."""
    separators = re.escape(d.repetition + d.component + d.subcomponent)
    return re.compile(rf'(?:[{separators}\s]|"")*')
