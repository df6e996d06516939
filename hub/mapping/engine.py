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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hub.errors import ConversionError, MappingTemplateError
from hub.hl7 import er7
from hub.hl7.header import derive_structure
from hub.mapping import datetimes
from hub.mapping.compiler import Applier, Compiler, CondFn, Unit
from hub.mapping.fhirschema import FhirSchema
from hub.mapping.ids import key_text, make_id
from hub.mapping.nulls import HL7_NULL, NULL_EXTENSION_URL, NullMarks, compile_marks
from hub.mapping.nulls import split as split_nulls
from hub.mapping.runtime import Ctx, Env, parse_path, segment_seq
from hub.mapping.structure import GroupDef, StructureError, group_segments, has_path, iter_path, parse_structure
from hub.mapping.templates import (
    DatatypeTemplate,
    MessageTemplate,
    ResourceTemplate,
    TemplateModel,
    TerminologyTable,
)
from hub.mapping.terminology import Table
from hub.mapping.yamlload import line_of, load_yaml

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

FOLDERS = ("message", "resource", "datatype", "terminology")


@dataclass(slots=True)
class CompiledResource:
    name: str
    rtype: str
    segment: str
    file: str
    keys: list[Callable[[Ctx], list[Any] | None]]
    first_source: str | None  # the first required source of the first key, for the error location
    body: list[Applier]
    refs: set[str]
    nulls: NullMarks

    def make_id(self, ctx: Ctx) -> tuple[str, list[str]]:
        """The resource's id and key parts, from the first key alternative whose parts are all present.

        Raises:
            ConversionError: no alternative has its parts.
        """
        for alternative in self.keys:
            values = alternative(ctx)
            if values is not None:
                parts = [key_text(value) for value in values]
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


@dataclass(slots=True)
class CompiledMessage:
    structure: str
    file: str
    root: GroupDef
    events: frozenset[str] | None
    rules: list[CompiledRule]


def _validate(model: type[M], data: Any, path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where = ".".join(str(p) for p in loc)
        message = first["msg"].removeprefix("Value error, ")
        raise MappingTemplateError(
            f"{where}: {message}" if where else message, file=str(path), line=line_of(data, loc)
        ) from None


class Converter:
    """HL7 v2 → FHIR R4 conversion by the templates of one mappings directory."""

    def __init__(self, messages: dict[str, CompiledMessage], mappings_dir: Path) -> None:
        self._messages = messages
        self.mappings_dir = mappings_dir

    # Loading ---------------------------------------------------------------------------------------
    @classmethod
    def load(cls, mappings_dir: Path) -> Converter:
        """Read, check and compile every template under ``mappings_dir``.

        Args:
            mappings_dir: a directory with ``message/``, ``resource/``, ``datatype/`` and ``terminology/``.

        Returns:
            A converter ready for :meth:`convert`.

        Raises:
            MappingTemplateError: an invalid template, with its file and line.
        """
        mappings_dir = Path(mappings_dir)
        if not mappings_dir.is_dir():
            raise MappingTemplateError("the mappings directory does not exist", file=str(mappings_dir))
        raw: dict[str, dict[str, tuple[Any, Path]]] = {folder: {} for folder in FOLDERS}
        for folder in FOLDERS:
            for path in sorted((mappings_dir / folder).glob("*.yaml")):
                raw[folder][path.stem] = (load_yaml(path), path)

        tables: dict[str, tuple[Table, Path]] = {}
        for stem, (data, path) in raw["terminology"].items():
            model = _validate(TerminologyTable, data, path)
            _check_name(model.table, stem, path, model, "table")
            tables[model.table] = (Table(model), path)
        datatypes: dict[str, tuple[DatatypeTemplate, Path]] = {}
        for stem, (data, path) in raw["datatype"].items():
            dt = _validate(DatatypeTemplate, data, path)
            _check_name(dt.datatype, stem, path, dt, "datatype")
            datatypes[dt.datatype] = (dt, path)

        compiler = Compiler(FhirSchema(), datatypes, tables)
        for name in datatypes:
            compiler.datatype(name)  # every datatype is checked, used or not

        resources: dict[str, CompiledResource] = {}
        for stem, (data, path) in raw["resource"].items():
            resources[stem] = _compile_resource(compiler, stem, _validate(ResourceTemplate, data, path), path)

        messages: dict[str, CompiledMessage] = {}
        for stem, (data, path) in raw["message"].items():
            mt = _validate(MessageTemplate, data, path)
            _check_name(mt.message, stem, path, mt, "message")
            messages[mt.message] = _compile_message(compiler, mt, data, path, resources)
        log.info(
            "mappings loaded: %d message structures, %d resource templates, %d datatypes, %d tables",
            len(messages),
            len(resources),
            len(datatypes),
            len(tables),
        )
        return cls(messages, mappings_dir)

    # Queries ---------------------------------------------------------------------------------------
    def supports(self, structure: str, event: str | None = None) -> bool:
        """True when a message template exists for ``structure`` (``ADT_A01``, ``ORU_R01`` …).

        Args:
            structure: the message structure.
            event: also require that the template maps this trigger event (a template may name the events
                it maps, e.g. ADT_A21 leaves A29 out).
        """
        compiled = self._messages.get(structure)
        if compiled is None:
            return False
        return event is None or compiled.events is None or event.upper() in compiled.events

    @property
    def structures(self) -> list[str]:
        return sorted(self._messages)

    def structure_of(self, message: er7.Message) -> tuple[str, str, str]:
        """(message code, trigger event, structure) of a message: MSH-9.3 if a template has that name, else
        the structure of HL7 table 0354 for MSH-9.1/MSH-9.2."""
        msh = message.msh
        code = message.get(msh, 9, 1).strip().upper()
        event = message.get(msh, 9, 2).strip().upper()
        given = message.get(msh, 9, 3).strip().upper()
        if given and given in self._messages:
            return code, event, given
        return code, event, derive_structure(code, event) or given

    # Converting ------------------------------------------------------------------------------------
    def convert(self, message: er7.Message, *, sender_timezone: str = "Asia/Shanghai") -> dict[str, Any]:
        """Convert one message to a FHIR R4 transaction Bundle (plain JSON data).

        Args:
            message: the tokenised message.
            sender_timezone: the IANA zone of timestamps that carry no offset.

        Returns:
            The Bundle: ``type`` transaction, one ``PUT`` entry per resource, references as ``Type/id``.

        Raises:
            ConversionError: the message cannot be converted (unsupported structure, a required segment or
                field missing, an invalid value); ``location`` says where (``SEG^seq^field``).
        """
        try:
            return self._convert(message, sender_timezone)
        except ConversionError:
            raise
        except ValueError as exc:
            raise ConversionError(f"cannot convert: {exc}", location=None) from exc
        except Exception as exc:  # the contract: nothing but ConversionError escapes
            log.exception("mapping engine failure (%s)", type(exc).__name__)
            raise ConversionError(f"internal mapping error ({type(exc).__name__})", location=None) from exc

    def _convert(self, message: er7.Message, sender_timezone: str) -> dict[str, Any]:
        if not message.segments or message.msh.name != "MSH":
            raise ConversionError("not a single message (no MSH segment first)", hl7_code="100", location="MSH^1")
        code, event, structure = self.structure_of(message)
        compiled = self._messages.get(structure)
        if compiled is None:
            what = f"{code}^{event}" if code else "(empty MSH-9)"
            raise ConversionError(
                f"no mapping for message structure {structure or '?'} ({what})", hl7_code="200", location="MSH^1^9"
            )
        if compiled.events is not None and event not in compiled.events:
            raise ConversionError(
                f"no mapping for trigger event {code}^{event} of structure {structure}",
                hl7_code="201",
                location="MSH^1^9^2",
            )
        try:
            tz = datetimes.zone(sender_timezone)
        except ValueError as exc:
            raise ConversionError(str(exc), location=None) from None
        root, _unplaced = group_segments(compiled.root, message.segments)
        env = Env(message, tz, event, structure, root)
        has_null = any(HL7_NULL in seg.line for seg in message.segments)

        made: list[tuple[CompiledRule, Ctx, str]] = []
        taken: dict[tuple[str, str], int] = {}  # (type, id) → how many resources share that key
        for rule in compiled.rules:
            instances = iter_path(root, rule.groups, rule.segment)
            if not instances and rule.required:
                raise ConversionError(
                    f"the {rule.segment} segment is missing ({structure} needs it for {rule.resource.rtype})",
                    hl7_code="100",
                    location=f"{rule.segment}^1",
                )
            rtype = rule.resource.rtype
            for seg, node in instances:
                ctx = Ctx(env, node, seg)
                if rule.when is not None and not rule.when(ctx, None, 0):
                    continue
                rid, parts = rule.resource.make_id(ctx)
                seen = taken.get((rtype, rid), 0)
                taken[(rtype, rid)] = seen + 1
                if seen:
                    # Two segments with the same key in one message (the same test twice in a report): both
                    # are kept, the later ones numbered in message order.
                    n = seen + 1
                    rid = make_id(rtype, [*parts, f"#{n}"])
                    while (rtype, rid) in taken:
                        n += 1
                        rid = make_id(rtype, [*parts, f"#{n}"])
                    taken[(rtype, rid)] = 1
                node.register(rule.name, rtype, rid)
                made.append((rule, ctx, rid))

        entries = []
        for rule, ctx, rid in made:
            rtype = rule.resource.rtype
            if rule.delete:
                entries.append({"fullUrl": f"urn:uuid:{rid}", "request": {"method": "DELETE", "url": f"{rtype}/{rid}"}})
                continue
            resource: dict[str, Any] = {"resourceType": rtype, "id": rid}
            try:
                for apply in rule.body:
                    apply(resource, ctx, None, 0)
            except ValueError as exc:
                current = ctx.seg
                where = f"{current.name}^{segment_seq(message, current)}" if current is not None else None
                raise ConversionError(f"{rtype}: {exc}", hl7_code="102", location=where) from None
            entry: dict[str, Any] = {
                "fullUrl": f"urn:uuid:{rid}",
                "resource": resource,
                "request": {"method": "PUT", "url": f"{rtype}/{rid}"},
            }
            if rule.nulls:
                marks = rule.nulls.marks(resource, ctx, has_null)
                if marks:
                    # the HL7 null: elements this message deletes (hub.mapping.nulls, applied by hub.conversion)
                    entry["extension"] = [{"url": NULL_EXTENSION_URL, "valueString": m} for m in marks]
            entries.append(entry)
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _check_name(name: str, stem: str, path: Path, model: TemplateModel, kind: str) -> None:
    if name != stem:
        raise MappingTemplateError(
            f"{kind} {name!r} must be in a file named {name}.yaml", file=str(path), line=model.line
        )


def _compile_resource(compiler: Compiler, name: str, template: ResourceTemplate, path: Path) -> CompiledResource:
    unit = Unit(str(path))
    if template.resource not in compiler.schema.resource_types:
        raise compiler.error(unit, template, f"{template.resource!r} is not a FHIR R4 resource type")
    keys = [compiler.key(alternative, unit) for alternative in template.id]
    first_source = next((part.from_ for part in template.id[0] if part.from_ and not part.optional), None)
    specs, deletes = split_nulls(template.elements, unit)
    body = compiler.elements(specs, template.resource, unit, False)
    nulls = compile_marks(compiler, unit, template.resource, specs, deletes)
    return CompiledResource(
        name, template.resource, template.segment, str(path), keys, first_source, body, unit.refs, nulls
    )


def _compile_message(
    compiler: Compiler,
    template: MessageTemplate,
    data: Any,
    path: Path,
    resources: dict[str, CompiledResource],
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
    for rule in template.resources:
        if rule.name in names:
            raise compiler.error(unit, rule, f"two resource rules are named {rule.name!r}")
        names.add(rule.name)
        resource = resources.get(rule.template)
        if resource is None:
            raise compiler.error(unit, rule, f"no resource template {rule.template!r} (resource/{rule.template}.yaml)")
        *groups, segment = rule.for_.split(".")
        if not has_path(root, tuple(groups), segment):
            raise compiler.error(unit, rule, f"'for: {rule.for_}' is not a segment of the structure (GROUP.GROUP.SEG)")
        if segment != resource.segment:
            raise compiler.error(
                unit, rule, f"template {rule.template} reads {resource.segment} segments, but 'for' names {segment}"
            )
        when = compiler.condition(rule.when, unit, False) if rule.when is not None else None
        specs, deletes = split_nulls(rule.elements, unit)
        overrides = compiler.elements(specs, resource.rtype, unit, False)
        nulls = compile_marks(compiler, unit, resource.rtype, specs, deletes) + resource.nulls
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
                nulls,
                rule.delete,
            )
        )
    all_refs |= unit.refs
    missing = sorted(all_refs - names)
    if missing:
        raise MappingTemplateError(
            f"templates refer to resources this message does not make: {', '.join(missing)} "
            f"(names of its resource rules: {', '.join(sorted(names))})",
            file=str(path),
            line=line_of(data, ("resources",)),
        )
    events = frozenset(e.upper() for e in template.events) if template.events is not None else None
    return CompiledMessage(template.message, str(path), root, events, rules)


__all__ = ["CompiledMessage", "CompiledResource", "CompiledRule", "Converter"]
