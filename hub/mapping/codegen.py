"""Element rules → one generated Python function per object (a resource body, a datatype, an ``elements`` block).

A closure per rule costs four or five Python calls before any work is done (check the target, evaluate the
condition, get the source, convert, set); a resource with fifty rules, most of whose fields are empty,
spends its time in calls. So the rules of one object are written out as the straight-line body of one
function, compiled once at load with :func:`compile`/``exec``:

* the current value is split into components once; a rule whose source is empty costs an index and a test;
* text, codes and table lookups are done in line (string methods and one dict lookup, no calls);
* a condition (``when``) is statements before its test: the fields and components it reads are read in line,
  each once per call and only when the tests before it leave the answer open (a message rule's ``when``, a
  ``where``: :func:`generate_condition`, one function of the same statements);
* a datatype is a generated function of its own, called directly with the component's text;
* only the rest (dates, numbers, composites) calls out, to the closures that :mod:`hub.mapping.compiler`
  made and passed in by name.

The generated source is kept on each function (``__source__``) for debugging. No template text reaches it as
code: element names and codes are written with :func:`repr`, everything else is passed in by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hub.errors import ConversionError
from hub.hl7.er7 import unescape
from hub.mapping.builtins import fhir_code, fhir_string
from hub.mapping.ids import key_text
from hub.mapping.runtime import (
    Ctx,
    coded_texts,
    copier,
    current_item,
    deep_copy,
    field_items,
    first_text,
    invalid_value,
    json_copy,
    leaf,
    parse_path,
)

# How a conversion can be written in line instead of called:
#   ("string",) / ("code",)                      the leaf as text or as a code
#   ("table", mapping, ignore_case, fallback)   a code looked up; fallback: ("default", code) | ("keep",) | ("omit",)
#   ("direct", build)                           a generated datatype builder: build(ctx, raw, level)
#   ("direct_defaults", build, ((key, value), …)) the builder, then the defaults its value lacks
#   ("memo", name, conv)                        conv's result kept for the message under (name, raw, level)
Hint = tuple[Any, ...]


F = TypeVar("F", bound=Callable[..., Any])


def hint(conv: F, value: Hint) -> F:
    """Mark a conversion closure with the way codegen may write it in line."""
    conv.hint = value  # type: ignore[attr-defined]
    return conv


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
    current: bool = False  # the current value itself (a rule without a source in a datatype or elements block)
    getter: Callable[..., Any] | None = None  # items from an absolute path (or the current value)
    values: Callable[..., list[Any]] | None = None  # a full value function (constants, formats, references …)
    conv: Callable[..., Any] | None = None  # item → value, with relative/getter
    when: Callable[..., bool] | None = None
    error: Callable[[Ctx, ValueError], ConversionError] | None = None  # wraps a ValueError with a location
    missing: Callable[[Ctx], ConversionError] | None = None  # for required rules
    # an invalid value (a ValueError) may be left out and reported instead of refusing the message: false for an
    # element whose absence could make its object invalid R4 (hub.mapping.compiler.Compiler._leave_out_safe)
    droppable: bool = True
    # (segment, field, component, subcomponent, scope) of an absolute path to a field, read in line (the
    # segment found as compile_getter finds it; the getter is not called)
    own: tuple[str, int, int | None, int | None, str] | None = None
    enum: frozenset[str] | None = None  # the codes a required binding allows (others are dropped)
    when_tree: tuple[Any, ...] | None = None  # the condition in a form codegen writes in line (else: when())
    constant: tuple[Any] | None = None  # a constant under a condition: (value,)
    # a built-in's arguments: (name, the value function of its rule), worked out once per rule when the rule has
    # items and its condition holds, as the built-in's ``args``
    args: list[tuple[str, Callable[..., list[Any]]]] | None = None
    # a format of components of the current value, written in line: its pieces (literal text, or (component
    # index, subcomponent index, filter)) and the function normalising the text (fhir_string / fhir_code)
    fmt: tuple[list[str | tuple[int, int | None, Callable[[str], str] | None]], Callable[[str], Any]] | None = None
    # a reference to the resources of a name ('ref': the first, 'refs': every one), written in line: (name, first)
    ref: tuple[str, bool] | None = None
    # a repeating element that takes the first value of the rule's items only ('repeat: first')
    first_only: bool = False
    # 'unique' with leaves: adds an item to the list, merged with the one of the same key (hub.mapping.merging)
    merge: Callable[[list[Any], Any], None] | None = None
    # a Period's start or end (R4 per-1, hub.mapping.periods): ("end", may the end be set? (ctx, period, value))
    # or ("start", drops an end the start comes after (ctx, period, value))
    period: tuple[str, Callable[[Ctx, dict[str, Any], Any], bool]] | None = None


@dataclass(slots=True)
class _Writer:
    lines: list[str] = field(default_factory=list)
    names: dict[str, Any] = field(default_factory=dict)
    counter: int = 0
    # the local variables that keep a condition's test of a component once it is worked out (a datatype's
    # rules often ask the same question of the same component: is CX.5 a resident id type?)
    tests: dict[tuple[int, int, int], str] = field(default_factory=dict)
    # the local variables that keep the leaf texts of an absolute path, once read, by (path, scope)
    fields: dict[tuple[str, str, str], str] = field(default_factory=dict)
    # the condition paths read only once in the function (a message rule's condition): no variable kept
    single: set[tuple[str, str, str]] = field(default_factory=set)
    # the local variables that keep the items of an absolute path to a field that several rules read (the ten
    # value[x] rules of an Observation read OBX-5), once read
    items: dict[tuple[str, int, int | None, int | None, str], str] = field(default_factory=dict)
    # whether an invalid value may be left out (a fill or a datatype) or refuses the message (an id key)
    droppable: bool = True
    # whether the values are only read (an id key's parts, each one element: key_text reads them): a datatype's
    # result kept for the message is taken as it is, not copied
    shared: bool = False
    # the local variables that say a choice element (value[x], effective[x]) has no variant set yet, by each
    # variant's key: tested once at the start and cleared where a rule sets one (an Observation has a dozen value[x]
    # rules, each of which would test all eleven variants)
    choices: dict[tuple[str, ...], str] = field(default_factory=dict)
    cleared: dict[str, list[str]] = field(default_factory=dict)  # by variant key: the flags a set of it clears
    # the local variables that keep the segment a path names (scope up), once found (see _emit_field_items)
    segments: dict[str, str] = field(default_factory=dict)
    # where the prologue ends: the segment variables are set to MISS there (see _compile)
    prologue_end: int = 0
    prologue_indent: int = 1

    def name(self, prefix: str, value: Any) -> str:
        self.counter += 1
        key = f"{prefix}{self.counter}"
        self.names[key] = value
        return key

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)


def _single(plan: RulePlan) -> bool:
    """Whether the rule stops at its first value (a single-valued element, or 'repeat: first')."""
    return not plan.is_list or plan.first_only


def _container(w: _Writer, indent: int, steps: list[str], create: bool) -> str:
    """Emit code that puts the dict holding the last step into ``_c``; returns its name."""
    if not steps[:-1]:
        return "out"
    w.emit(indent, "_c = out")
    for step in steps[:-1]:
        if create:
            w.emit(indent, f"_n = _c.get({step!r})")
            w.emit(indent, "if _n is None:")
            w.emit(indent + 1, f"_n = _c[{step!r}] = {{}}")
            w.emit(indent, "_c = _n")
        else:
            w.emit(indent, f"_c = _c.get({step!r}) if _c is not None else None")
    return "_c"


def _emit_set(w: _Writer, indent: int, plan: RulePlan, value: str) -> None:
    if plan.enum is not None:
        allowed = w.name("ENUM", plan.enum)
        w.emit(indent, f"if {value} in {allowed}:")
        indent += 1
    target = _container(w, indent, plan.steps, create=True)
    last = plan.steps[-1]
    if plan.is_list:
        w.emit(indent, f"_l = {target}.get({last!r})")
        w.emit(indent, "if _l is None:")
        w.emit(indent + 1, f"_l = {target}[{last!r}] = []")
        if plan.merge is not None:
            w.emit(indent, f"{w.name('MRG', plan.merge)}(_l, {value})")
        elif plan.unique:
            w.emit(indent, f"if {value} not in _l:")
            w.emit(indent + 1, f"_l.append({value})")
        else:
            w.emit(indent, f"_l.append({value})")
    elif plan.period is not None and plan.period[0] == "end":
        # an end before the period's start is left out (and reported): R4 per-1
        w.emit(indent, f"if {w.name('PER', plan.period[1])}(ctx, {target}, {value}):")
        w.emit(indent + 1, f"{target}[{last!r}] = {value}")
    else:
        w.emit(indent, f"{target}[{last!r}] = {value}")
        if plan.period is not None:
            # a start set after the period's end: an end before it is left out (and reported)
            w.emit(indent, f"{w.name('PER', plan.period[1])}(ctx, {target}, {value})")
    for flag in w.cleared.get(plan.steps[0], ()):
        w.emit(indent, f"{flag} = False")  # a variant of the choice is set now (or its parent: a nested path)


def _emit_text(w: _Writer, indent: int, raw: str, level: str | None, kind: str) -> int:
    """Emit code reading the leaf ``raw`` (at ``level``; None = already a leaf) into ``_t`` as text or code.

    Returns the indent inside ``if _t:``.
    """
    w.emit(indent, f"_t = {raw}")
    if level is not None:
        # leaf(): the first component and subcomponent, the HL7 null as empty, escapes resolved, trimmed
        if level not in ("1", "2", "nl"):
            w.emit(indent, f"if {level} < 1:")
            w.emit(indent + 1, "if env.comp in _t:")  # 'in' first, as leaf(): most values have no separator
            w.emit(indent + 2, "_t = _t[: _t.find(env.comp)]")
        if level != "2":
            w.emit(indent, f"if {level} < 2:")
            w.emit(indent + 1, "if env.sub in _t:")
            w.emit(indent + 2, "_t = _t[: _t.find(env.sub)]")
        w.emit(indent, "if _t == '\"\"':")
        w.emit(indent + 1, "_t = ''")
        w.emit(indent, "elif env.esc in _t:")
        w.emit(indent + 1, "_t = unescape(_t, env.delims)")
        w.emit(indent, "_t = _t.strip()")
    w.emit(indent, "if _t:")
    indent += 1
    if kind == "code":
        w.emit(indent, "_t = ' '.join(_t.split())")
    else:
        w.emit(indent, "if not _t.isprintable():")
        w.emit(indent + 1, "_t = fhir_string(_t) or ''")
    w.emit(indent, "if _t:")
    return indent + 1


def _emit_convert(w: _Writer, indent: int, plan: RulePlan, raw: str, level: str, item: str) -> None:
    """Emit the conversion of one item (text ``raw`` at ``level``; ``item`` the tuple expression) and the set."""
    conv = plan.conv
    how: Hint | None = getattr(conv, "hint", None) if plan.args is None else None
    if how is not None and how[0] in ("string", "code"):
        inner = _emit_text(w, indent, raw, level, how[0])
        _emit_set(w, inner, plan, "_t")
        if _single(plan):
            w.emit(inner, "_done = True")
        return
    if how is not None and how[0] == "table":
        _kind, mapping, ignore_case, fallback = how
        table = w.name("TBL", mapping)
        inner = _emit_text(w, indent, raw, level, "code")
        w.emit(inner, f"_x = {table}.get(_t.upper() if {ignore_case!r} else _t)")
        if fallback[0] == "default":
            w.emit(inner, "if _x is None:")
            w.emit(inner + 1, f"_x = {fallback[1]!r}")
        elif fallback[0] == "keep":
            w.emit(inner, "if _x is None:")
            w.emit(inner + 1, "_x = _t")
        elif fallback[0] == "call":
            slow = w.name("C", conv)
            w.emit(inner, "if _x is None:")
            w.emit(inner + 1, f"_x = {slow}(ctx, {item}, None)")
        w.emit(inner, "if _x is not None:")
        _emit_set(w, inner + 1, plan, "_x")
        if _single(plan):
            w.emit(inner + 1, "_done = True")
        return
    shared = ", True" if w.shared else ""
    if how is not None and how[0] == "direct":
        build = w.name("D", how[1])
        w.emit(indent, f"_x = {build}(ctx, {raw}, {level}{shared})")
    elif how is not None and how[0] == "direct_defaults":
        # the builder, then each default the value lacks, on a copy (the value may be kept for the message)
        build = w.name("D", how[1])
        defaults = how[2]
        w.emit(indent, f"_x = {build}(ctx, {raw}, {level}{shared})")
        missing = " or ".join(f"{k!r} not in _x" for k, _v in defaults)
        w.emit(indent, f"if type(_x) is dict and ({missing}):")
        w.emit(indent + 1, "_x = dict(_x)")
        for k, v in defaults:
            w.emit(indent + 1, f"if {k!r} not in _x:")
            if isinstance(v, dict | list):
                w.emit(indent + 2, f"_x[{k!r}] = {w.name('KC', copier(v))}()")
            else:
                w.emit(indent + 2, f"_x[{k!r}] = {w.name('K', v)}")
    elif how is not None and how[0] == "memo":
        # a result kept for the message (compiler._memoized), looked up in line: a copy of a dict or list
        key = w.name("MK", how[1])
        w.emit(indent, f"_mq = ({key}, {raw}, {level})")
        w.emit(indent, "_x = env.memo.get(_mq, MISS)")
        w.emit(indent, "if _x is MISS:")
        w.emit(indent + 1, f"_x = env.memo[_mq] = {w.name('C', how[2])}(ctx, {item}, {_argv(plan)})")
        if not w.shared:
            w.emit(indent, "elif type(_x) is dict or type(_x) is list:")
            w.emit(indent + 1, "_x = json_copy(_x)")
    else:
        name = w.name("C", conv)
        w.emit(indent, f"_x = {name}(ctx, {item}, {_argv(plan)})")
    w.emit(indent, "if _x is not None:")
    _emit_set(w, indent + 1, plan, "_x")
    if _single(plan):
        w.emit(indent + 1, "_done = True")


def _emit_format(w: _Writer, indent: int, plan: RulePlan) -> None:
    """Emit a format of components of the current value (what the format's render function does, without
    splitting the value again for each placeholder)."""
    assert plan.fmt is not None
    pieces, normalise = plan.fmt
    w.emit(indent, "_o = []")
    w.emit(indent, "_filled = False")
    for piece in pieces:
        if isinstance(piece, str):
            w.emit(indent, f"_o.append({piece!r})")
            continue
        index, sub, flt = piece
        w.emit(indent, f"_v = parts[{index}] if n > {index} else ''")
        if sub is not None:
            # as the relative path's getter: a component's subcomponent; below the field level only the first
            w.emit(indent, "if _v and nl == 1:")
            w.emit(indent + 1, "_w = _v.split(env.sub)")
            w.emit(indent + 1, f"_v = _w[{sub}] if len(_w) > {sub} else ''")
            if sub:
                w.emit(indent, "elif _v and level == 1:")
                w.emit(indent + 1, "_v = ''")
        w.emit(indent, "if _v and _v != '\"\"':")
        w.emit(indent + 1, f"_v = leaf(env, _v, {'2' if sub is not None else 'nl'})")
        w.emit(indent + 1, "if _v:")
        w.emit(indent + 2, "_filled = True")
        w.emit(indent + 2, f"_o.append({w.name('FLT', flt)}(_v))" if flt is not None else "_o.append(_v)")
    w.emit(indent, "if _filled:")
    w.emit(indent + 1, "_t = ''.join(_o)")
    w.emit(indent + 1, "if '  ' in _t or _t[0] == ' ' or _t[-1] == ' ':")
    w.emit(indent + 2, "_t = ' '.join([_p for _p in _t.split(' ') if _p])")
    w.emit(indent + 1, f"_x = {w.name('N', normalise)}(_t)")
    w.emit(indent + 1, "if _x is not None:")
    _emit_set(w, indent + 2, plan, "_x")


def _argv(plan: RulePlan) -> str:
    return "None" if plan.args is None else "_argv"


def _emit_args(w: _Writer, indent: int, plan: RulePlan) -> None:
    """Emit code putting the built-in's arguments into ``_argv`` (the first value of each argument's rule)."""
    if plan.args is None:
        return
    w.emit(indent, "_argv = {}")
    for name, fn in plan.args:
        w.emit(indent, f"_a = {w.name('A', fn)}(ctx, raw, level)")
        w.emit(indent, "if _a:")
        w.emit(indent + 1, f"_argv[{name!r}] = _a[0]")


def _emit_field_items(w: _Writer, indent: int, own: tuple[str, int, int | None, int | None, str]) -> None:
    """Emit code putting the items of an absolute path to a field into ``_items``, as its getter would
    (:func:`hub.mapping.runtime.compile_getter`), without calls for a field that does not repeat."""
    segname, fieldno, comp, sub, scope = own
    w.emit(indent, f"if sname == {segname!r}:")
    w.emit(indent + 1, "_s = cseg")
    w.emit(indent + 1, f"_r = sfields[{fieldno}] if nsf > {fieldno} else ''")
    w.emit(indent, "else:")
    if scope == "up" and segname == "MSH":
        w.emit(indent + 1, "_s = env.message.segments[0]")
    elif scope == "up":
        # found once per call: the groups do not change while a resource is filled (the node tree is frozen), and
        # an Observation reads a dozen fields of its OBR
        var = w.segments.get(segname)
        if var is None:
            var = w.segments[segname] = f"_g{len(w.segments)}"
        w.emit(indent + 1, f"_s = {var}")
        w.emit(indent + 1, "if _s is MISS:")
        w.emit(indent + 2, f"_f = ctx.node.find({segname!r})")
        w.emit(indent + 2, f"_s = {var} = _f[0] if _f else None")
    elif scope == "group":
        w.emit(indent + 1, f"_f = ctx.node.segs.get({segname!r})")
        w.emit(indent + 1, "_s = _f[0] if _f else None")
    else:
        w.emit(indent + 1, "_s = None")
    w.emit(indent + 1, "if _s is None:")
    w.emit(indent + 2, "_r = ''")
    w.emit(indent + 1, "else:")
    w.emit(indent + 2, "_sf = _s.fields")
    w.emit(indent + 2, f"_r = _sf[{fieldno}] if len(_sf) > {fieldno} else ''")
    w.emit(indent, "if not _r or _r == '\"\"':")
    w.emit(indent + 1, "_items = ()")
    if sub is None:
        # one repetition: the field, or one component of it
        w.emit(indent, "elif env.rep not in _r:")
        if comp is None:
            w.emit(indent + 1, "_items = ((_s, _r, 0),)")
        else:
            w.emit(indent + 1, "_p = _r.split(env.comp)")
            w.emit(indent + 1, f"_v = _p[{comp - 1}] if len(_p) > {comp - 1} else ''")
            w.emit(indent + 1, "_items = ((_s, _v, 1),) if _v and _v != '\"\"' else ()")
    w.emit(indent, "else:")
    w.emit(indent + 1, f"_items = field_items(env, _s, _r, {comp!r}, {sub!r})")


def _tree_indexes(tree: tuple[Any, ...], into: set[int]) -> set[int]:
    kind = tree[0]
    if kind in ("all", "any"):
        for part in tree[1]:
            _tree_indexes(part, into)
    elif kind == "not":
        _tree_indexes(tree[1], into)
    elif kind in ("in", "test"):
        into.add(tree[1])
    return into


def _tree_fields(tree: tuple[Any, ...], into: dict[tuple[str, str, str], Any]) -> dict[tuple[str, str, str], Any]:
    kind = tree[0]
    if kind in ("all", "any"):
        for part in tree[1]:
            _tree_fields(part, into)
    elif kind == "not":
        _tree_fields(tree[1], into)
    elif kind == "field":
        into.setdefault(tree[1], tree[2])
    return into


def _any_in(texts: tuple[str, ...], values: frozenset[str]) -> bool:
    for text in texts:
        if text and text.upper() in values:
            return True
    return False


def _any_test(texts: tuple[str, ...], test: Callable[[str], Any]) -> bool:
    for text in texts:
        if text and test(text):
            return True
    return False


def _field_texts(w: _Writer, key: tuple[str, str, str], texts: Callable[..., Any]) -> str:
    """An expression for the texts of a condition's absolute path that :func:`_emit_field_read` does not read in
    line (what ``texts(ctx)`` gives): a whole segment by ``up``, ``group`` or ``own`` (one marker per segment, as
    compile_getter's segments give them); the closure for the rest (a header field, other scopes)."""
    call = f"{w.name('Z', texts)}(ctx)"
    path = parse_path(key[0])
    scope = key[1]
    segname = path.segment
    if path.field is None and scope in ("up", "group", "own") and segname not in ("MSH", "BHS", "FHS"):
        if scope == "up":
            found = f"('\\x00',) * len(ctx.node.find({segname!r}))"
        elif scope == "group":
            found = f"('\\x00',) * len(ctx.node.segs.get({segname!r}) or ())"
        else:
            found = "()"
        return f"(('\\x00',) if sname == {segname!r} else {found})"
    return call


def _inline_field(key: tuple[str, str, str]) -> tuple[str, int, int | None, int | None] | None:
    """The (segment, field, component, subcomponent) of a condition's absolute path to a field that
    :func:`_emit_field_read` reads in line: a field or component of a segment found by ``up``, ``group`` or
    ``own`` (the current segment's first), not a header's delimiter fields; None for the rest."""
    path = parse_path(key[0])
    segname = path.segment
    if segname is None or path.field is None or key[1] not in ("up", "group", "own", "inner", "below", "around"):
        return None
    if segname in ("MSH", "BHS", "FHS") and path.field <= 2:
        return None
    if key[1] in ("below", "around") and key[2] not in ("leaf", "any"):
        return None  # (compile_coded_texts reads no such scope)
    return segname, path.field, path.component, path.subcomponent


def _emit_segment(w: _Writer, indent: int, segname: str, scope: str) -> None:
    """Emit code putting the segment ``segname`` that a path names into ``_cs`` (None: none), the current one
    aside (the caller tests ``sname`` first), as :func:`hub.mapping.runtime.compile_getter` finds it."""
    if scope == "up" and segname == "MSH":
        w.emit(indent, "_cs = env.message.segments[0]")
    elif scope == "up":
        # found once per call, shared with the rules' own reads (see _emit_field_items)
        var = w.segments.get(segname)
        if var is None:
            var = w.segments[segname] = f"_g{len(w.segments)}"
        w.emit(indent, f"_cs = {var} if {var} is not MISS else ({var} := (ctx.node.find({segname!r}) or _NONE)[0])")
    elif scope == "group":
        w.emit(indent, f"_cs = (ctx.node.segs.get({segname!r}) or _NONE)[0]")
    elif scope == "inner":
        var = w.segments.get(f"inner {segname}")
        if var is None:
            var = w.segments[f"inner {segname}"] = f"_g{len(w.segments)}"
        find = f"ctx.node.find_inner({segname!r})"
        w.emit(indent, f"_cs = {var} if {var} is not MISS else ({var} := ({find} or _NONE)[0])")
    else:
        w.emit(indent, "_cs = None")


def _emit_leaf(w: _Writer, indent: int, raw: str, level: int, into: str) -> None:
    """Emit :func:`hub.mapping.runtime.leaf` of ``raw`` at a level known here, into ``into``."""
    cut = raw + (".partition(env.comp)[0]" if level < 1 else "") + (".partition(env.sub)[0]" if level < 2 else "")
    text = raw
    if cut != raw:
        w.emit(indent, f"_cu = {cut}")
        text = "_cu"
    w.emit(
        indent,
        f"{into} = '' if {text} == '\"\"' else unescape({text}, env.delims).strip() if env.esc in {text} "
        f"else {text}.strip()",
    )


def _emit_part(w: _Writer, indent: int, separator: str, n: int) -> None:
    """``_cr`` becomes its ``n``-th part (1-based) by ``env.<separator>`` (``comp``, ``sub``); '' when it has fewer."""
    if n == 1:
        w.emit(indent, f"_cr = _cr.partition(env.{separator})[0]")
    else:
        w.emit(indent, f"_cp = _cr.split(env.{separator})")
        w.emit(indent, f"_cr = _cp[{n - 1}] if len(_cp) > {n - 1} else ''")


def _emit_field_read(w: _Writer, indent: int, key: tuple[str, str, str], var: str) -> None:
    """Emit code reading a condition's absolute path to a field once per call (:func:`_inline_field`): ``var``
    is the leaf text of its one item ('' when it has none: every operator reads no item and an empty text
    alike), or None when the field repeats, its texts then in ``var`` + ``r`` (what compile_texts gives)."""
    found = _inline_field(key)
    assert found is not None
    segname, fieldno, comp, sub = found
    scope = key[1]
    read_any = key[2] == "any"
    if key not in w.single:
        w.emit(indent, f"if {var} is MISS:")
        indent += 1
    if scope in ("below", "around"):
        # every such segment (the current one, else those of this group and the groups inside it, or around it),
        # found once per call for every path of that segment and scope; none (the common case): no text
        segs = w.segments.get(f"{scope} {segname}")
        if segs is None:
            segs = w.segments[f"{scope} {segname}"] = f"_g{len(w.segments)}"
        find = "find_below" if scope == "below" else "find_around"
        w.emit(indent, f"if {segs} is MISS:")
        w.emit(indent + 1, f"{segs} = (cseg,) if sname == {segname!r} else ctx.node.{find}({segname!r})")
        w.emit(indent, f"if {segs}:")
        w.emit(indent + 1, f"{var} = None")
        read = "first_text" if read_any else "leaf"
        w.emit(indent + 1, f"{var}r = _every_text(env, {segs}, {fieldno}, {comp!r}, {sub!r}, {read})")
        w.emit(indent, "else:")
        w.emit(indent + 1, f"{var} = ''")
        return
    w.emit(indent, f"if sname == {segname!r}:")
    w.emit(indent + 1, f"_cr = sfields[{fieldno}] if nsf > {fieldno} else ''")
    w.emit(indent, "else:")
    _emit_segment(w, indent + 1, segname, scope)
    w.emit(indent + 1, "_cf = _cs.fields if _cs is not None else ()")
    w.emit(indent + 1, f"_cr = _cf[{fieldno}] if len(_cf) > {fieldno} else ''")
    w.emit(indent, "if not _cr or _cr == '\"\"':")
    w.emit(indent + 1, f"{var} = ''")
    if key[2].startswith("coded "):
        # the identifiers of a whole coded field (in_table with an alternate_system: compile_coded_texts): the
        # identifier alone, read as a leaf, when there is no alternate coding system (fewer than six components)
        w.emit(indent, "elif env.rep in _cr or _cr.count(env.comp) >= 5:")
        w.emit(indent + 1, f"{var} = None")
        w.emit(indent + 1, f"{var}r = coded_texts(env, _cr, {key[2][6:]!r})")
    else:
        w.emit(indent, "elif env.rep in _cr:")
        w.emit(indent + 1, f"{var} = None")
        read = "first_text" if read_any else "leaf"
        w.emit(indent + 1, f"{var}r = _rep_texts(env, _cr, {comp!r}, {sub!r}, {read})")
    w.emit(indent, "else:")
    indent += 1
    level = 0
    if comp is not None:
        _emit_part(w, indent, "comp", comp)
        level = 1
        if sub is not None:
            _emit_part(w, indent, "sub", sub)
            level = 2
    _emit_leaf(w, indent, "_cr", level, var)
    if read_any and level < 2:
        # first_text: any component's (subcomponent's) text, when the first has none
        w.emit(indent, f"if not {var} and (env.sub in _cr or env.comp in _cr):")
        w.emit(indent + 1, f"{var} = first_text(env, _cr, {level})")


def _rep_texts(
    env: Any, value: str, comp: int | None, sub: int | None, read: Callable[[Any, str, int], str]
) -> tuple[str, ...]:
    """The texts of each repetition of a field (what compile_texts gives for a repeating field)."""
    return tuple([read(env, item[1], item[2]) for item in field_items(env, None, value, comp, sub)])  # type: ignore[arg-type]


def _every_text(
    env: Any, segments: Any, fieldno: int, comp: int | None, sub: int | None, read: Callable[[Any, str, int], str]
) -> tuple[str, ...]:
    """The texts of a field of each of the segments (what compile_texts gives for scope below and around)."""
    texts: list[str] = []
    for seg in segments:
        fields = seg.fields
        value = fields[fieldno] if fieldno < len(fields) else ""
        if value and value != '""':
            texts.extend(read(env, item[1], item[2]) for item in field_items(env, seg, value, comp, sub))  # type: ignore[arg-type]
    return tuple(texts)


def _present(env: Any, value: str, level: int) -> bool:
    """Whether a component of the current value has text (``present``; the HL7 null ``""`` has none)."""
    return bool(value) and value != '""' and bool(first_text(env, value, level))


def _field_expr(w: _Writer, indent: int, tree: tuple[Any, ...]) -> str:
    """Emit the reading of a condition on an absolute path and return its test."""
    _kind, key, texts_fn, op, arg = tree
    segname = _segment_up(tree)
    if segname is not None:
        # a segment by scope up: the current one, else the first the groups give (found once per call, shared
        # with the rules' own reads, see _emit_field_items)
        found = w.segments.get(segname)
        if found is None:
            found = w.segments[segname] = f"_g{len(w.segments)}"
        w.emit(indent, f"if sname != {segname!r} and {found} is MISS:")
        w.emit(indent + 1, f"{found} = (ctx.node.find({segname!r}) or _NONE)[0]")
        if arg:
            return f"(sname == {segname!r} or {found} is not None)"
        return f"(sname != {segname!r} and {found} is None)"
    var = w.fields[key]
    if _inline_field(key) is None:
        texts = f"({var} if {var} is not MISS else ({var} := {_field_texts(w, key, texts_fn)}))"
        if key in w.single:
            texts = _field_texts(w, key, texts_fn)
        if op == "present":
            return f"(any({texts}) is {bool(arg)!r})"
        if op == "repeats":
            return f"((sum(map(bool, {texts})) > 1) is {bool(arg)!r})"  # non-empty items only
        if op == "in":
            return f"_any_in({texts}, {w.name('IN', arg)})"
        return f"_any_test({texts}, {w.name('T', arg)})"
    _emit_field_read(w, indent, key, var)
    reps = f"{var}r"
    if op == "present":
        has = f"({var} if {var} is not None else any({reps}))"
        return has if arg else f"(not {has})"
    if op == "repeats":
        many = f"({var} is None and sum(map(bool, {reps})) > 1)"  # non-empty items only
        return many if arg else f"(not {many})"
    if op == "in":
        values = w.name("IN", arg)
        one = f"{var}.upper() in {values}" if "" not in arg else f"({var} != '' and {var}.upper() in {values})"
        return f"({one} if {var} is not None else _any_in({reps}, {values}))"
    test = w.name("T", arg)
    return f"(({var} != '' and {test}({var})) if {var} is not None else _any_test({reps}, {test}))"


def _tree_count(tree: tuple[Any, ...], into: dict[tuple[str, str, str], int]) -> None:
    """How many times a condition reads each absolute path."""
    kind = tree[0]
    if kind in ("all", "any"):
        for part in tree[1]:
            _tree_count(part, into)
    elif kind == "not":
        _tree_count(tree[1], into)
    elif kind == "field":
        into[tree[1]] = into.get(tree[1], 0) + 1


def _needs_statements(tree: tuple[Any, ...]) -> bool:
    """Whether a condition reads something first (a component, a field), in statements before its test."""
    kind = tree[0]
    if kind in ("all", "any"):
        return any(_needs_statements(part) for part in tree[1])
    if kind == "not":
        return _needs_statements(tree[1])
    if kind == "field":
        return _inline_field(tree[1]) is not None or _segment_up(tree) is not None
    return kind in ("in", "test")


def _segment_up(tree: tuple[Any, ...]) -> str | None:
    """The segment of a ``present`` condition on a whole segment by scope up (found in line), else None."""
    _kind, key, _texts, op, _arg = tree
    path = parse_path(key[0])
    if path.field is None and op == "present" and key[1] == "up" and path.segment not in ("MSH", "BHS", "FHS"):
        return path.segment
    return None


def _tree_relative(tree: tuple[Any, ...]) -> bool:
    """Whether a condition reads a component of the current value."""
    kind = tree[0]
    if kind in ("all", "any"):
        return any(_tree_relative(part) for part in tree[1])
    if kind == "not":
        return _tree_relative(tree[1])
    return kind in ("in", "test", "present")


def _emit_tree(w: _Writer, indent: int, tree: tuple[Any, ...]) -> str:
    """Emit the statements a condition needs before its test (each read once per call, and only when the tests
    before it leave the answer open) and return the test, an expression whose truth is the condition's."""
    kind = tree[0]
    if kind == "field":
        return _field_expr(w, indent, tree)
    if kind == "event":
        return f"(env.event in {w.name('EV', tree[1])})"
    if kind == "not":
        return f"(not {_emit_tree(w, indent, tree[1])})"
    if kind in ("all", "any"):
        parts = tree[1]
        joiner = " and " if kind == "all" else " or "
        if not _needs_statements(tree):
            return "(" + joiner.join(_emit_tree(w, indent, part) for part in parts) + ")"
        # runs of parts, each starting where a part needs statements: a run's statements run only when the runs
        # before it leave the answer open (all: each was true; any: each was false)
        runs: list[list[tuple[Any, ...]]] = [[]]
        for part in parts:
            if _needs_statements(part) and runs[-1]:
                runs.append([])
            runs[-1].append(part)
        var = f"_c{w.counter}"
        w.counter += 1
        for i, run in enumerate(runs):
            test = joiner.join(_emit_tree(w, indent, part) for part in run)
            if i == len(runs) - 1:
                w.emit(indent, f"{var} = {test}")
            elif kind == "all":
                if i == 0:
                    w.emit(indent, f"{var} = False")
                w.emit(indent, f"if {test}:")
            else:
                if i == 0:
                    w.emit(indent, f"{var} = True")
                w.emit(indent, f"if not ({test}):")
            indent += 1
        return var
    if kind == "present":
        # any text in the component, in any of its subcomponents (first_text), not only in the first
        part = f"(parts[{tree[1]}] if n > {tree[1]} else '')"
        return f"({'' if tree[2] else 'not '}_present(env, {part}, nl))"
    index = tree[1]
    leaf_var = f"_q{index}"
    # the leaf text of component <index> of the current value (nl: 1 or 2), read once per call
    w.emit(indent, f"if {leaf_var} is MISS:")
    w.emit(indent + 1, f"_cu = parts[{index}] if n > {index} else ''")
    w.emit(indent + 1, "if _cu and nl < 2:")
    w.emit(indent + 2, "_cu = _cu.partition(env.sub)[0]")
    _emit_leaf(w, indent + 1, "_cu", 2, leaf_var)
    if kind == "in":
        values = w.name("IN", tree[2])
        if "" in tree[2]:
            return f"({leaf_var} != '' and {leaf_var}.upper() in {values})"
        return f"({leaf_var}.upper() in {values})"
    # a test (a regex, a validator, a table): worked out once per call of the function, when first needed
    var = w.tests[_test_key(tree[1], tree[2])]
    test = f"({leaf_var} != '' and bool({w.name('T', tree[2])}({leaf_var})))"
    return f"({var} if {var} is not MISS else ({var} := {test}))"


def _test_key(index: int, test: Callable[[str], Any]) -> tuple[int, int, int]:
    """The same test of the same component (a bound method is made anew for each rule: its object and function
    tell that it is the same test)."""
    return index, id(getattr(test, "__self__", None)), id(getattr(test, "__func__", test))


def _tree_tests(tree: tuple[Any, ...], into: dict[tuple[int, int, int], Any]) -> dict[tuple[int, int, int], Any]:
    kind = tree[0]
    if kind in ("all", "any"):
        for part in tree[1]:
            _tree_tests(part, into)
    elif kind == "not":
        _tree_tests(tree[1], into)
    elif kind == "test":
        into[_test_key(tree[1], tree[2])] = tree[2]
    return into


def _emit_condition(w: _Writer, indent: int, plan: RulePlan) -> str | None:
    """Emit what the rule's condition needs and return the test expression (None: no condition)."""
    if plan.when_tree is not None:
        return _emit_tree(w, indent, plan.when_tree)
    if plan.when is not None:
        return f"{w.name('W', plan.when)}(ctx, raw, level)"
    return None


def _emit_rule(w: _Writer, plan: RulePlan) -> None:
    indent = 1
    last = plan.steps[-1]
    if not plan.is_list:
        # A single-valued element already set (or another variant of its choice) is left alone: the
        # first rule that yields a value wins, later rules are fallbacks.
        holder = _container(w, indent, plan.steps, create=False)
        flag = w.choices.get(plan.choice) if holder == "out" else None
        tests = " and ".join(f"{key!r} not in {holder}" for key in plan.choice or (last,))
        if flag is not None:
            w.emit(indent, f"if {flag}:")
        else:
            w.emit(indent, f"if {tests}:" if holder == "out" else f"if _c is None or ({tests}):")
        indent += 1
    start = len(w.lines)
    if plan.error is not None:
        w.emit(indent, "try:")
        indent += 1
    if plan.constant is not None:
        value = plan.constant[0]
        const = w.name("K", value)
        test = _emit_condition(w, indent, plan)
        w.emit(indent, f"if {test}:")
        if isinstance(value, dict | list):
            _emit_set(w, indent + 1, plan, f"{w.name('KC', copier(value))}()")
        else:
            _emit_set(w, indent + 1, plan, const)
    elif plan.ref is not None:
        name, first = plan.ref
        test = _emit_condition(w, indent, plan)
        if test is not None:
            w.emit(indent, f"if {test}:")
            indent += 1
        w.emit(indent, f"_f = ctx.node.lookup({name!r})")
        if first or not plan.is_list:  # a single-valued element takes the first
            w.emit(indent, "if _f:")
            w.emit(indent + 1, "_x = {'reference': _f[0][0] + '/' + _f[0][1]}")
            _emit_set(w, indent + 1, plan, "_x")
        else:
            w.emit(indent, "for _r in _f:")
            w.emit(indent + 1, "_x = {'reference': _r[0] + '/' + _r[1]}")
            _emit_set(w, indent + 1, plan, "_x")
        if test is not None:
            indent -= 1
    elif plan.fmt is not None:
        test = _emit_condition(w, indent, plan)
        if test is not None:
            w.emit(indent, f"if {test}:")
            indent += 1
        _emit_format(w, indent, plan)
        if test is not None:
            indent -= 1
    elif plan.values is not None:
        fn = w.name("V", plan.values)
        gate = _gate_expr(plan)
        # the condition's reads only when the gate is open; the values only when the condition holds
        inner = indent
        if gate is not None:
            w.emit(inner, f"if {gate}:")
            inner += 1
        test = _emit_condition(w, inner, plan)
        if test is not None:
            w.emit(inner, f"if {test}:")
            inner += 1
        w.emit(inner, f"_vals = {fn}(ctx, raw, level)")
        if plan.is_list:
            w.emit(inner, "for _x in _vals:")
            _emit_set(w, inner + 1, plan, "_x")
        else:
            w.emit(inner, "if _vals:")
            _emit_set(w, inner + 1, plan, "_vals[0]")
    elif plan.current:
        w.emit(indent, "if raw is not None:")
        w.emit(indent + 1, "if raw and raw != '\"\"':")
        inner = indent + 2
        test = _emit_condition(w, inner, plan)
        if test is not None:
            w.emit(inner, f"if {test}:")
            inner += 1
        _emit_args(w, inner, plan)
        _emit_convert(w, inner, plan, "raw", "level", "(cseg, raw, level)")
        w.emit(indent, "elif cseg is not None:")
        # the current segment as a whole (an 'elements' block over the segment): only a closure handles it
        whole = w.name("C", plan.conv)
        inner = indent + 1
        if plan.when is not None:
            cond = w.name("W", plan.when)
            w.emit(inner, f"if {cond}(ctx, raw, level):")
            inner += 1
        _emit_args(w, inner, plan)
        w.emit(inner, f"_x = {whole}(ctx, (cseg, None, 0), {_argv(plan)})")
        w.emit(inner, "if _x is not None:")
        _emit_set(w, inner + 1, plan, "_x")
    elif plan.relative is not None:
        comp, sub = plan.relative
        w.emit(indent, f"_v = parts[{comp}] if n > {comp} else ''")
        level = "nl"
        if sub is not None:
            w.emit(indent, "if _v and nl == 1:")
            w.emit(indent + 1, "_w = _v.split(env.sub)")
            w.emit(indent + 1, f"_v = _w[{sub}] if len(_w) > {sub} else ''")
            if sub:
                w.emit(indent, "elif nl > 1:")
                w.emit(indent + 1, "_v = ''")
            level = "2"
        w.emit(indent, "if _v and _v != '\"\"':")
        inner = indent + 1
        test = _emit_condition(w, inner, plan)
        if test is not None:
            w.emit(inner, f"if {test}:")
            inner += 1
        _emit_args(w, inner, plan)
        _emit_convert(w, inner, plan, "_v", level, f"(cseg, _v, {level})")
    else:
        assert plan.getter is not None
        if plan.own is not None and plan.own in w.items:
            var = w.items[plan.own]
            w.emit(indent, f"if {var} is MISS:")
            _emit_field_items(w, indent + 1, plan.own)
            w.emit(indent + 1, f"{var} = _items")
            w.emit(indent, "else:")
            w.emit(indent + 1, f"_items = {var}")
        elif plan.own is not None:
            _emit_field_items(w, indent, plan.own)
        else:
            w.emit(indent, f"_items = {w.name('G', plan.getter)}(ctx, raw, level)")
        body = indent + 1
        if plan.when_tree is not None and _needs_statements(plan.when_tree):
            # the condition's reads only when the rule's source has items
            w.emit(indent, "if _items:")
            w.emit(indent + 1, f"if {_emit_condition(w, indent + 1, plan)}:")
            body += 1
        else:
            cond_test = _emit_condition(w, indent, plan)
            w.emit(indent, "if _items:" if cond_test is None else f"if _items and {cond_test}:")
        _emit_args(w, body, plan)
        w.emit(body, "_done = False")
        w.emit(body, "for _it in _items:")
        loop = body + 1
        if _single(plan):
            w.emit(loop, "if _done:")
            w.emit(loop + 1, "break")
        w.emit(loop, "if _it[1] is None:")
        # a whole segment (a rule with 'elements' over segments): only a closure handles it
        whole = w.name("C", plan.conv)
        w.emit(loop + 1, f"_x = {whole}(ctx, _it, {_argv(plan)})")
        w.emit(loop + 1, "if _x is not None:")
        _emit_set(w, loop + 2, plan, "_x")
        if _single(plan):
            w.emit(loop + 2, "_done = True")
        w.emit(loop + 1, "continue")
        _emit_convert(w, loop, plan, "_it[1]", "_it[2]", "_it")
    if plan.error is not None:
        indent -= 1
        err = w.name("E", plan.error)
        w.emit(indent, "except ValueError as _e:")
        if plan.droppable and w.droppable:
            w.emit(indent + 1, f"invalid_value(ctx, {err}(ctx, _e))")
        else:
            w.emit(indent + 1, f"raise {err}(ctx, _e) from None")
    if len(w.lines) == start:  # pragma: no cover - every plan emits something
        w.emit(indent, "pass")
    if plan.required:
        miss = w.name("M", plan.missing)
        holder = _container(w, 1, plan.steps, create=False)
        if plan.is_list:
            w.emit(1, f"if not out.get({last!r}):" if holder == "out" else f"if _c is None or not _c.get({last!r}):")
        else:
            tests = " and ".join(f"{key!r} not in {holder}" for key in plan.choice or (last,))
            w.emit(1, f"if {tests}:" if holder == "out" else f"if _c is None or ({tests}):")
        w.emit(2, f"raise {miss}(ctx)")


Fill = Callable[[dict[str, Any], Ctx, "str | None", int], None]
Build = Callable[[Ctx, "str | None", int], Any]

_MISS = object()


def _gate_expr(plan: RulePlan) -> str | None:
    """The in-line test that the segments a value function of whole segments reads are there (its ``gate``)."""
    gate = getattr(plan.values, "gate", None)
    if gate is None:
        return None
    segname, scope = gate
    # (a truth value: the segments found, else an empty list or None)
    if scope == "group":
        return f"(sname == {segname!r} or ctx.node.segs.get({segname!r}))"
    if scope == "own":
        return f"(sname == {segname!r})"
    return f"(sname == {segname!r} or ctx.node.find({segname!r}))"


def _reads_items(plan: RulePlan) -> bool:
    """Whether the rule is written with its getter's items (what _emit_rule does for the rest)."""
    return (
        plan.constant is None
        and plan.ref is None
        and plan.fmt is None
        and plan.values is None
        and not (plan.current or plan.relative is not None)
    )


def _prologue(w: _Writer, plans: list[RulePlan], indent: int) -> None:
    w.emit(indent, "env = ctx.env")
    w.emit(indent, "cseg = ctx.seg")
    if any(
        p.own is not None or (p.when_tree is not None and _tree_fields(p.when_tree, {})) or _gate_expr(p) is not None
        for p in plans
    ):
        w.emit(indent, "if cseg is not None:")
        w.emit(indent + 1, "sname = cseg.name")
        w.emit(indent + 1, "sfields = cseg.fields")
        w.emit(indent + 1, "nsf = len(sfields)")
        w.emit(indent, "else:")
        w.emit(indent + 1, "sname = None")
    if any(
        p.relative is not None or (p.when_tree is not None and _tree_relative(p.when_tree)) or p.fmt is not None
        for p in plans
    ):
        # The current value split once into its components (subcomponents below the field level).
        w.emit(indent, "if raw is None:")
        w.emit(indent + 1, "parts = ()")
        w.emit(indent, "elif level == 0:")
        w.emit(indent + 1, "parts = raw.split(env.comp)")
        w.emit(indent, "elif level == 1:")
        w.emit(indent + 1, "parts = raw.split(env.sub)")
        w.emit(indent, "else:")
        w.emit(indent + 1, "parts = (raw,)")
        w.emit(indent, "n = len(parts)")
        w.emit(indent, "nl = level + 1 if level < 2 else 2")
    indexes: set[int] = set()
    tests: dict[tuple[int, int, int], Any] = {}
    for plan in plans:
        if plan.when_tree is not None:
            _tree_indexes(plan.when_tree, indexes)
            _tree_tests(plan.when_tree, tests)
    for index in sorted(indexes):
        w.emit(indent, f"_q{index} = MISS")
    for key in tests:
        var = w.tests[key] = f"_t{len(w.tests)}"
        w.emit(indent, f"{var} = MISS")
    fields: dict[tuple[str, str, str], Any] = {}
    reads: dict[tuple[str, str, str], int] = {}
    for plan in plans:
        if plan.when_tree is not None:
            _tree_fields(plan.when_tree, fields)
            _tree_count(plan.when_tree, reads)
    # a path one condition reads once: read where it is tested, without a variable kept for the call (each rule's
    # condition is asked at most once per call)
    w.single = {key for key, count in reads.items() if count == 1}
    for path_key in fields:
        var = w.fields[path_key] = f"_z{len(w.fields)}"
        if path_key not in w.single:
            w.emit(indent, f"{var} = MISS")
    owns: dict[tuple[str, int, int | None, int | None, str], int] = {}
    for plan in plans:
        if plan.own is not None and _reads_items(plan):
            owns[plan.own] = owns.get(plan.own, 0) + 1
    for own, count in owns.items():
        if count > 1:
            var = w.items[own] = f"_i{len(w.items)}"
            w.emit(indent, f"{var} = MISS")
    # a choice element that several top-level rules fill: whether any variant is set, tested once here
    counts: dict[tuple[str, ...], int] = {}
    for plan in plans:
        if not plan.is_list and len(plan.steps) == 1 and len(plan.choice) > 1:
            counts[plan.choice] = counts.get(plan.choice, 0) + 1
    for choice, count in counts.items():
        if count > 1:
            var = w.choices[choice] = f"_ch{len(w.choices)}"
            w.emit(indent, f"{var} = " + " and ".join(f"{variant!r} not in out" for variant in choice))
            for variant in choice:
                w.cleared.setdefault(variant, []).append(var)
    w.prologue_end = len(w.lines)
    w.prologue_indent = indent


def _compile(w: _Writer, name: str, label: str) -> Any:
    lines = w.lines
    if w.segments:
        pad = "    " * w.prologue_indent
        found = [f"{pad}{var} = MISS" for var in w.segments.values()]
        lines = lines[: w.prologue_end] + found + lines[w.prologue_end :]
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = dict(w.names)
    namespace.update(
        current_item=current_item,
        field_items=field_items,
        leaf=leaf,
        unescape=unescape,
        fhir_string=fhir_string,
        fhir_code=fhir_code,
        deep_copy=deep_copy,
        json_copy=json_copy,
        key_text=key_text,
        invalid_value=invalid_value,
        first_text=first_text,
        _any_in=_any_in,
        _any_test=_any_test,
        _rep_texts=_rep_texts,
        _every_text=_every_text,
        coded_texts=coded_texts,
        _present=_present,
        MISS=_MISS,
        _NONE=(None,),
    )
    code = compile(source, f"<mapping {label}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own generated code; template text appears only as repr() literals
    function = namespace[name]
    function.__source__ = source
    return function


def generate(plans: list[RulePlan], label: str) -> Fill:
    """One function ``fill(out, ctx, raw, level)`` that applies the rules in order to ``out``."""
    w = _Writer()
    w.emit(0, "def fill(out, ctx, raw, level):")
    _prologue(w, plans, 1)
    for plan in plans:
        _emit_rule(w, plan)
    w.emit(1, "return None")
    fill: Fill = _compile(w, "fill", label)
    return fill


def generate_condition(tree: tuple[Any, ...], label: str) -> Callable[[Ctx, str | None, int], bool]:
    """One function ``when(ctx, raw, level)`` that tells whether a condition (a tree of
    :meth:`hub.mapping.compiler.Compiler.condition_inline`) holds: what the closures of
    :meth:`hub.mapping.compiler.Compiler.condition` answer, in line (a message rule's ``when`` is asked of each
    segment of the rule)."""
    w = _Writer()
    w.emit(0, "def when(ctx, raw, level):")
    _prologue(w, [RulePlan(steps=[], is_list=False, choice=(), unique=False, required=False, when_tree=tree)], 1)
    test = _emit_tree(w, 1, tree)
    w.emit(1, f"return True if {test} else False")
    when: Callable[[Ctx, str | None, int], bool] = _compile(w, "when", label)
    return when


def generate_key(plans: list[RulePlan], label: str, slots: list[tuple[str, bool]]) -> Callable[[Ctx], Any]:
    """One function ``key(ctx)`` that applies an id key's rules and returns the text of each part (by
    :func:`hub.mapping.ids.key_text`), or None when a part that is not optional (``slots``: (key, optional))
    has no value; an optional part without a value is ``""``."""
    # a resource whose key has an invalid value cannot be identified; parts that are each one element are only read
    w = _Writer(droppable=False, shared=all(len(plan.steps) == 1 for plan in plans))
    w.emit(0, "def key(ctx):")
    w.emit(1, "out = {}")
    w.emit(1, "raw = None")
    w.emit(1, "level = 0")
    _prologue(w, plans, 1)
    for plan in plans:
        _emit_rule(w, plan)
    for i, (slot, optional) in enumerate(slots):
        w.emit(1, f"_k{i} = out.get({slot!r})")
        w.emit(1, f"if _k{i} is None:")
        w.emit(2, f"_k{i} = ''" if optional else "return None")
        w.emit(1, f"elif type(_k{i}) is not str:")
        w.emit(2, f"_k{i} = key_text(_k{i})")
    w.emit(1, f"return [{', '.join(f'_k{i}' for i in range(len(slots)))}]")
    key: Callable[[Ctx], Any] = _compile(w, "key", label)
    return key


def generate_builder(
    plans: list[RulePlan],
    label: str,
    *,
    require: tuple[str, ...] = (),
    finish: Callable[[dict[str, Any], Ctx], Any] | None = None,
    memo: str | None = None,
    slot: str | None = None,
) -> Build:
    """One function ``build(ctx, raw, level, shared=False)`` that makes a new value from the rules.

    Args:
        plans: the rules.
        label: for tracebacks.
        require: keys without which the object is no value (None).
        finish: a finisher applied to the object.
        memo: a key under which results are kept per message (the same text gives the same value).
        slot: for a primitive datatype, the one key the rules fill; its value is the result.
    """
    w = _Writer()
    # shared: the caller only reads the result (a built-in's argument), so a result kept for the message is
    # given as it is, not copied
    w.emit(0, "def build(ctx, raw, level, shared=False):")
    if memo is not None:
        key = w.name("MK", memo)
        w.emit(1, "if raw is not None:")
        w.emit(2, f"_mk = ({key}, raw, level)")
        w.emit(2, "_hit = ctx.env.memo.get(_mk, MISS)")
        w.emit(2, "if _hit is not MISS:")
        w.emit(3, "if shared or (type(_hit) is not dict and type(_hit) is not list):")
        w.emit(4, "return _hit")
        w.emit(3, "return json_copy(_hit)")
    w.emit(1, "out = {}")
    _prologue(w, plans, 1)
    for plan in plans:
        _emit_rule(w, plan)
    if slot is not None:
        w.emit(1, f"result = out.get({slot!r})")
    else:
        w.emit(1, "result = out or None")
        if require:
            tests = " or ".join(f"{key!r} not in out" for key in require)
            w.emit(1, f"if result is not None and ({tests}):")
            w.emit(2, "result = None")
        if finish is not None:
            fin = w.name("FIN", finish)
            w.emit(1, "if result is not None:")
            w.emit(2, f"result = {fin}(result, ctx)")
    if memo is not None:
        w.emit(1, "if raw is not None:")
        w.emit(2, "ctx.env.memo[_mk] = result")
    w.emit(1, "return result")
    build: Build = _compile(w, "build", label)
    return build
