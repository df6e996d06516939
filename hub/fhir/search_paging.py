"""Sorting and keyset paging of search results (``_sort``, the ``_cursor`` of the paging links).

A page is not "rows 51 to 100" but "the rows after (or before) this row" in the sort order: the cursor holds the
sort values and the id of the row at the page's edge, and the next page is ``WHERE (k1, k2, …, id) > (v1, v2, …,
id0)`` in that order. A resource written or deleted between two page fetches therefore neither repeats a row
nor skips one (only rows that themselves change place can move across the edge). The id is always the last
key, so the order is total and stable.

A sort key on an index parameter is the resource's lowest value for an ascending sort and its highest for a
descending one (http://hl7.org/fhir/R4/search.html#_sort): a correlated ``min``/``max`` over its index rows.
Resources without a value sort last in both directions.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, cast

import orjson
from sqlalchemy import ColumnElement, Table, and_, case, func, or_, select

from hub.db.tables import Resource, SearchDate, SearchQuantity, SearchString, SearchToken
from hub.errors import InvalidInput
from hub.fhir.search_params import SearchParam

RESOURCE = cast(Table, Resource.__table__)
_TABLES: dict[str, Table] = {
    "token": cast(Table, SearchToken.__table__),
    "uri": cast(Table, SearchToken.__table__),
    "string": cast(Table, SearchString.__table__),
    "date": cast(Table, SearchDate.__table__),
    "quantity": cast(Table, SearchQuantity.__table__),
}
_VALUE_COLUMN = {"token": "code", "uri": "code", "string": "value", "quantity": "value"}
MAX_CURSOR = 4096  # characters
_ID = re.compile(r"[A-Za-z0-9\-\.]{1,64}")  # hub.fhir.store.ID_PATTERN (the store imports this package)


@dataclass(frozen=True, slots=True)
class SortKey:
    """One ``_sort`` key: a parameter (or ``_id`` / ``_lastUpdated``), ascending or descending."""

    param: SearchParam
    descending: bool = False

    @property
    def text(self) -> str:
        return ("-" if self.descending else "") + self.param.name

    @property
    def nullable(self) -> bool:
        """Whether a resource can lack a value (index parameters; ``_id`` and ``_lastUpdated`` never do)."""
        return self.param.column is None

    @property
    def kind(self) -> str:
        """How the cursor carries the value: ``date``, ``number`` or ``text``."""
        if self.param.column == "last_updated" or self.param.type == "date":
            return "date"
        return "number" if self.param.type == "quantity" else "text"


def sort_text(keys: tuple[SortKey, ...]) -> str:
    return ",".join(k.text for k in keys)


def sort_expression(resource_type: str, key: SortKey) -> ColumnElement[Any]:
    """The value ``key`` sorts a ``resource`` row by (a correlated subquery for index parameters)."""
    if key.param.column == "id":
        return cast(ColumnElement[Any], RESOURCE.c.id)
    if key.param.column == "last_updated":
        return cast(ColumnElement[Any], RESOURCE.c.last_updated)
    t = _TABLES[key.param.type]
    if key.param.type == "date":
        column = t.c.high if key.descending else t.c.low
    else:
        column = t.c[_VALUE_COLUMN[key.param.type]]
    aggregate = func.max(column) if key.descending else func.min(column)
    return (
        select(aggregate)
        .where(t.c.resource_type == resource_type, t.c.resource_id == RESOURCE.c.id, t.c.param == key.param.name)
        .correlate(RESOURCE)
        .scalar_subquery()
    )


def order_by(
    keys: tuple[SortKey, ...], columns: list[ColumnElement[Any]], id_column: ColumnElement[Any], *, reverse: bool
) -> list[ColumnElement[Any]]:
    """ORDER BY terms: per key, missing values last, then the value; the id last. ``reverse``: all flipped."""
    terms: list[ColumnElement[Any]] = []
    for key, column in zip(keys, columns, strict=True):
        if key.nullable:
            missing = case((column.is_(None), 1), else_=0)
            terms.append(missing.desc() if reverse else missing.asc())
        terms.append(column.desc() if key.descending != reverse else column.asc())
    terms.append(id_column.desc() if reverse else id_column.asc())
    return terms


# -- cursors --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    """A page's edge: the rows ``after`` or ``before`` a row (its sort values and id), or ``before`` the end."""

    direction: Literal["after", "before"]
    values: tuple[Any, ...] = ()
    id: str | None = None  # None: the end of the results (direction "before": the last page)

    @property
    def at_end(self) -> bool:
        return self.id is None


def _utc(value: datetime) -> datetime:
    """Index and row timestamps are UTC; SQLite hands them back without a zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _out(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "date":
        return _utc(value).isoformat()
    if kind == "number":
        return str(value)
    return str(value)


def _in(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 1024 or "\x00" in value:
        raise ValueError("a cursor value is a string")
    if kind == "date":
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            raise ValueError("a cursor date has a zone")
        return when.astimezone(UTC)
    if kind == "number":
        number = Decimal(value)
        if not number.is_finite() or abs(number.adjusted()) > 30:
            raise ValueError("a cursor number is one the index holds")
        return number
    return value


def encode(keys: tuple[SortKey, ...], cursor: Cursor) -> str:
    """The ``_cursor`` parameter value of ``cursor`` (opaque to clients; tied to the sort it was made for)."""
    body: dict[str, Any] = {"s": sort_text(keys), "d": cursor.direction[0]}
    if cursor.id is not None:
        body["k"] = [_out(k.kind, v) for k, v in zip(keys, cursor.values, strict=True)]
        body["i"] = cursor.id
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def decode(keys: tuple[SortKey, ...], text: str) -> Cursor:
    """The cursor in a ``_cursor`` value.

    Raises:
        InvalidInput: not a cursor this server made, or made for another ``_sort``.
    """
    bad = InvalidInput(
        "_cursor is not a paging cursor of this search (follow the links as given)", expression="_cursor"
    )
    if len(text) > MAX_CURSOR:
        raise bad
    try:
        body = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise bad from exc
    if not isinstance(body, dict) or body.get("s") != sort_text(keys) or body.get("d") not in ("a", "b"):
        raise bad
    direction: Literal["after", "before"] = "after" if body["d"] == "a" else "before"
    if "i" not in body:
        if direction != "before":
            raise bad
        return Cursor("before")
    rid, values = body.get("i"), body.get("k")
    if not isinstance(rid, str) or not _ID.fullmatch(rid) or not isinstance(values, list) or len(values) != len(keys):
        raise bad
    try:
        decoded = tuple(_in(k.kind, v) for k, v in zip(keys, values, strict=True))
    except (ValueError, InvalidOperation, OverflowError) as exc:
        raise bad from exc
    for key, value in zip(keys, decoded, strict=True):
        if value is None and not key.nullable:
            raise bad
    return Cursor(direction, decoded, rid)


def edge(direction: Literal["after", "before"], row: Any, width: int) -> Cursor:
    """The cursor at ``row`` (a result row: id, content, then the ``width`` sort values)."""
    values = tuple(_utc(v) if isinstance(v, datetime) else v for v in row[2 : 2 + width])
    return Cursor(direction, values, row[0])


def beyond(
    keys: tuple[SortKey, ...], columns: list[ColumnElement[Any]], id_column: ColumnElement[Any], cursor: Cursor
) -> ColumnElement[bool]:
    """The rows strictly after (or before) ``cursor`` in the order of :func:`order_by` (not reversed)."""
    assert cursor.id is not None
    after = cursor.direction == "after"

    def from_key(i: int) -> ColumnElement[bool]:
        if i == len(keys):
            return id_column > cursor.id if after else id_column < cursor.id
        key, column, value = keys[i], columns[i], cursor.values[i]
        rest = from_key(i + 1)
        if value is None:  # the cursor row has no value: it is among the last rows (missing sorts last)
            if after:
                return and_(column.is_(None), rest)
            return or_(column.is_not(None), and_(column.is_(None), rest))
        further = (column < value) if key.descending == after else (column > value)
        tie = and_(column == value, rest)
        if after:
            if key.nullable:
                return or_(column.is_(None), further, tie)
            return or_(further, tie)
        return and_(column.is_not(None), or_(further, tie)) if key.nullable else or_(further, tie)

    return from_key(0)


__all__ = ["Cursor", "SortKey", "beyond", "decode", "edge", "encode", "order_by", "sort_expression", "sort_text"]
