"""The converter: loads and compiles ``mappings/`` once, then turns ER7 messages into FHIR R4 Bundles.

Conversion of one message:

1. the structure is read from MSH-9.3, or derived from MSH-9.1/9.2 by HL7 table 0354 (ADT^A04 → ADT_A01);
2. the segments are placed in the structure's groups (:mod:`hub.mapping.structure`);
3. for each resource rule of the message template, in order, each segment it names (within its groups)
   gets a deterministic id from the resource template's key, registered in its group so that rules can
   refer to it (``ref: patient`` finds the nearest patient up the group tree);
4. then every resource is filled by its compiled element rules, and the Bundle is assembled:
   ``transaction``, one ``PUT <Type>/<id>`` per resource, ``fullUrl`` ``urn:uuid:<id>``.

Only :class:`~hub.errors.ConversionError` leaves :meth:`Converter.convert`; it carries an ERR-2 style
location (``SEG^seq^field``) and never a field value (values may be PHI).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from hub.errors import ConversionError, MappingTemplateError
from hub.fhir.search_params import params_for
from hub.hl7 import er7
from hub.mapping import datetimes, merging, romanized
from hub.mapping.compiler import Applier, Compiler, CondFn, Unit
from hub.mapping.events import Mapped, choose_structure, message_kind, refusal
from hub.mapping.fhirschema import FhirSchema
from hub.mapping.ids import make_id
from hub.mapping.ifabsent import MARK as IF_ABSENT_MARK
from hub.mapping.library import Library, Overlay, merge, read_library, read_overlay
from hub.mapping.library import overlay_files as overlay_files_in
from hub.mapping.merging import Leaves
from hub.mapping.moved import MARK as MOVED_MARK
from hub.mapping.nulls import BESIDE, HL7_NULL, KEEP_EXTENSION_URL, NULL_EXTENSION_URL, SAME, NullMarks, compile_marks
from hub.mapping.nulls import split as split_nulls
from hub.mapping.runtime import Ctx, Env, parse_path, segment_seq
from hub.mapping.snapshots import SNAPSHOT_EXTENSION_URL, is_null_segment, set_parts
from hub.mapping.structure import (
    GroupDef,
    Node,
    StructureError,
    absent_group,
    group_segments,
    has_path,
    iter_path,
    parse_structure,
)
from hub.mapping.templates import MessagePatch, MessageTemplate, ResourceRule, ResourceTemplate, ValueSpec
from hub.mapping.terminology import Table
from hub.mapping.unread import FieldChecks, Known, field_checks, known_segments, report_unread_fields
from hub.mapping.yamlload import line_of

log = logging.getLogger(__name__)


def _finder(
    made: list[tuple[CompiledRule, Ctx, str]],
) -> Callable[[str, list[str], list[bool], Node], tuple[str | None, bool]]:
    """What a ``key`` with ``in_message`` looks up: the id of the resource of a type this message made one of
    whose key alternatives is the given key texts, where a part the asking key marks optional matches when it is
    empty on either side (a code without its coding system, an isolate without a sub-id); one that matches
    exactly wins (the first made), else the only one that matches. Also whether this message made any resource of
    that type whose alternative has the key's first part (what ``or_earlier`` asks: is the isolate's report here?).
    Never one made in the asking group or a group around it (what ``ref`` reaches): a child order shares its
    placer number with its parent, and is not its own parent. Every alternative of a resource of that type is
    worked out once, when first asked (a key part that cannot be read counts as no alternative)."""
    keys: dict[str, list[tuple[str, list[list[str]]]]] = {}

    def alternatives(rtype: str) -> list[tuple[str, list[list[str]]]]:
        found = keys.get(rtype)
        if found is None:
            found = keys[rtype] = []
            for rule, ctx, rid in made:
                if rule.resource.rtype != rtype or rule.delete:
                    continue
                texts = []
                for alternative in rule.resource.keys:
                    try:
                        parts = alternative(ctx)
                    except ConversionError:
                        parts = None
                    if parts is not None:
                        texts.append(parts)
                found.append((rid, texts))
        return found

    def find(rtype: str, wanted: list[str], optional: list[bool], node: Node) -> tuple[str | None, bool]:
        own: set[str] = set()
        around: Node | None = node
        while around is not None:
            for items in (around.made or {}).values():
                own.update(rid for kind, rid, origin in items if origin is around and kind == rtype)
            around = around.parent
        loose: set[str] = set()
        candidates = False
        for rid, texts in alternatives(rtype):
            if rid in own:
                continue
            for parts in texts:
                if parts == wanted:
                    return rid, True
                if len(parts) != len(wanted) or parts[0] != wanted[0]:
                    continue
                candidates = True
                pairs = zip(wanted, parts, optional, strict=True)
                if all(w == p or (opt and (not w or not p)) for w, p, opt in pairs):
                    loose.add(rid)
        return (next(iter(loose)) if len(loose) == 1 else None), candidates

    return find


@dataclass(slots=True)
class CompiledResource:
    name: str
    rtype: str
    segment: str
    file: str
    keys: list[Callable[[Ctx], list[str] | None]]  # the text of each key part (None: a part is missing)
    first_source: str | None  # the first required source of the first key, for the error location
    body: list[Applier]
    refs: set[str]
    nulls: NullMarks
    reads: frozenset[tuple[str, int]]  # the segment fields its rules read (keys, elements, an overlay's rules)
    not_carried: tuple[str, ...]  # the template's fields not carried over on purpose (OBR-17)
    # the template's 'distinct' parts (a person's birth date, sex), each "" when not given; None: it has none
    distinct: Callable[[Ctx], list[str] | None] | None = None
    fhir_required: tuple[str, ...] = ()  # the elements R4 requires of the resource type (AllergyIntolerance.patient)

    def make_id(self, ctx: Ctx) -> tuple[str, list[str]]:
        """The resource's id and key parts, from the first key alternative whose parts are all present.

        Raises:
            ConversionError: no alternative has its parts.
        """
        for alternative in self.keys:
            parts = alternative(ctx)
            if parts is not None:
                return make_id(self.rtype, parts), parts
        first_source = self.first_source
        location = None
        if first_source is not None:
            path = parse_path(first_source)
            seq = segment_seq(ctx.env.message, ctx.seg) if ctx.seg is not None and ctx.seg.name == path.segment else 1
            location = path.location(seq)
        raise ConversionError(
            f"cannot identify the {self.rtype}: none of its key fields is present"
            + (f" (first choice {first_source})" if first_source else ""),
            hl7_code="101",
            location=location,
        )


@dataclass(frozen=True, slots=True)
class CompiledSnapshot:
    """A rule's ``snapshot`` (:mod:`hub.mapping.snapshots`)."""

    scope: str
    prefix: str  # the set's search before the scope reference (Condition?encounter=)
    suffix: str  # and after it (&category=encounter-diagnosis)
    listed_in: str | None
    unless: CondFn | None


@dataclass(slots=True)
class CompiledRule:
    name: str
    resource: CompiledResource
    groups: tuple[str, ...]
    segment: str
    when: CondFn | None
    required: bool
    body: list[Applier]
    nulls: NullMarks
    delete: bool = False
    shared: bool = False
    snapshot: CompiledSnapshot | None = None
    if_absent: CondFn | None = None  # hub.mapping.ifabsent
    moved: CondFn | None = None  # hub.mapping.moved
    # with shared: the elements each later segment of the key adds to, each with its merge leaves (None: whole items)
    gather: tuple[tuple[str, Leaves | None], ...] = ()


@dataclass(slots=True)
class CompiledUnmapped:
    """A message template's ``unmapped`` entry: a segment at ``groups``/``segment`` that meets ``when`` is reported
    (``unmapped-segment``) unless its group ``within`` (around it) made a resource of a rule in ``carried_by``."""

    groups: tuple[str, ...]
    segment: str
    within: str
    carried_by: frozenset[str]
    when: CondFn | None
    detail: str


@dataclass(slots=True)
class CompiledMessage:
    structure: str
    file: str
    root: GroupDef
    events: frozenset[str] | None
    rules: list[CompiledRule]
    refused: dict[str, str] = field(default_factory=dict)  # event → why it is refused (the template's 'refused')
    # by field separator, see _glued_segment: the pattern, and the same read backwards
    glue: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = field(default_factory=dict)
    requires: tuple[str, ...] = ()  # segment ids of which the message must have one (the template's 'requires')
    unmapped: tuple[CompiledUnmapped, ...] = ()  # the template's 'unmapped'
    reads: frozenset[tuple[str, int]] = frozenset()  # the segment fields its rules read (PID, 3)
    unread: FieldChecks = field(default_factory=dict)  # the fields no rule reads, per segment id (hub.mapping.unread)
    # the segment ids it reads a field of, names (Z) or declares; a segment of another id is reported whole
    known: Known = (frozenset(), {})


@dataclass(slots=True)
class CompiledOverlay:
    """A sender's overlay, compiled: the message templates as its senders see them."""

    name: str
    file: str
    senders: list[tuple[str | None, str | None]]  # (application, facility), upper case
    messages: dict[str, CompiledMessage]

    def specificity(self, app: tuple[str, str], facility: tuple[str, str]) -> int:
        """How well the overlay names this sender: 2 both fields, 1 one field, 0 not at all."""
        best = 0
        for want_app, want_facility in self.senders:
            if want_app is not None and want_app not in app:
                continue
            if want_facility is not None and want_facility not in facility:
                continue
            best = max(best, (want_app is not None) + (want_facility is not None))
        return best


@dataclass(slots=True)
class Conversion:
    """A conversion's Bundle, with what the operator should know about it (plain JSON, no patient data)."""

    bundle: dict[str, Any]
    report: list[dict[str, Any]]
    overlay: str | None  # the sender overlay that was used, if any


# The resource template every message makes first: the sending facility's Organization, whose id is the producer
# of every resource of the message (meta.tag, see hub/security/access.py).
SENDER_TEMPLATE = "SendingFacility"
SENDER_RULE = "sendingFacility"
PRODUCER_TAG_SYSTEM = "urn:hub:producer"


def _compile_library(schema: FhirSchema, lib: Library, overlay: Overlay | None) -> dict[str, CompiledMessage]:
    tables = {name: (Table(model), path) for name, (model, path) in lib.tables.items()}
    compiler = Compiler(schema, lib.datatypes, tables)
    for name in lib.datatypes:
        compiler.datatype(name)  # every datatype is checked, used or not
    patches = overlay.model if overlay is not None else None
    resources: dict[str, CompiledResource] = {}
    for stem, (template, path) in lib.resources.items():
        extra = patches.resources.get(stem) if patches is not None else None
        resources[stem] = _compile_resource(
            compiler, stem, template, path, extra.elements if extra else [], overlay.path if overlay else None
        )
    if SENDER_TEMPLATE not in resources:
        raise MappingTemplateError(
            f"resource/{SENDER_TEMPLATE}.yaml is missing: every message makes the sending facility's Organization",
            file=str(lib.directory),
        )
    messages: dict[str, CompiledMessage] = {}
    for name, (message_template, data, path) in lib.messages.items():
        mpatch = patches.messages.get(name) if patches is not None else None
        messages[name] = _compile_message(
            compiler, message_template, data, path, resources, mpatch, overlay.path if overlay else None
        )
        messages[name].unread = _unread_checks(messages[name], message_template, lib)
        messages[name].known = known_segments(
            messages[name].reads,
            messages[name].root.segment_names(),
            [*lib.not_carried, *message_template.not_carried],
        )
    return messages


def _unread_checks(compiled: CompiledMessage, template: MessageTemplate, lib: Library) -> FieldChecks:
    """The fields of each segment id the message's rules read that none reads and none declares ``not_carried``
    (the library's list, with an overlay's; the message template's; those of its rules' resource templates)."""
    declared = [*lib.not_carried, *template.not_carried]
    for rule in compiled.rules:
        declared += rule.resource.not_carried
    return field_checks(compiled.reads, declared)


def _compile_overlay(schema: FhirSchema, lib: Library, overlay: Overlay) -> dict[str, CompiledMessage]:
    """The library with the overlay merged in, compiled; every error is the overlay's (its file, and the line of
    the table or datatype it changed when the error is about one)."""
    try:
        return _compile_library(schema, merge(lib, overlay), overlay)
    except MappingTemplateError as exc:
        if exc.file == str(overlay.path):
            raise
        line = None
        for section in ("tables", "datatypes"):
            for name in getattr(overlay.model, section):
                if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", exc.message):
                    line = line_of(overlay.data, (section, name))
        raise MappingTemplateError(f"with this overlay: {exc.message}", file=str(overlay.path), line=line) from None


class Converter:
    """HL7 v2 → FHIR R4 conversion by the templates of one mappings directory (and its sender overlays)."""

    def __init__(
        self,
        messages: dict[str, CompiledMessage],
        mappings_dir: Path,
        overlays: list[CompiledOverlay] | None = None,
    ) -> None:
        self._messages = messages
        # what each template says of its events: the structure a message is converted as, and what is refused
        self._mapped = {name: Mapped(c.events, c.refused) for name, c in messages.items()}
        self.mappings_dir = mappings_dir
        self._overlays = overlays or []

    # Loading ---------------------------------------------------------------------------------------
    @classmethod
    def load(cls, mappings_dir: Path, *, overlay_files: list[Path] | None = None) -> Converter:
        """Read, check and compile every template under ``mappings_dir``, and each sender overlay.

        Args:
            mappings_dir: a directory with ``message/``, ``resource/``, ``datatype/`` and ``terminology/``, and
                optionally ``overlays/`` (one file per sender variant).
            overlay_files: overlays to load besides those of ``mappings_dir/overlays`` (one with the same name
                replaces the directory's).

        Returns:
            A converter ready for :meth:`convert`.

        Raises:
            MappingTemplateError: an invalid template or overlay, with its file and line.
        """
        mappings_dir = Path(mappings_dir)
        schema = FhirSchema()
        lib = read_library(mappings_dir)
        messages = _compile_library(schema, lib, None)
        found: dict[str, Overlay] = {}
        for path in [*overlay_files_in(mappings_dir), *(overlay_files or [])]:
            overlay = read_overlay(Path(path))
            found[overlay.model.overlay] = overlay
        overlays: list[CompiledOverlay] = []
        claimed: dict[tuple[str | None, str | None], str] = {}
        for name in sorted(found):
            overlay = found[name]
            senders = []
            for sender in overlay.model.senders:
                key = (
                    sender.application.upper() if sender.application else None,
                    sender.facility.upper() if sender.facility else None,
                )
                if key in claimed:
                    raise MappingTemplateError(
                        f"overlay {claimed[key]!r} already names this sender", file=str(overlay.path), line=sender.line
                    )
                claimed[key] = name
                senders.append(key)
            compiled = _compile_overlay(schema, lib, overlay)
            overlays.append(CompiledOverlay(name, str(overlay.path), senders, compiled))
        log.info(
            "mappings loaded: %d message structures, %d resource templates, %d datatypes, %d tables, %d overlays",
            len(messages),
            len(lib.resources),
            len(lib.datatypes),
            len(lib.tables),
            len(overlays),
        )
        return cls(messages, mappings_dir, overlays)

    # Queries ---------------------------------------------------------------------------------------
    def supports(self, structure: str, event: str | None = None) -> bool:
        """True when a message template exists for ``structure`` (``ADT_A01``, ``ORU_R01`` …).

        Args:
            structure: the message structure.
            event: also require that the template maps this trigger event (a template may name the events
                it maps: ADT_A21's do not include A01).
        """
        mapped = self._mapped.get(structure)
        return mapped is not None and (event is None or mapped.maps(event.upper()))

    @property
    def structures(self) -> list[str]:
        return sorted(self._messages)

    @property
    def overlays(self) -> list[str]:
        """The names of the sender overlays loaded."""
        return [o.name for o in self._overlays]

    def structure_of(self, message: er7.Message) -> tuple[str, str, str]:
        """(message code, trigger event, structure) of a message: MSH-9.3 if a template has that name, else
        the structure of HL7 table 0354 for MSH-9.1/MSH-9.2 (in v2.1, whose MSH-9 has no event, EVN-1).

        A wrong MSH-9.3 (``ADT^A03^ADT_A01``, ``ORU^R01^ORM_O01``) gives way to table 0354's structure when that
        template maps the event and MSH-9.3's does not name it (neither among its events nor its refusals): the
        trigger event, not the structure field, says what happened (a discharge is not converted as an
        admission)."""
        code, event, given = message_kind(message)
        return code, event, choose_structure(self._mapped, code, event, given)

    def overlay_for(self, message: er7.Message) -> str | None:
        """The name of the overlay that the message's sender (MSH-3, MSH-4) gets, if any: the one naming both
        fields wins over one naming a single field."""
        if not self._overlays or not message.segments:
            return None
        found = self._select(message)
        return found.name if found is not None else None

    def _select(self, message: er7.Message) -> CompiledOverlay | None:
        msh = message.msh
        app = (message.get(msh, 3).strip().upper(), message.get(msh, 3, 1).strip().upper())
        facility = (message.get(msh, 4).strip().upper(), message.get(msh, 4, 1).strip().upper())
        best: CompiledOverlay | None = None
        best_score = 0
        for overlay in self._overlays:
            score = overlay.specificity(app, facility)
            if score > best_score:
                best, best_score = overlay, score
        return best

    # Converting ------------------------------------------------------------------------------------
    def convert(
        self,
        message: er7.Message,
        *,
        sender_timezone: str | None = None,
        default_timezone: str = "Asia/Shanghai",
        overlay: str | None = None,
        strict: bool = False,
    ) -> dict[str, Any]:
        """Convert one message to a FHIR R4 transaction Bundle (plain JSON data).

        Args:
            message: the tokenised message.
            sender_timezone: the IANA zone configured for the sender: the zone of timestamps that carry no
                offset. None: MSH-7's offset when it has one (v2.5.1 §2.14.9.7: the message's default time
                zone), else ``default_timezone``.
            default_timezone: the IANA zone of timestamps without an offset when neither of those says one.
            overlay: use this sender overlay whoever the sender is (default: the overlay naming the sender).
            strict: refuse a message with an invalid value (a date that is no date …) in any element; by default
                such an element is left out and reported (``invalid-value``, :meth:`convert_with_report`) unless
                it is part of an id key or leaving it out could make the resource invalid R4.

        Returns:
            The Bundle: ``type`` transaction, one ``PUT`` entry per resource, references as ``Type/id``; every
            resource carries the producer tag (the sending facility's Organization id).

        Raises:
            ConversionError: the message cannot be converted (unsupported structure, a required segment or
                field missing, an invalid value); ``location`` says where (``SEG^seq^field``).
            KeyError: ``overlay`` names no loaded overlay.
        """
        return self.convert_with_report(
            message, sender_timezone=sender_timezone, default_timezone=default_timezone, overlay=overlay, strict=strict
        ).bundle

    def convert_with_report(
        self,
        message: er7.Message,
        *,
        sender_timezone: str | None = None,
        default_timezone: str = "Asia/Shanghai",
        overlay: str | None = None,
        strict: bool = False,
    ) -> Conversion:
        """Convert one message, and say what the operator should know about it.

        The report lists, as plain JSON without patient data: local codes no table translates
        (``unmapped-local-code``: the table, the code and where it was), codes a v2 or hub table marked
        ``report_unknown`` does not have (``untranslated-code``: the table and where) and identifiers kept but flagged
        (``invalid-resident-id``: where it was), elements left out for an invalid value (``invalid-value``:
        where and why), segments no resource carries (``unmapped-segment``: where, and what the template's
        ``unmapped`` says of them), segments the message structure has no place for, converted to nothing
        (``unplaced-segment``: where), fields with a value that no rule reads nor any ``not_carried`` declares
        (``unmapped-field``: where, once per segment id and field; :mod:`hub.mapping.unread`), and fields that held
        a control character, removed from the value (``control-character``: where).

        Args:
            message: the tokenised message.
            sender_timezone: the IANA zone configured for the sender: the zone of timestamps that carry no
                offset. None: MSH-7's offset when it has one (v2.5.1 §2.14.9.7: the message's default time
                zone), else ``default_timezone``.
            default_timezone: the IANA zone of timestamps without an offset when neither of those says one.
            overlay: use this sender overlay whoever the sender is (default: the overlay naming the sender).
            strict: refuse a message with an invalid value in any element (see :meth:`convert`).

        Returns:
            The Bundle, the report and the name of the overlay used.

        Raises:
            ConversionError: as :meth:`convert`.
            KeyError: ``overlay`` names no loaded overlay.
        """
        chosen: CompiledOverlay | None
        if overlay is not None:
            chosen = next((o for o in self._overlays if o.name == overlay), None)
            if chosen is None:
                raise KeyError(f"no sender overlay named {overlay!r}")
        else:
            chosen = self._select(message) if self._overlays and message.segments else None
        messages = chosen.messages if chosen is not None else self._messages
        try:
            bundle, report = self._convert(messages, message, sender_timezone, default_timezone, strict)
        except ConversionError:
            raise
        except ValueError as exc:
            raise ConversionError(f"cannot convert: {exc}", location=None) from exc
        except Exception as exc:  # the contract: nothing but ConversionError escapes
            log.exception("mapping engine failure (%s)", type(exc).__name__)
            raise ConversionError(f"internal mapping error ({type(exc).__name__})", location=None) from exc
        return Conversion(bundle, report, chosen.name if chosen is not None else None)

    def _convert(
        self,
        messages: dict[str, CompiledMessage],
        message: er7.Message,
        sender_timezone: str | None,
        default_timezone: str,
        strict: bool,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if not message.segments or message.msh.name != "MSH":
            raise ConversionError("not a single message (no MSH segment first)", hl7_code="100", location="MSH^1")
        if any(seg.name == "MSH" for seg in message.segments[1:]):
            # two messages in one (a file or an HTTP body holding several): the second one's segments would be
            # read as the first one's
            raise ConversionError("not a single message (a second MSH segment)", hl7_code="100", location="MSH^2")
        code, event, structure = self.structure_of(message)
        refused = refusal(self._mapped, code, event, structure)
        if refused is not None:
            raise refused
        compiled = messages[structure]
        try:
            tz = datetimes.zone(sender_timezone or default_timezone)
        except ValueError as exc:
            raise ConversionError(str(exc), location=None) from None
        if sender_timezone is None:  # MSH-7's offset is the message's default zone (v2.5.1 §2.14.9.7)
            tz = datetimes.offset_zone(message.get(message.msh, 7, 1).strip()) or tz
        # the segments' text once: the glued-segment scan and the HL7 null test read it
        text = "\r".join([seg.line for seg in message.segments])
        controls: list[tuple[int, int]] = []
        if er7.has_controls(text, message.delimiters):
            message, controls = er7.without_controls(message)
            text = "\r".join([seg.line for seg in message.segments])
        glued = _glued_segment(compiled, message, text)
        if glued is not None:
            raise glued
        if compiled.requires and not any(seg.name in compiled.requires for seg in message.segments):
            raise ConversionError(
                f"{structure} needs one of the segments {', '.join(compiled.requires)}; the message has none",
                hl7_code="100",
                location=f"{compiled.requires[0]}^1",
            )
        root, unplaced = group_segments(compiled.root, message.segments)
        try:
            bundle, report = self._fill(compiled, message, root, tz, event, structure, strict, HL7_NULL in text)
        finally:
            root.release()
        _report_unplaced(message, unplaced, report)
        report_unread_fields(compiled.unread, message, report, compiled.known)
        _report_controls(message, controls, report)
        return bundle, report

    def _fill(
        self,
        compiled: CompiledMessage,
        message: er7.Message,
        root: Node,
        tz: tzinfo,
        event: str,
        structure: str,
        strict: bool,
        has_null: bool,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        env = Env(message, tz, event, structure, root, strict=strict)

        made: list[tuple[CompiledRule, Ctx, str]] = []
        taken: dict[tuple[str, str], int] = {}  # (type, id) → how many resources share that key
        shared: set[tuple[str, str]] = set()  # (type, id) of the resources 'shared' rules made
        traits: dict[tuple[str, str], list[str]] = {}  # (type, id) → its 'distinct' parts known so far
        # the later segments of a shared resource whose rule gathers elements from each: (rule, ctx, type, id)
        gathered: list[tuple[CompiledRule, Ctx, str, str]] = []
        producer: str | None = None
        for rule in compiled.rules:
            instances = iter_path(root, rule.groups, rule.segment)
            if not instances and rule.required:
                raise _required_segment_error(root, message, rule, structure)
            rtype = rule.resource.rtype
            for seg, node in instances:
                if rule.snapshot is not None and seg is not None and is_null_segment(seg):
                    continue  # "delete the whole set" (snapshot mode): no member
                ctx = Ctx(env, node, seg)
                if rule.when is not None and not rule.when(ctx, None, 0):
                    continue
                rid, parts = rule.resource.make_id(ctx)
                seen = taken.get((rtype, rid), 0)
                mine = _traits(rule, ctx) if rule.shared else []
                if rule.shared and (rtype, rid) in shared and not _apart(traits.setdefault((rtype, rid), []), mine):
                    # the same entity again (the insurer of a second policy): named, not made twice
                    node.register(rule.name, rtype, rid)
                    if seg is not None:
                        env.made_from[(rule.name, id(seg))] = (rtype, rid)
                    if rule.gather:
                        gathered.append((rule, ctx, rtype, rid))
                    continue
                taken[(rtype, rid)] = seen + 1
                if rule.shared and not seen:
                    shared.add((rtype, rid))
                    traits[(rtype, rid)] = mine
                if seen:
                    # Two segments with the same key in one message (the same test twice in a report): both
                    # are kept, the later ones numbered in message order.
                    n = seen + 1
                    rid = make_id(rtype, [*parts, f"#{n}"])
                    while (rtype, rid) in taken:
                        n += 1
                        rid = make_id(rtype, [*parts, f"#{n}"])
                    taken[(rtype, rid)] = 1
                if producer is None and rule.resource.name == SENDER_TEMPLATE:
                    producer = rid
                node.register(rule.name, rtype, rid)
                if seg is not None:
                    env.made_from[(rule.name, id(seg))] = (rtype, rid)
                made.append((rule, ctx, rid))
            root.settle(rule.name)  # only this rule registers its name: later keys may remember its lookups

        root.freeze()  # every resource is registered: references may be looked up once per group and name
        if compiled.unmapped:
            _report_unmapped(compiled, root, env)
        sets = _snapshot_sets(compiled, root, env)
        env.find_made = _finder(made)
        try:
            entries = []
            built: dict[tuple[str, str], dict[str, Any]] = {}  # (type, id) → the resource (for gather)
            # the entries whose marks are written once every segment of a shared resource has given its part
            marking: list[tuple[dict[str, Any], CompiledRule, Ctx, str, str]] = []
            for rule, ctx, rid in made:
                rtype = rule.resource.rtype
                if rule.delete:
                    entries.append(
                        {"fullUrl": f"urn:uuid:{rid}", "request": {"method": "DELETE", "url": f"{rtype}/{rid}"}}
                    )
                    continue
                resource = _built(rule, ctx, rtype, rid, message)
                built[(rtype, rid)] = resource
                # Every resource names its producer, the sending facility's Organization (the access policy reads it).
                tag = {"system": PRODUCER_TAG_SYSTEM, "code": producer}
                meta = resource.get("meta")
                if meta is None:
                    resource["meta"] = {"tag": [tag]}
                else:
                    meta.setdefault("tag", []).append(tag)
                entry: dict[str, Any] = {
                    "fullUrl": f"urn:uuid:{rid}",
                    "resource": resource,
                    "request": {"method": "PUT", "url": f"{rtype}/{rid}"},
                }
                entries.append(entry)
                marking.append((entry, rule, ctx, rtype, rid))
            # each later segment of a shared resource: (rule, ctx, what it made) by the resource it names
            later: dict[tuple[str, str], list[tuple[CompiledRule, Ctx, dict[str, Any]]]] = {}
            # the top-level elements the first segment of a shared resource gave itself, before the later ones
            first_gave: dict[tuple[str, str], frozenset[str]] = {}
            for rule, ctx, rtype, rid in gathered:
                # a later segment of a shared resource (the second order of one study): what it gives of the
                # gathered elements is added to the first's resource, the items it does not have yet
                first = built.get((rtype, rid))
                if first is None:
                    continue
                if (rtype, rid) not in first_gave:
                    first_gave[(rtype, rid)] = frozenset(first)
                own = _built(rule, ctx, rtype, rid, message)
                _gather_into(first, own, rule.gather)
                later.setdefault((rtype, rid), []).append((rule, ctx, own))
            for entry, rule, ctx, rtype, rid in marking:
                # the marks are of the whole resource, what every segment of a shared one gave
                _mark(
                    entry, rule, ctx, has_null, later.get((rtype, rid), ()), first_gave.get((rtype, rid), frozenset())
                )
                resource = entry["resource"]
                for element in rule.resource.fhir_required:
                    if element not in resource:
                        raise _required_missing(rtype, element, ctx, message)
                if sets and (rtype, rid) in sets:
                    entry.setdefault("extension", []).extend(_set_marks(sets[(rtype, rid)], resource))
                if rule.if_absent is not None and rule.if_absent(ctx, None, 0):
                    # written only if the hub never stored it (PRB-1 UC; hub.mapping.ifabsent, hub.conversion)
                    entry.setdefault("extension", []).append(dict(IF_ABSENT_MARK))
                if rule.moved is not None and rule.moved(ctx, None, 0):
                    # the patient moved: stored active locations the message leaves are completed (hub.mapping.moved)
                    entry.setdefault("extension", []).append(dict(MOVED_MARK))
        finally:
            # the finder holds every Ctx, and each Ctx this Env: left in place, the message's whole object graph
            # (segments, groups, contexts) would be cyclic garbage that only the cycle collector frees
            env.release()
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, env.report


def _mark(
    entry: dict[str, Any],
    rule: CompiledRule,
    ctx: Ctx,
    has_null: bool,
    later: Sequence[tuple[CompiledRule, Ctx, dict[str, Any]]] = (),
    first_gave: Collection[str] = (),
) -> None:
    """Put on the entry the HL7 null's marks (elements this message deletes) and the keep marks (stored items of a
    list it gives that it keeps; hub.mapping.nulls, applied by hub.conversion), of the resource whole: for a shared
    resource, with what its later segments gathered into it, and what each of its segments' fields says, whatever
    segment's rule comes first in the template (an A08 lists the guarantor before the insured, a DFT^P03 the
    insured before the guarantor: the same person's marks are the same). Each segment's marks are read on the
    resource whole (a segment's ``""`` deletes nothing another segment gives; its empty field keeps nothing the
    message has); a null mark wins over another segment's keep mark of the same items (GT1-6 ``""`` deletes the
    home phone IN2-63 left empty). A group a segment keeps *beside* (a keep mark ``+mark``: a GT1 keeps the stored
    contact roles, NK1-7's) is not kept when another segment of the resource gives the list and does not keep it
    (the message's NK1 says the person's contact roles: its list replaces the stored one; mappings/README.md, "One
    person, many segments"). ``first_gave``: the top-level elements the first segment gave itself."""
    if not rule.nulls.active:
        return
    resource = entry["resource"]
    nulls = rule.nulls.marks(resource, ctx, has_null)
    if later:
        for other, other_ctx, _own in later:
            if other.nulls.active:
                nulls += [m for m in other.nulls.marks(resource, other_ctx, has_null) if m not in nulls]
    deleted = [m for m in nulls if "[" not in m and "." not in m]
    keeps = rule.nulls.keeps(resource, ctx, deleted)
    if later:
        # each segment's keep marks, and the elements it gave itself (for the groups kept beside)
        said: list[tuple[Collection[str], Collection[str]]] = [(list(keeps), first_gave)]
        for other, other_ctx, own in later:
            theirs = other.nulls.keeps(resource, other_ctx, deleted) if other.nulls.active else []
            keeps += [k for k in theirs if k not in keeps]
            said.append((theirs, own))
        keeps = [
            k
            for k in keeps
            if k not in nulls
            and (not k.startswith(BESIDE) or all(k in theirs or _element_of(k) not in gave for theirs, gave in said))
        ]
    marks = [{"url": NULL_EXTENSION_URL, "valueString": m} for m in nulls]
    marks += [{"url": KEEP_EXTENSION_URL, "valueString": m} for m in keeps]
    if marks:
        entry["extension"] = marks


def _required_missing(rtype: str, element: str, ctx: Ctx, message: er7.Message) -> ConversionError:
    """A resource without an element R4 requires (an allergy with no patient: the order message's PATIENT group
    had no PID): refused at the segment it is made of, never sent on as a Bundle that is not valid R4."""
    seg = ctx.seg
    return ConversionError(
        f"{rtype}.{element} is required by FHIR R4 and the message gives it no value",
        hl7_code="101",
        location=f"{seg.name}^{segment_seq(message, seg)}" if seg is not None else None,
    )


def _element_of(keep: str) -> str:
    """The top-level element of a keep mark (``+relationship[coding.system=…]`` → ``relationship``)."""
    return re.split(r"[.\[]", keep.lstrip(BESIDE + SAME), maxsplit=1)[0]


def _traits(rule: CompiledRule, ctx: Ctx) -> list[str]:
    """The segment's ``distinct`` parts by its template (a person's birth date, sex); none without them."""
    distinct = rule.resource.distinct
    found = distinct(ctx) if distinct is not None else None
    return found if found is not None else []


def _built(rule: CompiledRule, ctx: Ctx, rtype: str, rid: str, message: er7.Message) -> dict[str, Any]:
    """The resource ``rule`` makes of ``ctx``'s segment (its elements only: no producer tag, no marks)."""
    resource: dict[str, Any] = {"resourceType": rtype, "id": rid}
    try:
        for apply in rule.body:
            apply(resource, ctx, None, 0)
    except ValueError as exc:
        current = ctx.seg
        where = f"{current.name}^{segment_seq(message, current)}" if current is not None else None
        raise ConversionError(f"{rtype}: {exc}", hl7_code="102", location=where) from None
    if "name" in resource:  # the pinyin beside a name in characters: family name first
        romanized.family_first(resource)
    return resource


# A scope resource (type, id) → the snapshot sets that belong to it: (set search text, listed_in, sent empty).
_Sets = dict[tuple[str, str], list[tuple[str, str | None, bool]]]


def _snapshot_sets(compiled: CompiledMessage, root: Node, env: Env) -> _Sets:
    """The snapshot sets of the message, by their scope resource (:mod:`hub.mapping.snapshots`): for each rule with
    ``snapshot`` and each scope resource its segments belong to, unless a segment of them is in action code mode."""
    sets: _Sets = {}
    for rule in compiled.rules:
        snap = rule.snapshot
        if snap is None:
            continue
        found: dict[tuple[str, str], tuple[bool, bool]] = {}  # scope → (action code mode, every segment "")
        for seg, node in iter_path(root, rule.groups, rule.segment):
            scopes = node.lookup(snap.scope)
            if not scopes or seg is None:
                continue
            coded = snap.unless is not None and snap.unless(Ctx(env, node, seg), None, 0)
            was_coded, was_empty = found.get(scopes[0], (False, True))
            found[scopes[0]] = (was_coded or coded, was_empty and is_null_segment(seg))
        for (stype, sid), (coded, empty) in found.items():
            if coded:
                continue
            text = f"{snap.prefix}{stype}/{sid}{snap.suffix}"
            listed = sets.setdefault((stype, sid), [])
            if all(text != t for t, _, _ in listed):
                listed.append((text, snap.listed_in, empty))
    return sets


def _set_marks(sets: list[tuple[str, str | None, bool]], resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The extensions of a scope resource's entry: its snapshot sets, and for a set sent empty the null mark of the
    element that lists its members (the visit's ``diagnosis``), unless the resource has it."""
    out: list[dict[str, Any]] = [{"url": SNAPSHOT_EXTENSION_URL, "valueString": text} for text, _, _ in sets]
    for _, listed_in, empty in sets:
        if empty and listed_in is not None and listed_in not in resource:
            out.append({"url": NULL_EXTENSION_URL, "valueString": listed_in})
    return out


def _glued_segment(compiled: CompiledMessage, message: er7.Message, text: str) -> ConversionError | None:
    """The error for a segment that runs into the one before it (its terminator lost: ``…0800ORC|NW|…``), if any.

    Its fields would be read as the earlier segment's, and what it holds (an order, a next of kin) lost without a
    word, or an element left out for an "invalid" value that is really the glued text: the message is refused
    at the field where the glue is, for the sender to fix. ``text``: the segments' lines joined by ``\r`` (one scan
    of the whole text finds nothing in most messages: the pattern cannot match across a ``\r``, so a match in a
    line is a match in the text).
    """
    sep = message.delimiters.field
    patterns = compiled.glue.get(sep)
    if patterns is None:
        names = sorted(compiled.root.segment_names())
        # a segment id right after a digit at the end of a field's text ("…0912-0800ORC|", "…HL70189NK1|": a date,
        # a number or a table id, the usual ends of a segment), then a separator; not a whole field or component
        # ("|ORC|", "^SPM|": a code), nor the end of a word ("CAROL|" in an ADT with ROL segments, "LONDON|")
        forwards = re.compile(f"[0-9](?:{'|'.join(names)}){re.escape(sep)}")
        # The scan of the whole text reads it backwards: there the pattern starts with the separator, a literal the
        # regular expression engine finds by a fast search, where a pattern that starts with [0-9] (or a look-behind)
        # is tried at every digit of the message: three times slower (20-OBX ORU: 17 µs against 47 µs).
        # At each separator a look-ahead of character sets (the letters each place of a segment id may have) first:
        # the engine tries the alternatives one by one, and nearly every field's text fails the sets at once
        # (ADT^A01 4.1 µs against 1.8 µs, 20-OBX ORU 12 µs against 5.9 µs).
        places = "".join("[" + re.escape("".join(sorted({name[i] for name in names}))) + "]" for i in (2, 1, 0))
        backwards = re.compile(f"{re.escape(sep)}(?={places}[0-9])(?:{'|'.join(name[::-1] for name in names)})[0-9]")
        patterns = compiled.glue[sep] = (forwards, backwards)
    pattern, backwards = patterns
    if backwards.search(text[::-1]) is None:
        return None
    for seg in message.segments:
        found = pattern.search(seg.line, 2)
        if found is None:
            continue
        start = found.start() + 1  # the segment id, after the digit
        field_no = seg.line.count(sep, 0, start) + (1 if seg.name in ("MSH", "BHS", "FHS") else 0)
        glued = found.group()[1:-1]
        return ConversionError(
            f"a {glued} segment runs into {seg.name}-{field_no} (a segment terminator is missing): the message is "
            "refused rather than read with that segment's fields in the wrong place",
            hl7_code="100",
            location=f"{seg.name}^{segment_seq(message, seg)}^{field_no}",
        )
    return None


def _compile_resource(
    compiler: Compiler,
    name: str,
    template: ResourceTemplate,
    path: Path,
    extra: list[ValueSpec],
    extra_path: Path | None,
) -> CompiledResource:
    unit = Unit(str(path))
    if template.resource not in compiler.schema.resource_types:
        raise compiler.error(unit, template, f"{template.resource!r} is not a FHIR R4 resource type")
    # A ref in an id key is needed only when every alternative has it (else a message without that resource
    # falls back to an alternative without it).
    key_units = [Unit(str(path)) for _ in template.id]
    keys = [compiler.key(alternative, key_unit) for alternative, key_unit in zip(template.id, key_units, strict=True)]
    unit.refs |= set.intersection(*(u.refs for u in key_units))
    first_source = next((part.from_ for part in template.id[0] if part.from_ and not part.optional), None)
    distinct = None
    if template.distinct:
        distinct_unit = Unit(str(path))
        parts = [part.model_copy(update={"optional": True}) for part in template.distinct]
        distinct = compiler.key(parts, distinct_unit)
        key_units.append(distinct_unit)
    specs, deletes = split_nulls(template.elements, unit)
    body = compiler.elements(specs, template.resource, unit, False)
    nulls = compile_marks(compiler, unit, template.resource, specs, deletes)
    refs = set(unit.refs)
    reads = set(unit.reads).union(*(u.reads for u in key_units))
    if extra:
        # A sender overlay's rules for this template: before the template's own, so that they win.
        overlay_unit = Unit(str(extra_path))
        extra_specs, extra_deletes = split_nulls(extra, overlay_unit)
        body = compiler.elements(extra_specs, template.resource, overlay_unit, False) + body
        nulls = compile_marks(compiler, overlay_unit, template.resource, extra_specs, extra_deletes) + nulls
        refs |= overlay_unit.refs
        reads |= overlay_unit.reads
    return CompiledResource(
        name,
        template.resource,
        template.segment,
        str(path),
        keys,
        first_source,
        body,
        refs,
        nulls,
        frozenset(reads),
        tuple(template.not_carried),
        distinct,
        tuple(compiler.schema.required(template.resource)),
    )


def _compile_message(
    compiler: Compiler,
    template: MessageTemplate,
    data: Any,
    path: Path,
    resources: dict[str, CompiledResource],
    patch: MessagePatch | None = None,
    patch_path: Path | None = None,
) -> CompiledMessage:
    unit = Unit(str(path))
    try:
        root = parse_structure(template.structure)
    except StructureError as exc:
        raise MappingTemplateError(f"structure: {exc}", file=str(path), line=line_of(data, ("structure",))) from None
    if not root.items or root.items[0].name != "MSH" or root.items[0].group is not None:
        raise MappingTemplateError("structure must start with MSH", file=str(path), line=line_of(data, ("structure",)))
    rules: list[CompiledRule] = []
    names: set[str] = set()
    all_refs: set[str] = set()
    patch_unit = Unit(str(patch_path)) if patch is not None else unit
    declared = [(rule, unit) for rule in template.resources]
    if patch is not None:
        declared += [(rule, patch_unit) for rule in patch.resources]
        known = {rule.name for rule, _ in declared} | {SENDER_RULE}
        for rule_name in patch.elements:
            if rule_name not in known:
                raise compiler.error(
                    patch_unit, patch, f"messages.{template.message}.elements: no resource rule {rule_name!r}"
                )
    if not any(rule.template == SENDER_TEMPLATE for rule, _ in declared):
        # Every message makes the sending facility's Organization first: it is the producer of the others.
        sender = ResourceRule.model_validate({"name": SENDER_RULE, "template": SENDER_TEMPLATE, "for": "MSH"})
        declared.insert(0, (sender, unit))
    for rule, rule_unit in declared:
        if rule.name in names:
            raise compiler.error(rule_unit, rule, f"two resource rules are named {rule.name!r}")
        names.add(rule.name)
        resource = resources.get(rule.template)
        if resource is None:
            raise compiler.error(
                rule_unit, rule, f"no resource template {rule.template!r} (resource/{rule.template}.yaml)"
            )
        *groups, segment = rule.for_.split(".")
        if not has_path(root, tuple(groups), segment):
            raise compiler.error(
                rule_unit, rule, f"'for: {rule.for_}' is not a segment of the structure (GROUP.GROUP.SEG)"
            )
        if segment != resource.segment:
            raise compiler.error(
                rule_unit,
                rule,
                f"template {rule.template} reads {resource.segment} segments, but 'for' names {segment}",
            )
        gather = _compile_gather(compiler, rule, rule_unit, resource.rtype)
        when = None
        if rule.when is not None:
            when = compiler.condition_fn(rule.when, rule_unit, False, f"{rule.name} when")
        if_absent = None
        if rule.if_absent is not None:
            if_absent = compiler.condition_fn(rule.if_absent, rule_unit, False, f"{rule.name} if_absent")
        moved = None
        if rule.moved is not None:
            if resource.rtype != "Encounter":
                raise compiler.error(rule_unit, rule, "'moved' is for rules that make an Encounter")
            moved = compiler.condition_fn(rule.moved, rule_unit, False, f"{rule.name} moved")
        snapshot = _compile_snapshot(compiler, rule, rule_unit, names, resource.rtype)
        specs, deletes = split_nulls(rule.elements, rule_unit)
        overrides = compiler.elements(specs, resource.rtype, rule_unit, False)
        nulls = compile_marks(compiler, rule_unit, resource.rtype, specs, deletes)
        if patch is not None and rule.name in patch.elements:
            extra_specs, extra_deletes = split_nulls(patch.elements[rule.name], patch_unit)
            overrides = compiler.elements(extra_specs, resource.rtype, patch_unit, False) + overrides
            nulls = compile_marks(compiler, patch_unit, resource.rtype, extra_specs, extra_deletes) + nulls
        all_refs |= resource.refs
        rules.append(
            CompiledRule(
                rule.name,
                resource,
                tuple(groups),
                segment,
                when,
                rule.required,
                overrides + resource.body,
                nulls + resource.nulls,
                rule.delete,
                rule.shared,
                snapshot,
                if_absent,
                moved,
                gather,
            )
        )
    all_refs |= unit.refs | patch_unit.refs
    missing = sorted(all_refs - names)
    if missing:
        raise MappingTemplateError(
            f"templates refer to resources this message does not make: {', '.join(missing)} "
            f"(names of its resource rules: {', '.join(sorted(names))})",
            file=str(path),
            line=line_of(data, ("resources",)),
        )
    events = frozenset(e.upper() for e in template.events) if template.events is not None else None
    refused = {e.upper(): reason for e, reason in template.refused.items()}
    unmapped = tuple(_compile_unmapped(compiler, template, unit, root, names))
    reads = frozenset(unit.reads.union(patch_unit.reads, *(rule.resource.reads for rule in rules)))
    return CompiledMessage(
        template.message,
        str(path),
        root,
        events,
        rules,
        refused,
        requires=tuple(template.requires),
        unmapped=unmapped,
        reads=reads,
    )


def _compile_unmapped(
    compiler: Compiler, template: MessageTemplate, unit: Unit, root: GroupDef, names: set[str]
) -> list[CompiledUnmapped]:
    compiled: list[CompiledUnmapped] = []
    for entry in template.unmapped:
        *groups, segment = entry.for_.split(".")
        if not has_path(root, tuple(groups), segment):
            raise compiler.error(unit, entry, f"unmapped: 'for: {entry.for_}' is not a segment of the structure")
        # the message itself (its structure's name): the carriers are looked for in the whole message (ADT_A01's
        # visit ARV, VISIT_ACCESS, is carried by the Encounter of the message's PV1, made outside that group)
        within = root.name if entry.within == template.message else entry.within
        if within not in groups and within != root.name:
            raise compiler.error(unit, entry, f"unmapped: 'within: {entry.within}' is no group of {entry.for_}")
        unknown = sorted(set(entry.carried_by) - names)
        if unknown:
            raise compiler.error(unit, entry, f"unmapped: 'carried_by' names no resource rule: {', '.join(unknown)}")
        when = None
        if entry.when is not None:
            when = compiler.condition_fn(entry.when, unit, False, f"unmapped {entry.for_} when")
        compiled.append(
            CompiledUnmapped(tuple(groups), segment, within, frozenset(entry.carried_by), when, entry.detail)
        )
    return compiled


def _report_unmapped(compiled: CompiledMessage, root: Node, env: Env) -> None:
    """Report each segment of an ``unmapped`` entry that no resource of its group carries (``unmapped-segment``:
    where, and the template's words; never the segment's text)."""
    for entry in compiled.unmapped:
        for seg, node in iter_path(root, entry.groups, entry.segment):
            if entry.when is not None and not entry.when(Ctx(env, node, seg), None, 0):
                continue
            group: Node | None = node
            while group is not None and group.gdef.name != entry.within:
                group = group.parent
            made = group.made if group is not None else None
            if made and not entry.carried_by.isdisjoint(made):
                continue
            _report_once(env.report, "unmapped-segment", f"{seg.name}^{segment_seq(env.message, seg)}", entry.detail)


def _required_segment_error(root: Node, message: er7.Message, rule: CompiledRule, structure: str) -> ConversionError:
    """The refusal of a message whose required segment the template finds nowhere in its group.

    The segment may be absent, or present but outside its group (an RXD or RXA sent without the ORC that opens
    its order): the text says which, so that the operator looks for the missing ORC, not for the RXD.
    """
    needs = f"{structure} needs it for {rule.resource.rtype}"
    opening = absent_group(root, rule.groups)
    sent = sum(1 for seg in message.segments if seg.name == rule.segment)
    if opening is not None and sent and opening[1] == rule.segment:
        # the group the segment opens is absent: those sent are the message's other ones (ADT^A24 with one PID,
        # whose second PID opens OTHER); the next one is missing
        group = opening[0]
        nth = _ORDINALS[sent] if sent < len(_ORDINALS) else f"{sent + 1}th"
        text = f"the {nth} {rule.segment} segment is missing: it opens the group {group} ({needs})"
        return ConversionError(text, hl7_code="100", location=f"{rule.segment}^{sent + 1}")
    if opening is not None and sent:
        group, head = opening
        text = (
            f"the {rule.segment} segment is outside its {group} group, which begins with {head}: the message has no "
            f"{group} for it ({needs})"
        )
    else:
        text = f"the {rule.segment} segment is missing ({needs})"
    return ConversionError(text, hl7_code="100", location=f"{rule.segment}^1")


_ORDINALS = ("first", "second", "third", "fourth", "fifth")


def _report_unplaced(message: er7.Message, unplaced: list[er7.Segment], report: list[dict[str, Any]]) -> None:
    """Report each segment the message structure has no place for (``unplaced-segment``: where; never the
    segment's text): no rule reads it, so it is converted to nothing, and the operator should know."""
    for seg in unplaced:
        location = f"{seg.name}^{segment_seq(message, seg)}"
        _report_once(report, "unplaced-segment", location, _UNPLACED)


def _report_controls(message: er7.Message, controls: list[tuple[int, int]], report: list[dict[str, Any]]) -> None:
    """Report each field that held a control character (``control-character``: where; never the text), removed
    from its value (:func:`hub.hl7.er7.without_controls`)."""
    for index, field_no in controls:
        seg = message.segments[index]
        _report_once(report, "control-character", f"{seg.name}^{segment_seq(message, seg)}^{field_no}", _CONTROLS)


_UNPLACED = "the message structure has no place for this segment: it is converted to nothing"
_CONTROLS = "control characters (not allowed in v2 text nor in a FHIR string) removed from the value"


def _report_once(report: list[dict[str, Any]], code: str, location: str, detail: str) -> None:
    """Add a report entry (``code``, where, why; never the message's text) unless the report has it already."""
    entry = {"code": code, "location": location, "detail": detail}
    if entry not in report:
        report.append(entry)


def _compile_gather(
    compiler: Compiler, rule: ResourceRule, unit: Unit, rtype: str
) -> tuple[tuple[str, Leaves | None], ...]:
    """A rule's ``gather``: each top-level element with the leaves that merge its items (None: whole items; a
    single-valued element has none)."""
    out: list[tuple[str, Leaves | None]] = []
    for entry in rule.gather:
        for element, leaves in entry.items() if isinstance(entry, dict) else [(entry, None)]:
            info = compiler.schema.element(rtype, element)
            if info is None:
                raise compiler.error(unit, rule, f"gather: {element!r} is no element of {rtype}")
            if leaves is not None and (not info.is_list or not leaves):
                raise compiler.error(unit, rule, f"gather: {element!r} with leaves is for a list element")
            out.append((element, tuple(tuple(leaf.split(".")) for leaf in leaves) if leaves else None))
    return tuple(out)


def _gather_into(first: dict[str, Any], later: dict[str, Any], gather: tuple[tuple[str, Leaves | None], ...]) -> None:
    """What a later segment of a shared resource gives of the gathered elements, added to the first's resource:
    a list's items it does not have yet (merged by the leaves' values when the rule names leaves), a single value
    it lacks."""
    for element, leaves in gather:
        value = later.get(element)
        if value is None or value == []:
            continue
        if not isinstance(value, list):
            first.setdefault(element, value)
            continue
        into = first.setdefault(element, [])
        if not isinstance(into, list):
            continue
        for item in value:
            if leaves is not None:
                merging.merge_into(into, item, leaves)
            elif item not in into:
                into.append(item)


def _apart(known: list[str], traits: list[str]) -> bool:
    """Whether a segment's ``distinct`` traits differ from those known of the resource (both given): another
    entity of the same key. The known traits are completed by the segment's when it is the same."""
    if any(mine and theirs and mine != theirs for mine, theirs in zip(known, traits, strict=False)):
        return True
    longer = traits[len(known) :]
    known[:] = [mine or theirs for mine, theirs in zip(known, traits, strict=False)] + known[len(traits) :] + longer
    return False


def _compile_snapshot(
    compiler: Compiler, rule: ResourceRule, unit: Unit, names: set[str], rtype: str
) -> CompiledSnapshot | None:
    spec = rule.snapshot
    if spec is None:
        return None
    if rule.delete:
        raise compiler.error(unit, rule, "'snapshot' is for rules that make resources, not 'delete' rules")
    if spec.scope not in names or spec.scope == rule.name:
        raise compiler.error(unit, rule, f"snapshot.scope: no resource rule {spec.scope!r} before this one")
    if spec.listed_in is not None and not re.match(r"^[a-z][A-Za-z0-9]*$", spec.listed_in):
        raise compiler.error(unit, rule, f"snapshot.listed_in: {spec.listed_in!r} is not a top-level element name")
    # the hub searches its store with these: a name it does not index would fail every message, not the load
    known = params_for(rtype)
    param = known.get(spec.param)
    if param is None or param.type != "reference":
        raise compiler.error(unit, rule, f"snapshot.param: {rtype} has no reference search parameter {spec.param!r}")
    unknown = sorted(name for name in spec.where if name not in known)
    if unknown:
        raise compiler.error(unit, rule, f"snapshot.where: {rtype} has no search parameter {', '.join(unknown)}")
    unless = compiler.condition(spec.unless, unit, False) if spec.unless is not None else None
    prefix, suffix = set_parts(rtype, spec.param, spec.where)
    return CompiledSnapshot(spec.scope, prefix, suffix, spec.listed_in, unless)


__all__ = ["CompiledMessage", "CompiledOverlay", "CompiledResource", "CompiledRule", "Conversion", "Converter"]
