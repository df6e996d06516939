"""Search filter parameters (http://hl7.org/fhir/R4/search.html) turned into SQL over the index tables.

Each ``(name, value)`` pair becomes ``resource.id IN (SELECT resource_id FROM search_<type> WHERE
resource_type = … AND param = … AND (<value 1> OR <value 2> …))``; repeated names AND together, a comma
ORs values within one. The lookup indexes (resource type, param, value…, resource_id) answer each subquery
from the index alone, and the database intersects them from the most selective one. Every value is a bound
parameter; names only select among the registered parameters.

Supported, by parameter type:

* token ``[system]|[code]``, ``code``, ``|code``, ``system|``; modifiers ``:not``, ``:missing``.
* string (starts with, after case folding and accent removal); ``:exact``, ``:contains``, ``:missing``.
* date with prefixes ``eq ne gt lt ge le sa eb ap`` against [low, high) ranges; partial dates; ``:missing``.
* reference ``id``, ``Type/id``, an absolute URL; ``:Type``; chained ``subject:Patient.identifier=…``
  (``subject.identifier`` when the parameter has one target type); ``:missing``.
* quantity ``[prefix]number[|system[|code]]`` with the number's implicit precision for ``eq``/``ne``.
* uri (exact).
* ``_id`` (token, ``:not``) and ``_lastUpdated`` (date), answered from the resource row.

Master patient index: a reference to a Patient (``Observation?patient=p1``, ``subject=Patient/p1``, the chain
``subject:Patient.identifier=…``) stands for every record of that person: the id is expanded with
``hub.identity.linking.expand_patient_ids`` (imported when first needed: ``hub.identity`` builds on ``hub.fhir``),
so a search on a master Patient finds the records of every linked hospital. Searches of Patient itself
(``Patient?link=…``) are not expanded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, cast

from sqlalchemy import ColumnElement, Select, Table, and_, not_, or_, select
from sqlalchemy.orm import Session

from hub.db.tables import Resource, SearchDate, SearchQuantity, SearchReference, SearchString, SearchToken
from hub.errors import InvalidInput
from hub.fhir.dates import parse_range, shift
from hub.fhir.indexer import CODE_MAX, ID_MAX, STRING_MAX, SYSTEM_MAX, UNIT_MAX, normalize, parse_reference
from hub.fhir.search_controls import Unsupported
from hub.fhir.search_params import RESOURCE_TYPES, SearchParam, params_for

RESOURCE = cast(Table, Resource.__table__)
_TABLES: dict[str, Table] = {
    "token": cast(Table, SearchToken.__table__),
    "uri": cast(Table, SearchToken.__table__),
    "string": cast(Table, SearchString.__table__),
    "date": cast(Table, SearchDate.__table__),
    "reference": cast(Table, SearchReference.__table__),
    "quantity": cast(Table, SearchQuantity.__table__),
}
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MAX_VALUES = 1000  # values ORed in one parameter
MAX_CHAIN = 3
MAX_CHAINED_PATIENTS = 100  # a chain on Patient matching more is not expanded through the MPI
_TOP = "\U0010ffff"  # sorts after every other code point: [p, p + _TOP) holds every string starting with p
_MODIFIERS = {
    "token": {"not", "missing"},
    "uri": {"missing"},
    "string": {"exact", "contains", "missing"},
    "date": {"missing"},
    "reference": {"missing"},
    "quantity": {"missing"},
}
_PREFIXED = re.compile(r"(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.*)", re.DOTALL)
_NUMBER = re.compile(r"[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,2})?")


@dataclass(slots=True)
class Context:
    """What the filters of one search share: the local zone of dates without one, and the session that
    expands Patient references through the master patient index (None: no expansion)."""

    local: tzinfo
    session: Session | None = None
    _linked: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    def linked(self, patient_id: str) -> list[str]:
        """``patient_id`` and every other record of the same person (just ``patient_id`` without a session)."""
        if self.session is None:
            return [patient_id]
        if patient_id not in self._linked:
            from hub.identity.linking import expand_patient_ids  # hub.identity imports hub.fhir

            self._linked[patient_id] = expand_patient_ids(self.session, patient_id)[:MAX_VALUES]
        return self._linked[patient_id]


class _Unknown(Exception):
    pass


def split_unescaped(value: str, sep: str) -> list[str]:
    """Split on ``sep`` where it is not escaped with a backslash (escapes are kept)."""
    parts: list[str] = []
    current: list[str] = []
    chars = iter(value)
    for c in chars:
        if c == "\\":
            current.append(c)
            current.append(next(chars, ""))
        elif c == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _bad(message: str, name: str) -> InvalidInput:
    return InvalidInput(message, expression=name)


# -- one value ------------------------------------------------------------------------------------------------


def _token(t: Table, raw: str, param: SearchParam, name: str) -> ColumnElement[bool]:
    if param.type == "uri":
        return t.c.code == unescape(raw)[:CODE_MAX]
    parts = split_unescaped(raw, "|")
    if len(parts) == 1:
        code = unescape(parts[0])
        if not code:
            raise _bad(f"{name}: an empty code", name)
        return t.c.code == code[:CODE_MAX]
    if len(parts) != 2:
        raise _bad(f"{name}: a token is [system]|[code]", name)
    system, code = unescape(parts[0]), unescape(parts[1])
    conditions = [t.c.system.is_(None) if not system else t.c.system == system[:SYSTEM_MAX]]
    if code:
        conditions.append(t.c.code == code[:CODE_MAX])
    elif not system:
        raise _bad(f"{name}: '|' alone names no token", name)
    return and_(*conditions)


def _string(t: Table, raw: str, modifier: str, name: str) -> ColumnElement[bool]:
    text = unescape(raw)
    if modifier == "exact":
        if not text.strip():
            raise _bad(f"{name}: an empty string", name)
        return t.c.exact == text.strip()[:STRING_MAX]
    norm = normalize(text)
    if not norm:
        raise _bad(f"{name}: an empty string", name)
    if modifier == "contains":
        pattern = "%" + norm.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return t.c.value.like(pattern, escape="\\")
    return and_(t.c.value >= norm, t.c.value < norm + _TOP)


def _date_range(raw: str, name: str, local: tzinfo) -> tuple[str, datetime, datetime]:
    m = _PREFIXED.fullmatch(unescape(raw).strip())
    assert m is not None
    prefix, text = m.group(1) or "eq", m.group(2)
    try:
        low, high = parse_range(text, local)
    except ValueError as exc:
        raise _bad(f"{name}: {text!r} is not a date (YYYY, YYYY-MM, YYYY-MM-DD, or a dateTime)", name) from exc
    return prefix, low, high


def _date(low: Any, high: Any, prefix: str, qlo: datetime, qhi: datetime) -> ColumnElement[bool]:
    """A stored range [low, high) against the search range [qlo, qhi), per the prefix (R4 search §2.1.1.5)."""
    inside = and_(low >= qlo, high <= qhi)
    if prefix == "eq":
        return inside
    if prefix == "ne":
        return not_(inside)
    if prefix == "gt":
        return cast(ColumnElement[bool], high > qhi)
    if prefix == "lt":
        return cast(ColumnElement[bool], low < qlo)
    if prefix == "ge":
        return or_(high > qhi, inside)
    if prefix == "le":
        return or_(low < qlo, inside)
    if prefix == "sa":
        return cast(ColumnElement[bool], low >= qhi)
    if prefix == "eb":
        return cast(ColumnElement[bool], high <= qlo)
    slack = _approx(qlo)
    return and_(low < shift(qhi, slack), high > shift(qlo, -slack))


def _instant(column: Any, prefix: str, qlo: datetime, qhi: datetime) -> ColumnElement[bool]:
    """A stored instant (to the microsecond) against [qlo, qhi): :func:`_date` with high = column + 1 µs."""
    inside = and_(column >= qlo, column < qhi)
    conditions: dict[str, ColumnElement[bool]] = {
        "eq": inside,
        "ne": not_(inside),
        "gt": cast(ColumnElement[bool], column >= qhi),
        "lt": cast(ColumnElement[bool], column < qlo),
        "ge": cast(ColumnElement[bool], column >= qlo),
        "le": cast(ColumnElement[bool], column < qhi),
        "sa": cast(ColumnElement[bool], column >= qhi),
        "eb": cast(ColumnElement[bool], column < qlo),
    }
    if prefix in conditions:
        return conditions[prefix]
    slack = _approx(qlo)
    return and_(column >= shift(qlo, -slack), column < shift(qhi, slack))


def _approx(when: datetime) -> timedelta:
    """``ap``: 10% of the distance between now and the value, at least a day."""
    return max(abs(datetime.now(UTC) - when) / 10, timedelta(days=1))


def _reference(
    ctx: Context, owner: str, t: Table, raw: str, modifier: str, param: SearchParam, name: str
) -> ColumnElement[bool]:
    value = unescape(raw).strip()
    if not value:
        raise _bad(f"{name}: an empty reference", name)
    rtype: str | None = modifier or None
    if "/" in value:
        parsed = parse_reference(value)
        if parsed is None:
            raise _bad(f"{name}: {value!r} is not a reference", name)
        ref_type, rid = parsed
        if ref_type is not None:
            if rtype is not None and ref_type != rtype:
                raise _bad(f"{name}: {value!r} is not a {rtype}", name)
            rtype = ref_type
    else:
        rid = value[:ID_MAX]
    if rtype is None and len(param.targets) == 1:
        rtype = param.targets[0]
    if rtype is not None and param.targets and rtype not in param.targets:
        raise _bad(f"{name} refers to {' or '.join(param.targets)}, not {rtype}", name)
    may_be_patient = rtype == "Patient" or (rtype is None and (not param.targets or "Patient" in param.targets))
    others = ctx.linked(rid)[1:] if may_be_patient and owner != "Patient" else []
    if rtype is None:
        if others:
            return or_(t.c.target_id == rid, and_(t.c.target_type == "Patient", t.c.target_id.in_(others)))
        return t.c.target_id == rid
    if others:
        return and_(t.c.target_type == rtype, t.c.target_id.in_([rid, *others]))
    return and_(t.c.target_id == rid, t.c.target_type == rtype)


def _quantity(t: Table, raw: str, name: str) -> ColumnElement[bool]:
    parts = [unescape(p) for p in split_unescaped(raw, "|")]
    if len(parts) not in (1, 3):
        raise _bad(f"{name}: a quantity is [prefix]number[|system|code]", name)
    m = _PREFIXED.fullmatch(parts[0].strip())
    assert m is not None
    prefix = m.group(1) or "eq"
    try:
        number = Decimal(m.group(2))
    except InvalidOperation as exc:
        raise _bad(f"{name}: {m.group(2)!r} is not a number", name) from exc
    if not number.is_finite() or not _NUMBER.fullmatch(m.group(2).strip()) or abs(number.adjusted()) > 30:
        raise _bad(f"{name}: {m.group(2)!r} is not a number this server compares", name)
    v = t.c.value
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5).scaleb(exponent - 1)
    within = and_(v >= number - half, v < number + half)
    conditions: list[ColumnElement[bool]]
    if prefix == "eq":
        conditions = [within]
    elif prefix == "ne":
        conditions = [not_(within)]
    elif prefix in ("gt", "sa"):
        conditions = [v > number]
    elif prefix in ("lt", "eb"):
        conditions = [v < number]
    elif prefix == "ge":
        conditions = [v >= number]
    elif prefix == "le":
        conditions = [v <= number]
    else:  # ap: within 10%
        slack = abs(number) / 10
        conditions = [and_(v >= number - slack, v <= number + slack)]
    if len(parts) == 3:
        system, code = parts[1], parts[2]
        if system:
            conditions.append(t.c.system == system[:SYSTEM_MAX])
        if code:
            conditions.append(t.c.code == code[:UNIT_MAX])
    return and_(*conditions)


# -- one parameter --------------------------------------------------------------------------------------------


class _Match(NamedTuple):
    """The ids of the resources one parameter names; ``negate``: it matches the resources *not* among them
    (``:not``, ``:missing=true``); ``table``: the index table the ids come from alone (None: from ``resource``,
    or through a chain)."""

    ids: Select[Any]
    negate: bool
    table: Table | None


def _any_of(ctx: Context, rtype: str, names: list[str], raw_value: str) -> _Match:
    """The ``rtype`` resources any of the reference parameters ``names`` matches ``raw_value`` for: one subquery
    of the reference index (``param = a AND (…) OR param = b AND (…)``), so it drives a search as one parameter
    does."""
    t = _TABLES["reference"]
    values = split_unescaped(raw_value, ",")
    if len(values) > MAX_VALUES or any(not v.strip() for v in values):
        raise _bad(f"{','.join(names)}: 1 to {MAX_VALUES} values", ",".join(names))
    alternatives: list[ColumnElement[bool]] = []
    for name in names:
        param = params_for(rtype).get(name)
        if param is None or param.type != "reference":
            raise _Unknown(name)
        ors = [_reference(ctx, rtype, t, v, "", param, name) for v in values]
        alternatives.append(and_(t.c.param == name, or_(*ors)))
    query = select(t.c.resource_id).where(t.c.resource_type == rtype, or_(*alternatives))
    return _Match(query, False, t)


def _matching(ctx: Context, rtype: str, full_name: str, raw_value: str, depth: int = 0) -> _Match:
    """What ``rtype`` resources one parameter matches (see :class:`_Match`)."""
    head, dot, rest = full_name.partition(".")
    name, _, modifier = head.partition(":")
    param = params_for(rtype).get(name)
    if param is None:
        raise _Unknown(name)
    if dot:
        return _Match(_chain(ctx, rtype, param, modifier, rest, raw_value, depth, full_name), False, None)
    if modifier and modifier not in _MODIFIERS[param.type]:
        if not (param.type == "reference" and modifier in RESOURCE_TYPES):
            raise Unsupported(f"{name}: the modifier :{modifier[:32]} is not supported", expression=full_name)
    if modifier == "missing":
        if raw_value not in ("true", "false"):
            raise _bad(f"{full_name}: true or false", full_name)
        if param.column is not None:
            raise _bad(f"{name} is never missing", full_name)
        t = _TABLES[param.type]
        present = select(t.c.resource_id).where(t.c.resource_type == rtype, t.c.param == name)
        return _Match(present, raw_value == "true", t)
    values = split_unescaped(raw_value, ",")
    if len(values) > MAX_VALUES:
        raise _bad(f"{name}: at most {MAX_VALUES} values", full_name)
    if any(not v.strip() for v in values):
        raise _bad(f"{name}: an empty value", full_name)
    negate = modifier == "not"
    if param.column == "id":
        ids = [unescape(v).strip() for v in values]
        return _Match(
            select(RESOURCE.c.id).where(RESOURCE.c.resource_type == rtype, RESOURCE.c.id.in_(ids)), negate, None
        )
    if param.column == "last_updated":
        conditions = [_instant(RESOURCE.c.last_updated, *_date_range(v, full_name, ctx.local)) for v in values]
        query = select(RESOURCE.c.id).where(RESOURCE.c.resource_type == rtype, or_(*conditions))
        return _Match(query, negate, None)
    t = _TABLES[param.type]
    if param.type in ("token", "uri"):
        ors = [_token(t, v, param, full_name) for v in values]
    elif param.type == "string":
        ors = [_string(t, v, modifier, full_name) for v in values]
    elif param.type == "date":
        ors = [_date(t.c.low, t.c.high, *_date_range(v, full_name, ctx.local)) for v in values]
    elif param.type == "reference":
        ors = [_reference(ctx, rtype, t, v, modifier, param, full_name) for v in values]
    else:
        ors = [_quantity(t, v, full_name) for v in values]
    query = select(t.c.resource_id).where(t.c.resource_type == rtype, t.c.param == name, or_(*ors))
    return _Match(query, negate, t)


def _chain(
    ctx: Context,
    rtype: str,
    param: SearchParam,
    modifier: str,
    rest: str,
    raw_value: str,
    depth: int,
    full_name: str,
) -> Select[Any]:
    if param.type != "reference":
        raise _bad(f"{param.name} is not a reference: it cannot be chained", full_name)
    if depth + 1 >= MAX_CHAIN:
        raise _bad(f"at most {MAX_CHAIN} chained parameters", full_name)
    target = modifier or (param.targets[0] if len(param.targets) == 1 else "")
    if target not in RESOURCE_TYPES:
        raise _bad(f"name the target type of {param.name}, as {param.name}:Patient.{rest}", full_name)
    if param.targets and target not in param.targets:
        raise _bad(f"{param.name} refers to {' or '.join(param.targets)}, not {target}", full_name)
    try:
        inner, negate, _ = _matching(ctx, target, rest, raw_value, depth + 1)
    except _Unknown as exc:
        raise Unsupported(f"{target} has no search parameter {exc}", expression=full_name) from exc
    if negate:
        inner = select(RESOURCE.c.id).where(
            RESOURCE.c.resource_type == target, RESOURCE.c.deleted.is_(False), RESOURCE.c.id.not_in(inner)
        )
    t = _TABLES["reference"]
    refs = select(t.c.resource_id).where(t.c.resource_type == rtype, t.c.param == param.name, t.c.target_type == target)
    if target == "Patient" and rtype != "Patient" and ctx.session is not None:
        # The patients the chain names, each expanded to every record of the person.
        found = ctx.session.scalars(
            select(RESOURCE.c.id)
            .where(RESOURCE.c.resource_type == "Patient", RESOURCE.c.deleted.is_(False), RESOURCE.c.id.in_(inner))
            .limit(MAX_CHAINED_PATIENTS + 1)
        ).all()
        if len(found) <= MAX_CHAINED_PATIENTS:
            ids = sorted({linked for pid in found for linked in ctx.linked(pid)})
            return refs.where(t.c.target_id.in_(ids))
    return refs.where(t.c.target_id.in_(inner))


# -- the search -----------------------------------------------------------------------------------------------


def conditions_for(
    rtype: str,
    params: list[tuple[str, str]],
    *,
    local: tzinfo,
    strict: bool = True,
    session: Session | None = None,
    any_of: bool = False,
) -> tuple[list[ColumnElement[bool]], list[tuple[str, str]], list[str]]:
    """The WHERE conditions on ``resource`` for filter ``params``, the pairs applied and the names ignored.

    Args:
        local: the time zone of dates without one.
        strict: an unknown parameter or unsupported modifier is an error; else it is ignored.
        session: expand Patient references through the master patient index (None: do not).
        any_of: a name of reference parameters joined by commas (``patient,performer``) matches the resources
            any of them matches (the access policy's patient compartment; never a client's parameter).

    Raises:
        InvalidInput: an unknown parameter or unsupported modifier (strict), an invalid value.
    """
    ctx = Context(local, session)
    matched: list[_Match] = []
    applied: list[tuple[str, str]] = []
    ignored: list[str] = []
    for name, value in params:
        if "\x00" in name or "\x00" in value:
            raise _bad("a NUL character in a search parameter", name.replace("\x00", ""))
        try:
            try:
                if any_of and "," in name:
                    matched.append(_any_of(ctx, rtype, name.split(","), value))
                else:
                    matched.append(_matching(ctx, rtype, name, value))
            except _Unknown as exc:
                raise Unsupported(f"unknown search parameter {name[:64]!r} for {rtype}", expression=name) from exc
        except Unsupported:
            if strict:
                raise
            ignored.append(name)
            continue
        applied.append((name, value))
    return _conditions(matched), applied, ignored


# The index table a search is best driven from, when several parameters could: a reference or a token names few
# resources; a date range (``ge2024``) may name most of them.
_DRIVE_ORDER = {"search_reference": 0, "search_token": 1, "search_string": 2, "search_quantity": 3, "search_date": 4}


def _conditions(matched: list[_Match]) -> list[ColumnElement[bool]]:
    """WHERE conditions on ``resource`` for the matched parameters.

    The index parameter likely to name the fewest resources drives: ``resource.id IN (SELECT resource_id FROM
    <its table> WHERE … AND EXISTS (<each other index parameter, probed for that resource_id>))``, so the other
    parameters are checked in the index (index-only probes of the lookup indexes) before any resource row is
    read. Behind a reference (a patient's records: few rows) the probes stay per-row (``OFFSET 0`` keeps
    PostgreSQL from turning them into a join that reads every row of a common code: its estimate of a code's
    rows is low when the same code is indexed under several parameters); behind another parameter PostgreSQL
    chooses. SQLite probes per row either way, and no longer materialises every date row of the type.
    """
    candidates = [i for i, m in enumerate(matched) if not m.negate and m.table is not None]
    if not candidates:
        return [RESOURCE.c.id.not_in(m.ids) if m.negate else RESOURCE.c.id.in_(m.ids) for m in matched]
    driver = min(candidates, key=lambda i: _DRIVE_ORDER[cast(Table, matched[i].table).name])
    drive = matched[driver].ids.subquery("drive")
    per_row = cast(Table, matched[driver].table).name == "search_reference"
    probes: list[ColumnElement[bool]] = []
    out: list[ColumnElement[bool]] = []
    for i, (ids, negate, t) in enumerate(matched):
        if i == driver:
            continue
        if t is None:
            out.append(RESOURCE.c.id.not_in(ids) if negate else RESOURCE.c.id.in_(ids))
            continue
        probe = ids.where(t.c.resource_id == drive.c.resource_id)
        exists = (probe.offset(0) if per_row else probe).exists()
        probes.append(not_(exists) if negate else exists)
    out.insert(0, RESOURCE.c.id.in_(select(drive.c.resource_id).where(*probes)))
    return out


__all__ = ["PREFIXES", "Context", "conditions_for", "split_unescaped", "unescape"]
