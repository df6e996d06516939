"""What compiled templates run on: the per-message environment, the evaluation context, and source paths.

A source path names where a value comes from:

* ``PID-3`` a field (each repetition is one item), ``PID-3.4`` a component of each repetition, ``PID-3.4.2``
  a subcomponent; ``NK1`` a whole segment (each occurrence is one item);
* ``4`` or ``4.2`` (inside a datatype template or an ``elements`` block) a component, or a subcomponent of
  it, of the current value.

A segment named by a path is the current segment if it has that name; otherwise the nearest one: in the
current group instance, then in the enclosing ones (``scope: up``, the default), or only in the current
group (``scope: group``), or only the current segment (``scope: own``), or in the groups inside the current
one first, then as ``up`` (``scope: inner``), or every one in the current group and the groups inside it (``scope:
below``; a field of each of them gives its items), or every one in the current group and the groups around it, the
nearest first (``scope: around``; likewise: with a ``where``, the nearest that passes). ``scope: sub_id`` names
every segment of the current group (else of the groups inside it) with the current segment's name and sub-id
(field 4: OBX-4), the current one included, each giving its own items; of segments without a sub-id, those from
the current one to just before the next whose code (OBX-3.1) they already have or that heads a group itself (the
enclosing rule's ``where`` selects it: the next statement), when two have one code or two head a group (else all of
them). ``scope: beside`` (rules only) names the segments the groups beside the current group's line hold
themselves, the nearest level that has any (:meth:`hub.mapping.structure.Node.find_beside`: an ORU order's report
reads its patient's NTE; a condition too: whether the patient's orders have an OBR; at the message's own level,
the message's groups: ADT_A01's visit reads the ARV of its VISIT_ACCESS groups); ``scope: beside_below`` (rules
only) those of the groups beside it and of every group inside them
(:meth:`hub.mapping.structure.Node.find_beside_below`: the visit of an order reads the first order's number wherever
the grammar nests it). ``scope: parent`` (rules only)
names the segments the group around the current one holds itself, not the current group's nor those further out
(an ORU result about the patient, PATIENT_OBSERVATION, reads its patient's NTE, not its own comment).

Values stay escaped until a leaf is read (:func:`leaf`): splitting before unescaping is always safe
(2.5.1 §2.7). The HL7 null ``""`` reads as empty: in a full-resource PUT "delete the value" means "omit".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from hub.hl7.er7 import Delimiters, Message, Segment, unescape
from hub.mapping.structure import Node

if TYPE_CHECKING:
    from hub.errors import ConversionError

Item = tuple[Segment | None, str | None, int]  # (segment, raw value or None for a whole segment, level)
Getter = Callable[["Ctx", str | None, int], list[Item]]

FIELD_LEVEL = 0  # a field repetition: split by the component separator
COMPONENT_LEVEL = 1  # a component: split by the subcomponent separator
SUBCOMPONENT_LEVEL = 2  # a subcomponent: a leaf

_ABSOLUTE = re.compile(
    r"^(?P<seg>[A-Z][A-Z0-9]{2})(?:-(?P<field>[1-9]\d*)(?:\.(?P<comp>[1-9]\d*)(?:\.(?P<sub>[1-9]\d*))?)?)?$"
)
_RELATIVE = re.compile(r"^(?P<comp>[1-9]\d*)(?:\.(?P<sub>[1-9]\d*))?$")
_HEADER_SEGMENTS = ("MSH", "BHS", "FHS")


class Env:
    """Everything about one message that templates read besides segments."""

    __slots__ = (
        "message",
        "delims",
        "comp",
        "rep",
        "sub",
        "esc",
        "tz",
        "event",
        "structure",
        "root",
        "memo",
        "report",
        "strict",
        "made_from",
        "find_made",
        "reps",
        "period_ends",
    )

    def __init__(
        self, message: Message, tz: tzinfo, event: str, structure: str, root: Node, *, strict: bool = False
    ) -> None:
        d = message.delimiters
        self.message = message
        self.delims: Delimiters = d
        self.comp = d.component
        self.rep = d.repetition
        self.sub = d.subcomponent
        self.esc = d.escape or "\x00"
        self.tz = tz
        self.event = event
        self.structure = structure
        self.root = root
        # Results of datatype templates that depend on nothing but their value and the message header, by
        # (template, value, level): MSH-4 as a system URI or a patient's CX is worked out once per message.
        self.memo: dict[tuple[str, str, int], Any] = {}
        # What the conversion wants the operator to know (unmapped local codes, invalid identifiers …): plain
        # JSON entries, no patient data (see Converter.convert_with_report).
        self.report: list[dict[str, Any]] = []
        # An invalid value (a date that is no date …) refuses the message (strict), or is left out and reported
        # (see invalid_value).
        self.strict = strict
        # The resource each rule made from each segment, by (rule name, id of the segment): what a 'ref' with
        # 'scope: own' finds (the Slot of an AIP names the Schedule of the same AIP, not the first AIP's).
        self.made_from: dict[tuple[str, int], tuple[str, str]] = {}
        # The id of the resource of a type this message makes that has a key, not one of the given group's own
        # (see KeyRef.in_message), and whether it makes one with the key's first part; the engine sets it once
        # the message's resources are made.
        self.find_made: Callable[[str, list[str], list[bool], Node], tuple[str | None, bool]] = _found_none
        # The repetitions of each repeating field's text, split once per message (see repetitions()): the items of
        # a repetition are these very strings, so a built-in tells two repetitions written alike apart by identity.
        self.reps: dict[str, list[str]] = {}
        # Each Period end set, by id of its Period: (the Period, what reports that end as invalid), for a start set
        # after it that the end comes before (hub.mapping.periods; the report names the end's field, not the start's)
        self.period_ends: dict[int, tuple[dict[str, Any], Callable[[], None]]] = {}

    def release(self) -> None:
        """Drop the engine's finder of made resources and the Period ends' reporters (they hold contexts of the
        message, and so this Env)."""
        self.find_made = _found_none
        self.period_ends = {}


def _found_none(_rtype: str, _texts: list[str], _optional: list[bool], _node: Node) -> tuple[str | None, bool]:
    return None, False


class Ctx:
    """Where a template is being evaluated: the message, the group instance and the current segment."""

    __slots__ = ("env", "node", "seg")

    def __init__(self, env: Env, node: Node, seg: Segment | None) -> None:
        self.env = env
        self.node = node
        self.seg = seg


def invalid_value(ctx: Ctx, error: ConversionError) -> None:
    """An element rule met an invalid value: refuse the message (``env.strict``), or leave the element out and say
    so in the conversion report (``invalid-value``, where and why, never the value: it may be personal data).

    Only elements whose absence cannot make their object invalid R4, outside id keys, are left out this way
    (:meth:`hub.mapping.compiler.Compiler._leave_out_safe`; the generated code raises the others' errors itself):
    one unreadable date does not lose a whole lab report.

    Raises:
        ConversionError: ``error``, when the conversion is strict.
    """
    env = ctx.env
    if env.strict:
        raise error from None
    entry = {"code": "invalid-value", "location": error.location, "detail": error.message}
    if entry not in env.report:
        env.report.append(entry)


def leaf(env: Env, raw: str, level: int) -> str:
    """The unescaped text of a value read as a primitive: its first component and subcomponent, trimmed."""
    # 'in' before find: most values hold no separator, and the test costs a fraction of the method call
    if level < 1:
        comp = env.comp
        if comp in raw:
            raw = raw[: raw.find(comp)]
    if level < 2:
        sub = env.sub
        if sub in raw:
            raw = raw[: raw.find(sub)]
    if not raw or raw == '""':
        return ""
    if env.esc in raw:
        raw = unescape(raw, env.delims)
    return raw.strip()


def first_text(env: Env, raw: str, level: int) -> str:
    """The first text (as :func:`leaf` reads it) among all components and subcomponents of a value: what makes
    the value *present* (``present: true``), although its first component may be empty (an XPN ``^芳^^^^^L``, a
    CX.4 ``&2.16.1&ISO``). The HL7 null ``""`` and whitespace are no text."""
    text = leaf(env, raw, level)
    if text or level >= SUBCOMPONENT_LEVEL or (env.comp not in raw and env.sub not in raw):
        return text
    pieces = raw.split(env.sub) if level == COMPONENT_LEVEL else raw.replace(env.comp, env.sub).split(env.sub)
    for piece in pieces[1:]:
        text = leaf(env, piece, SUBCOMPONENT_LEVEL)
        if text:
            return text
    return ""


def split(env: Env, raw: str, level: int) -> list[str]:
    """The parts of a value one level down (components of a field, subcomponents of a component)."""
    if level == FIELD_LEVEL:
        return raw.split(env.comp)
    if level == COMPONENT_LEVEL:
        return raw.split(env.sub)
    return [raw]


@dataclass(frozen=True, slots=True)
class SourcePath:
    """A parsed source path."""

    text: str
    segment: str | None  # None for a relative path
    field: int | None
    component: int | None
    subcomponent: int | None

    @property
    def is_relative(self) -> bool:
        return self.segment is None

    @property
    def is_segment(self) -> bool:
        return self.segment is not None and self.field is None

    def location(self, seq: int = 1) -> str:
        """An ERR-2 style location, ``SEG^seq^field``."""
        if self.segment is None:
            return ""
        if self.field is None:
            return f"{self.segment}^{seq}"
        return f"{self.segment}^{seq}^{self.field}"


def parse_path(text: str) -> SourcePath:
    """Parse a source path.

    Raises:
        ValueError: not a source path.
    """
    m = _ABSOLUTE.match(text)
    if m:
        return SourcePath(
            text,
            m["seg"],
            int(m["field"]) if m["field"] else None,
            int(m["comp"]) if m["comp"] else None,
            int(m["sub"]) if m["sub"] else None,
        )
    m = _RELATIVE.match(text)
    if m:
        return SourcePath(text, None, None, int(m["comp"]), int(m["sub"]) if m["sub"] else None)
    raise ValueError(
        f"{text!r} is not a source path (SEG, SEG-field, SEG-field.component[.subcomponent], or component[.sub])"
    )


def _sub_id(seg: Segment) -> str:
    fields = seg.fields
    return fields[4].strip() if len(fields) > 4 else ""


def _code(seg: Segment, comp: str) -> str:
    fields = seg.fields
    return fields[3].split(comp, 1)[0].strip() if len(fields) > 3 else ""


# Whether a segment heads a group of OBX without sub-ids (the enclosing rule selects it: a statement's OBX)
Heads = Callable[[Ctx, Segment], bool]


def _without_sub_id(ctx: Ctx, found: list[Segment], seg: Segment, heads: Heads | None) -> list[Segment]:
    """The OBX without a sub-id (OBX-4) that go with ``seg``, one of them: all of them when no two have the same code
    (OBX-3.1) and at most one heads a group (``heads``), as one group; else a set runs from ``seg`` to just before the
    next whose code the set already has or that heads a group (vaccine information statements sent without sub-ids,
    each followed by its dates: the next statement's document or vaccine type, or a repeated date, starts the next
    set, as the CDC guide orders them)."""
    plain = [s for s in found if not _sub_id(s)]
    comp = ctx.env.comp
    codes = [_code(s, comp) for s in plain]
    starts: set[int] = set()
    if heads is not None and len(plain) > 1:
        starts = {id(s) for s in plain if s is not seg and heads(ctx, s)}
    if len(set(codes)) == len(codes) and not starts:
        return plain
    run: list[Segment] = []
    seen: set[str] = set()
    for s, code in zip(plain, codes, strict=True):
        if s is seg:
            run.append(s)
            seen.add(code)
        elif run:
            if code in seen or id(s) in starts:
                break
            run.append(s)
            seen.add(code)
    return run


def _segments_getter(name: str, scope: str, heads: Heads | None = None) -> Callable[[Ctx], list[Segment]]:
    if scope in ("inner", "below", "around"):
        # the current segment, else the groups inside the current one: the first that has it (inner) or all
        # (below); else all of the current group and the groups around it, the nearest first (around)
        find = Node.find_inner if scope == "inner" else Node.find_below if scope == "below" else Node.find_around

        def nested(ctx: Ctx) -> list[Segment]:
            seg = ctx.seg
            if seg is not None and seg.name == name:
                return [seg]
            return find(ctx.node, name)

        return nested
    if scope == "sub_id":

        def same_sub_id(ctx: Ctx) -> list[Segment]:
            seg = ctx.seg
            if seg is None or seg.name != name:
                return []
            wanted = _sub_id(seg)
            # the current group's; a resource made from a group above the OBX (VXU's RXA, its OBX each in an
            # OBSERVATION group) groups those of the groups inside its own
            found = ctx.node.segs.get(name) or ctx.node.find_below(name) or [seg]
            if wanted:
                return [s for s in found if _sub_id(s) == wanted]
            return _without_sub_id(ctx, found, seg, heads)

        return same_sub_id
    if scope == "beside":

        def beside(ctx: Ctx) -> list[Segment]:
            return ctx.node.find_beside(name)

        return beside
    if scope == "beside_below":

        def beside_below(ctx: Ctx) -> list[Segment]:
            return ctx.node.find_beside_below(name)

        return beside_below
    if scope == "others":

        def others(ctx: Ctx) -> list[Segment]:
            seg = ctx.seg
            return [s for s in ctx.node.segs.get(name, ()) if s is not seg]

        return others
    if scope == "siblings":

        def siblings(ctx: Ctx) -> list[Segment]:
            return ctx.node.find_siblings(name)

        return siblings
    if scope == "parent":

        def parent(ctx: Ctx) -> list[Segment]:
            outer = ctx.node.parent
            return (outer.segs.get(name) or []) if outer is not None else []

        return parent
    if scope == "own":

        def own(ctx: Ctx) -> list[Segment]:
            seg = ctx.seg
            return [seg] if seg is not None and seg.name == name else []

        return own
    if scope == "group":

        def group(ctx: Ctx) -> list[Segment]:
            seg = ctx.seg
            if seg is not None and seg.name == name:
                return [seg]
            return ctx.node.segs.get(name) or []

        return group

    def up(ctx: Ctx) -> list[Segment]:
        seg = ctx.seg
        if seg is not None and seg.name == name:
            return [seg]
        if name == "MSH":
            return [ctx.env.message.segments[0]]
        return ctx.node.find(name)

    return up


def _whole_getter(name: str, scope: str, segments: Callable[[Ctx], list[Segment]]) -> Getter:
    """The getter of a whole segment: one item per segment that ``segments`` gives; for ``group`` and ``up`` the
    segments are found in the getter itself (most such getters find none: an Observation's PRT and NTE rules)."""
    if scope == "group":

        def group(ctx: Ctx, _raw: str | None, _level: int) -> list[Item]:
            seg = ctx.seg
            if seg is not None and seg.name == name:
                return [(seg, None, FIELD_LEVEL)]
            found = ctx.node.segs.get(name)
            return [(s, None, FIELD_LEVEL) for s in found] if found else []

        return group
    if scope == "up" and name != "MSH":

        def up(ctx: Ctx, _raw: str | None, _level: int) -> list[Item]:
            seg = ctx.seg
            if seg is not None and seg.name == name:
                return [(seg, None, FIELD_LEVEL)]
            found = ctx.node.find(name)
            return [(s, None, FIELD_LEVEL) for s in found] if found else []

        return up

    def whole(ctx: Ctx, _raw: str | None, _level: int) -> list[Item]:
        return [(seg, None, FIELD_LEVEL) for seg in segments(ctx)]

    return whole


def compile_getter(path: SourcePath, scope: str = "up", heads: Heads | None = None) -> Getter:
    """A function ``(ctx, raw, level) -> items`` for a source path; empty items are left out. ``heads`` (scope
    ``sub_id``): which OBX without a sub-id head a group of their own."""
    comp = path.component
    sub = path.subcomponent
    if path.segment is None:
        assert comp is not None

        def relative(ctx: Ctx, raw: str | None, level: int) -> list[Item]:
            if raw is None:
                return []
            env = ctx.env
            if level >= SUBCOMPONENT_LEVEL:
                value = raw if comp == 1 else ""
                out_level = level
            else:
                parts = raw.split(env.comp) if level == FIELD_LEVEL else raw.split(env.sub)
                value = parts[comp - 1] if comp <= len(parts) else ""
                out_level = level + 1
                if sub is not None and value:
                    if out_level == COMPONENT_LEVEL:
                        subs = value.split(env.sub)
                        value = subs[sub - 1] if sub <= len(subs) else ""
                        out_level = SUBCOMPONENT_LEVEL
                    elif sub != 1:
                        value = ""
            if not value or value == '""':
                return []
            return [(ctx.seg, value, out_level)]

        return relative

    segments = _segments_getter(path.segment, scope, heads)
    field = path.field
    if field is None:
        return _whole_getter(path.segment, scope, segments)

    header = path.segment in _HEADER_SEGMENTS and field <= 2
    name = path.segment
    if scope in ("sub_id", "below", "around"):
        comp_, sub_ = comp, sub

        def every(ctx: Ctx, _raw: str | None, _level: int) -> list[Item]:
            # the field of every segment found (sub_id: with the current one's sub-id), each item with its own
            # segment
            items: list[Item] = []
            for seg in segments(ctx):
                fields = seg.fields
                value = fields[field] if field < len(fields) else ""
                if value and value != '""':
                    items.extend(field_items(ctx.env, seg, value, comp_, sub_))
            return items

        return every

    def absolute(ctx: Ctx, _raw: str | None, _level: int) -> list[Item]:
        seg = ctx.seg
        if seg is None or seg.name != name:
            found = segments(ctx)
            if not found:
                return []
            seg = found[0]
        fields = seg.fields
        value = fields[field] if field < len(fields) else ""
        if not value or value == '""':
            return []
        if header:
            return [(seg, value, SUBCOMPONENT_LEVEL)]
        env = ctx.env
        if comp is None and env.rep not in value:
            return [(seg, value, FIELD_LEVEL)]  # what field_items gives, without the call
        return field_items(env, seg, value, comp, sub)

    return absolute


def compile_texts(
    path: SourcePath, scope: str = "up", read: Callable[[Env, str, int], str] = leaf
) -> Callable[[Ctx], tuple[str, ...]]:
    """A function ``(ctx) -> texts`` giving the leaf text (:func:`leaf`, or ``read``: :func:`first_text` for
    ``present``) of each item the getter of an absolute path to a field gives (:func:`compile_getter`), without
    making the items of a field that does not repeat."""
    assert path.segment is not None and path.field is not None
    segments = _segments_getter(path.segment, scope)
    field = path.field
    comp = path.component
    sub = path.subcomponent
    header = path.segment in _HEADER_SEGMENTS and field <= 2
    name = path.segment

    if scope in ("below", "around"):
        getter = compile_getter(path, scope)

        def every(ctx: Ctx) -> tuple[str, ...]:
            # the field of every segment found, each item read as the others are
            return tuple([read(ctx.env, item[1], item[2]) for item in getter(ctx, None, 0)])  # type: ignore[arg-type]

        return every

    def texts(ctx: Ctx) -> tuple[str, ...]:
        seg = ctx.seg
        if seg is None or seg.name != name:
            found = segments(ctx)
            if not found:
                return ()
            seg = found[0]
        fields = seg.fields
        value = fields[field] if field < len(fields) else ""
        if not value or value == '""':
            return ()
        env = ctx.env
        if header:
            return (read(env, value, SUBCOMPONENT_LEVEL),)
        if env.rep not in value:
            # one repetition (nearly every field): what field_items gives of it, without making its items
            if comp is None:
                return (read(env, value, FIELD_LEVEL),)
            parts = value.split(env.comp)
            part = parts[comp - 1] if comp <= len(parts) else ""
            if sub is not None:
                subs = part.split(env.sub)
                part = subs[sub - 1] if sub <= len(subs) else ""
            if not part or part == '""':
                return ()
            return (read(env, part, COMPONENT_LEVEL if sub is None else SUBCOMPONENT_LEVEL),)
        return tuple([read(env, item[1], item[2]) for item in field_items(env, seg, value, comp, sub)])  # type: ignore[arg-type]

    return texts


def repetitions(env: Env, value: str) -> list[str]:
    """The repetitions of a field's text (``value``, which holds the repetition separator), split once per message:
    each call for the same text gives the same list of the same strings, which :func:`field_items` makes the items
    of. A built-in that reads a repetition's place among its field's (``TQ_sequence``) finds it by identity, also
    when two repetitions are written alike. Callers must not change the list."""
    reps = env.reps.get(value)
    if reps is None:
        reps = env.reps[value] = value.split(env.rep)
    return reps


def coded_identifiers(env: Env, value: str, system: str) -> tuple[str, ...]:
    """The identifiers of one repetition of a coded field (CE, CWE, CNE) that an ``in_table`` condition tests when its
    table names an ``alternate_system``: the identifier (component 1), and the alternate identifier (component 4)
    when the alternate coding system (component 6) is ``system`` (``LN``: LOINC beside a LIS's own code)."""
    comp = env.comp
    if value.count(comp) < 5:
        return (leaf(env, value, FIELD_LEVEL),)  # no alternate coding system (nearly every field): the identifier
    parts = value.split(comp)
    first = leaf(env, parts[0], COMPONENT_LEVEL)
    if leaf(env, parts[5], COMPONENT_LEVEL).upper() != system:
        return (first,)
    return (first, leaf(env, parts[3], COMPONENT_LEVEL))


def compile_coded_texts(path: SourcePath, scope: str, system: str) -> Callable[[Ctx], tuple[str, ...]]:
    """A function ``(ctx) -> texts`` giving :func:`coded_identifiers` of each repetition of a whole field at an
    absolute path (as :func:`compile_texts` gives leaf texts): what ``in_table`` tests with such a table."""
    assert path.segment is not None and path.field is not None and path.component is None
    segments = _segments_getter(path.segment, scope)
    field = path.field
    name = path.segment

    def texts(ctx: Ctx) -> tuple[str, ...]:
        seg = ctx.seg
        if seg is None or seg.name != name:
            found = segments(ctx)
            if not found:
                return ()
            seg = found[0]
        fields = seg.fields
        return coded_texts(ctx.env, fields[field] if field < len(fields) else "", system)

    return texts


def coded_texts(env: Env, value: str, system: str) -> tuple[str, ...]:
    """:func:`coded_identifiers` of each repetition of a coded field's text."""
    if not value or value == '""':
        return ()
    if env.rep not in value:
        if value.count(env.comp) < 5:
            return (leaf(env, value, FIELD_LEVEL),)  # no alternate coding system (nearly every field)
        return coded_identifiers(env, value, system)
    return tuple([text for rep in value.split(env.rep) if rep for text in coded_identifiers(env, rep, system)])


def field_items(env: Env, seg: Segment, value: str, comp: int | None, sub: int | None) -> list[Item]:
    """The items of one field's text: each repetition, or the component/subcomponent of each."""
    if value == '""':
        return []
    if comp is None and env.rep not in value:
        return [(seg, value, FIELD_LEVEL)] if value else []
    reps = repetitions(env, value) if env.rep in value else [value]
    items: list[Item] = []
    for rep in reps:
        if not rep or rep == '""':
            continue
        if comp is None:
            items.append((seg, rep, FIELD_LEVEL))
            continue
        parts = rep.split(env.comp)
        part = parts[comp - 1] if comp <= len(parts) else ""
        if sub is None:
            if part and part != '""':
                items.append((seg, part, COMPONENT_LEVEL))
            continue
        subs = part.split(env.sub)
        piece = subs[sub - 1] if sub <= len(subs) else ""
        if piece and piece != '""':
            items.append((seg, piece, SUBCOMPONENT_LEVEL))
    return items


def current_item(ctx: Ctx, raw: str | None, level: int) -> list[Item]:
    """The current value as the only item (rules without a source inside datatypes and ``elements``)."""
    if raw is None:
        return [(ctx.seg, None, level)] if ctx.seg is not None else []
    if not raw or raw == '""':
        return []
    return [(ctx.seg, raw, level)]


def segment_seq(message: Message, seg: Segment) -> int:
    """The 1-based occurrence number of ``seg`` among the message's segments of its name (for ERR-2)."""
    n = 0
    for s in message.segments:
        if s.name == seg.name:
            n += 1
            if s is seg:
                return n
    return 1


def deep_copy(value: Any) -> Any:
    """A copy of JSON-like data (constants and reused results must not be shared between outputs), as plain dicts and
    lists: a template's constants are the YAML loader's LineDict and LineList (dict and list subclasses that know
    their lines), which a test of the exact type would hand out as they are, the same objects in every output."""
    if isinstance(value, dict):
        return {k: v if type(v) in _ATOMS else deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in _ATOMS else deep_copy(v) for v in value]
    return value


_ATOMS = frozenset({str, int, float, bool, type(None)})


def copier(value: Any) -> Callable[[], Any]:
    """A function that returns a new copy of the constant ``value`` at each call, as plain dicts and lists: its JSON
    read back by orjson (one call in C, two to three times faster than :func:`deep_copy` for a CodeableConcept),
    when that gives the constant exactly; else :func:`deep_copy`."""
    try:
        blob = orjson.dumps(value)
    except TypeError:
        return partial(deep_copy, value)
    if orjson.loads(blob) != value or _kinds(orjson.loads(blob)) != _kinds(value):
        return partial(deep_copy, value)
    return partial(orjson.loads, blob)


def _kinds(value: Any) -> Any:
    """The types of a JSON value's leaves, in its shape (1 and 1.0 and True are equal, but not the same JSON)."""
    if isinstance(value, dict):
        return {k: _kinds(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_kinds(v) for v in value]
    return type(value)


def json_copy(value: Any) -> Any:
    """A copy of JSON data through orjson (in C: three times faster than :func:`deep_copy` for a Coding); by
    :func:`deep_copy` when it holds a value orjson does not write itself (a FhirDecimal, which is immutable and
    so shared as it is)."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return deep_copy(value)
