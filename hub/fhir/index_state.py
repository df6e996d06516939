"""The search index kept in step with the search parameters across upgrades.

A parameter added to :mod:`hub.fhir.search_params` (or :mod:`hub.fhir.compartment_params`) finds only what was
written after it, until the resources stored before are indexed again: a patient's search of a type that got its
compartment parameters in a later release would miss the patient's own records stored before. So the database
records, per type, a fingerprint of the parameters its index rows were built with (table ``search_index_state``,
migration 0008), and :func:`bring_up_to_date` (run by ``hub db upgrade`` and ``hub serve`` after the schema upgrade)
re-indexes, in batches of short transactions, every stored type whose parameters differ — on a database upgraded to
0008, every stored type once. What is written meanwhile is indexed on write with the new parameters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, delete, func, insert, select, text
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.db import get_engine, session_scope
from hub.db.tables import SearchIndexState
from hub.fhir import store
from hub.fhir.search_params import RESOURCE_TYPES, params_for

STATE = cast(Table, SearchIndexState.__table__)

#: Raise when the indexer extracts differently for the same parameters (every stored type is then re-indexed).
INDEXER_VERSION = 1
_LOCK_KEY = 0x68756269  # "hubi": the advisory lock of re-indexing on upgrade


def fingerprint(resource_type: str) -> str:
    """A digest of the search parameters of ``resource_type`` as the indexer uses them."""
    params = sorted(
        (p.name, p.type, p.expression, list(p.targets), p.system, p.shape) for p in params_for(resource_type).values()
    )
    text = json.dumps([INDEXER_VERSION, resource_type, params], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def stale(session: Session) -> dict[str, int]:
    """The stored types whose index rows were built with other parameters than today's, with how many current
    resources each has (a type never recorded counts as stale)."""
    counts: dict[str, int] = {
        str(t): int(n)
        for t, n in session.execute(
            select(store.RESOURCE.c.resource_type, func.count())
            .where(store.RESOURCE.c.deleted.is_(False))
            .group_by(store.RESOURCE.c.resource_type)
        ).all()
    }
    recorded = {str(t): str(f) for t, f in session.execute(select(STATE.c.resource_type, STATE.c.fingerprint)).all()}
    return {t: n for t, n in sorted(counts.items()) if t in RESOURCE_TYPES and recorded.get(t) != fingerprint(t)}


def record(session: Session, types: list[str]) -> None:
    """Record that the index rows of ``types`` are built with today's parameters (the caller commits)."""
    if not types:
        return
    session.execute(delete(STATE).where(STATE.c.resource_type.in_(types)))
    now = datetime.now(UTC)
    session.execute(
        insert(STATE), [{"resource_type": t, "fingerprint": fingerprint(t), "indexed_at": now} for t in types]
    )


def reindex_type(
    settings: Settings, resource_type: str, *, batch: int = 1000, advance: Callable[[int], None] | None = None
) -> int:
    """Re-index the current resources of one type in batches (one transaction each), then record its fingerprint.

    Returns:
        How many resources were re-indexed.
    """
    done = 0
    after: str | None = None
    while True:
        with session_scope(settings) as session:
            n, after = store.reindex(session, resource_type, after_id=after, limit=batch)
            if after is None:
                record(session, [resource_type])
        done += n
        if advance is not None:
            advance(n)
        if after is None:
            return done


def bring_up_to_date(
    settings: Settings, *, batch: int = 1000, on_type: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Re-index every stored type whose search parameters changed since its index rows were built, and record
    today's parameters of the types with nothing stored (so that a later change of theirs is noticed too).

    Args:
        on_type: called with each stale type and its resource count before it is re-indexed (progress, logs).

    Returns:
        The re-indexed types and how many resources of each.
    """
    with _one_at_a_time(settings):
        with session_scope(settings) as session:
            todo = stale(session)  # read under the lock: another replica may have just done it
            recorded = {str(t): str(f) for t, f in session.execute(select(STATE.c.resource_type, STATE.c.fingerprint))}
            stored = {str(t) for t in session.execute(select(store.RESOURCE.c.resource_type).distinct()).scalars()}
            record(session, sorted(t for t in RESOURCE_TYPES - stored if recorded.get(t) != fingerprint(t)))
        done: dict[str, int] = {}
        for rtype, count in todo.items():
            if on_type is not None:
                on_type(rtype, count)
            done[rtype] = reindex_type(settings, rtype, batch=batch)
    return done


@contextmanager
def _one_at_a_time(settings: Settings) -> Iterator[None]:
    """Replicas starting together re-index one after the other (PostgreSQL: a session advisory lock; on SQLite each
    batch's delete-and-insert is a transaction of the one writer): two interleaved re-indexes of the same rows on
    PostgreSQL would each insert them."""
    engine = get_engine(settings)
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
            conn.commit()
