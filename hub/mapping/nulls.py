"""The HL7 null (``""``) of a message, marked on the Bundle so that an update can delete what is stored.

HL7 v2 update semantics (v2.5.1 §2.5.3, "Null values"): a field left *empty* says nothing ("no information: keep
what you have"); a field sent as ``""`` (the HL7 null) says "delete the value you have" — the value of *that*
field, nothing else. A PUT of the whole resource cannot tell the two apart (both leave the element out), so the
engine marks the second on the entry:

    {"fullUrl": "urn:uuid:…", "resource": {…}, "request": {"method": "PUT", …},
     "extension": [{"url": "urn:hub:fhir:StructureDefinition:hl7v2-null", "valueString": "period.end"}]}

A mark (:class:`hub.mapping.nullmark.NullMark`) is an element path of the resource, as templates write it
(``gender``, ``period.end``), optionally with selectors that name some items of a list
(``participant[type.coding.system=…v3-ParticipationType][type.coding.code=ATND]``). A message marks

* an element a rule of the resource's templates fills from a field (``from: PID-8``) that the message sent as
  ``""``, when the resource has no value there (another rule did not fill it):

  - **one field fills the element** (``address`` from PID-11, ``period.end`` from PV1-45): the element, whole;
  - **several fields fill one list** (Encounter.participant from PV1-7, -8, -9, -17 and PV2-13): the items of the
    field that was nulled only, told apart by the *discriminator* the rule's template sets — the constants of its
    ``elements`` block that every item of it carries (``type`` ATND for PV1-7, an extension's ``url``) and its
    ``defaults`` (a telecom ``use`` of ``home`` for PID-13) — as selectors, when the resource has no such item.
    The discriminator must be the field's own: when another field's rule may set the same constants and its
    items all carry them (PV1-8 and PV2-13 both make a referrer), the items are marked only when every such
    field is ``""``; when that rule's items need not carry them (PV1-3's location is planned or active, PV1-11's
    active), the field has no discriminator of its own. A rule with no discriminator (PID-2 and PID-3 both CX
    identifiers; PV1-3 and PV1-11 active locations) marks its list — whole — only when every field that
    fills the list is ``""``; otherwise nothing, since the hub cannot tell which stored item came from which
    field: it deletes less, never more.
    Rules that take the discriminator from the message (ROL-3 a role, XTN.2 a use) do not make a field's
    discriminator ambiguous: an item they made with the same value is the same thing (ROL AT is the attending
    doctor PV1-7 names);
* an element a rule ``value: '""'`` names (A13 cancels a discharge: ``path: period.end``) when its condition holds;
* the items a ``withdraw`` rule builds (ROL-2 ``DE`` "delete", ``UN`` "unlink": this person no longer has this
  role), each with its first value at each of the rule's leaves as selectors
  (``participant[…][type.coding.code=CON][individual.identifier.value=D031]``); with ``otherwise`` leaves (a ``DE``
  line with a role instance id), their values too, as the mark's ``otherwise`` selectors: for a stored list that
  has no item of that id (``participant[extension.valueIdentifier.system=…][…value=RL5001]|[type.coding.code=CON]…``);
  a ``withdraw`` rule of a single-valued element (a withdrawn ordering provider line, PRT-2 ``DE``: ``requester``)
  builds every item its lines make and marks each the same way (``requester[identifier.value=D001]``): the stored
  value goes when it matches;

The other half, the *keep mark* (extension ``urn:hub:fhir:StructureDefinition:hl7v2-keep``, the same format): a
list the message gives is written whole, so for each field of that list whose rule has a discriminator of its own
and that the message left empty (with the fields sharing its discriminator; not all ``""``), when the resource
has no item with that discriminator, the discriminator is marked "kept": the merge puts those stored items back
beside the message's (:meth:`NullMarks.keeps`). A list without discriminators has none: the message's replaces
the stored one; nor has a list the merge unites (``identifier``, ``link``: every stored item stays). Keep marks
are written on every message (an empty field says nothing in an A01 either), only for the types the hub merges
(:data:`hub.mapping.nullmark.MERGED_TYPES`, and an Observation): a result or a Coverage is sent whole and
replaced whole. The items a ``keep_stored`` rule builds (ROL-2 ``UC``, "unchanged") are keep marks too, by the
rule's leaves as a ``withdraw`` rule's are: the stored item of that role and person stays as stored, and wins over
the item the message makes of the same line (which stands when nothing is stored). A part of a single-valued
element the message gives and leaves empty (``period.end``) is a keep mark (:func:`_parts`), and so is an element
whose value a ``stored_wins`` rule gave (the status Encounter guesses from the patient class): the stored value
stays. A field that two rules of one list fill, one of them with another field's discriminator (A03's PV1-3
location ``completed``, as PV1-6's), is not one of that discriminator's fields and has none of its own; that
discriminator's keep mark is written ``+mark`` (:data:`BESIDE`): the stored items go beside the message's items
it matches, not in their place (an A03 without PV1-6 keeps the stored prior location). A rule with ``keep_history``
(PV1-6, PV1-43: the visit's completed locations) writes that ``+mark`` also when its field is given: a transfer's
prior location adds to the stored ones. A list that rules with
``unique`` leaves fill (``unique: [type.coding.system, type.coding.code, individual.identifier.value]``) gets a
*key mark* when the message gives it, written ``=`` (:data:`SAME`) + the path + the leaves in brackets
(``=participant[type.coding.system][type.coding.code][individual.identifier.value]``): the merge merges an item of
the message with the stored item of the same key, as :mod:`hub.mapping.merging` merges two items of one message,
the message's values first (one person in one role is one participant across messages too).

:mod:`hub.conversion` applies the marks when it merges an update with the stored resource
(:func:`hub.updates.merge_update`); a FHIR server that receives the Bundle ignores them (an extension on an
entry, not on the resource, and not a modifier).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from hub.errors import MappingTemplateError
from hub.mapping.compiler import Applier, Compiler, CondFn, Unit
from hub.mapping.nullmark import (
    MERGED_TYPES,
    SOMETIMES_MERGED_TYPES,
    UNITED_ELEMENTS,
    NullMark,
    first_value,
    reaches_value,
    selector_text,
)
from hub.mapping.runtime import Ctx, first_text, parse_path
from hub.mapping.templates import ValueSpec

NULL_EXTENSION_URL = "urn:hub:fhir:StructureDefinition:hl7v2-null"
KEEP_EXTENSION_URL = "urn:hub:fhir:StructureDefinition:hl7v2-keep"
BESIDE = "+"  # a keep mark whose stored items go beside the message's matching items, not in their place
SAME = "="  # a keep mark of a list's key: the stored item with an item's key is merged with it (hub.updates)
HL7_NULL = '""'
_HEADER_SEGMENTS = ("MSH", "BHS", "FHS")
# leaves that name a thing but do not tell it apart (a Coding's display, a text)
_NOT_DISCRIMINATING = frozenset({"display", "text", "version", "userSelected"})

Leaf = tuple[str, str]


def is_null_rule(spec: ValueSpec) -> bool:
    """True for ``value: '""'``: a rule that deletes its element instead of filling it."""
    return "value" in spec.model_fields_set and spec.value == HL7_NULL


def split(specs: list[ValueSpec], unit: Unit) -> tuple[list[ValueSpec], list[ValueSpec]]:
    """The rules that fill elements, and the ``value: '""'``, ``withdraw``, ``keep_stored`` and ``keep_beside``
    rules (top level only).

    Raises:
        MappingTemplateError: a ``value: '""'`` inside an ``elements`` block (only whole elements of a resource
            can be deleted).
    """
    keep: list[ValueSpec] = []
    deletes: list[ValueSpec] = []
    for spec in specs:
        marking = is_null_rule(spec) or any(k is not None for k in (spec.withdraw, spec.keep_stored, spec.keep_beside))
        (deletes if marking else keep).append(spec)
        _no_nested_null(spec.elements or [], unit)
    return keep, deletes


def _no_nested_null(specs: list[ValueSpec], unit: Unit) -> None:
    for spec in specs:
        if is_null_rule(spec):
            raise Compiler.error(
                unit, spec, "value: '\"\"' (delete) is for element rules of a resource, not inside 'elements'"
            )
        if spec.withdraw is not None or spec.otherwise is not None:
            raise Compiler.error(unit, spec, "'withdraw' is for element rules of a resource, not inside 'elements'")
        if spec.keep_stored is not None:
            raise Compiler.error(unit, spec, "'keep_stored' is for element rules of a resource, not inside 'elements'")
        if spec.keep_beside is not None:
            raise Compiler.error(unit, spec, "'keep_beside' is for element rules of a resource, not inside 'elements'")
        _no_nested_null(spec.elements or [], unit)


@dataclass(frozen=True, slots=True)
class _Feeder:
    """A rule that fills an element of the resource: what the marks need to know of it."""

    path: str
    many: bool  # the element is a list
    source: tuple[str, int] | None  # (segment, field) of a field rule; None for a segment, constant or ref rule
    scope: str
    fixed: tuple[Leaf, ...]  # the discriminator: constants every item it makes carries
    possible: tuple[tuple[str, frozenset[str]], ...]  # every constant it may set, by leaf path
    history: bool = False  # keep_history: the stored items of its discriminator stay beside, also when it is given


@dataclass(frozen=True, slots=True)
class _DeleteRule:
    path: str
    when: CondFn | None


@dataclass(frozen=True, slots=True)
class _Withdraw:
    """A ``withdraw`` rule: the items it builds (ROL-2 ``DE``) are deleted from the stored list, told by ``leaves``;
    or a ``keep_stored`` rule (ROL-2 ``UC``): the stored items they tell stay as stored; or a ``keep_beside`` rule
    (ROL-2 ``AD``, ``UC``): the stored items of the group they tell (a role) stay beside the message's."""

    path: str
    body: tuple[Applier, ...]
    leaves: tuple[str, ...]
    segment: str | None = None  # the segments it reads (from: ROL), when it reads whole segments
    scope: str = "up"
    otherwise: tuple[str, ...] = ()  # a withdraw rule's 'otherwise' leaves: the mark's otherwise selectors


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a ``""`` in one field rule's field marks."""

    feeder: _Feeder
    mark: NullMark  # the element whole, or the feeder's items
    needs: tuple[_Feeder, ...]  # the field rules whose fields must all be "" (the feeder's among them)
    beside: bool = False  # a field two rules fill may make such items too (A03's completed PV1-3): keep beside
    history: bool = False  # keep_history (PV1-6): the stored items stay beside the message's also when it gives them


class NullMarks:
    """What can delete elements of one resource rule: the rules that fill its elements, its delete rules and its
    withdraw rules; and what of a list it gives a message keeps (:meth:`keeps`)."""

    __slots__ = (
        "feeders",
        "deletes",
        "withdraws",
        "keeping",
        "stored",
        "setters",
        "weak",
        "same",
        "beside",
        "_same_marks",
        "_plans",
        "_keep_plans",
        "_parts",
        "_slots",
        "_marking",
        "_withdrawing",
        "_group_reads",
        "active",
    )

    def __init__(
        self,
        feeders: tuple[_Feeder, ...] = (),
        deletes: tuple[_DeleteRule, ...] = (),
        withdraws: tuple[_Withdraw, ...] = (),
        keeping: bool = False,
        stored: tuple[_Withdraw, ...] = (),
        setters: tuple[tuple[str, CondFn | None], ...] = (),
        weak: tuple[_Weak, ...] = (),
        same: tuple[tuple[str, tuple[str, ...]], ...] = (),
        beside: tuple[_Withdraw, ...] = (),
    ) -> None:
        self.feeders = feeders
        self.deletes = deletes
        self.withdraws = withdraws
        # the withdraw rules by the segment they read and where (ROL of a visit: the DE rules with and without a role
        # instance id): whether the message has that segment is asked once for each group, for every message
        by_segment: dict[tuple[str | None, str], list[_Withdraw]] = {}
        for w in withdraws:
            by_segment.setdefault((w.segment, w.scope), []).append(w)
        self._withdrawing = tuple((rules[0], tuple(rules)) for rules in by_segment.values())
        self.keeping = keeping  # a type the hub merges: keep marks (a type replaced whole has none)
        self.stored = stored  # keep_stored rules (ROL-2 UC): their items are keep marks
        self.setters = setters  # constant rules of top-level elements, in order, with their conditions
        self.weak = weak  # stored_wins rules: a value they give leaves a stored one (a keep mark of the element)
        self.same = same  # (list, unique leaves) of the rules with 'unique' leaves: the key marks (see keeps)
        self.beside = beside  # keep_beside rules (ROL-2 AD, UC): the stored items of their group stay beside
        self._same_marks = tuple((path.split(".", 1)[0], path, same_mark(path, leaves)) for path, leaves in same)
        self._plans: tuple[_Plan, ...] | None = None
        self._keep_plans: tuple[tuple[_Plan, str, str, _Checks, tuple[_Read, ...]], ...] | None = None
        self._parts: tuple[tuple[str, str, str, tuple[_Read, ...]], ...] | None = None
        # the fields of each discriminator (a group of a list: a role), for the keep_beside rules (see keeps)
        self._group_reads: dict[frozenset[Leaf], tuple[_Read, ...]] = {}
        self._slots = 0  # how many distinct fields the keep plans and parts read (see _reads)
        # the keep_stored rules, then the keep_beside rules, by their list's top-level element and the segments they
        # read (ROL, PRT: whether the message has any is asked once for each, the rules worked through only when it
        # has): (the element, a rule that reads them, the rules as (rule, whether beside))
        groups: dict[tuple[str, str | None, str], list[tuple[_Withdraw, bool]]] = {}
        for rules, beside_them in ((stored, False), (beside, True)):
            for r in rules:
                groups.setdefault((r.path.split(".", 1)[0], r.segment, r.scope), []).append((r, beside_them))
        self._marking: tuple[tuple[str, _Withdraw, tuple[tuple[_Withdraw, bool], ...]], ...] = tuple(
            (head, rules[0][0], tuple(rules)) for (head, _, _), rules in groups.items()
        )
        # whether anything can be marked: asked for every resource of every message, worked out once
        self.active = bool(deletes or withdraws or stored or weak or beside)
        self.active = self.active or any(f.source is not None for f in feeders)
        self.active = self.active or bool(keeping and same)

    def __bool__(self) -> bool:
        return self.active

    def __add__(self, other: NullMarks) -> NullMarks:
        return NullMarks(
            self.feeders + other.feeders,
            self.deletes + other.deletes,
            self.withdraws + other.withdraws,
            self.keeping or other.keeping,
            self.stored + other.stored,
            self.setters + other.setters,
            self.weak + tuple(_Weak(w.path, w.body, w.before + len(self.setters)) for w in other.weak),
            self.same + tuple(s for s in other.same if s not in self.same),
            self.beside + other.beside,
        )

    @property
    def plans(self) -> tuple[_Plan, ...]:
        """What a ``""`` in each field marks (worked out once, over the rules of every part of the resource rule)."""
        if self._plans is None:
            self._plans = tuple(_plan(feeder, self.feeders) for feeder in self.feeders if feeder.source is not None)
        return self._plans

    def marks(self, resource: dict[str, Any], ctx: Ctx, message_has_null: bool) -> list[str]:
        """The marks of what this message deletes from the resource (none for what the resource has a value for;
        see the module docstring)."""
        out: list[str] = []
        for rule in self.deletes:
            if rule.path in out or has_path(resource, rule.path):
                continue
            if rule.when is None or rule.when(ctx, None, 0):
                out.append(rule.path)
        for sample, withdraws in self._withdrawing:
            if _absent(sample, ctx):
                continue  # none of the segments they read (no ROL): the common case, one question for all
            for withdraw in withdraws:
                for mark in _withdrawn(withdraw, ctx, present=True):
                    text = str(mark)
                    if text not in out and not _has_mark(resource, mark):
                        out.append(text)
        if not message_has_null:
            return out
        nulled: dict[int, bool] = {}  # by id(): a feeder's hash goes through all its constants

        def is_null(feeder: _Feeder) -> bool:
            found = nulled.get(id(feeder))
            if found is None:
                found = nulled[id(feeder)] = _raw_field(ctx, feeder) == HL7_NULL
            return found

        for plan in self.plans:
            if not is_null(plan.feeder):
                continue
            if not all(is_null(f) for f in plan.needs):
                continue
            text = str(plan.mark)
            if text not in out and not _has_mark(resource, plan.mark):
                out.append(text)
        return out

    def keeps(self, resource: dict[str, Any], ctx: Ctx, deleted: Collection[str] = ()) -> list[str]:
        """The keep marks of the resource: for each list the message gives that several fields fill, the items of
        the fields the message leaves empty, by their discriminator (see the module docstring). None where no
        discriminator tells the fields' items apart: the message's list replaces the stored one. None on a resource
        of a type the hub replaces whole (a result, a Coverage: sent whole). ``deleted``: the lists the message's
        null marks delete whole, whose ``keep_beside`` groups are kept too (a GT1-11 ``""`` deletes the guarantor's
        relationship, not the contact roles an NK1 gave: hub.updates spares them)."""
        if not self.keeping:
            return []
        if self._keep_plans is None or self._parts is None:
            self._prepare_keeps()
        assert self._keep_plans is not None and self._parts is not None
        out: list[str] = []
        # each field's raw text, read once for every plan and part (by slot, see _reads); read here rather than by a
        # call per field: this runs for every resource of every message
        raw: list[str | None] = [None] * self._slots
        seg = ctx.seg
        sname = seg.name if seg is not None else None
        for plan, text, element, checks, reads in self._keep_plans:
            if element not in resource:
                continue  # the message does not give the list: the stored one stays whole
            mark = plan.mark
            items = resource[element] if mark.path == element else _list_of(resource, mark.path)
            if not items or not isinstance(items, list):
                continue
            given = False  # a field given: its items are the message's
            nulled = True  # every field "": a null mark deletes the items
            for slot, segment, field_no, scope in reads:
                value = raw[slot]
                if value is None:
                    if sname == segment:
                        fields = seg.fields  # type: ignore[union-attr]
                        value = fields[field_no] if field_no < len(fields) else ""
                    else:
                        value = _other_field(ctx, segment, field_no, scope)
                    raw[slot] = value
                if value != HL7_NULL:
                    nulled = False
                    if value and _has_text(ctx, value):  # |^^| is not valued: as empty as ||
                        given = True
                        break
            if given and plan.history and not nulled:
                # a history (keep_history: a visit's completed locations): the message's items of the mark add to
                # the stored ones, which go beside them (hub.updates: a keep mark written "+mark")
                if BESIDE + text not in out:
                    out.append(BESIDE + text)
                continue
            if given or nulled or text in out:
                continue
            if plan.beside:
                # the message's items of the mark may be another field's (A03's PV1-3, completed): the stored ones
                # go beside them, not in their place (hub.updates: a keep mark written "+mark")
                out.append(BESIDE + text)
                continue
            # does the message give such an item itself? (NullMark.matches, unrolled: this runs for every
            # resource of every message)
            for item in items:
                for steps, value in checks:
                    if not reaches_value(item, steps, 0, value):
                        break
                else:
                    break
            else:
                out.append(text)
        for part, element, child, reads in self._parts:
            # a part of an element the message gives (period.end beside period.start, hospitalization's
            # dischargeDisposition beside its admitSource) that it leaves empty: the stored part stays
            node = resource.get(element)
            if not isinstance(node, dict) or node.get(child) not in (None, [], {}) or part in out:
                continue
            for slot, segment, field_no, scope in reads:
                value = raw[slot]
                if value is None:
                    if sname == segment:
                        fields = seg.fields  # type: ignore[union-attr]
                        value = fields[field_no] if field_no < len(fields) else ""
                    else:
                        value = _other_field(ctx, segment, field_no, scope)
                    raw[slot] = value
                if value == HL7_NULL:
                    break  # "": a null mark deletes it
            else:
                out.append(part)
        for weak in self.weak:
            # a value only for a resource the hub has not stored (the class's status), when this rule gave it
            if weak.path in resource and weak.path not in out and _gave(weak, self.setters, resource, ctx):
                out.append(weak.path)
        for head, path, text in self._same_marks:
            # the key of a list the message gives (a rule's 'unique' leaves): its items and the stored items with the
            # same key are one thing each (hub.updates merges them: a keep mark written "=path[leaf]…")
            if head in resource and text not in out and _list_of(resource, path):
                out.append(text)
        for head, sample, rules in self._marking:
            if head not in resource and head not in deleted:
                continue  # the message does not give the list: the stored one stays whole
            if _absent(sample, ctx):
                continue  # no ROL (PRT) where these rules read: the common case, one question for all of them
            for rule, beside in rules:
                for mark in _withdrawn(rule, ctx):
                    if not beside:
                        # the items of the lines the message says are unchanged (ROL-2 UC): the stored ones win over
                        # the message's (hub.updates: a keep mark that matches items of the message puts the stored
                        # ones instead)
                        text = str(mark)
                    elif self._gives(frozenset(mark.where), ctx):
                        continue  # the message gives a field of that group (PV1-7): its items replace the stored
                    else:
                        # the group of a line that adds a person (ROL-2 AD, LI) or says one is unchanged (UC): the
                        # stored items of the group stay beside the message's (hub.updates: a keep mark "+mark")
                        text = BESIDE + str(mark)
                    if text not in out:
                        out.append(text)
        return out

    def _gives(self, group: frozenset[Leaf], ctx: Ctx) -> bool:
        """Whether the message gives a field whose discriminator is ``group`` (PV1-7 for the attending doctors):
        asked only for a ``keep_beside`` rule's mark (a ROL ``AD`` line), so read again here rather than remembered
        by every :meth:`keeps`."""
        seg = ctx.seg
        for _, segment, field_no, scope in self._group_reads.get(group, ()):
            if seg is not None and seg.name == segment:
                fields = seg.fields
                value = fields[field_no] if field_no < len(fields) else ""
            else:
                value = _other_field(ctx, segment, field_no, scope)
            if value and value != HL7_NULL and _has_text(ctx, value):
                return True
        return False

    def _prepare_keeps(self) -> None:
        """What :meth:`keeps` works through, worked out once: the keep plans and the parts, each with the fields it
        reads as (slot, segment, field, scope)."""
        slots: dict[tuple[str, int, str], int] = {}

        def reads(feeders: Iterable[_Feeder]) -> tuple[_Read, ...]:
            out = []
            for feeder in feeders:
                assert feeder.source is not None
                segment, field_no = feeder.source
                key = (segment, field_no, feeder.scope)
                slot = slots.setdefault(key, len(slots))
                out.append((slot, segment, field_no, feeder.scope))
            return tuple(out)

        # lists the merge unites (identifier, link) keep every stored item anyway: no keep mark; fields that share a
        # discriminator (PV1-8, PV2-13) have one plan (the same mark, the same fields)
        plans: dict[str, tuple[_Plan, str, str, _Checks, tuple[_Read, ...]]] = {}
        for p in self.plans:
            if p.mark.where and p.mark.element not in UNITED_ELEMENTS:
                plans.setdefault(str(p.mark), (p, str(p.mark), p.mark.element, _checks(p.mark), reads(p.needs)))
                self._group_reads.setdefault(frozenset(p.mark.where), reads(p.needs))
        self._keep_plans = tuple(plans.values())
        self._parts = tuple((part, element, child, reads(fs)) for part, element, child, fs in _parts(self.feeders))
        self._slots = len(slots)


_Read = tuple[int, str, int, str]  # (slot, segment, field, scope) of a field a keep plan or part reads
_Checks = tuple[tuple[tuple[str, ...], str], ...]


@dataclass(frozen=True, slots=True)
class _Weak:
    """A ``stored_wins`` rule: its element, the rule compiled alone, and how many setters come before it."""

    path: str
    body: tuple[Applier, ...]
    before: int


def _gave(weak: _Weak, setters: tuple[tuple[str, CondFn | None], ...], resource: dict[str, Any], ctx: Ctx) -> bool:
    """Whether the resource's value of the element is the one the ``stored_wins`` rule gives: no constant rule before
    it gave one (an event's status; PV1-45's finished), and the rule gives that value."""
    for path, when in setters[: weak.before]:
        if path == weak.path and (when is None or when(ctx, None, 0)):
            return False
    own: dict[str, Any] = {}
    for apply in weak.body:
        apply(own, ctx, None, 0)
    return bool(own.get(weak.path) == resource[weak.path])


def _parts(feeders: Iterable[_Feeder]) -> tuple[tuple[str, str, str, tuple[_Feeder, ...]], ...]:
    """The parts of single-valued elements that fields fill apart (``period.start`` PV1-44, ``period.end`` PV1-45;
    ``hospitalization.admitSource`` PV1-14, ``hospitalization.dischargeDisposition`` PV1-36): each child of a
    top-level element that a field rule's dotted path names, with the field rules that fill it (a child filled by
    constants only has none). A message that gives the element but not the part keeps the stored part."""
    found: dict[str, list[_Feeder]] = {}
    for feeder in feeders:
        steps = feeder.path.split(".")
        if len(steps) < 2 or feeder.source is None:
            continue
        part = ".".join(steps[:2])
        if feeder not in found.setdefault(part, []):
            found[part].append(feeder)
    out: list[tuple[str, str, str, tuple[_Feeder, ...]]] = []
    for part, rules in found.items():
        element, child = part.split(".", 1)
        out.append((part, element, child, tuple(rules)))
    return tuple(out)


def _checks(mark: NullMark) -> _Checks:
    """The selectors of ``mark`` as :meth:`NullMark.matches` tests them: in reverse order, the leaves split."""
    return tuple((tuple(leaf.split(".")), value) for leaf, value in reversed(mark.where))


def _absent(withdraw: _Withdraw, ctx: Ctx) -> bool:
    """Whether the message has none of the segments a withdraw (or keep_stored) rule reads, where they would be
    found: then it builds nothing (checked first: the rule's body costs more, and it runs for every resource)."""
    name = withdraw.segment
    if name is None or withdraw.scope not in ("up", "group", "own"):
        return False
    seg = ctx.seg
    if seg is not None and seg.name == name:
        return False
    if withdraw.scope == "own":
        return True
    return not (ctx.node.find(name) if withdraw.scope == "up" else ctx.node.segs.get(name))


def _withdrawn(withdraw: _Withdraw, ctx: Ctx, present: bool = False) -> list[NullMark]:
    """The null marks of the items a withdraw rule builds from this message: one per item, with the first value at
    each of the rule's leaves as selectors (an item without a value at one of them is not marked: deletes less).
    ``present``: the caller has asked :func:`_absent` already."""
    if not present and _absent(withdraw, ctx):
        return []
    built: dict[str, Any] = {}
    for apply in withdraw.body:
        apply(built, ctx, None, 0)
    out: list[NullMark] = []
    for item in _list_of(built, withdraw.path):
        where: list[Leaf] = []
        for leaf in withdraw.leaves:
            value = first_value(item, leaf.split("."))
            if value is None:
                break
            where.append((leaf, value))
        else:
            out.append(NullMark(withdraw.path, tuple(where), _otherwise(withdraw.otherwise, item)))
    return out


def _otherwise(leaves: tuple[str, ...], item: Any) -> tuple[Leaf, ...]:
    """The first value at each of a withdraw rule's ``otherwise`` leaves, or () when one has none (a person named
    without an identifier: the mark is the instance's only)."""
    where: list[Leaf] = []
    for leaf in leaves:
        value = first_value(item, leaf.split("."))
        if value is None:
            return ()
        where.append((leaf, value))
    return tuple(where)


def _list_of(resource: dict[str, Any], path: str) -> list[Any]:
    node: Any = resource
    for step in path.split("."):
        node = node.get(step) if isinstance(node, dict) else None
    return node if isinstance(node, list) else []


def _plan(feeder: _Feeder, feeders: Iterable[_Feeder]) -> _Plan:
    """What a ``""`` in ``feeder``'s field marks, given every rule of the resource rule."""
    feeders = tuple(feeders)
    others = [f for f in feeders if f.path == feeder.path and f.source != feeder.source]
    fields = [f for f in others if f.source is not None]
    whole = NullMark(feeder.path)
    if not feeder.many or not others:
        return _Plan(feeder, whole, (feeder,))  # one field fills the element
    every_field = (feeder, *fields)
    if not feeder.fixed:
        return _Plan(feeder, whole, every_field)  # no discriminator: only when every field is ""
    # a field two rules of the list fill, one of them with another field's discriminator (A03's PV1-3 completed,
    # the resource template's active; PV1-6 completed), is not one of that discriminator's fields: its items are
    # where the patient was, by the event; it has no discriminator of its own
    moved = [f for f in fields if f.fixed == feeder.fixed and _two_rules(f, feeders)]
    if moved and _two_rules(feeder, feeders):
        return _Plan(feeder, whole, every_field)
    sharing = [f for f in fields if _may_make(f, feeder.fixed) and f not in moved]
    if any(f.fixed != feeder.fixed for f in sharing):
        return _Plan(feeder, whole, every_field)  # shared in part (PV1-11 active, PV1-3 active or planned)
    beside = bool(moved)
    history = feeder.history or any(f.history for f in sharing)
    # its items (and those of the fields that make the same ones, when they are all "")
    return _Plan(feeder, NullMark(feeder.path, feeder.fixed), (feeder, *sharing), beside, history)


def _two_rules(feeder: _Feeder, feeders: tuple[_Feeder, ...]) -> bool:
    """Whether another rule of the same list fills the feeder's field (A03's PV1-3 beside the resource template's)."""
    return any(f is not feeder and f.path == feeder.path and f.source == feeder.source for f in feeders)


def _may_make(other: _Feeder, fixed: tuple[Leaf, ...]) -> bool:
    """Whether a rule may make an item that the discriminator ``fixed`` selects, by the constants it sets (a rule
    that sets none of the discriminator's leaves takes them from the message, and makes no item of another
    field)."""
    possible = dict(other.possible)
    shared = [(leaf, value) for leaf, value in fixed if leaf in possible]
    return bool(shared) and all(value in possible[leaf] for leaf, value in shared)


def compile_marks(
    compiler: Compiler, unit: Unit, owner: str, specs: list[ValueSpec], deletes: list[ValueSpec]
) -> NullMarks:
    """The null marks of a resource's element rules (``specs``) and its ``value: '""'`` rules.

    Raises:
        MappingTemplateError: a delete rule's path is not an element of ``owner``, or its condition is invalid.
    """
    feeders: list[_Feeder] = []
    for spec in specs:
        feeder = _feeder(compiler, unit, owner, spec)
        if feeder is not None and feeder not in feeders:
            feeders.append(feeder)
    compiled: list[_DeleteRule] = []
    withdraws: list[_Withdraw] = []
    stored: list[_Withdraw] = []
    beside: list[_Withdraw] = []
    keeping = owner in MERGED_TYPES or owner in SOMETIMES_MERGED_TYPES
    for spec in deletes:
        if spec.path is None:
            raise Compiler.error(unit, spec, "an element rule needs a 'path'")
        target = compiler.resolve_path(owner, spec.path, unit, spec)[1]  # the element must exist
        for key, leaves, into in (
            ("withdraw", spec.withdraw, withdraws),
            ("keep_stored", spec.keep_stored, stored),
            ("keep_beside", spec.keep_beside, beside),
        ):
            if leaves is None:
                continue
            # a withdraw rule of a single-valued element (a withdrawn ordering provider: requester) of a type the
            # hub merges: its mark deletes the stored value when it matches (hub.updates.merge_update)
            single = key == "withdraw" and not target.is_list and owner in MERGED_TYPES and not spec.otherwise
            single = single and not compiler.schema.is_primitive(target.type)
            if (not target.is_list and not single) or not leaves:
                raise Compiler.error(
                    unit,
                    spec,
                    f"'{key}' is for a list element (or, 'withdraw' without 'otherwise', a single-valued complex"
                    " element of a type the hub merges), with the leaves that tell items apart",
                )
            if key != "withdraw" and owner not in MERGED_TYPES:
                raise Compiler.error(unit, spec, f"'{key}' is for a type the hub merges ({owner} is replaced whole)")
            body = compiler.elements(
                [spec.model_copy(update={key: None, "otherwise": None})], owner, unit, False, as_list=single
            )
            otherwise = tuple(spec.otherwise or ())
            into.append(_Withdraw(spec.path, tuple(body), tuple(leaves), _segment_of(spec), spec.scope, otherwise))
            break
        else:
            when = compiler.condition(spec.when, unit, False) if spec.when is not None else None
            compiled.append(_DeleteRule(spec.path, when))
    setters: list[tuple[str, CondFn | None]] = []
    weak: list[_Weak] = []
    same: list[tuple[str, tuple[str, ...]]] = []
    for spec in specs:
        if (
            isinstance(spec.unique, list)
            and spec.unique
            and spec.path is not None
            and keeping
            # the lists the merge unites (identifier, link) keep every stored item: their 'unique' leaves merge the
            # message's own items (one identifier per system and value), no key mark
            and spec.path.split(".", 1)[0] not in UNITED_ELEMENTS
        ):
            listed = (spec.path, tuple(spec.unique))
            if listed not in same:
                same.append(listed)
        if spec.path is None or "." in spec.path:
            continue
        if spec.stored_wins:
            if owner not in MERGED_TYPES or compiler.resolve_path(owner, spec.path, unit, spec)[1].is_list:
                raise Compiler.error(
                    unit, spec, "'stored_wins' is for a single-valued element of a type the hub merges"
                )
            body = compiler.elements([spec.model_copy(update={"stored_wins": False})], owner, unit, False)
            weak.append(_Weak(spec.path, tuple(body), len(setters)))
        elif "value" in spec.model_fields_set:
            when = compiler.condition(spec.when, unit, False) if spec.when is not None else None
            setters.append((spec.path, when))
    return NullMarks(
        tuple(feeders),
        tuple(compiled),
        tuple(withdraws),
        keeping,
        tuple(stored),
        tuple(setters),
        tuple(weak),
        tuple(same),
        tuple(beside),
    )


def same_mark(path: str, leaves: Iterable[str]) -> str:
    """The key mark of the list at ``path`` whose items the ``leaves`` tell apart:
    ``=participant[type.coding.code][individual.identifier.value]``."""
    return SAME + path + "".join(f"[{leaf}]" for leaf in leaves)


def parse_same(text: str) -> tuple[str, tuple[str, ...]]:
    """The list path and the leaves of a key mark (without its ``=``); ValueError for another text."""
    path, bracket, rest = text.partition("[")
    if not path or not bracket or not rest.endswith("]"):
        raise ValueError(f"not a key mark: {text!r}")
    leaves = tuple(rest[:-1].split("]["))
    if not all(leaves) or any("[" in leaf or "]" in leaf or "=" in leaf for leaf in leaves):
        raise ValueError(f"not a key mark: {text!r}")
    return path, leaves


def _segment_of(spec: ValueSpec) -> str | None:
    """The segment a rule reads whole (``from: ROL``), or None."""
    if spec.from_ is None:
        return None
    try:
        where = parse_path(spec.from_)
    except ValueError:
        return None
    return where.segment if where.segment is not None and where.field is None else None


def _feeder(compiler: Compiler, unit: Unit, owner: str, spec: ValueSpec) -> _Feeder | None:
    if spec.path is None:
        return None
    try:
        many = compiler.resolve_path(owner, spec.path, unit, spec)[1].is_list
    except MappingTemplateError:
        return None  # the compiler reports it
    source: tuple[str, int] | None = None
    if spec.from_ is not None:
        try:
            where = parse_path(spec.from_)
        except ValueError:
            return None  # the compiler reports it
        if where.segment is not None and where.field is not None and where.segment not in _HEADER_SEGMENTS:
            source = (where.segment, where.field)
    fixed: list[Leaf] = []
    possible: dict[str, set[str]] = {}
    if "value" in spec.model_fields_set:
        _constants(spec.value, "", True, fixed, possible)  # a constant item
    _elements(spec.elements or [], "", True, fixed, possible)
    _constants(spec.defaults or {}, "", True, fixed, possible)
    return _Feeder(
        spec.path,
        many,
        source,
        spec.scope,
        tuple(fixed),
        tuple(sorted((leaf, frozenset(values)) for leaf, values in possible.items())),
        spec.keep_history,
    )


def _elements(
    specs: list[ValueSpec], prefix: str, sure: bool, fixed: list[Leaf], possible: dict[str, set[str]]
) -> None:
    """The constants of an ``elements`` block: sure (``fixed``) when the first rule of its element is an
    unconditional ``value``."""
    seen: set[str] = set()
    for spec in specs:
        if spec.path is None:
            continue
        path = prefix + spec.path
        first = path not in seen
        seen.add(path)
        if "value" in spec.model_fields_set:
            _constants(spec.value, path, sure and first and spec.when is None, fixed, possible)
        elif spec.elements:
            nested_sure = sure and spec.when is None and spec.from_ is None and spec.where is None
            _elements(spec.elements, path + ".", nested_sure, fixed, possible)


def _constants(value: Any, path: str, sure: bool, fixed: list[Leaf], possible: dict[str, set[str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _constants(item, f"{path}.{key}" if path else str(key), sure, fixed, possible)
        return
    if isinstance(value, list):
        for item in value:
            _constants(item, path, sure, fixed, possible)
        return
    text = selector_text(value)
    if text is None or not path or path.rsplit(".", 1)[-1] in _NOT_DISCRIMINATING:
        return
    possible.setdefault(path, set()).add(text)
    if sure and (path, text) not in fixed:
        fixed.append((path, text))


def has_path(resource: dict[str, Any], path: str) -> bool:
    """Whether ``resource`` has a value at the dotted element path."""
    node: Any = resource
    for step in path.split("."):
        if not isinstance(node, dict):
            return False
        node = node.get(step)
        if node is None:
            return False
    return bool(node != [] and node != {})


def _has_mark(resource: dict[str, Any], mark: NullMark) -> bool:
    """Whether ``resource`` has a value that ``mark`` would delete (then the message gives it: no deletion)."""
    if not mark.where:
        return has_path(resource, mark.path)
    node: Any = resource
    for step in mark.path.split("."):
        node = node.get(step) if isinstance(node, dict) else None
    if isinstance(node, dict):
        return mark.matches(node)  # a single-valued element (a withdrawn requester)
    return isinstance(node, list) and any(mark.matches(item) for item in node)


def _raw_field(ctx: Ctx, rule: _Feeder) -> str:
    assert rule.source is not None
    segment, field = rule.source
    seg = ctx.seg
    if seg is None or seg.name != segment:
        if rule.scope == "own":
            return ""
        found = ctx.node.segs.get(segment) if rule.scope == "group" else ctx.node.find(segment)
        if not found:
            return ""
        seg = found[0]
    return seg[field]


def _other_field(ctx: Ctx, segment: str, field_no: int, scope: str) -> str:
    """A field of a segment other than the current one, where a rule of that scope finds it (:func:`_raw_field`)."""
    if scope == "own":
        return ""
    found = ctx.node.segs.get(segment) if scope == "group" else ctx.node.find(segment)
    if not found:
        return ""
    return found[0][field_no]


def _has_text(ctx: Ctx, value: str) -> bool:
    """Whether a raw field has text in any repetition, component or subcomponent (``^^``, ``~``, ``""^""`` and
    whitespace have none: the field is not valued)."""
    env = ctx.env
    first = value[0]
    if first not in (env.comp, env.rep, env.sub, '"') and not first.isspace():
        return True  # text in the first component: the common case, decided without splitting
    return any(first_text(env, item, 0) for item in value.split(env.rep))


def entry_marks(entry: dict[str, Any]) -> list[str]:
    """The null marks of a Bundle entry (and remove them from it)."""
    return _take(entry, NULL_EXTENSION_URL)


def entry_keeps(entry: dict[str, Any]) -> list[str]:
    """The keep marks of a Bundle entry (and remove them from it)."""
    return _take(entry, KEEP_EXTENSION_URL)


def _take(entry: dict[str, Any], url: str) -> list[str]:
    extensions = entry.get("extension")
    if not extensions:
        return []
    marks = [e["valueString"] for e in extensions if e.get("url") == url and "valueString" in e]
    rest = [e for e in extensions if e.get("url") != url]
    if rest:
        entry["extension"] = rest
    else:
        del entry["extension"]
    return marks


__all__ = [
    "HL7_NULL",
    "KEEP_EXTENSION_URL",
    "NULL_EXTENSION_URL",
    "SAME",
    "NullMarks",
    "compile_marks",
    "entry_keeps",
    "entry_marks",
    "has_path",
    "parse_same",
    "same_mark",
    "split",
]
