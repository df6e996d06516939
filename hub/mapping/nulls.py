"""The HL7 null (``""``) of a message, marked on the Bundle so that an update can delete what is stored.

HL7 v2 update semantics (v2.5.1 §2.5.3, "Null values"): a field left *empty* says nothing ("no information: keep
what you have"); a field sent as ``""`` (the HL7 null) says "delete the value you have". A PUT of the whole
resource cannot tell the two apart (both leave the element out), so the engine marks the second on the entry:

    {"fullUrl": "urn:uuid:…", "resource": {…}, "request": {"method": "PUT", …},
     "extension": [{"url": "urn:hub:fhir:StructureDefinition:hl7v2-null", "valueString": "period.end"}]}

A mark is an element path of the resource, as templates write it (``gender``, ``period.end``), that this message
deletes, because

* a rule of the resource's templates reads a field (``from: PID-8``) that the message sent as ``""``, and the
  resource has no value there (another rule did not fill it), or
* a rule says ``value: '""'`` (A13 cancels a discharge: ``path: period.end``) and its condition holds.

:mod:`hub.conversion` applies the marks when it merges an update with the stored resource; a FHIR server that
receives the Bundle ignores them (an extension on an entry, not on the resource, and not a modifier).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.mapping.compiler import Compiler, CondFn, Unit
from hub.mapping.runtime import Ctx, parse_path
from hub.mapping.templates import ValueSpec

NULL_EXTENSION_URL = "urn:hub:fhir:StructureDefinition:hl7v2-null"
HL7_NULL = '""'
_HEADER_SEGMENTS = ("MSH", "BHS", "FHS")


def is_null_rule(spec: ValueSpec) -> bool:
    """True for ``value: '""'``: a rule that deletes its element instead of filling it."""
    return "value" in spec.model_fields_set and spec.value == HL7_NULL


def split(specs: list[ValueSpec], unit: Unit) -> tuple[list[ValueSpec], list[ValueSpec]]:
    """The rules that fill elements, and the ``value: '""'`` rules (top level only).

    Raises:
        MappingTemplateError: a ``value: '""'`` inside an ``elements`` block (only whole elements of a resource
            can be deleted).
    """
    keep: list[ValueSpec] = []
    deletes: list[ValueSpec] = []
    for spec in specs:
        (deletes if is_null_rule(spec) else keep).append(spec)
        _no_nested_null(spec.elements or [], unit)
    return keep, deletes


def _no_nested_null(specs: list[ValueSpec], unit: Unit) -> None:
    for spec in specs:
        if is_null_rule(spec):
            raise Compiler.error(
                unit, spec, "value: '\"\"' (delete) is for element rules of a resource, not inside 'elements'"
            )
        _no_nested_null(spec.elements or [], unit)


@dataclass(frozen=True, slots=True)
class _FieldRule:
    path: str
    segment: str
    field: int
    scope: str


@dataclass(frozen=True, slots=True)
class _DeleteRule:
    path: str
    when: CondFn | None


class NullMarks:
    """What can delete elements of one resource rule: the fields its rules read, and its delete rules."""

    __slots__ = ("fields", "deletes")

    def __init__(self, fields: tuple[_FieldRule, ...] = (), deletes: tuple[_DeleteRule, ...] = ()) -> None:
        self.fields = fields
        self.deletes = deletes

    def __bool__(self) -> bool:
        return bool(self.fields or self.deletes)

    def __add__(self, other: NullMarks) -> NullMarks:
        return NullMarks(self.fields + other.fields, self.deletes + other.deletes)

    def marks(self, resource: dict[str, Any], ctx: Ctx, message_has_null: bool) -> list[str]:
        """The element paths this message deletes from the resource (none that the resource has a value for)."""
        out: list[str] = []
        for rule in self.deletes:
            if rule.path in out or has_path(resource, rule.path):
                continue
            if rule.when is None or rule.when(ctx, None, 0):
                out.append(rule.path)
        if message_has_null:
            for field in self.fields:
                if field.path in out or has_path(resource, field.path):
                    continue
                if _raw_field(ctx, field) == HL7_NULL:
                    out.append(field.path)
        return out


def compile_marks(
    compiler: Compiler, unit: Unit, owner: str, specs: list[ValueSpec], deletes: list[ValueSpec]
) -> NullMarks:
    """The null marks of a resource's element rules (``specs``) and its ``value: '""'`` rules.

    Raises:
        MappingTemplateError: a delete rule's path is not an element of ``owner``, or its condition is invalid.
    """
    fields: list[_FieldRule] = []
    for spec in specs:
        if spec.path is None or spec.from_ is None:
            continue
        try:
            source = parse_path(spec.from_)
        except ValueError:
            continue  # the compiler reports it
        if source.segment is None or source.field is None or source.segment in _HEADER_SEGMENTS:
            continue
        rule = _FieldRule(spec.path, source.segment, source.field, spec.scope)
        if rule not in fields:
            fields.append(rule)
    compiled: list[_DeleteRule] = []
    for spec in deletes:
        if spec.path is None:
            raise Compiler.error(unit, spec, "an element rule needs a 'path'")
        compiler.resolve_path(owner, spec.path, unit, spec)  # the element must exist
        when = compiler.condition(spec.when, unit, False) if spec.when is not None else None
        compiled.append(_DeleteRule(spec.path, when))
    return NullMarks(tuple(fields), tuple(compiled))


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


def _raw_field(ctx: Ctx, rule: _FieldRule) -> str:
    seg = ctx.seg
    if seg is None or seg.name != rule.segment:
        if rule.scope == "own":
            return ""
        found = ctx.node.segs.get(rule.segment) if rule.scope == "group" else ctx.node.find(rule.segment)
        if not found:
            return ""
        seg = found[0]
    return seg[rule.field]


def entry_marks(entry: dict[str, Any]) -> list[str]:
    """The null marks of a Bundle entry (and remove them from it)."""
    extensions = entry.get("extension")
    if not extensions:
        return []
    marks = [e["valueString"] for e in extensions if e.get("url") == NULL_EXTENSION_URL and "valueString" in e]
    rest = [e for e in extensions if e.get("url") != NULL_EXTENSION_URL]
    if rest:
        entry["extension"] = rest
    else:
        del entry["extension"]
    return marks


__all__ = ["HL7_NULL", "NULL_EXTENSION_URL", "NullMarks", "compile_marks", "entry_marks", "has_path", "split"]
