"""Outbox dispatch: after a commit, registered handlers react to resource changes.

The store writes one ``outbox`` row per changed resource in the same transaction as the change. The
``hub.dispatch_outbox`` task reads pending rows in order and hands each to the handlers subscribed to its
resource type; services subscribe through :func:`subscribe` (part of the hub's public API) at import time.
A handler that raises leaves the event pending, so it is delivered again: handlers must be idempotent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db.tables import OutboxEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ResourceEvent:
    """One change of one resource, as handed to subscribers."""

    event_id: int
    resource_type: str
    resource_id: str
    version_id: int
    event: str  # create | update | delete
    inbox_id: int | None


Handler = Callable[[Session, ResourceEvent], None]
_handlers: dict[str, list[Handler]] = defaultdict(list)


def subscribe(resource_type: str, handler: Handler) -> None:
    """Call ``handler(session, event)`` for every change of ``resource_type`` (``*`` for every type).

    The handler runs inside the dispatcher's transaction; what it writes commits with the event's
    ``dispatched_at``.
    """
    if handler not in _handlers[resource_type]:
        _handlers[resource_type].append(handler)


def unsubscribe(resource_type: str, handler: Handler) -> None:
    if handler in _handlers.get(resource_type, []):
        _handlers[resource_type].remove(handler)


def dispatch_pending(session: Session, *, limit: int = 500, skip_locked: bool = False) -> int:
    """Hand pending outbox events to their handlers, oldest first; the caller commits.

    Args:
        limit: at most this many events.
        skip_locked: lock the rows taken (PostgreSQL), so that parallel dispatchers share the work.

    Returns:
        How many events were dispatched.
    """
    query = select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id).limit(limit)
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    rows = list(session.execute(query).scalars())
    now = datetime.now(UTC)
    for row in rows:
        event = ResourceEvent(row.id, row.resource_type, row.resource_id, row.version_id, row.event, row.inbox_id)
        for handler in (*_handlers.get(row.resource_type, ()), *_handlers.get("*", ())):
            with session.begin_nested():
                handler(session, event)
        row.dispatched_at = now
    return len(rows)
