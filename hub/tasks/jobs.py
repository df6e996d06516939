"""The hub's Celery tasks: thin wrappers with retries around plain functions."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import Task

from hub.config import Settings, get_settings
from hub.conversion import convert_message
from hub.db import session_scope
from hub.errors import TransientError
from hub.events import dispatch_pending
from hub.identity import subscriber
from hub.tasks.app import celery_app, configure
from hub.tasks.sweeper import unconverted

log = logging.getLogger(__name__)

CONVERT_CHUNK = 200


@celery_app.task(
    name="hub.convert_messages",
    bind=True,
    acks_late=True,
    autoretry_for=(TransientError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)
def convert_messages(self: Task, ids: list[int]) -> dict[str, int]:  # noqa: ARG001 - bound for retries
    """Convert inbox rows in id order, ``settings.convert_group`` rows per transaction.

    Each row converts in a savepoint of its own (a mapping error fails that row alone); a database error rolls
    the group back and the task retries it, which converts again only what was not committed.
    """
    settings = get_settings()
    counts: dict[str, int] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), settings.convert_group):
        outcomes = []
        with session_scope(settings) as session:
            for inbox_id in ordered[start : start + settings.convert_group]:
                outcomes.append(convert_message(session, inbox_id, settings))
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
    if counts.get("converted"):
        dispatch_outbox.delay()
    return counts


@celery_app.task(name="hub.sweep", acks_late=True)
def sweep() -> int:
    """Re-enqueue rows that were stored but never converted."""
    settings = get_settings()
    with session_scope(settings) as session:
        ids = unconverted(session, older_than_s=settings.sweep_grace_s)
    if ids:
        log.info("sweeper re-enqueues %d unconverted messages", len(ids))
        enqueue_conversion(ids, settings)
    return len(ids)


@celery_app.task(
    name="hub.dispatch_outbox", acks_late=True, autoretry_for=(TransientError,), retry_backoff=True, max_retries=8
)
def dispatch_outbox() -> int:
    """Hand pending outbox events to the subscribed handlers (the master patient index among them)."""
    subscriber.install()  # idempotent; the worker process has no app factory to do it
    settings = get_settings()
    total = 0
    while True:
        with session_scope(settings) as session:
            n = dispatch_pending(session, skip_locked=not settings.is_sqlite)
        total += n
        if n == 0:
            return total


def enqueue_conversion(ids: Iterable[int], settings: Settings | None = None) -> None:
    """Publish conversion tasks for ``ids`` (in chunks), after the rows were committed."""
    configure(settings)
    batch = sorted(ids)
    for start in range(0, len(batch), CONVERT_CHUNK):
        convert_messages.delay(batch[start : start + CONVERT_CHUNK])
