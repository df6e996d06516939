"""The versioned FHIR resource store: current versions, every past version, the search index, the outbox.

Every write runs in the caller's transaction and only flushes; the caller commits (a route, a task). A write
that changes a resource's content (``meta.versionId`` and ``meta.lastUpdated`` aside) makes a new version:
the ``resource`` row is moved forward with a conditional ``UPDATE … WHERE version_id = <the version read>``,
the version is added to ``resource_version`` (primary key type + id + version), the search index rows are
replaced, and one ``outbox`` event is written. Writing the same content again changes nothing.

Concurrency: two writers of one resource serialise on its row. The loser's conditional UPDATE (or its
``INSERT … ON CONFLICT DO NOTHING`` for a new resource) touches no row; it reads the row again and retries,
so version ids never repeat; after :data:`MAX_ATTEMPTS` it raises :class:`~hub.errors.Conflict`. Under
PostgreSQL's default READ COMMITTED isolation each retry sees the winner's commit.

    put / create / delete / write /
    apply_bundle                          ─▶  _write: decide per resource, claim rows, then bulk-insert
                                              versions, outbox events and index rows
    read / vread / load / history / search ─▶ plain SELECTs (search: hub.fhir.search)

A write may name the version it expects to replace (``If-Match``): the check is made on the row the
conditional ``UPDATE`` claims, so a concurrent writer in between makes it fail with
:class:`~hub.errors.PreconditionFailed` instead of being overwritten.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

import orjson
from sqlalchemy import CursorResult, String, Table, and_, insert, or_, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.db.tables import (
    OutboxEvent,
    Resource,
    ResourceVersion,
    SearchDate,
    SearchQuantity,
    SearchReference,
    SearchString,
    SearchToken,
)
from hub.errors import Conflict, Gone, InvalidInput, NotFound, PreconditionFailed
from hub.fhir import indexer, jsoncodec
from hub.fhir.dates import as_utc, instant, local_zone
from hub.fhir.search import SearchResult, run_search
from hub.fhir.search_params import RESOURCE_TYPES

__all__ = [
    "ID_PATTERN",
    "History",
    "SearchResult",
    "Stored",
    "Write",
    "WriteResult",
    "apply_bundle",
    "create",
    "delete",
    "history",
    "load",
    "put",
    "read",
    "reindex",
    "search",
    "vread",
    "write",
]

ID_PATTERN = re.compile(r"[A-Za-z0-9\-\.]{1,64}")
MAX_ATTEMPTS = 5

RESOURCE = cast(Table, Resource.__table__)
VERSION = cast(Table, ResourceVersion.__table__)
OUTBOX = cast(Table, OutboxEvent.__table__)
TOKEN = cast(Table, SearchToken.__table__)
STRING = cast(Table, SearchString.__table__)
DATE = cast(Table, SearchDate.__table__)
REFERENCE = cast(Table, SearchReference.__table__)
QUANTITY = cast(Table, SearchQuantity.__table__)
INDEX_TABLES = (TOKEN, STRING, DATE, REFERENCE, QUANTITY)

Event = Literal["create", "update", "delete"]
Key = tuple[str, str]


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one write did.

    Attributes:
        version_id: the resource's current version after the write (0: a delete of a resource never stored).
        changed: whether a new version was made.
        event: the outbox event written (``create`` also for a resource written again after its deletion),
            or None when nothing changed.
    """

    resource_type: str
    id: str
    version_id: int
    changed: bool
    event: str | None


class History(list[dict[str, Any]]):
    """The versions of a history, newest first, each as a history Bundle entry.

    An entry is ``{"resource": …, "request": {"method", "url"}, "response": {"status", "etag",
    "lastModified"}}``; a deletion has no ``resource``. :attr:`resources` lists the resources alone.
    """

    @property
    def resources(self) -> list[dict[str, Any]]:
        return [e["resource"] for e in self if "resource" in e]


# -- writing ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Op:
    method: Literal["PUT", "POST", "DELETE"]
    resource_type: str
    id: str
    resource: dict[str, Any] | None
    content_hash: str
    inbox_id: int | None
    expected_version: int | None = None  # If-Match: the current version must be this one
    only_new: bool = False  # written only if the resource never had a row (PRB-1 UC: hub.mapping.ifabsent)

    @property
    def key(self) -> Key:
        return (self.resource_type, self.id)


@dataclass(slots=True)
class _Current:
    version_id: int
    content_hash: str
    deleted: bool
    last_updated: datetime


@dataclass(slots=True)
class _Change:
    op: _Op
    version_id: int
    event: Event
    existed: bool  # the resource had a row (and maybe index rows) before this write
    content: str | None


def _canonical_hash(resource: dict[str, Any]) -> str:
    """SHA-256 of the resource's content with sorted keys, without meta.versionId and meta.lastUpdated."""
    body = resource
    meta = resource.get("meta")
    if isinstance(meta, dict):
        rest = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        body = {k: v for k, v in resource.items() if k != "meta"}
        if rest:
            body["meta"] = rest
    try:
        data = jsoncodec.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:  # orjson.JSONEncodeError: a value that is not JSON (Decimal, set, …)
        raise InvalidInput(f"the resource is not JSON: {exc}") from exc
    return hashlib.sha256(data).hexdigest()


def _check_type(resource_type: str) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise NotFound(f"unknown resource type {resource_type[:64]!r}")


def _check_id(resource_type: str, id: str) -> None:
    """An id that cannot exist is not looked up (and never reaches the database)."""
    if not ID_PATTERN.fullmatch(id):
        raise NotFound(f"{resource_type}/{id[:64]!r} is not a valid id")


def _validated(resource: Any, *, need_id: bool) -> tuple[str, str | None]:
    if not isinstance(resource, dict):
        raise InvalidInput("a resource is a JSON object")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or rtype not in RESOURCE_TYPES:
        raise InvalidInput(f"unknown or missing resourceType {str(rtype)[:64]!r}", expression="resourceType")
    rid = resource.get("id")
    if rid is None and not need_id:
        return rtype, None
    if not isinstance(rid, str) or not ID_PATTERN.fullmatch(rid):
        raise InvalidInput(f"{rtype}.id must be 1-64 characters of A-Z a-z 0-9 - .", expression=f"{rtype}.id")
    meta = resource.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise InvalidInput(f"{rtype}.meta must be an object", expression=f"{rtype}.meta")
    return rtype, rid


def _put_op(
    resource: dict[str, Any], method: Literal["PUT", "POST"], inbox_id: int | None, expected: int | None = None
) -> _Op:
    rtype, rid = _validated(resource, need_id=True)
    assert rid is not None
    return _Op(method, rtype, rid, resource, _canonical_hash(resource), inbox_id, expected)


def _check_expected(op: _Op, cur: _Current | None) -> None:
    """If-Match: the resource's current version must be the one the writer read."""
    if op.expected_version is None:
        return
    if cur is None or cur.deleted or cur.version_id != op.expected_version:
        now = "none" if cur is None else ("deleted" if cur.deleted else str(cur.version_id))
        raise PreconditionFailed(
            f"{op.resource_type}/{op.id} is at version {now}, not {op.expected_version} (If-Match)",
            expression="If-Match",
        )


def _load_current(session: Session, keys: Iterable[Key]) -> dict[Key, _Current]:
    by_type: dict[str, set[str]] = defaultdict(set)
    for rtype, rid in keys:
        by_type[rtype].add(rid)
    if not by_type:
        return {}
    query = select(
        RESOURCE.c.resource_type,
        RESOURCE.c.id,
        RESOURCE.c.version_id,
        RESOURCE.c.content_hash,
        RESOURCE.c.deleted,
        RESOURCE.c.last_updated,
    ).where(or_(*(and_(RESOURCE.c.resource_type == t, RESOURCE.c.id.in_(sorted(ids))) for t, ids in by_type.items())))
    return {(r[0], r[1]): _Current(r[2], r[3], r[4], r[5]) for r in session.execute(query)}


def _stamp(resource: dict[str, Any], version_id: int, when: str) -> None:
    meta = resource.get("meta")
    rest = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")} if isinstance(meta, dict) else {}
    resource["meta"] = {"versionId": str(version_id), "lastUpdated": when, **rest}


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> set[Key]:
    """Insert new resource rows, skipping those another writer inserted first; the keys inserted."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        stmt: Any = postgresql.insert(RESOURCE).on_conflict_do_nothing(index_elements=["resource_type", "id"])
    elif name == "sqlite":
        stmt = sqlite.insert(RESOURCE).on_conflict_do_nothing(index_elements=["resource_type", "id"])
    else:  # pragma: no cover - the hub runs on PostgreSQL and SQLite
        raise NotImplementedError(f"the store does not support {name}")
    result = session.execute(stmt.returning(RESOURCE.c.resource_type, RESOURCE.c.id), rows)
    return {(r[0], r[1]) for r in result}


def _claim(session: Session, change: _Change, previous: int, when: datetime, content_hash: str) -> bool:
    """Move the resource row from ``previous`` to the change's version; False if another writer moved it."""
    values: dict[str, Any] = {"version_id": change.version_id, "last_updated": when}
    if change.op.method == "DELETE":
        values["deleted"] = True
    else:
        values.update(content=change.content, content_hash=content_hash, deleted=False)
    stmt = (
        update(RESOURCE)
        .where(
            RESOURCE.c.resource_type == change.op.resource_type,
            RESOURCE.c.id == change.op.id,
            RESOURCE.c.version_id == previous,
        )
        .values(**values)
    )
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount == 1


def _write(session: Session, ops: list[_Op]) -> list[WriteResult]:
    now = datetime.now(UTC)
    when = instant(now)
    results: list[WriteResult | None] = [None] * len(ops)
    changes: list[_Change] = []
    pending = list(range(len(ops)))
    for _attempt in range(MAX_ATTEMPTS):
        current = _load_current(session, (ops[i].key for i in pending))
        retry: list[int] = []
        new: list[tuple[int, _Change]] = []
        for i in pending:
            op = ops[i]
            cur = current.get(op.key)
            _check_expected(op, cur)
            if op.only_new and cur is not None:
                # stored meanwhile (another writer's first version, also one deleted since): left as it is
                results[i] = WriteResult(op.resource_type, op.id, cur.version_id, False, None)
                continue
            if op.method == "DELETE":
                if cur is None or cur.deleted:
                    results[i] = WriteResult(op.resource_type, op.id, cur.version_id if cur else 0, False, None)
                    continue
                change = _Change(op, cur.version_id + 1, "delete", True, None)
            else:
                assert op.resource is not None
                if cur is not None and not cur.deleted and cur.content_hash == op.content_hash:
                    _stamp(op.resource, cur.version_id, instant(cur.last_updated))
                    results[i] = WriteResult(op.resource_type, op.id, cur.version_id, False, None)
                    continue
                version = cur.version_id + 1 if cur is not None else 1
                _stamp(op.resource, version, when)
                event: Event = "update" if cur is not None and not cur.deleted else "create"
                change = _Change(op, version, event, cur is not None, jsoncodec.dumps(op.resource).decode())
                if cur is None:
                    new.append((i, change))
                    continue
            assert cur is not None
            if _claim(session, change, cur.version_id, now, op.content_hash):
                changes.append(change)
                results[i] = WriteResult(op.resource_type, op.id, change.version_id, True, change.event)
            else:
                retry.append(i)
        if new:
            inserted = _insert_new(
                session,
                [
                    {
                        "resource_type": c.op.resource_type,
                        "id": c.op.id,
                        "version_id": c.version_id,
                        "last_updated": now,
                        "content": c.content,
                        "content_hash": c.op.content_hash,
                        "deleted": False,
                    }
                    for _, c in new
                ],
            )
            for i, change in new:
                if change.op.key in inserted:
                    changes.append(change)
                    results[i] = WriteResult(change.op.resource_type, change.op.id, 1, True, "create")
                else:
                    retry.append(i)
        pending = retry
        if not pending:
            break
    if pending:
        op = ops[pending[0]]
        raise Conflict(f"{op.resource_type}/{op.id} is being changed by another writer; try again")
    _record(session, changes, now)
    return [r for r in results if r is not None]


def _insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` with one statement whose compiled form is cached, whatever the number of rows.

    A multi-row ``INSERT … VALUES (…), (…)`` is a new statement for every row count, so SQLAlchemy compiles it
    each time (measured: 40 % of a conversion's time on SQLite). PostgreSQL gets ``INSERT … SELECT * FROM
    unnest(%s::type[], …)`` — one parameter per column, one round trip (psycopg's executemany sends a statement
    per row, ≈ 9× slower for an ORU bundle's 250 index rows); SQLite gets the driver's executemany, which loops
    in C over one prepared statement.
    """
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        statement, columns, processors = _pg_bulk_insert(
            table, tuple(c.name for c in table.columns if c.name in rows[0]), session
        )
        arrays: list[list[Any]] = [[row.get(name) for row in rows] for name in columns]
        for i, process in processors:
            arrays[i] = [None if v is None else process(v) for v in arrays[i]]
        session.connection().exec_driver_sql(statement, tuple(arrays))
    else:
        session.execute(insert(table), rows)


_PG_BULK: dict[tuple[str, tuple[str, ...]], tuple[str, list[str], list[tuple[int, Any]]]] = {}


def _pg_bulk_insert(
    table: Table, columns: tuple[str, ...], session: Session
) -> tuple[str, list[str], list[tuple[int, Any]]]:
    """The ``unnest`` INSERT of ``columns`` of ``table`` and the columns' bind processors (built once)."""
    cached = _PG_BULK.get((table.name, columns))
    if cached is None:
        dialect = session.get_bind().dialect
        types = [table.c[name].type for name in columns]
        # strings as text[] (a column's collation is no part of an array type); others by their own type
        casts = ", ".join(f"%s::{'text' if isinstance(t, String) else t.compile(dialect=dialect)}[]" for t in types)
        statement = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({casts})"
        processors = [(i, p) for i, t in enumerate(types) if (p := t.bind_processor(dialect)) is not None]
        cached = _PG_BULK[(table.name, columns)] = (statement, list(columns), processors)
    return cached


def _record(session: Session, changes: list[_Change], now: datetime) -> None:
    """Versions, outbox events and search index rows of the changes (their resource rows are claimed)."""
    if not changes:
        return
    _insert_rows(
        session,
        VERSION,
        [
            {
                "resource_type": c.op.resource_type,
                "id": c.op.id,
                "version_id": c.version_id,
                "last_updated": now,
                "content": c.content,
                "method": c.op.method,
                "source_inbox_id": c.op.inbox_id,
            }
            for c in changes
        ],
    )
    _insert_rows(
        session,
        OUTBOX,
        [
            {
                "created_at": now,
                "resource_type": c.op.resource_type,
                "resource_id": c.op.id,
                "version_id": c.version_id,
                "event": c.event,
                "inbox_id": c.op.inbox_id,
            }
            for c in changes
        ],
    )
    _reindex(session, changes)


def _reindex(session: Session, changes: list[_Change]) -> None:
    stale: dict[str, list[str]] = defaultdict(list)
    for c in changes:
        if c.existed:
            stale[c.op.resource_type].append(c.op.id)
    if stale:
        for table in INDEX_TABLES:
            session.execute(
                sql_delete(table).where(
                    or_(*(and_(table.c.resource_type == t, table.c.resource_id.in_(ids)) for t, ids in stale.items()))
                )
            )
    local = local_zone()
    tokens: list[dict[str, Any]] = []
    strings: list[dict[str, Any]] = []
    dates: list[dict[str, Any]] = []
    references: list[dict[str, Any]] = []
    quantities: list[dict[str, Any]] = []
    for c in changes:
        if c.op.resource is None:
            continue
        rows = indexer.extract(c.op.resource, local)
        owner = {"resource_type": c.op.resource_type, "resource_id": c.op.id}
        tokens.extend({**owner, "param": p, "system": s, "code": v} for p, s, v in rows.tokens)
        strings.extend({**owner, "param": p, "value": v, "exact": x} for p, v, x in rows.strings)
        dates.extend({**owner, "param": p, "low": lo, "high": hi} for p, lo, hi in rows.dates)
        references.extend({**owner, "param": p, "target_type": t, "target_id": i} for p, t, i in rows.references)
        quantities.extend({**owner, "param": p, "value": v, "system": s, "code": u} for p, v, s, u in rows.quantities)
    for table, batch in (
        (TOKEN, tokens),
        (STRING, strings),
        (DATE, dates),
        (REFERENCE, references),
        (QUANTITY, quantities),
    ):
        _insert_rows(session, table, batch)


def reindex(
    session: Session, resource_type: str, *, after_id: str | None = None, limit: int = 1000
) -> tuple[int, str | None]:
    """Rebuild the search index rows of current resources of one type (after search parameters changed).

    Works in id order, ``limit`` resources per call, so that a large table is re-indexed in many short
    transactions: call again with the returned id until it is None. The caller commits each batch.

    Returns:
        How many resources were re-indexed, and the last id (None when the type is done).

    Raises:
        NotFound: an unknown type.
    """
    _check_type(resource_type)
    query = select(RESOURCE.c.id, RESOURCE.c.version_id, RESOURCE.c.content).where(
        RESOURCE.c.resource_type == resource_type, RESOURCE.c.deleted.is_(False)
    )
    if after_id is not None:
        query = query.where(RESOURCE.c.id > after_id)
    rows = session.execute(query.order_by(RESOURCE.c.id).limit(limit)).all()
    changes = [
        _Change(
            _Op("PUT", resource_type, row.id, jsoncodec.loads(row.content), "", None),
            row.version_id,
            "update",
            True,
            None,
        )
        for row in rows
    ]
    _reindex(session, changes)
    return len(rows), (rows[-1].id if len(rows) == limit else None)


def put(session: Session, resource: dict[str, Any], *, source_inbox_id: int | None = None) -> WriteResult:
    """Create or update the resource at its own ``id``.

    A new version is made only when the content (``meta.versionId`` and ``meta.lastUpdated`` aside)
    differs from the current version's, or the resource was deleted. ``resource["meta"]`` is set to the
    stored version's ``versionId`` and ``lastUpdated`` (those of the unchanged current version on a no-op).

    Args:
        session: the caller's session; the caller commits.
        resource: a FHIR resource with ``resourceType`` and ``id``.
        source_inbox_id: the inbox message this write comes from (kept on the version and the event).

    Returns:
        The write's :class:`WriteResult`.

    Raises:
        InvalidInput: no known ``resourceType``, an invalid ``id``, content that is not JSON.
        Conflict: other writers kept changing the resource.
    """
    return _write(session, [_put_op(resource, "PUT", source_inbox_id)])[0]


def create(session: Session, resource: dict[str, Any]) -> WriteResult:
    """Store ``resource`` under a new server-assigned id (a UUID); ``resource["id"]`` and ``meta`` are set.

    Raises:
        InvalidInput: no known ``resourceType``, content that is not JSON.
    """
    _validated(resource, need_id=False)
    resource["id"] = str(uuid.uuid4())
    return _write(session, [_put_op(resource, "POST", None)])[0]


def delete(session: Session, resource_type: str, id: str, *, source_inbox_id: int | None = None) -> WriteResult:
    """Delete a resource: a new version that marks it deleted (history keeps the earlier ones).

    Deleting a resource that is already deleted, or was never stored, changes nothing
    (``changed=False``; ``version_id`` 0 for one never stored).

    Raises:
        NotFound: an unknown resource type.
    """
    _check_type(resource_type)
    if not ID_PATTERN.fullmatch(id):
        return WriteResult(resource_type, id, 0, False, None)
    return _write(session, [_Op("DELETE", resource_type, id, None, "", source_inbox_id)])[0]


@dataclass(frozen=True, slots=True)
class Write:
    """One write of :func:`write`.

    Attributes:
        method: ``PUT`` (create or update at ``id``), ``POST`` (create; the caller chose a fresh ``id``), or
            ``DELETE``.
        resource: the content (``resourceType`` and ``id`` as in the write); None for ``DELETE``.
        if_match: the version the resource must be at (``If-Match``), or None.
    """

    method: Literal["PUT", "POST", "DELETE"]
    resource_type: str
    id: str
    resource: dict[str, Any] | None = None
    if_match: int | None = None


def write(session: Session, writes: list[Write], *, source_inbox_id: int | None = None) -> list[WriteResult]:
    """Apply several writes in the caller's transaction, in the order given, in one batch of statements.

    Each resource's ``meta`` is set as by :func:`put`. Either every write is made or (on an error) the caller
    rolls back: the caller owns the transaction.

    Returns:
        One :class:`WriteResult` per write, in order.

    Raises:
        InvalidInput: an unknown type, an invalid id, a resource whose type or id differs from the write's,
            the same resource written twice.
        PreconditionFailed: a write's ``if_match`` is not the resource's current version.
        Conflict: other writers kept changing one of the resources.
    """
    ops: list[_Op] = []
    seen: set[Key] = set()
    for w in writes:
        if w.resource_type not in RESOURCE_TYPES:
            raise InvalidInput(f"unknown resource type {w.resource_type[:64]!r}", expression="resourceType")
        if (w.resource_type, w.id) in seen:
            raise InvalidInput(f"{w.resource_type}/{w.id[:64]} is written twice")
        seen.add((w.resource_type, w.id))
        if w.method == "DELETE":
            if not ID_PATTERN.fullmatch(w.id):
                raise InvalidInput(f"{w.resource_type}/{w.id[:64]!r} is not a valid id", expression="id")
            ops.append(_Op("DELETE", w.resource_type, w.id, None, "", source_inbox_id, w.if_match))
            continue
        if w.resource is None or w.resource.get("resourceType") != w.resource_type or w.resource.get("id") != w.id:
            raise InvalidInput(f"the resource is not {w.resource_type}/{w.id[:64]}", expression=w.resource_type)
        ops.append(_put_op(w.resource, w.method, source_inbox_id, w.if_match))
    return _write(session, ops)


@dataclass(frozen=True, slots=True)
class Stored:
    """A resource's current row (see :func:`load`).

    Attributes:
        content: the current content, or for a deleted resource the content it had before the deletion.
    """

    version_id: int
    deleted: bool
    last_updated: datetime
    content: dict[str, Any]


def load(session: Session, keys: Iterable[Key], *, lock: bool = False) -> dict[Key, Stored]:
    """The current rows of several resources in one query (what writers need to check before writing).

    Args:
        keys: ``(resource type, id)`` pairs; invalid ids are skipped.
        lock: lock the rows until the caller commits (``FOR UPDATE``; SQLite serialises writers anyway): for a
            new version made from what is read.

    Returns:
        The stored ones, by key (deleted ones included, with ``deleted`` set).
    """
    by_type: dict[str, set[str]] = defaultdict(set)
    for rtype, rid in keys:
        if rtype in RESOURCE_TYPES and ID_PATTERN.fullmatch(rid):
            by_type[rtype].add(rid)
    if not by_type:
        return {}
    query = select(
        RESOURCE.c.resource_type,
        RESOURCE.c.id,
        RESOURCE.c.version_id,
        RESOURCE.c.deleted,
        RESOURCE.c.last_updated,
        RESOURCE.c.content,
    ).where(or_(*(and_(RESOURCE.c.resource_type == t, RESOURCE.c.id.in_(sorted(ids))) for t, ids in by_type.items())))
    if lock:
        query = query.with_for_update()
    return {
        (r[0], r[1]): Stored(r[2], r[3], as_utc(r[4]), cast(dict[str, Any], jsoncodec.loads(r[5])))
        for r in session.execute(query)
    }


# -- bundles --------------------------------------------------------------------------------------------------

_METHOD_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2}


def _rewrite_references(node: Any, targets: dict[str, str], where: str) -> None:
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            if ref in targets:
                node["reference"] = targets[ref]
            elif ref.startswith(("urn:uuid:", "urn:oid:")):
                raise InvalidInput(f"reference {ref} is not a fullUrl in the bundle", expression=where)
        for value in node.values():
            if isinstance(value, dict | list):
                _rewrite_references(value, targets, where)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _rewrite_references(item, targets, where)


def _bundle_ops(bundle: dict[str, Any], inbox_id: int | None) -> list[_Op]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InvalidInput("not a Bundle", expression="Bundle")
    if bundle.get("type") not in ("transaction", "batch"):
        raise InvalidInput("only transaction and batch Bundles can be applied", expression="Bundle.type")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidInput("Bundle.entry must be an array", expression="Bundle.entry")
    targets: dict[str, str] = {}
    planned: list[tuple[str, str, str, dict[str, Any] | None, str, int | None]] = []
    seen: set[Key] = set()
    for n, entry in enumerate(entries):
        where = f"Bundle.entry[{n}]"
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            raise InvalidInput("an entry without request", expression=f"{where}.request")
        method, url = request.get("method"), request.get("url")
        if method not in _METHOD_ORDER or not isinstance(url, str):
            raise InvalidInput(f"unsupported request {method} {url}", expression=f"{where}.request")
        parts = url.split("?", 1)[0].strip("/").split("/")
        if "?" in url:
            raise InvalidInput("conditional requests are not supported here", expression=f"{where}.request.url")
        resource = entry.get("resource")
        if method == "POST":
            if len(parts) != 1:
                raise InvalidInput("POST url must be a resource type", expression=f"{where}.request.url")
            rtype, rid = parts[0], str(uuid.uuid4())
        else:
            if len(parts) != 2:
                raise InvalidInput(f"{method} url must be Type/id", expression=f"{where}.request.url")
            rtype, rid = parts
        if rtype not in RESOURCE_TYPES or not ID_PATTERN.fullmatch(rid):
            raise InvalidInput(f"bad resource type or id in {url}", expression=f"{where}.request.url")
        if method != "DELETE":
            if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
                raise InvalidInput(f"the entry's resource is not a {rtype}", expression=f"{where}.resource")
            if method == "PUT" and resource.get("id") not in (None, rid):
                raise InvalidInput("resource.id differs from the request url", expression=f"{where}.resource.id")
            resource["id"] = rid
        if (rtype, rid) in seen:
            raise InvalidInput(f"{rtype}/{rid} appears twice in the bundle", expression=where)
        seen.add((rtype, rid))
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            targets[full_url] = f"{rtype}/{rid}"
        expected = _if_match(request.get("ifMatch"), f"{where}.request.ifMatch")
        planned.append((method, rtype, rid, resource if method != "DELETE" else None, where, expected))
    ops: list[_Op] = []
    for method, rtype, rid, resource, where, expected in planned:
        if resource is None:
            ops.append(_Op("DELETE", rtype, rid, None, "", inbox_id, expected))
            continue
        try:
            _rewrite_references(resource, targets, f"{where}.resource")
        except RecursionError as exc:
            raise InvalidInput("the resource is nested too deeply", expression=f"{where}.resource") from exc
        ops.append(_put_op(resource, cast(Literal["PUT", "POST"], method), inbox_id, expected))
    return ops


_ETAG = re.compile(r'(?:W/)?"([0-9]{1,9})"')


def _if_match(value: Any, where: str) -> int | None:
    """The version of an ETag (``W/"3"``) in ``Bundle.entry.request.ifMatch``."""
    if value is None:
        return None
    match = _ETAG.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput('ifMatch must be an ETag such as W/"3"', expression=where)
    return int(match.group(1))


def apply_bundle(
    session: Session, bundle: dict[str, Any], *, source_inbox_id: int | None = None, only_new: Collection[Key] = ()
) -> list[WriteResult]:
    """Apply a transaction (or batch) Bundle's PUT, POST and DELETE entries in the caller's transaction.

    An entry's ``request.ifMatch`` (``W/"3"``) makes its write conditional on that version. A PUT of a resource
    (type, id) in ``only_new`` is written only if the resource never had a row, checked on the row its insert
    claims: one another writer stored meanwhile (a concurrent conversion) is left as that writer left it.
    References to an entry's ``fullUrl`` (``urn:uuid:…`` in the mapper's bundles) are rewritten in place to
    ``Type/id``; POST entries get a new id. Applying the same bundle twice changes nothing the second time.

    Returns:
        One :class:`WriteResult` per entry, in entry order.

    Raises:
        InvalidInput: a malformed bundle or entry (the error's expression names it), an unresolved
            ``urn:uuid`` reference, the same resource twice.
        PreconditionFailed: an entry's ``ifMatch`` is not the resource's current version.
        Conflict: other writers kept changing one of the resources.
    """
    ops = _bundle_ops(bundle, source_inbox_id)
    for op in ops:
        op.only_new = op.method == "PUT" and op.key in only_new
    order = sorted(range(len(ops)), key=lambda i: _METHOD_ORDER[ops[i].method])
    results = _write(session, [ops[i] for i in order])
    by_entry: list[WriteResult | None] = [None] * len(ops)
    for position, i in enumerate(order):
        by_entry[i] = results[position]
    return [r for r in by_entry if r is not None]


# -- reading --------------------------------------------------------------------------------------------------


def read(session: Session, resource_type: str, id: str) -> dict[str, Any]:
    """The current version of a resource.

    Raises:
        NotFound: an unknown type, or no such resource.
        Gone: the resource is deleted.
    """
    _check_type(resource_type)
    _check_id(resource_type, id)
    row = session.execute(
        select(RESOURCE.c.content, RESOURCE.c.deleted, RESOURCE.c.version_id).where(
            RESOURCE.c.resource_type == resource_type, RESOURCE.c.id == id
        )
    ).first()
    if row is None:
        raise NotFound(f"{resource_type}/{id[:64]} is not known")
    if row.deleted:
        raise Gone(f"{resource_type}/{id} was deleted (version {row.version_id})")
    return cast(dict[str, Any], jsoncodec.loads(row.content))


def vread(session: Session, resource_type: str, id: str, version_id: int) -> dict[str, Any]:
    """One version of a resource.

    Raises:
        NotFound: an unknown type, resource or version.
        Gone: that version is a deletion.
    """
    _check_type(resource_type)
    _check_id(resource_type, id)
    row = session.execute(
        select(VERSION.c.content).where(
            VERSION.c.resource_type == resource_type, VERSION.c.id == id, VERSION.c.version_id == version_id
        )
    ).first()
    if row is None:
        raise NotFound(f"{resource_type}/{id[:64]} has no version {version_id}")
    if row.content is None:
        raise Gone(f"version {version_id} of {resource_type}/{id} is its deletion")
    return cast(dict[str, Any], jsoncodec.loads(row.content))


def _entries(rows: Iterable[Any]) -> Iterator[dict[str, Any]]:
    for row in rows:
        url = f"{row.resource_type}/{row.id}"
        response = {"etag": f'W/"{row.version_id}"', "lastModified": instant(row.last_updated)}
        if row.content is None:
            yield {"request": {"method": "DELETE", "url": url}, "response": {"status": "204", **response}}
            continue
        status = "201" if row.method == "POST" or row.version_id == 1 else "200"
        request_url = row.resource_type if row.method == "POST" else url
        yield {
            "resource": jsoncodec.loads(row.content),
            "request": {"method": row.method, "url": request_url},
            "response": {"status": status, **response},
        }


def history(
    session: Session,
    resource_type: str,
    id: str | None = None,
    *,
    count: int = 50,
    since: datetime | None = None,
    offset: int = 0,
) -> History:
    """The versions of one resource, or of every resource of a type, newest first.

    Args:
        id: one resource (instance history), or None for the type's history.
        count: at most this many versions.
        since: only versions made at or after this instant (``_since``).
        offset: skip this many (paging).

    Raises:
        NotFound: an unknown type, or (instance history) a resource never stored.
    """
    _check_type(resource_type)
    if id is not None:
        _check_id(resource_type, id)
    query = select(
        VERSION.c.resource_type,
        VERSION.c.id,
        VERSION.c.version_id,
        VERSION.c.last_updated,
        VERSION.c.content,
        VERSION.c.method,
    ).where(VERSION.c.resource_type == resource_type)
    if id is not None:
        query = query.where(VERSION.c.id == id).order_by(VERSION.c.version_id.desc())
    else:
        query = query.order_by(VERSION.c.last_updated.desc(), VERSION.c.id, VERSION.c.version_id.desc())
    if since is not None:
        query = query.where(VERSION.c.last_updated >= as_utc(since))
    rows = session.execute(query.limit(max(0, count)).offset(max(0, offset))).all()
    if id is not None and not rows:
        exists = session.execute(
            select(RESOURCE.c.version_id).where(RESOURCE.c.resource_type == resource_type, RESOURCE.c.id == id)
        ).first()
        if exists is None:
            raise NotFound(f"{resource_type}/{id[:64]} is not known")
    return History(_entries(rows))


def search(
    session: Session,
    resource_type: str,
    params: list[tuple[str, str]],
    *,
    count: int = 50,
    offset: int = 0,
    strict: bool = True,
    scope: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
    expand_patients: bool = True,
) -> SearchResult:
    """Search the current versions of one type (see :mod:`hub.fhir.search` for the parameter syntax).

    Args:
        params: ``(name, value)`` pairs as in a query string (``name:modifier``, comma-separated ORs);
            repeated names AND together. Result parameters (``_sort``, ``_include``, ``_revinclude``,
            ``_elements``, ``_summary``, ``_total``, ``_cursor``) are read from them too.
        count: at most this many resources (0: only the total).
        offset: skip this many (paging without cursors).
        strict: an unknown parameter is an error (``Prefer: handling=strict``); else it is ignored.
        scope: filter parameters ANDed in whatever the handling (access control's ``search_scope``); they
            are not listed in ``SearchResult.params``, so paging links do not repeat them. Here a name of
            reference parameters joined by commas (``patient,subscriber``) matches when any of them does.
        expand_patients: a reference to a Patient stands for every linked record of the person (MPI).

    Returns:
        The page of matches, the included resources, the total, the parameters applied and the cursors of
        the neighbouring pages.

    Raises:
        NotFound: an unknown type.
        InvalidInput: an unknown parameter (strict) or modifier, an invalid value or cursor.
    """
    _check_type(resource_type)
    return run_search(
        session,
        resource_type,
        params,
        count=count,
        offset=offset,
        strict=strict,
        local=local_zone(),
        scope=scope,
        expand_patients=expand_patients,
    )
