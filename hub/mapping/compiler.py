"""Templates → Python closures, once, at load time.

Every rule of every template becomes a small function; a resource template becomes a list of "appliers"
that each set one element of the output dict. Checking happens here too, with file and line: element paths
against the FHIR R4 schema (name, cardinality, type), names of datatypes, built-ins, tables, finishers and
validators, source paths, constant codes against required value sets, and the shape of constants (each
complex constant is validated against its FHIR type with the R4 schema).

At conversion time nothing of this remains but the closures: no YAML, no pydantic, no schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import fastjsonschema

from hub.errors import ConversionError, MappingTemplateError
from hub.fhir.validation import validator_for
from hub.hl7.er7 import Segment
from hub.mapping.builtins import BUILTINS, FINISHERS, VALIDATORS, Builtin, Conv, Finisher, fhir_code, fhir_string
from hub.mapping.codegen import RulePlan, generate, generate_builder, generate_condition, generate_key, hint
from hub.mapping.fhirschema import FhirSchema
from hub.mapping.ids import make_id
from hub.mapping.merging import merge_into
from hub.mapping.periods import ends_before
from hub.mapping.runtime import (
    FIELD_LEVEL,
    SUBCOMPONENT_LEVEL,
    Ctx,
    Env,
    Getter,
    Heads,
    Item,
    SourcePath,
    coded_identifiers,
    compile_coded_texts,
    compile_getter,
    compile_texts,
    copier,
    current_item,
    deep_copy,
    first_text,
    invalid_value,
    json_copy,
    leaf,
    parse_path,
    segment_seq,
)
from hub.mapping.templates import Among, Condition, DatatypeTemplate, KeyRef, TemplateModel, ValueSpec
from hub.mapping.terminology import Table

ValueFn = Callable[[Ctx, str | None, int], list[Any]]
CondFn = Callable[[Ctx, str | None, int], bool]
Applier = Callable[[dict[str, Any], Ctx, str | None, int], None]
ObjectFn = Callable[[Ctx, str | None, int], dict[str, Any] | None]

CondTree = tuple[Any, ...]  # see Compiler.condition_inline
ANY = "*"  # a pseudo FHIR type: key parts and arguments whose type is not fixed by an element
_EMPTY: list[Any] = []

# Which FHIR primitive types a built-in's output may fill, besides its own.
_PRIMITIVE_COMPAT: dict[str, frozenset[str]] = {
    "string": frozenset({"string", "markdown"}),
    "code": frozenset({"code", "string"}),
    "id": frozenset({"id", "string", "code"}),
    "uri": frozenset({"uri", "url", "canonical", "string"}),
}
# The built-in that fills a primitive element when a rule names no type.
_DEFAULT_PRIMITIVE = {"url": "uri", "canonical": "uri"}
_STRINGISH = frozenset({"string", "markdown", "code", "id", "uri", "url", "canonical", "oid", "uuid"})
_PLACEHOLDER = re.compile(r"\{([^{}|]+)(?:\|([a-z]+))?\}")
_URI_UNSAFE = re.compile(r"[^A-Za-z0-9\-._~:/@!$&'()*+,;=]")


def _uri_escape(text: str) -> str:
    if _URI_UNSAFE.search(text) is None:
        return text
    return _URI_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m[0].encode()), text)


_FORMAT_FILTERS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "lower": str.lower,
    "uri": _uri_escape,
    "nospace": lambda s: "".join(s.split()),
}


@dataclass(frozen=True, slots=True)
class Target:
    """The FHIR element a rule fills."""

    type: str
    is_list: bool = False
    enum: frozenset[str] | None = None
    choice: tuple[str, ...] = ()
    name: str = ""


@dataclass(slots=True)
class Unit:
    """Where a template came from, for errors; and what its rules read besides their own value."""

    file: str
    refs: set[str] = field(default_factory=set)
    # False once a rule reads something that differs within a message (a segment other than MSH, a
    # reference): then a datatype's result cannot be reused for the same value elsewhere in the message.
    context_free: bool = True
    # the segment fields its rules read ((PID, 3) for PID-3.4): what the conversion report's unmapped-field leaves out
    reads: set[tuple[str, int]] = field(default_factory=set)


class Compiler:
    """Compiles templates against a set of datatypes and tables (one per loaded mappings directory)."""

    def __init__(
        self,
        schema: FhirSchema,
        datatypes: dict[str, tuple[DatatypeTemplate, Path]],
        tables: dict[str, tuple[Table, Path]],
    ) -> None:
        self.schema = schema
        self.datatypes = datatypes
        self.tables = tables
        for name, (table, path) in tables.items():
            if table.include:
                missing = [other for other in table.include if other not in tables]
                if missing:
                    raise MappingTemplateError(f"table {name}: 'include' names no table {missing}", file=str(path))
                table.add_included([tables[other][0] for other in table.include])
        self._sender_local = _SenderLocal(tables)
        self._datatype_cache: dict[str, tuple[str, Conv]] = {}
        self._datatype_context_free: dict[str, bool] = {}
        self._datatype_refs: dict[str, set[str]] = {}
        self._datatype_reads: dict[str, set[tuple[str, int]]] = {}
        self._compiling: list[str] = []
        # while the elements of a rule that selects OBX by a condition are compiled: that condition, which tells
        # the OBX heading a group of their own among those without a sub-id (scope sub_id: one VIS per statement)
        self._heads: Heads | None = None

    # Errors ----------------------------------------------------------------------------------------
    @staticmethod
    def error(unit: Unit, model: TemplateModel | None, message: str) -> MappingTemplateError:
        return MappingTemplateError(
            message, file=unit.file, line=model.line if model is not None and model.line else None
        )

    # Tables ----------------------------------------------------------------------------------------
    def table(self, name: str, unit: Unit, model: TemplateModel) -> Table:
        found = self.tables.get(name)
        if found is None:
            raise self.error(unit, model, f"unknown terminology table {name!r}")
        return found[0]

    def table_codes(self, name: str) -> frozenset[str]:
        found = self.tables.get(name)
        if found is None:
            raise MappingTemplateError(f"a built-in needs the terminology table {name!r}, which is missing")
        return found[0].source_codes()

    # Paths -----------------------------------------------------------------------------------------
    def path(self, text: str, unit: Unit, model: TemplateModel, relative_ok: bool) -> SourcePath:
        try:
            path = parse_path(text)
        except ValueError as exc:
            raise self.error(unit, model, str(exc)) from None
        if path.is_relative and not relative_ok:
            raise self.error(unit, model, f"{text!r} is relative (a component); here a path needs a segment: PID-3.1")
        if path.segment is not None and path.segment != "MSH":
            unit.context_free = False
        if path.segment is not None and path.field is not None:
            unit.reads.add((path.segment, path.field))
        if getattr(model, "scope", None) == "sub_id" and path.segment != "OBX":
            raise self.error(unit, model, f"'scope: sub_id' groups OBX by their sub-id (OBX-4), not {text!r}")
        return path

    def _getter(self, path: SourcePath, scope: str) -> Getter:
        return compile_getter(path, scope, self._heads if scope == "sub_id" else None)

    # Conditions ------------------------------------------------------------------------------------
    def condition(self, cond: Condition, unit: Unit, relative_ok: bool) -> CondFn:
        if cond.event is not None:
            events = frozenset(e.upper() for e in cond.event)

            def event(ctx: Ctx, _raw: str | None, _level: int) -> bool:
                return ctx.env.event in events

            return event
        if cond.all_ is not None:
            return _all([self.condition(c, unit, relative_ok) for c in cond.all_])
        if cond.any_ is not None:
            return _any([self.condition(c, unit, relative_ok) for c in cond.any_])
        if cond.not_ is not None:
            inner = self.condition(cond.not_, unit, relative_ok)
            return lambda ctx, raw, level: not inner(ctx, raw, level)
        assert cond.from_ is not None
        path = self.path(cond.from_, unit, cond, relative_ok)
        getter = compile_getter(path, cond.scope)
        if path.is_relative and path.subcomponent is None:
            assert path.component is not None
            getter = _component_getter(path.component - 1)
        test: Callable[[str], bool]
        if cond.among is not None:
            return self._among(cond.among, getter, unit)
        if cond.present is not None:
            wanted = cond.present

            # an item is present when any of its components has text (README, "Conditions"), not only its first
            def present(ctx: Ctx, raw: str | None, level: int) -> bool:
                env = ctx.env
                for item in getter(ctx, raw, level):
                    if item[1] is None or first_text(env, item[1], item[2]):
                        return wanted
                return not wanted

            return present
        if cond.repeats is not None:
            wanted_repeats = cond.repeats

            # non-empty items only, as present reads them: a~~b, a trailing ~ or a "" repetition is no repeat
            def repeats(ctx: Ctx, raw: str | None, level: int) -> bool:
                env = ctx.env
                count = 0
                for item in getter(ctx, raw, level):
                    if item[1] is None or first_text(env, item[1], item[2]):
                        count += 1
                        if count > 1:
                            return wanted_repeats
                return not wanted_repeats

            return repeats
        if cond.in_ is not None or cond.not_in is not None:
            values = frozenset(v.upper() for v in (cond.in_ if cond.in_ is not None else cond.not_in or []))
            negate = cond.in_ is None
            test = values.__contains__
            upper = True
        elif cond.equals is not None:
            expected = cond.equals.upper()
            test = expected.__eq__
            upper = True
            negate = False
        elif cond.matches is not None:
            regex = re.compile(cond.matches)
            test = lambda s: regex.search(s) is not None  # noqa: E731
            upper = False
            negate = False
        elif cond.valid is not None:
            found = VALIDATORS.get(cond.valid)
            if found is None:
                raise self.error(unit, cond, f"unknown validator {cond.valid!r} (known: {', '.join(VALIDATORS)})")
            test = found[0]
            upper = False
            negate = False
        else:
            assert cond.in_table is not None
            table = self.table(cond.in_table, unit, cond)
            test = table.contains_test
            upper = False
            negate = False
            system = table.alternate_system
            if system is not None and path.field is not None and path.component is None:
                contains = test

                # a whole coded field: its alternate identifier too, under the table's coding system (LN)
                def coded(ctx: Ctx, raw: str | None, level: int) -> bool:
                    env = ctx.env
                    for item in getter(ctx, raw, level):
                        value = item[1]
                        if value and any(c and contains(c) for c in coded_identifiers(env, value, system)):
                            return True
                    return False

                return coded

        def check(ctx: Ctx, raw: str | None, level: int) -> bool:
            env = ctx.env
            for item in getter(ctx, raw, level):
                value = item[1]
                if value is None:
                    continue
                text = leaf(env, value, item[2])
                if text and test(text.upper() if upper else text):
                    return not negate
            return negate

        return check

    def _among(self, among: Among, getter: Getter, unit: Unit) -> CondFn:
        """``among``: an item's text (first component, case ignored) is one of the texts ``among.from_`` reads,
        with its scope, from where the rule reads (the current group), in the segments that pass its ``where``
        (read at each of them)."""
        path = self.path(among.from_, unit, among, False)
        assert path.segment is not None  # an absolute path (relative ones are refused above)
        if path.field is None:
            raise self.error(unit, among, f"'among' compares texts: {among.from_!r} needs a field (PRT-5.1)")
        # every segment the scope finds (a field path reads the first only, for most scopes), then its field
        segments = compile_getter(parse_path(path.segment), among.scope)
        field = compile_getter(path, "own")
        where = self.condition(among.where, unit, False) if among.where is not None else None
        made: Conv | None = None
        if among.type is not None:
            builtin = BUILTINS.get(among.type)
            if builtin is None or builtin.fhir != "string" or builtin.args:
                raise self.error(unit, among, f"'among' compares texts: {among.type!r} is no text built-in (XCN_text)")
            made = builtin.make()

        def text_of(ctx: Ctx, item: Item) -> str | None:
            if made is None:
                return leaf(ctx.env, item[1], item[2]) if item[1] is not None else None
            value = made(ctx, item, None)
            return value if isinstance(value, str) else None

        def among_(ctx: Ctx, raw: str | None, level: int) -> bool:
            env = ctx.env
            node = ctx.node
            texts: set[str] = set()
            for found in segments(Ctx(env, node, None), None, 0):
                at = Ctx(env, node, found[0])
                if where is not None and not where(at, None, FIELD_LEVEL):
                    continue
                for item in field(at, None, 0):
                    if item[1] is not None:
                        text = text_of(at, item)
                        if text:
                            texts.add(text.upper())
            if not texts:
                return False
            for item in getter(ctx, raw, level):
                if item[1] is not None:
                    text = text_of(ctx, item)
                    if text and text.upper() in texts:
                        return True
            return False

        return among_

    def condition_fn(self, cond: Condition, unit: Unit, relative_ok: bool, what: str) -> CondFn:
        """The condition as one generated function (:func:`hub.mapping.codegen.generate_condition`) when it can
        be written in line, else as :meth:`condition`'s closures: for a condition asked of many segments (a
        message rule's ``when``), where the closures' calls cost more than generating a function at load."""
        closures = self.condition(cond, unit, relative_ok)  # also checks it
        tree = self.condition_inline(cond, unit, relative_ok)
        if tree is None:
            return closures
        return generate_condition(tree, f"{unit.file} {what}")

    def condition_inline(self, cond: Condition, unit: Unit, relative_ok: bool) -> CondTree | None:
        """The condition as a tree codegen can write in line, when it only reads components of the current
        value, fields and segments by absolute paths, and the event; None otherwise (then the closure is
        called). An absolute path's leaf texts are read once per call of the generated function (the ten
        value[x] rules of an Observation ask OBX-2 and OBX-5)."""
        if cond.event is not None:
            return ("event", frozenset(e.upper() for e in cond.event))
        if cond.all_ is not None or cond.any_ is not None:
            parts = [self.condition_inline(c, unit, relative_ok) for c in (cond.all_ or cond.any_ or [])]
            if any(p is None for p in parts):
                return None
            return ("all" if cond.all_ is not None else "any", tuple(parts))
        if cond.not_ is not None:
            inner = self.condition_inline(cond.not_, unit, relative_ok)
            return None if inner is None else ("not", inner)
        assert cond.from_ is not None
        if cond.among is not None:
            return None  # reads other segments: the closure
        try:
            path = parse_path(cond.from_)
        except ValueError:
            return None
        if not path.is_relative:
            return self._field_condition(cond, path)
        if not relative_ok or path.subcomponent is not None or cond.scope != "up":
            return None
        assert path.component is not None
        index = path.component - 1
        if cond.repeats is not None:
            return None  # counts the items: not written in line
        if cond.present is not None:
            return ("present", index, cond.present)
        if cond.in_ is not None:
            return ("in", index, frozenset(v.upper() for v in cond.in_))
        if cond.not_in is not None:
            return ("not", ("in", index, frozenset(v.upper() for v in cond.not_in)))
        if cond.equals is not None:
            return ("in", index, frozenset({cond.equals.upper()}))
        if cond.matches is not None:
            return ("test", index, re.compile(cond.matches).search)
        if cond.valid is not None:
            found = VALIDATORS.get(cond.valid)
            return None if found is None else ("test", index, found[0])
        if cond.in_table is not None:
            table = self.tables.get(cond.in_table)
            if table is None:
                return None
            return ("test", index, table[0].contains_test)
        return None  # pragma: no cover - Condition guarantees one operator

    def _field_condition(self, cond: Condition, path: SourcePath) -> CondTree | None:
        """A condition on an absolute path as ``("field", (path, scope), texts, op, arg)``: ``texts(ctx)`` gives
        the leaf text of each item of the path (a whole segment: a marker that is never empty), ``op`` is
        ``in`` (arg: the upper-case values), ``present`` / ``repeats`` (arg: the wanted answer) or ``test``."""
        texts: Callable[[Ctx], tuple[str, ...]]
        if path.is_segment:
            if cond.present is None and cond.repeats is None:
                return None  # a segment's text is never compared
            getter = compile_getter(path, cond.scope)

            def segments(ctx: Ctx) -> tuple[str, ...]:
                return ("\x00",) * len(getter(ctx, None, 0))

            texts = segments
        elif cond.present is not None or cond.repeats is not None:
            texts = compile_texts(path, cond.scope, first_text)  # an item with text in any component counts
        else:
            texts = compile_texts(path, cond.scope)
        # the texts of one path are read once per generated function; present's and repeats' (first_text) are
        # other texts
        anyway = cond.present is not None or cond.repeats is not None
        key = (path.text, cond.scope, "any" if anyway else "leaf")
        if cond.present is not None:
            return ("field", key, texts, "present", cond.present)
        if cond.repeats is not None:
            return ("field", key, texts, "repeats", cond.repeats)
        if cond.in_ is not None:
            return ("field", key, texts, "in", frozenset(v.upper() for v in cond.in_))
        if cond.not_in is not None:
            return ("not", ("field", key, texts, "in", frozenset(v.upper() for v in cond.not_in)))
        if cond.equals is not None:
            return ("field", key, texts, "in", frozenset({cond.equals.upper()}))
        if cond.matches is not None:
            return ("field", key, texts, "test", re.compile(cond.matches).search)
        if cond.valid is not None:
            found = VALIDATORS.get(cond.valid)
            return None if found is None else ("field", key, texts, "test", found[0])
        if cond.in_table is not None:
            table = self.tables.get(cond.in_table)
            if table is None:
                return None
            system = table[0].alternate_system
            if system is not None and path.component is None:
                if cond.scope in ("below", "around"):
                    return None  # the identifiers of every segment's field: the closure (no template asks it)
                # a whole coded field: its identifiers, the alternate one under the table's coding system too
                key = (path.text, cond.scope, f"coded {system}")
                texts = compile_coded_texts(path, cond.scope, system)
            return ("field", key, texts, "test", table[0].contains_test)
        return None  # pragma: no cover - Condition guarantees one operator

    # Elements --------------------------------------------------------------------------------------
    def resolve_path(self, owner: str, path: str, unit: Unit, model: TemplateModel) -> tuple[list[str], Target]:
        steps = path.split(".")
        type_name = owner
        for i, step in enumerate(steps):
            info = self.schema.element(type_name, step)
            if info is None:
                raise self.error(unit, model, f"{type_name} has no element {step!r} (path {path!r})")
            if i < len(steps) - 1:
                if info.is_list:
                    raise self.error(
                        unit, model, f"path {path!r} goes through the repeating element {step!r}; use 'elements'"
                    )
                if self.schema.is_primitive(info.type):
                    raise self.error(unit, model, f"{step!r} is a primitive ({info.type}); {path!r} cannot go on")
                type_name = info.type
            else:
                return steps, Target(info.type, info.is_list, info.enum, info.choice, path)
        raise AssertionError("unreachable")  # pragma: no cover

    def _parent_type(self, owner: str, steps: list[str]) -> str:
        """The type of the object that holds the last step of a resolved path."""
        type_name = owner
        for step in steps[:-1]:
            info = self.schema.element(type_name, step)
            if info is None:  # pragma: no cover - the path is resolved
                return ""
            type_name = info.type
        return type_name

    def elements(
        self, specs: list[ValueSpec], owner: str, unit: Unit, relative_ok: bool, *, as_list: bool = False
    ) -> list[Applier]:
        """The rules of one object as one generated function (see :mod:`hub.mapping.codegen`).

        ``as_list``: each rule fills its element as a list, a single-valued one too (a ``withdraw`` rule of a
        single-valued element builds every item it withdraws, not the first only: :mod:`hub.mapping.nulls`).
        """
        plans = self._plans(specs, owner, unit, relative_ok, as_list)
        if not plans:
            return []
        return [generate(plans, f"{unit.file} {owner}")]

    def _plans(
        self, specs: list[ValueSpec], owner: str, unit: Unit, relative_ok: bool, as_list: bool = False
    ) -> list[RulePlan]:
        resolved = []
        for spec in specs:
            if spec.path is None:
                raise self.error(unit, spec, "an element rule needs a 'path'")
            steps, target = self.resolve_path(owner, spec.path, unit, spec)
            resolved.append((steps, replace(target, is_list=True) if as_list else target))
        sure = _sure_containers(specs, [steps for steps, _target in resolved])
        return [
            self._plan(spec, owner, unit, relative_ok, found, sure) for spec, found in zip(specs, resolved, strict=True)
        ]

    def _leave_out_safe(self, owner: str, steps: list[str], sure: frozenset[tuple[str, ...]]) -> bool:
        """Whether leaving out what a rule writes at ``steps`` (an invalid value) keeps its object valid R4: each
        element on the way that its type requires, the leaf too, is one another rule of the object certainly writes
        (``sure``). Otherwise the invalid value refuses the message (Slot.start; DocumentReference.content's
        attachment.creation unless the attachment is certain anyway)."""
        type_name = owner
        for i, step in enumerate(steps):
            if step in self.schema.required(type_name) and tuple(steps[: i + 1]) not in sure:
                return False
            info = self.schema.element(type_name, step) if i < len(steps) - 1 else None
            type_name = info.type if info is not None else ""
        return True

    def _plan(
        self,
        spec: ValueSpec,
        owner: str,
        unit: Unit,
        relative_ok: bool,
        resolved: tuple[list[str], Target] | None = None,
        sure: frozenset[tuple[str, ...]] = frozenset(),
    ) -> RulePlan:
        if resolved is None:
            assert spec.path is not None
            resolved = self.resolve_path(owner, spec.path, unit, spec)
        steps, target = resolved
        element_path = spec.path or target.name
        source = None
        if spec.from_ is not None:
            parsed = self.path(spec.from_, unit, spec, relative_ok)
            source = None if parsed.is_relative else parsed
        error_fn = None
        if source is not None and not source.is_relative:
            src = source

            def error_fn(ctx: Ctx, exc: ValueError) -> ConversionError:
                return _conversion_error(ctx, src, f"{src.text} → {element_path}: {exc}")

        def missing(ctx: Ctx) -> ConversionError:
            where = source.location(_seq(ctx, source)) if source is not None else _here(ctx)
            what = f" from {source.text}" if source is not None else ""
            return ConversionError(f"{element_path} is required but has no value{what}", hl7_code="101", location=where)

        merge = None
        if isinstance(spec.unique, list):
            # items with the same first values at these leaves are one (hub.mapping.merging)
            if not target.is_list or not spec.unique:
                raise self.error(
                    unit, spec, "'unique' with leaves is for a list element, with the leaves that tell items apart"
                )
            leaves = tuple(tuple(leaf.split(".")) for leaf in spec.unique)
            merge = partial(merge_into, leaves=leaves)
        plan = RulePlan(
            steps=steps,
            is_list=target.is_list,
            choice=target.choice,
            unique=spec.unique is True,
            merge=merge,
            required=spec.required,
            error=error_fn,
            missing=missing,
            enum=target.enum,
            # an invalid value is left out only where that cannot make the object invalid R4 (not Slot.start)
            droppable=not spec.required and self._leave_out_safe(owner, steps, sure),
        )
        if not target.is_list and steps[-1] in ("start", "end") and self._parent_type(owner, steps) == "Period":
            plan.period = (steps[-1], _period_check(steps[-1], source, element_path))
        simple = (
            self._is_from(spec)
            and spec.scope in ("up", "group", "own")  # the others are read by their getters, not in line
            and spec.where is None
            and spec.prefer is None
            and spec.join is None
            and (spec.repeat is None or spec.repeat == "first" or target.is_list)
        )
        if spec.when is not None:
            plan.when_tree = self.condition_inline(spec.when, unit, relative_ok)
        if "value" in spec.model_fields_set and spec.when is not None:
            # a constant under a condition: written in line (the condition too, when it can be)
            self._constant(spec, target, unit)  # checks it
            plan.when = self.condition(spec.when, unit, relative_ok)
            plan.constant = (spec.value,)
            return plan
        if not self._is_from(spec):
            # format, ref, refs, an unconditional constant: their function, the condition written in line
            plan.values = self._produce(spec, target, unit, relative_ok)
            if spec.when is not None:
                plan.when = self.condition(spec.when, unit, relative_ok)
            # a format of components of the current value only, a reference: written in line
            plan.fmt = getattr(plan.values, "inline", None)
            plan.ref = getattr(plan.values, "ref", None)
            return plan
        if not simple:
            plan.values = self.value(spec, target, unit, relative_ok)
            plan.when_tree = None  # value() checks the condition itself, after the source
            return plan
        path = self.path(spec.from_, unit, spec, relative_ok) if spec.from_ is not None else None
        whole_segments = path is not None and path.is_segment
        if path is None and not relative_ok and spec.elements is None:
            raise self.error(unit, spec, "a rule needs a source: 'from', 'value', 'format', 'ref' or 'refs'")
        if whole_segments and spec.elements is None and not self._segment_datatype(spec):
            raise self.error(unit, spec, f"{spec.from_!r} is a whole segment; map it with 'elements' or a datatype")
        plan.when = self.condition(spec.when, unit, relative_ok) if spec.when is not None else None
        plan.conv = self._converter(spec, target, unit, whole_segments)
        plan.first_only = target.is_list and spec.repeat == "first"
        if spec.args:
            plan.args = self._args(spec, unit, relative_ok)
        if path is not None and path.is_relative:
            assert path.component is not None
            plan.relative = (path.component - 1, path.subcomponent - 1 if path.subcomponent else None)
        elif path is not None:
            plan.getter = self._getter(path, spec.scope)
            header = path.segment in ("MSH", "BHS", "FHS") and path.field is not None and path.field <= 2
            if path.field is not None and not header:
                plan.own = (path.segment or "", path.field, path.component, path.subcomponent, spec.scope)
        else:
            plan.current = True
        return plan

    def object(
        self,
        specs: list[ValueSpec],
        owner: str,
        unit: Unit,
        relative_ok: bool,
        require: list[str],
        finish: Finisher | None,
        model: TemplateModel,
        memo: str | None = None,
    ) -> ObjectFn:
        """A generated builder of one complex value (an ``elements`` block, a datatype template)."""
        if self.schema.is_primitive(owner) or owner == ANY:
            raise self.error(unit, model, f"'elements' builds a complex value, but the target is {owner}")
        plans = self._plans(specs, owner, unit, relative_ok)
        for name in require:
            if self.schema.element(owner, name) is None:
                raise self.error(unit, model, f"'require' names {name!r}, which {owner} does not have")
        return generate_builder(
            plans,
            f"{unit.file} {owner}",
            require=tuple(require),
            finish=finish,
            memo=memo if memo is not None and unit.context_free else None,
        )

    # Values ----------------------------------------------------------------------------------------
    def value(self, spec: ValueSpec, target: Target, unit: Unit, relative_ok: bool, *, shared: bool = False) -> ValueFn:
        """The function producing the values of one rule (a list; empty when there is none).

        ``shared``: the values are only read (a built-in's arguments), never put in the output: a datatype's
        result kept for the message is given as it is, not copied.
        """
        when = self.condition_fn(spec.when, unit, relative_ok, "when") if spec.when is not None else None
        if self._is_from(spec):
            # A rule that reads a source checks its condition only when the source has a value.
            return self._from(spec, target, unit, relative_ok, when, shared=shared)
        produce = self._produce(spec, target, unit, relative_ok)
        if when is None:
            return produce

        def guarded(ctx: Ctx, raw: str | None, level: int) -> list[Any]:
            if not when(ctx, raw, level):
                return _EMPTY
            return produce(ctx, raw, level)

        return guarded

    @staticmethod
    def _is_from(spec: ValueSpec) -> bool:
        return (
            "value" not in spec.model_fields_set
            and spec.ref is None
            and spec.refs is None
            and spec.format is None
            and spec.key is None
        )

    def _produce(self, spec: ValueSpec, target: Target, unit: Unit, relative_ok: bool) -> ValueFn:
        if "value" in spec.model_fields_set:
            return self._constant(spec, target, unit)
        if spec.ref is not None or spec.refs is not None:
            return self._reference(spec, target, unit)
        if spec.key is not None:
            return self._key_reference(spec.key, target, unit)
        assert spec.format is not None
        return self._format(spec, target, unit, relative_ok)

    def _constant(self, spec: ValueSpec, target: Target, unit: Unit) -> ValueFn:
        value = spec.value
        if value is None:
            raise self.error(unit, spec, "'value' is empty")
        self._check_constant(value, target, unit, spec)
        if isinstance(value, dict | list):
            make = copier(value)
            return lambda ctx, raw, level: [make()]
        constant = [value]
        return lambda ctx, raw, level: list(constant)

    def _check_constant(self, value: Any, target: Target, unit: Unit, spec: TemplateModel) -> None:
        if target.type == ANY:
            return
        if target.enum is not None and value not in target.enum:
            raise self.error(unit, spec, f"{value!r} is not one of the codes of {target.name}: {sorted(target.enum)}")
        try:
            validator_for(target.type)(value)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise self.error(unit, spec, f"the constant is not a valid {target.type}: {exc.message}") from None

    def _reference(self, spec: ValueSpec, target: Target, unit: Unit) -> ValueFn:
        if target.type not in ("Reference", ANY):
            raise self.error(unit, spec, f"'ref'/'refs' make a Reference, but {target.name} is {target.type}")
        name = spec.ref or spec.refs
        assert name is not None
        if not spec.optional:
            # a message that uses the template must make a resource of that name (a typo is an error at load);
            # `optional: true`: the message may make none (a result of an ADT has no report)
            unit.refs.add(name)
        unit.context_free = False
        if spec.ref is not None and spec.scope == "own":
            # the resource of that name made from the current segment itself (per-segment resources of one
            # group: the Slot of the second AIP names the second AIP's Schedule); not written in line

            def own(ctx: Ctx, _raw: str | None, _level: int) -> list[Any]:
                seg = ctx.seg
                found = ctx.env.made_from.get((name, id(seg))) if seg is not None else None
                if found is None:
                    return _EMPTY
                return [{"reference": f"{found[0]}/{found[1]}"}]

            return own
        if spec.ref is not None:

            def one(ctx: Ctx, _raw: str | None, _level: int) -> list[Any]:
                found = ctx.node.lookup(name)
                if not found:
                    return _EMPTY
                rtype, rid = found[0]
                return [{"reference": f"{rtype}/{rid}"}]

            one.ref = (name, True)  # type: ignore[attr-defined]
            return one

        def every(ctx: Ctx, _raw: str | None, _level: int) -> list[Any]:
            return [{"reference": f"{rtype}/{rid}"} for rtype, rid in ctx.node.lookup(name)]

        every.ref = (name, False)  # type: ignore[attr-defined]
        return every

    def _key_reference(self, spec: KeyRef, target: Target, unit: Unit) -> ValueFn:
        """``key:``: a Reference to the resource of that type whose id key is the parts read here (the same
        id that resource gets where it is made, in this message or another); nothing when a part is missing."""
        if target.type not in ("Reference", ANY):
            raise self.error(unit, spec, f"'key' makes a Reference, but {target.name} is {target.type}")
        rtype = spec.resource
        if rtype not in self.schema.resource_types:
            raise self.error(unit, spec, f"{rtype!r} is not a FHIR R4 resource type")
        parts = self.key(spec.parts, unit)
        unit.context_free = False
        if spec.in_message:
            # only a resource this message makes (found by any of its key alternatives): a sender's reference that
            # does not spell the target's key (a placer number for a report keyed on its filler number, a code
            # without its coding system, a sub-id the isolate lacks) names it or nothing, never an id no resource
            # has; or_earlier: a target this message does not make is named by the key (made by an earlier message)
            sources = _key_sources(spec.parts)
            detail = f"{target.name}: no {rtype} made by this message has the key read from {', '.join(sources)}"
            optional = [bool(part.optional) for part in spec.parts]
            # the report names the segment the key is read from (a panel's OBR: once for all its results)
            origin = spec.report_at or (sources[0].split("-", 1)[0] if sources else None)
            or_earlier = spec.or_earlier

            def found(ctx: Ctx, _raw: str | None, _level: int) -> list[Any]:
                texts = parts(ctx)
                if texts is None:
                    return _EMPTY
                rid, here = ctx.env.find_made(rtype, texts, optional, ctx.node)
                if rid is None and or_earlier and not here:
                    rid = make_id(rtype, texts)
                if rid is not None:
                    return [{"reference": f"{rtype}/{rid}"}]
                seg = ctx.seg
                if origin is not None and (seg is None or seg.name != origin):
                    seg = next(iter(ctx.node.find(origin)), seg)
                where = f"{seg.name}^{segment_seq(ctx.env.message, seg)}" if seg is not None else None
                entry = {"code": "unresolved-reference", "location": where, "detail": detail}
                if entry not in ctx.env.report:
                    ctx.env.report.append(entry)
                return _EMPTY

            return found

        def keyed(ctx: Ctx, _raw: str | None, _level: int) -> list[Any]:
            texts = parts(ctx)
            return _EMPTY if texts is None else [{"reference": f"{rtype}/{make_id(rtype, texts)}"}]

        return keyed

    def _format(self, spec: ValueSpec, target: Target, unit: Unit, relative_ok: bool) -> ValueFn:
        if target.type not in _STRINGISH and target.type != ANY:
            raise self.error(unit, spec, f"'format' makes text, but {target.name} is {target.type}")
        assert spec.format is not None
        # literal text, or (getter, -, filter) for a placeholder, or (None, component index, filter) for a component
        # of the current value (read without a getter)
        pieces: list[str | tuple[Getter | None, int, Callable[[str], str] | None]] = []
        # the same as codegen writes it in line: (component index, subcomponent index, filter) for a placeholder
        inline: list[str | tuple[int, int | None, Callable[[str], str] | None]] | None = []
        pos = 0
        text = spec.format
        for m in _PLACEHOLDER.finditer(text):
            if m.start() > pos:
                pieces.append(text[pos : m.start()])
                if inline is not None:
                    inline.append(text[pos : m.start()])
            path = self.path(m[1].strip(), unit, spec, relative_ok)
            if path.is_segment:
                raise self.error(unit, spec, f"a placeholder needs a field or component, not a segment: {m[0]}")
            flt = None
            if m[2]:
                flt = _FORMAT_FILTERS.get(m[2])
                if flt is None:
                    raise self.error(
                        unit, spec, f"unknown format filter {m[2]!r} (known: {', '.join(_FORMAT_FILTERS)})"
                    )
            if path.is_relative and path.subcomponent is None:
                assert path.component is not None
                pieces.append((None, path.component - 1, flt))
            else:
                pieces.append((self._getter(path, spec.scope), 0, flt))
            if path.is_relative and inline is not None:
                assert path.component is not None
                inline.append((path.component - 1, path.subcomponent - 1 if path.subcomponent else None, flt))
            else:
                inline = None
            pos = m.end()
        if pos < len(text):
            pieces.append(text[pos:])
            if inline is not None:
                inline.append(text[pos:])
        if not any(isinstance(p, tuple) for p in pieces):
            raise self.error(unit, spec, "'format' has no {placeholder}; use 'value' for a constant")
        normalise = fhir_code if target.type in ("code", "id") else fhir_string

        def render(ctx: Ctx, raw: str | None, level: int) -> list[Any]:
            out: list[str] = []
            filled = False
            env = ctx.env
            for piece in pieces:
                if isinstance(piece, str):
                    out.append(piece)
                    continue
                getter, index, flt = piece
                if getter is None:
                    part = _component_text(env, raw, level, index)
                else:
                    items = getter(ctx, raw, level)
                    part = leaf(env, items[0][1], items[0][2]) if items and items[0][1] is not None else ""
                if part:
                    filled = True
                    out.append(flt(part) if flt is not None else part)
            if not filled:
                return _EMPTY
            text = "".join(out)
            if "  " in text or text[0] == " " or text[-1] == " ":
                text = " ".join(word for word in text.split(" ") if word)
            result = normalise(text)
            return [result] if result is not None else _EMPTY

        if inline is not None:
            render.inline = (inline, normalise)  # type: ignore[attr-defined]
        return render

    def _from(
        self,
        spec: ValueSpec,
        target: Target,
        unit: Unit,
        relative_ok: bool,
        when: CondFn | None = None,
        *,
        shared: bool = False,
    ) -> ValueFn:
        if spec.from_ is not None:
            path = self.path(spec.from_, unit, spec, relative_ok)
            getter = self._getter(path, spec.scope)
            whole_segments = path.is_segment
        else:
            if not relative_ok and spec.elements is None:
                raise self.error(unit, spec, "a rule needs a source: 'from', 'value', 'format', 'ref' or 'refs'")
            getter = current_item
            whole_segments = False
        if whole_segments and spec.elements is None and not self._segment_datatype(spec):
            raise self.error(unit, spec, f"{spec.from_!r} is a whole segment; map it with 'elements' or a datatype")
        # values of whole segments come only from segments the getter finds: codegen tests that they are there
        # before the call (an Observation's PRT rules, in a message without PRT)
        gate: tuple[str, str] | None = None
        if whole_segments and spec.from_ is not None and spec.from_ != "MSH" and spec.scope in ("up", "group", "own"):
            gate = (spec.from_, spec.scope)
        where = self.condition_fn(spec.where, unit, True, "where") if spec.where is not None else None
        heads = self._heads
        if where is not None and whole_segments and spec.from_ == "OBX":
            # the OBX this rule selects (a vaccine information statement each) head the groups its elements read
            # with scope sub_id, among the OBX sent without a sub-id
            self._heads = _heads_of(where)
        try:
            conv = self._converter(spec, target, unit, whole_segments)
        finally:
            self._heads = heads
        prefer = self.condition_fn(spec.prefer, unit, True, "prefer") if spec.prefer is not None else None
        # items of several segments (scope sub_id; below: a field of each such segment in the groups inside, IN1-49 of
        # each IN1): a condition on an item reads the item's own segment (IN1-17 of that IN1)
        item_ctx = _item_segment_ctx if spec.scope in ("sub_id", "below") else _item_ctx
        # a field of each such segment (scope below) is converted at its own segment: what it reports is located there
        # (an invalid resident ID number in IN1-49: IN1^1, not the PID the rule is of)
        fields_below = spec.scope == "below"
        args = self._args(spec, unit, relative_ok)
        join = spec.join
        if join is not None and target.type not in _STRINGISH and target.type != ANY:
            raise self.error(unit, spec, f"'join' makes one text, but {target.name} is {target.type}")
        if spec.repeat is not None:
            single = spec.repeat == "first"
        else:
            single = not target.is_list and join is None

        how = getattr(conv, "hint", None)
        if (
            shared
            and how is not None
            and how[0] == "direct"
            and target.enum is None
            and when is None
            and where is None
            and prefer is None
            and not args
            and join is None
            and single
        ):
            # Only read (a built-in's argument): a datatype's value straight from its builder, not copied.
            build = how[1]

            def first_shared(ctx: Ctx, raw: str | None, level: int) -> list[Any]:
                for item in getter(ctx, raw, level):
                    value = build(ctx, item[1], item[2], True) if item[1] is not None else conv(ctx, item, None)
                    if value is not None:
                        return [value]
                return _EMPTY

            return _gated(first_shared, gate)

        if when is None and where is None and prefer is None and not args and join is None and single:
            # The common case, kept short: one value from the first item that gives one.
            def first(ctx: Ctx, raw: str | None, level: int) -> list[Any]:
                for item in getter(ctx, raw, level):
                    value = conv(ctx, item, None)
                    if value is not None:
                        return [value]
                return _EMPTY

            return _gated(first, gate)

        def produce(ctx: Ctx, raw: str | None, level: int) -> list[Any]:
            items = getter(ctx, raw, level)
            if not items:
                return _EMPTY
            if when is not None and not when(ctx, raw, level):
                return _EMPTY
            if where is not None:
                items = [it for it in items if where(item_ctx(ctx, it), it[1], it[2])]
            if prefer is not None and len(items) > 1:
                items.sort(key=lambda it: not prefer(item_ctx(ctx, it), it[1], it[2]))
            argv = None
            if args:
                argv = {}
                for name, fn in args:
                    values = fn(ctx, raw, level)
                    if values:
                        argv[name] = values[0]
            out = []
            for item in items:
                value = conv(_item_segment_ctx(ctx, item) if fields_below and item[1] is not None else ctx, item, argv)
                if value is not None:
                    out.append(value)
                    if single:
                        break
            if join is not None and out:
                return [join.join(out)]
            return out

        return _gated(produce, gate)

    def _args(self, spec: ValueSpec, unit: Unit, relative_ok: bool) -> list[tuple[str, ValueFn]]:
        """The value functions of a built-in's arguments (none without 'args')."""
        args: list[tuple[str, ValueFn]] = []
        if spec.args:
            builtin = BUILTINS.get(spec.type or "")
            if builtin is None or not builtin.args:
                raise self.error(unit, spec, f"'args' are for built-ins that take arguments; {spec.type!r} takes none")
            for name, arg in spec.args.items():
                if name not in builtin.args:
                    known = ", ".join(builtin.args)
                    raise self.error(unit, arg, f"{spec.type} takes no argument {name!r} (it takes: {known})")
                arg_target = Target(builtin.args[name], name=name)
                args.append((name, self.value(arg, arg_target, unit, relative_ok, shared=True)))
        return args

    def _segment_datatype(self, spec: ValueSpec) -> bool:
        """Whether a rule of a whole segment (``from: ARV``) names a datatype template that reads it by absolute
        paths, as one inside its ``elements`` would: one datatype makes the item in every template that reads such a
        segment (``ARV_Restricted``: the Patient's and the Encounter's access restrictions)."""
        return spec.type is not None and spec.type in self.datatypes

    def _converter(self, spec: ValueSpec, target: Target, unit: Unit, whole_segments: bool) -> Conv:
        conv = self._base_converter(spec, target, unit, whole_segments)
        if not spec.defaults:
            return conv
        if target.type == ANY or self.schema.is_primitive(target.type):
            raise self.error(unit, spec, f"'defaults' complete a complex value, but {target.name} is {target.type}")
        defaults: list[tuple[str, Any]] = []
        for name, value in spec.defaults.items():
            info = self.schema.element(target.type, name)
            if info is None:
                raise self.error(unit, spec, f"'defaults': {target.type} has no element {name!r}")
            self._check_constant(
                value, Target(info.type, info.is_list, info.enum, name=f"{target.name}.{name}"), unit, spec
            )
            defaults.append((name, value))
        inner = conv

        def with_defaults(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
            value = inner(ctx, item, args)
            if type(value) is not dict:
                return value
            missing = [(k, v) for k, v in defaults if k not in value]
            if not missing:
                return value
            value = dict(value)  # results may be kept for reuse within the message: never change them
            for k, v in missing:
                value[k] = deep_copy(v) if isinstance(v, dict | list) else v
            return value

        how = getattr(inner, "hint", None)
        if how is not None and how[0] == "direct":
            # a datatype's builder, then the defaults: written in line
            return hint(with_defaults, ("direct_defaults", how[1], tuple(defaults)))
        return with_defaults

    def _base_converter(self, spec: ValueSpec, target: Target, unit: Unit, whole_segments: bool) -> Conv:
        if spec.elements is not None:
            build = self.object(spec.elements, target.type, unit, True, spec.require, None, spec)

            def on_segment(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
                seg = item[0]
                if item[1] is None and seg is not None and seg is not ctx.seg:
                    return build(Ctx(ctx.env, ctx.node, seg), None, 0)
                return build(ctx, item[1], item[2])

            # a value (not a segment) goes straight to the builder
            return hint(on_segment, ("direct", build))
        base: Conv | None = None
        base_type: str | None = None
        # Whether the same value always converts to the same result within a message (then the result is
        # kept for the message: OBR-7 as a dateTime is worked out once, not once per OBX).
        pure = True
        if spec.type is not None:
            if spec.type in self.datatypes:
                base_type, base = self.datatype(spec.type, unit, spec)
                pure = self._datatype_context_free[spec.type]
            elif spec.type in BUILTINS:
                builtin = BUILTINS[spec.type]
                base_type, base = builtin.fhir, self._builtin(builtin, bool(spec.args))
            else:
                raise self.error(unit, spec, f"unknown type {spec.type!r}: not a datatype template nor a built-in")
            if target.type != ANY and not self._compatible(base_type, target.type):
                raise self.error(unit, spec, f"{spec.type} makes {base_type}, but {target.name} is {target.type}")
        if spec.table is not None:
            table = self.table(spec.table, unit, spec)
            conv = self._table_converter(table, target, base, base_type, unit, spec)
            if target.type in _STRINGISH or target.type == ANY:
                # a code looked up in line: one dict lookup (patterns and odd cases call the closure)
                mapping = {key: t.code for key, t in table.entries().items()}
                if table.has_patterns or table.report_unknown:  # a miss reported by the closure
                    fallback: tuple[str, ...] = ("call",)
                elif table.unmapped == "default" and table.default is not None:
                    fallback = ("default", table.default.code)
                elif table.unmapped == "keep" and target.type in ("code", "id"):
                    fallback = ("keep",)
                elif table.unmapped == "keep":
                    fallback = ("call",)
                else:
                    fallback = ("omit",)
                return hint(conv, ("table", mapping, table.ignore_case, fallback))
            if pure:
                conv = _memoized(f"t:{table.name}:{target.type}:{spec.type or ''}", conv)
            return conv
        if base is None:
            primitive = "string" if target.type == ANY else ("code" if target.enum is not None else target.type)
            default = BUILTINS.get(_DEFAULT_PRIMITIVE.get(primitive, primitive))
            if default is None:
                raise self.error(unit, spec, f"{target.name} is a {target.type}: name a 'type' or give 'elements'")
            base = self._builtin(default, False)
        if target.enum is not None:
            return _enum_filter(base, target.enum)
        return base

    @staticmethod
    def _builtin(builtin: Builtin, with_args: bool) -> Conv:
        conv: Conv = builtin.make()
        if builtin.name in ("string", "markdown"):
            return hint(conv, ("string",))
        if builtin.name == "code":
            return hint(conv, ("code",))
        if builtin.memo and not with_args:
            return _memoized(f"b:{builtin.name}", conv)
        return conv

    def _compatible(self, produced: str, wanted: str) -> bool:
        if produced == wanted:
            return True
        return wanted in _PRIMITIVE_COMPAT.get(produced, frozenset())

    def _table_converter(
        self,
        table: Table,
        target: Target,
        base: Conv | None,
        base_type: str | None,
        unit: Unit,
        spec: ValueSpec,
    ) -> Conv:
        wanted = target.type
        if wanted == "CodeableConcept":
            if base is not None and base_type != "CodeableConcept":
                raise self.error(unit, spec, "with a table, 'type' of a CodeableConcept must make a CodeableConcept")
            keep = table.unmapped == "keep"
            local_codes = table.local_codes
            report_unknown, source_system = table.report_unknown, table.source_system
            sender_local = self._sender_local
            source = spec.from_
            how = getattr(base, "hint", None)
            build = how[1] if how is not None and how[0] == "direct" else None  # a value goes straight to it

            def to_concept(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
                raw = item[1]
                code = leaf(ctx.env, raw, item[2]) if raw is not None else ""
                concept: dict[str, Any] | None
                if build is not None and raw is not None:
                    concept = build(ctx, raw, item[2])
                else:
                    concept = base(ctx, item, args) if base is not None else None
                if local_codes and code and not _is_local_coding(concept, code, sender_local):
                    return concept  # a standard code (LOINC, ICD-10 …) is not a sender's local code
                if (
                    code
                    and report_unknown
                    and table.lookup(code) is None
                    and _of_table(concept, code, source_system, sender_local)
                ):
                    _report_untranslated(ctx, item, table.name, source)  # kept, defaulted or left out
                found = table.resolve(code) if code else None
                if found is None:
                    if local_codes and code:
                        _report_unmapped(ctx, item, table.name, code, source)
                        if source_system is not None and concept is not None:
                            # kept in the sender's local code system, as a translated code's local coding is
                            return _in_system(concept, code, source_system, sender_local)
                    if concept is None and keep and code:
                        return {"text": fhir_string(code)}
                    return concept
                coding = found.coding()
                original = table.is_source_code(code)
                if original:
                    code = table.spelled(code)  # the source system's spelling (an ignore_case table's m → M)
                if concept is None:
                    codings = [coding]
                    if original and (table.source_system != coding.get("system") or code != coding["code"]):
                        codings.append({"system": table.source_system, "code": fhir_code(code)})
                    return {"coding": codings}
                others = []
                for other in concept.get("coding") or ():
                    sent_local = sender_local(other.get("system"))
                    if original and (sent_local or other.get("system") == table.source_system):
                        sent = other.get("code")
                        if isinstance(sent, str) and sent != code and sent.upper() == code.upper():
                            other = {**other, "code": code}
                    if original and sent_local and other.get("code") == code:
                        # The sender's code without a standard system: it is a code of the table's source system.
                        other = _with_system(other, table.source_system)
                    if other.get("system") == coding.get("system") and other.get("code") == coding["code"]:
                        continue
                    others.append(other)
                out = {"coding": [coding, *others]}
                for key, value in concept.items():
                    if key != "coding":
                        out[key] = value
                return out

            return to_concept
        if table.local_codes:
            raise self.error(unit, spec, f"table {table.name} holds local codes: it fills a CodeableConcept (type CWE)")
        if base is not None:
            raise self.error(unit, spec, f"a table fills {target.name} ({wanted}) from the code itself; drop 'type'")
        source = spec.from_
        if wanted == "Coding":
            keep = table.unmapped == "keep"

            def to_coding(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
                raw = item[1]
                code = leaf(ctx.env, raw, item[2]) if raw is not None else ""
                if not code:
                    return None
                if table.report_unknown and table.lookup(code) is None:
                    _report_untranslated(ctx, item, table.name, source)  # kept, defaulted or left out
                found = table.resolve(code)
                if found is not None:
                    return found.coding()
                return {"code": fhir_code(code)} if keep else None

            return to_coding
        if wanted in _STRINGISH or wanted == ANY:
            if target.enum is not None:
                outside = sorted({t.code for t in table.targets()} - target.enum)
                if outside:
                    raise self.error(
                        unit, spec, f"table {table.name} can produce {outside}, not codes of {target.name}"
                    )
                if table.unmapped == "keep" or table.has_patterns:
                    raise self.error(
                        unit,
                        spec,
                        f"{target.name} has a required value set: table {table.name} needs "
                        "'unmapped: default' or 'omit' and no patterns",
                    )
            keep = table.unmapped == "keep"
            normalise = fhir_code if wanted in ("code", "id") else fhir_string

            def to_code(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
                raw = item[1]
                code = leaf(ctx.env, raw, item[2]) if raw is not None else ""
                if not code:
                    return None
                if table.report_unknown and table.lookup(code) is None:
                    _report_untranslated(ctx, item, table.name, source)  # kept, defaulted or left out
                found = table.resolve(code)
                if found is not None:
                    return found.code
                return normalise(code) if keep else None

            return to_code
        raise self.error(unit, spec, f"a table cannot fill {target.name} ({wanted})")

    # Datatype templates ----------------------------------------------------------------------------
    def datatype(self, name: str, unit: Unit | None = None, model: TemplateModel | None = None) -> tuple[str, Conv]:
        """The compiled conversion of a datatype template (compiled on first use, cached)."""
        cached = self._datatype_cache.get(name)
        if cached is not None:
            if unit is not None and not self._datatype_context_free[name]:
                unit.context_free = False
            if unit is not None:
                unit.refs |= self._datatype_refs[name]
                unit.reads |= self._datatype_reads[name]
            return cached
        found = self.datatypes.get(name)
        if found is None:
            raise MappingTemplateError(f"unknown datatype template {name!r}", file=unit.file if unit else None)
        template, path = found
        here = Unit(str(path))
        if name in self._compiling:
            chain = " → ".join([*self._compiling, name])
            raise self.error(here, template, f"datatype templates refer to each other in a cycle: {chain}")
        self._compiling.append(name)
        try:
            compiled = self._datatype(template, here)
        finally:
            self._compiling.pop()
        if unit is not None:
            unit.refs |= here.refs
            unit.reads |= here.reads
            if not here.context_free:
                unit.context_free = False
        self._datatype_cache[name] = compiled
        self._datatype_context_free[name] = here.context_free
        self._datatype_refs[name] = set(here.refs)
        self._datatype_reads[name] = set(here.reads)
        return compiled

    def _datatype(self, template: DatatypeTemplate, unit: Unit) -> tuple[str, Conv]:
        fhir = template.fhir
        if not self.schema.is_type(fhir):
            raise self.error(unit, template, f"'fhir' must be a FHIR R4 type, not {fhir!r}")
        memo = f"d:{template.datatype}"
        if template.elements is not None:
            finish: Finisher | None = None
            if template.finish is not None:
                found = FINISHERS.get(template.finish)
                if found is None:
                    known = ", ".join(FINISHERS)
                    raise self.error(unit, template, f"unknown finisher {template.finish!r} (known: {known})")
                factory, needs, _doc = found
                for table in needs:
                    if table not in self.tables:
                        raise self.error(unit, template, f"finisher {template.finish} needs the table {table!r}")
                finish = factory(self.table_codes)
            build = self.object(template.elements, fhir, unit, True, template.require, finish, template, memo)
        else:
            if template.finish is not None or template.require:
                raise self.error(unit, template, "'finish' and 'require' are for templates with 'elements'")
            if not self.schema.is_primitive(fhir):
                raise self.error(unit, template, f"'rules' make a primitive, but {fhir} is complex; use 'elements'")
            # The rules fill one slot, first value wins: the same code as a single-valued element.
            target = Target(fhir, name=template.datatype)
            plans = [self._plan(rule, fhir, unit, True, (["value"], target)) for rule in template.rules or []]
            build = generate_builder(
                plans, f"{unit.file} {template.datatype}", memo=memo if unit.context_free else None, slot="value"
            )

        def conv(ctx: Ctx, item: Item, _args: dict[str, Any] | None) -> Any:
            if item[1] is None:
                # a whole segment (a rule without 'from' inside 'from: TQ1' elements): the template reads its
                # fields by absolute paths (TQ1_Timing)
                seg = item[0]
                if seg is None:
                    return None
                return build(ctx if seg is ctx.seg else Ctx(ctx.env, ctx.node, seg), None, 0)
            return build(ctx, item[1], item[2])

        return fhir, hint(conv, ("direct", build))

    # Keys ------------------------------------------------------------------------------------------
    def key(self, parts: list[ValueSpec], unit: Unit) -> Callable[[Ctx], list[str] | None]:
        """One id key alternative as one generated function: the text of each part (see
        :func:`hub.mapping.ids.key_text`), or None when a part that is not ``optional`` has none."""
        plans = []
        for i, spec in enumerate(parts):
            if spec.path is not None:
                raise self.error(unit, spec, "a key part takes no 'path'")
            target_type = ANY
            if spec.type is not None and spec.type in self.datatypes:
                target_type = self.datatypes[spec.type][0].fhir
            elif spec.type is not None and spec.type in BUILTINS:
                target_type = BUILTINS[spec.type].fhir
            target = Target(target_type, name="id key")
            plans.append(self._plan(spec, ANY, unit, False, ([f"p{i}"], target)))
        slots = [(f"p{i}", spec.optional) for i, spec in enumerate(parts)]
        return generate_key(plans, f"{unit.file} id key", slots)


def _sure_containers(specs: list[ValueSpec], paths: list[list[str]]) -> frozenset[tuple[str, ...]]:
    """The elements of an object that some of its rules certainly write, each as its path and every path above it:
    those of an unconditional constant (it writes there unless the element, or a variant of its choice, is set
    already) and those of a ``required`` rule (without them the message is refused). What the constant of a rule
    that withdraws, keeps stored items or gives way to a stored value writes is not counted."""
    found: set[tuple[str, ...]] = set()
    for spec, steps in zip(specs, paths, strict=True):
        constant = (
            "value" in spec.model_fields_set
            and spec.value not in (None, "", [], {})
            and spec.when is None
            and spec.where is None
            and spec.withdraw is None
            and spec.keep_stored is None
            and spec.keep_beside is None
            and not spec.stored_wins
        )
        if constant or spec.required:
            found.update(tuple(steps[: i + 1]) for i in range(len(steps)))
    return frozenset(found)


def _key_sources(parts: list[ValueSpec]) -> list[str]:
    """The fields a key's parts read (a nested key's too), the message header's left out: where the sender said
    what the key is made of, for the operator."""
    found: list[str] = []
    for part in parts:
        if part.key is not None:
            found += _key_sources(part.key.parts)
        elif part.from_ and not part.from_.startswith("MSH"):
            found.append(part.from_)
    return found


_MISS = object()


def _component_getter(index: int) -> Getter:
    """The item of one component of the current value (what compile_getter gives, without its generality)."""

    def component(ctx: Ctx, raw: str | None, level: int) -> list[Item]:
        if raw is None:
            return _EMPTY
        if level == 0:
            parts = raw.split(ctx.env.comp)
        elif level == 1:
            parts = raw.split(ctx.env.sub)
        else:
            parts = [raw]
        value = parts[index] if index < len(parts) else ""
        if not value or value == '""':
            return _EMPTY
        return [(ctx.seg, value, level + 1 if level < 2 else 2)]

    return component


def _component_text(env: Env, raw: str | None, level: int, index: int) -> str:
    """The leaf text of component ``index`` (0-based) of the current value: what the relative path's getter
    and :func:`leaf` give, without the item list."""
    if raw is None:
        return ""
    if level >= SUBCOMPONENT_LEVEL:
        value = raw if index == 0 else ""
    else:
        parts = raw.split(env.comp) if level == FIELD_LEVEL else raw.split(env.sub)
        value = parts[index] if index < len(parts) else ""
        level += 1
    if not value or value == '""':
        return ""
    return leaf(env, value, level)


def _gated(values: ValueFn, gate: tuple[str, str] | None) -> ValueFn:
    """Mark a value function of whole segments with (segment, scope): it gives nothing unless such a segment is
    found (codegen writes that test in line)."""
    if gate is not None:
        values.gate = gate  # type: ignore[attr-defined]
    return values


def _memoized(name: str, conv: Conv) -> Conv:
    """Reuse a datatype's result for the same value within one message (a copy when it is a dict or list)."""

    def memo(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
        raw = item[1]
        if raw is None:
            return conv(ctx, item, args)
        key = (name, raw, item[2])
        cache = ctx.env.memo
        found = cache.get(key, _MISS)
        if found is _MISS:
            found = cache[key] = conv(ctx, item, args)
            return found
        return json_copy(found) if type(found) is dict or type(found) is list else found

    return hint(memo, ("memo", name, conv))


def _all(parts: list[CondFn]) -> CondFn:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda ctx, raw, level: first(ctx, raw, level) and second(ctx, raw, level)

    def every(ctx: Ctx, raw: str | None, level: int) -> bool:
        for part in parts:
            if not part(ctx, raw, level):
                return False
        return True

    return every


def _any(parts: list[CondFn]) -> CondFn:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda ctx, raw, level: first(ctx, raw, level) or second(ctx, raw, level)

    def some(ctx: Ctx, raw: str | None, level: int) -> bool:
        for part in parts:
            if part(ctx, raw, level):
                return True
        return False

    return some


def _enum_filter(conv: Conv, allowed: frozenset[str]) -> Conv:
    def filtered(ctx: Ctx, item: Item, args: dict[str, Any] | None) -> Any:
        value = conv(ctx, item, args)
        return value if value in allowed else None

    how = getattr(conv, "hint", None)
    # (a result kept for the message is not written in line through the filter: the filter's None goes on to the
    # next item, where the generated code would stop at a value outside the codes)
    return hint(filtered, how) if how is not None and how[0] != "memo" else filtered


def _heads_of(where: CondFn) -> Heads:
    """Whether an OBX meets a rule's ``where``, read as the rule reads it (the OBX as a whole segment)."""

    def heads(ctx: Ctx, seg: Segment) -> bool:
        return where(Ctx(ctx.env, ctx.node, seg), None, FIELD_LEVEL)

    return heads


def _item_ctx(ctx: Ctx, item: Item) -> Ctx:
    seg = item[0]
    if item[1] is None and seg is not None and seg is not ctx.seg:
        return Ctx(ctx.env, ctx.node, seg)
    return ctx


def _item_segment_ctx(ctx: Ctx, item: Item) -> Ctx:
    seg = item[0]
    if seg is not None and seg is not ctx.seg:
        return Ctx(ctx.env, ctx.node, seg)
    return ctx


def _seq(ctx: Ctx, source: SourcePath) -> int:
    seg = ctx.seg
    if seg is not None and seg.name == source.segment:
        return segment_seq(ctx.env.message, seg)
    return 1


def _here(ctx: Ctx) -> str | None:
    seg = ctx.seg
    if seg is None:
        return None
    return f"{seg.name}^{segment_seq(ctx.env.message, seg)}"


def _period_check(
    which: str, source: SourcePath | None, element_path: str
) -> Callable[[Ctx, dict[str, Any], Any], bool]:
    """The test of a Period's ``which`` (start or end) rule against R4 per-1 (``start <= end``): an end before the
    start is left out, the start kept, and reported (``invalid-value``: where and why, never the values; a strict
    conversion refuses the message, as for any invalid value)."""

    def report(ctx: Ctx) -> None:
        where = source.location(_seq(ctx, source)) if source is not None else _here(ctx)
        what = f"{source.text} → {element_path}" if source is not None else element_path
        reason = "the end is before the start (R4 per-1): the end is left out"
        invalid_value(ctx, ConversionError(f"{what}: {reason}", hl7_code="102", location=where))

    if which == "end":

        def end_ok(ctx: Ctx, period: dict[str, Any], value: Any) -> bool:
            if ends_before(value, period.get("start"), ctx.env.tz):
                report(ctx)
                return False
            # a start set later that this end comes before reports it here (the end's field)
            ctx.env.period_ends[id(period)] = (period, partial(report, ctx))
            return True

        return end_ok

    def start_ok(ctx: Ctx, period: dict[str, Any], value: Any) -> bool:
        if ends_before(period.get("end"), value, ctx.env.tz):
            recorded = ctx.env.period_ends.get(id(period))
            if recorded is not None and recorded[0] is period:
                recorded[1]()
            else:
                report(ctx)
            del period["end"]
        return True

    return start_ok


def _conversion_error(ctx: Ctx, source: SourcePath, message: str) -> ConversionError:
    return ConversionError(message, hl7_code="102", location=source.location(_seq(ctx, source)))


# The standard code systems: those the table ``coding-systems`` names (LN → http://loinc.org, HL7nnnn → a v2
# table's system …). Any other system of a sender's coding is the sender's own (datatype/CWE_system.yaml: L, 99zzz
# or a hospital's name scoped by the sending facility, an OID or URI of its own): its codes are local codes.
_CODING_SYSTEMS = "coding-systems"
_V2_TABLE_SYSTEMS = "http://terminology.hl7.org/CodeSystem/"


class _SenderLocal:
    """Whether a coding's system says only that its code is the sender's own: none, or no standard system."""

    __slots__ = ("_standard",)

    def __init__(self, tables: dict[str, tuple[Table, Path]]) -> None:
        found = tables.get(_CODING_SYSTEMS)
        self._standard = frozenset(t.code for t in found[0].targets()) if found is not None else frozenset()

    def __call__(self, system: Any) -> bool:
        if system is None:
            return True
        return system not in self._standard and not (isinstance(system, str) and system.startswith(_V2_TABLE_SYSTEMS))


def _is_local_coding(concept: dict[str, Any] | None, code: str, sender_local: _SenderLocal) -> bool:
    """Whether the sender's coding of ``code`` has no standard system (none, or the sender's own)."""
    if concept is None:
        return True
    for coding in concept.get("coding") or ():
        if coding.get("code") == code:
            return sender_local(coding.get("system"))
    return True


def _in_system(concept: dict[str, Any], code: str, system: str, sender_local: _SenderLocal) -> dict[str, Any]:
    """``concept`` with its coding of ``code`` given ``system`` (the sender's local code system a table of local
    codes names) when it has no standard one."""
    codings = [
        _with_system(coding, system) if coding.get("code") == code and sender_local(coding.get("system")) else coding
        for coding in concept.get("coding") or ()
    ]
    return {**concept, "coding": codings} if codings else concept


def _with_system(coding: dict[str, Any], system: str | None) -> dict[str, Any]:
    """``coding`` with ``system`` in place of the one it has (first, as a Coding's elements are written)."""
    return {"system": system, **{key: value for key, value in coding.items() if key != "system"}}


def _of_table(concept: dict[str, Any] | None, code: str, source_system: str | None, sender_local: _SenderLocal) -> bool:
    """Whether the sender's coding of ``code`` is one the table should have translated: without a standard system,
    or of the table's own source system (a SNOMED CT site is no code of table 0163 that is missing)."""
    if concept is None:
        return True
    for coding in concept.get("coding") or ():
        if coding.get("code") == code:
            system = coding.get("system")
            return sender_local(system) or system == source_system
    return True


def _location(ctx: Ctx, item: Item, source: str | None) -> str | None:
    """Where a value was read: ``SEG^seq``, with ``^field`` when the rule names a field of that segment."""
    env = ctx.env
    seg = item[0] if item[0] is not None else ctx.seg
    location = None
    if seg is not None:
        location = f"{seg.name}^{segment_seq(env.message, seg)}"
        if source is not None:
            try:
                path = parse_path(source)
            except ValueError:
                path = None
            if path is not None and path.segment == seg.name and path.field is not None:
                location += f"^{path.field}"
    return location


def _report_untranslated(ctx: Ctx, item: Item, table: str, source: str | None) -> None:
    """Say in the conversion report (``untranslated-code``) that a code of a v2 or hub table (not a sender's table
    of local codes, :func:`_report_unmapped`) is not in it: kept as sent, replaced by the table's default or left
    out, as the table's ``unmapped`` says. The table and where, never the code: a sex or a marital status is the
    patient's."""
    entry = {"code": "untranslated-code", "table": table, "location": _location(ctx, item, source)}
    if entry not in ctx.env.report:
        ctx.env.report.append(entry)


def _report_unmapped(ctx: Ctx, item: Item, table: str, code: str, source: str | None) -> None:
    env = ctx.env
    raw = item[1] or ""
    parts = raw.split(env.comp) if item[2] == 0 else [raw]
    system = leaf(env, parts[2], 1) if len(parts) > 2 else ""
    display = leaf(env, parts[1], 1) if len(parts) > 1 else ""
    location = _location(ctx, item, source)
    entry: dict[str, Any] = {"code": "unmapped-local-code", "table": table, "value": code, "location": location}
    if system:
        entry["system"] = system
    if display:
        entry["display"] = display
    if entry not in env.report:
        env.report.append(entry)
