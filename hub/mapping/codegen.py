"""Element rules → one generated Python function per object (a resource body, a datatype, an ``elements`` block).

A closure per rule costs four or five Python calls before any work is done (check the target, evaluate the
condition, get the source, convert, set); a resource with fifty rules, most of whose fields are empty,
spends its time in calls. So the rules of one object are written out as the straight-line body of one
function, compiled once at load with :func:`compile`/``exec``: the current value is split into components
once, a rule whose source is empty costs a list index and a test, and only real conversions call out (to
the built-in, table and datatype closures that :mod:`hub.mapping.compiler` made, passed in by name).

The generated source is kept on the function (``__source__``) for debugging; no template text ever
reaches it as code: names of elements are written with :func:`repr`, everything else is a closure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.errors import ConversionError
from hub.mapping.runtime import Ctx, current_item, field_items


@dataclass(slots=True)
class RulePlan:
    """What the compiler decided about one element rule; the generator writes it out."""

    steps: list[str]  # element path
    is_list: bool
    choice: tuple[str, ...]  # the keys that, when present, mean a single-valued element is already set
    unique: bool
    required: bool
    # Exactly one of the three ways to get values:
    relative: tuple[int, int | None] | None = None  # (component, subcomponent) of the current value, 0-based
    getter: Callable[..., Any] | None = None  # items from an absolute path (or the current value)
    values: Callable[..., list[Any]] | None = None  # a full value function (constants, formats, references …)
    conv: Callable[..., Any] | None = None  # item → value, with relative/getter
    when: Callable[..., bool] | None = None
    # (segment, field, component, subcomponent) of an absolute path, read inline when the current segment
    # is that segment (the getter is the fallback for other segments)
    own: tuple[str, int, int | None, int | None] | None = None
    error: Callable[[Ctx, ValueError], ConversionError] | None = None  # wraps a ValueError with a location
    missing: Callable[[Ctx], ConversionError] | None = None  # for required rules


@dataclass(slots=True)
class _Writer:
    lines: list[str] = field(default_factory=list)
    names: dict[str, Any] = field(default_factory=dict)
    counter: int = 0

    def name(self, prefix: str, value: Any) -> str:
        self.counter += 1
        key = f"{prefix}{self.counter}"
        self.names[key] = value
        return key

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)


def _container_expr(w: _Writer, indent: int, steps: list[str], create: bool) -> tuple[str, int]:
    """Emit code that puts the dict holding the last step into ``_c``; returns (name, indent)."""
    if not steps[:-1]:
        return "out", indent
    w.emit(indent, "_c = out")
    for step in steps[:-1]:
        if create:
            w.emit(indent, f"_n = _c.get({step!r})")
            w.emit(indent, "if _n is None:")
            w.emit(indent + 1, f"_n = _c[{step!r}] = {{}}")
            w.emit(indent, "_c = _n")
        else:
            w.emit(indent, f"_c = _c.get({step!r}) if _c is not None else None")
    return "_c", indent


def _emit_set(w: _Writer, indent: int, plan: RulePlan, value: str) -> None:
    target, indent = _container_expr(w, indent, plan.steps, create=True)
    last = plan.steps[-1]
    if plan.is_list:
        w.emit(indent, f"_l = {target}.get({last!r})")
        w.emit(indent, "if _l is None:")
        w.emit(indent + 1, f"_l = {target}[{last!r}] = []")
        if plan.unique:
            w.emit(indent, f"if {value} not in _l:")
            w.emit(indent + 1, f"_l.append({value})")
        else:
            w.emit(indent, f"_l.append({value})")
    else:
        w.emit(indent, f"{target}[{last!r}] = {value}")


def _emit_rule(w: _Writer, plan: RulePlan) -> None:
    indent = 1
    last = plan.steps[-1]
    if not plan.is_list:
        # A single-valued element already set (or another variant of its choice) is left alone: the
        # first rule that yields a value wins, later rules are fallbacks.
        holder, _ = _container_expr(w, indent, plan.steps, create=False)
        tests = " and ".join(f"{key!r} not in {holder}" for key in plan.choice or (last,))
        if holder == "out":
            w.emit(indent, f"if {tests}:")
        else:
            w.emit(indent, f"if _c is None or ({tests}):")
        indent += 1
    body_start = len(w.lines)
    if plan.error is not None:
        w.emit(indent, "try:")
        indent += 1
    if plan.values is not None:
        fn = w.name("V", plan.values)
        w.emit(indent, f"_vals = {fn}(ctx, raw, level)")
        if plan.is_list:
            w.emit(indent, "for _x in _vals:")
            _emit_set(w, indent + 1, plan, "_x")
        else:
            w.emit(indent, "if _vals:")
            _emit_set(w, indent + 1, plan, "_vals[0]")
    else:
        conv = w.name("C", plan.conv)
        inner = indent
        if plan.relative is not None:
            comp, sub = plan.relative
            w.emit(indent, f"_v = parts[{comp}] if n > {comp} else ''")
            if sub is not None:
                w.emit(indent, "if _v and nl == 1:")
                w.emit(indent + 1, "_w = _v.split(env.sub)")
                w.emit(indent + 1, f"_v = _w[{sub}] if len(_w) > {sub} else ''")
                if sub:
                    w.emit(indent, "elif nl > 1:")
                    w.emit(indent + 1, "_v = ''")
                w.emit(indent, "if _v and _v != '\"\"':")
                item_level = "2"
            else:
                w.emit(indent, "if _v and _v != '\"\"':")
                item_level = "nl"
            inner = indent + 1
            if plan.when is not None:
                cond = w.name("W", plan.when)
                w.emit(inner, f"if {cond}(ctx, raw, level):")
                inner += 1
            w.emit(inner, f"_x = {conv}(ctx, (cseg, _v, {item_level}), None)")
            w.emit(inner, "if _x is not None:")
            _emit_set(w, inner + 1, plan, "_x")
        else:
            assert plan.getter is not None
            getter = w.name("G", plan.getter)
            if plan.own is not None:
                segname, fieldno, own_comp, own_sub = plan.own
                w.emit(indent, f"if sname == {segname!r}:")
                w.emit(indent + 1, f"_r = sfields[{fieldno}] if nsf > {fieldno} else ''")
                w.emit(indent + 1, f"_items = field_items(env, cseg, _r, {own_comp!r}, {own_sub!r}) if _r else ()")
                w.emit(indent, "else:")
                w.emit(indent + 1, f"_items = {getter}(ctx, raw, level)")
            else:
                w.emit(indent, f"_items = {getter}(ctx, raw, level)")
            test = "_items"
            if plan.when is not None:
                cond = w.name("W", plan.when)
                test = f"_items and {cond}(ctx, raw, level)"
            w.emit(indent, f"if {test}:")
            w.emit(indent + 1, "for _it in _items:")
            w.emit(indent + 2, f"_x = {conv}(ctx, _it, None)")
            w.emit(indent + 2, "if _x is not None:")
            _emit_set(w, indent + 3, plan, "_x")
            if not plan.is_list:
                w.emit(indent + 3, "break")
    if plan.error is not None:
        indent -= 1
        err = w.name("E", plan.error)
        w.emit(indent, "except ValueError as _e:")
        w.emit(indent + 1, f"raise {err}(ctx, _e) from None")
    if len(w.lines) == body_start:  # pragma: no cover - every plan emits something
        w.emit(indent, "pass")
    if plan.required:
        miss = w.name("M", plan.missing)
        holder, _ = _container_expr(w, 1, plan.steps, create=False)
        if plan.is_list:
            if holder == "out":
                w.emit(1, f"if not out.get({last!r}):")
            else:
                w.emit(1, f"if {holder} is None or not {holder}.get({last!r}):")
        else:
            tests = " and ".join(f"{key!r} not in {holder}" for key in plan.choice or (last,))
            w.emit(1, f"if {holder} is None or ({tests}):" if holder != "out" else f"if {tests}:")
        w.emit(2, f"raise {miss}(ctx)")


Fill = Callable[[dict[str, Any], Ctx, "str | None", int], None]


def generate(plans: list[RulePlan], label: str) -> Fill:
    """One function ``fill(out, ctx, raw, level)`` that applies the rules in order to ``out``."""
    w = _Writer()
    w.emit(0, "def fill(out, ctx, raw, level):")
    w.emit(1, "env = ctx.env")
    w.emit(1, "cseg = ctx.seg")
    if any(p.own is not None for p in plans):
        w.emit(1, "if cseg is not None:")
        w.emit(2, "sname = cseg.name")
        w.emit(2, "sfields = cseg.fields")
        w.emit(2, "nsf = len(sfields)")
        w.emit(1, "else:")
        w.emit(2, "sname = None")
    if any(p.relative is not None for p in plans):
        # The current value split once into its components (subcomponents below the field level).
        w.emit(1, "if raw is None:")
        w.emit(2, "parts = ()")
        w.emit(1, "elif level == 0:")
        w.emit(2, "parts = raw.split(env.comp)")
        w.emit(1, "elif level == 1:")
        w.emit(2, "parts = raw.split(env.sub)")
        w.emit(1, "else:")
        w.emit(2, "parts = (raw,)")
        w.emit(1, "n = len(parts)")
        w.emit(1, "nl = level + 1 if level < 2 else 2")
    for plan in plans:
        _emit_rule(w, plan)
    w.emit(1, "return None")
    source = "\n".join(w.lines) + "\n"
    namespace: dict[str, Any] = dict(w.names)
    namespace["current_item"] = current_item
    namespace["field_items"] = field_items
    code = compile(source, f"<mapping {label}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own generated code; template text appears only as repr() literals
    fill: Fill = namespace["fill"]
    fill.__source__ = source  # type: ignore[attr-defined]
    return fill
