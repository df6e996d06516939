"""FHIR search (http://hl7.org/fhir/R4/search.html): one page of matches, what they include, the total, and the
cursors of the neighbouring pages.

    params ──▶ search_controls.split_controls   _sort _include _revinclude _elements _summary _total _cursor
           ──▶ search_filters.conditions_for    every other parameter → WHERE conditions (index subqueries)
           ──▶ the page: ORDER BY the sort keys and the id, keyset from the cursor (search_paging), LIMIT n + 1
           ──▶ search_include.resolve           _include / _revinclude of the page's matches
           ──▶ the total (COUNT, unless _total=none or the first page already holds every match)

Results are whole resources: ``_elements`` and ``_summary`` are applied by :meth:`SearchResult.shaped` after
access control has seen the whole resource (it needs the references that ``_elements`` may cut).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, func, select
from sqlalchemy.orm import Session

from hub.db.tables import Resource
from hub.errors import InvalidInput
from hub.fhir import jsoncodec, search_include
from hub.fhir.search_controls import split_controls
from hub.fhir.search_filters import PREFIXES, conditions_for, split_unescaped, unescape
from hub.fhir.search_paging import Cursor, SortKey, beyond, decode, edge, encode, order_by, sort_expression
from hub.fhir.subsetting import Summary, subset

RESOURCE = cast(Table, Resource.__table__)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One page of a search.

    Attributes:
        resources: the matches on this page (``search.mode = match``), in the sort order (by id without
            ``_sort``); whole resources (see :meth:`shaped`). :attr:`matches` is the same list.
        total: how many resources match in all; None with ``_total=none``.
        count, offset: the page size asked for, and the offset (plain ``offset`` paging; links use cursors).
        params: the ``(name, value)`` pairs applied, filters then result parameters, for the paging links
            (without ``_count`` and ``_cursor``; scope parameters are never listed).
        ignored: the names of parameters ignored under lenient handling.
        included: ``_include`` / ``_revinclude`` resources (``search.mode = include``), none of them a match,
            each once, whole.
        cursor: the ``_cursor`` of this page (None for the first page).
        next_cursor, previous_cursor, last_cursor: the ``_cursor`` of the next, previous and last pages, or None
            when there is no such page.
        elements, summary: ``_elements`` / ``_summary`` as applied, for :meth:`shaped`.
        warnings: things the client should know (included resources cut at the limit).
    """

    resources: list[dict[str, Any]]
    total: int | None
    count: int
    offset: int
    params: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    included: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None
    last_cursor: str | None = None
    elements: frozenset[str] | None = None
    summary: Summary | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def matches(self) -> list[dict[str, Any]]:
        return self.resources

    def shaped(self, resource: dict[str, Any]) -> dict[str, Any]:
        """A match as the client asked for it: ``_elements`` / ``_summary`` applied (tagged SUBSETTED)."""
        return subset(resource, elements=self.elements, summary=self.summary)


@dataclass(slots=True)
class _Page:
    rows: list[Any]
    more: bool  # another row lies beyond the page, in the direction read


def _read_page(
    session: Session,
    rtype: str,
    where: list[ColumnElement[bool]],
    keys: tuple[SortKey, ...],
    cursor: Cursor | None,
    size: int,
    offset: int,
) -> _Page:
    """Up to ``size`` rows (id, content, sort values…) after/before ``cursor``, in the sort order."""
    columns: list[ColumnElement[Any]] = [sort_expression(rtype, k) for k in keys]
    query: Select[Any]
    if keys:
        inner = (
            select(RESOURCE.c.id, RESOURCE.c.content, *(c.label(f"k{i}") for i, c in enumerate(columns)))
            .where(*where)
            .subquery()
        )
        id_column: ColumnElement[Any] = inner.c.id
        columns = [inner.c[f"k{i}"] for i in range(len(keys))]
        query = select(inner.c.id, inner.c.content, *columns)
    else:
        id_column = RESOURCE.c.id
        query = select(RESOURCE.c.id, RESOURCE.c.content).where(*where)
    reverse = cursor is not None and cursor.direction == "before"
    if cursor is not None and not cursor.at_end:
        query = query.where(beyond(keys, columns, id_column, cursor))
    query = query.order_by(*order_by(keys, columns, id_column, reverse=reverse)).limit(size + 1)
    if offset and cursor is None:
        query = query.offset(offset)
    rows = list(session.execute(query).all())
    more = len(rows) > size
    rows = rows[:size]
    if reverse:
        rows.reverse()
    return _Page(rows, more)


def run_search(
    session: Session,
    rtype: str,
    params: list[tuple[str, str]],
    *,
    count: int,
    offset: int,
    strict: bool,
    local: tzinfo,
    scope: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
    expand_patients: bool = True,
) -> SearchResult:
    """Run a search (see :func:`hub.fhir.store.search`)."""
    if count < 0 or offset < 0:
        raise InvalidInput("_count and the offset are not negative")
    for name, value in (*params, *scope):
        if "\x00" in name or "\x00" in value:
            raise InvalidInput("a NUL character in a search parameter", expression=name.replace("\x00", ""))
    controls, filters, ignored = split_controls(rtype, params, strict=strict)
    mpi = session if expand_patients else None
    conditions, applied, skipped = conditions_for(rtype, filters, local=local, strict=strict, session=mpi)
    scoped, _, _ = conditions_for(rtype, list(scope), local=local, strict=True, session=mpi, any_of=True)
    where = [RESOURCE.c.resource_type == rtype, RESOURCE.c.deleted.is_(False), *conditions, *scoped]
    size = 0 if controls.summary == "count" else count
    keys = controls.sort
    cursor = decode(keys, controls.cursor) if controls.cursor is not None else None

    links = _Links(keys)
    rows: list[Any] = []
    all_here = False  # the page holds every match from the start (so the total is known without a COUNT)
    if size > 0:
        page = _read_page(session, rtype, where, keys, cursor, size, offset)
        if cursor is not None and cursor.direction == "before" and not page.more:
            # Fewer rows than a page before the cursor: that is the start; answer the (full) first page.
            cursor = None
            page = _read_page(session, rtype, where, keys, None, size, 0)
            offset = 0
        rows = page.rows
        width = len(keys)
        if cursor is None or cursor.direction == "after":
            if page.more and rows:
                links.next = edge("after", rows[-1], width)
            if cursor is not None or offset > 0:
                links.previous = edge("before", rows[0], width) if rows else Cursor("before")
            all_here = cursor is None and not page.more and (offset == 0 or bool(rows))
        else:
            links.previous = edge("before", rows[0], width)
            if not cursor.at_end:  # a page read back from the end is the last one
                links.next = edge("after", rows[-1], width)
    resources = [jsoncodec.loads(row[1]) for row in rows]
    if controls.total == "none":
        total: int | None = None
    elif all_here:
        total = offset + len(rows)
    else:
        total = session.execute(select(func.count()).select_from(RESOURCE).where(*where)).scalar_one()

    included: list[dict[str, Any]] = []
    warnings: list[str] = []
    if controls.includes and resources:
        included, limited = search_include.resolve(session, resources, controls.includes)
        if limited:
            warnings.append(f"only the first {search_include.MAX_INCLUDED} included resources are returned")
    return SearchResult(
        resources,
        total,
        count,
        offset,
        params=applied + controls.applied,
        ignored=ignored + skipped,
        included=included,
        cursor=encode(keys, cursor) if cursor is not None else None,
        next_cursor=links.encoded(links.next),
        previous_cursor=links.encoded(links.previous),
        last_cursor=links.encoded(Cursor("before")) if links.next is not None else None,
        elements=controls.elements,
        summary=controls.summary,
        warnings=warnings,
    )


@dataclass(slots=True)
class _Links:
    keys: tuple[SortKey, ...]
    next: Cursor | None = None
    previous: Cursor | None = None

    def encoded(self, cursor: Cursor | None) -> str | None:
        return encode(self.keys, cursor) if cursor is not None else None


__all__ = [
    "PREFIXES",
    "SearchResult",
    "conditions_for",
    "run_search",
    "split_unescaped",
    "unescape",
]
