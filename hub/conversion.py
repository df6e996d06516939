"""Turning stored inbox rows into FHIR resources: the logic behind the ``hub.convert_messages`` task.

One inbox row is converted in one transaction: the Bundle's resources, the row's new status and the outbox
events commit together. Converting a row twice changes nothing (deterministic ids, a new version only when
content changed, and a converted row is skipped unless it is being replayed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.db.tables import InboxMessage
from hub.errors import HubError, TransientError
from hub.fhir import store
from hub.hl7 import charset, er7
from hub.mapping import get_converter

log = logging.getLogger(__name__)

RECEIVED = "received"
CONVERTED = "converted"
FAILED = "failed"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ConversionOutcome:
    inbox_id: int
    status: str  # converted | failed | skipped | missing
    resources: int = 0
    changed: int = 0
    error: str | None = None


def convert_message(session: Session, inbox_id: int, settings: Settings) -> ConversionOutcome:
    """Convert one inbox row and record the outcome on it; the caller commits.

    A row that is not ``received`` (already converted, failed or rejected) is skipped: replay first resets
    it. A mapping or content error marks the row ``failed`` with the reason and location.

    Args:
        session: the caller's session; its transaction holds the resources, the status and the outbox events.
        inbox_id: the row to convert.
        settings: mapping directory, charsets and timezones.

    Returns:
        What happened to the row.

    Raises:
        TransientError: the database failed in a way that a retry may cure.
    """
    query = select(InboxMessage).where(InboxMessage.id == inbox_id)
    if not settings.is_sqlite:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        return ConversionOutcome(inbox_id, "missing")
    if row.status != RECEIVED:
        return ConversionOutcome(inbox_id, "skipped")
    row.attempts = (row.attempts or 0) + 1
    try:
        with session.begin_nested():
            text, _codec = charset.decode(
                row.raw,
                row.charset or "",
                settings.charset_for(row.sending_application or "", row.sending_facility or ""),
            )
            message = er7.parse(text)
            timezone = settings.timezone_for(row.sending_application or "", row.sending_facility or "")
            bundle = get_converter(settings).convert(message, sender_timezone=timezone)
            results = store.apply_bundle(session, bundle, source_inbox_id=row.id)
    except (OperationalError, DBAPIError) as exc:
        raise TransientError(f"database error while converting inbox {inbox_id}: {type(exc).__name__}") from exc
    except HubError as exc:
        row.status = FAILED
        row.error = exc.message
        row.error_location = getattr(exc, "location", None) or exc.expression
        log.warning("inbox %s (%s) failed to convert: %s", inbox_id, row.message_type, type(exc).__name__)
        return ConversionOutcome(inbox_id, FAILED, error=exc.message)
    row.status = CONVERTED
    row.error = None
    row.error_location = None
    row.converted_at = datetime.now(UTC)
    row.resource_count = len(results)
    changed = sum(1 for r in results if r.changed)
    return ConversionOutcome(inbox_id, CONVERTED, resources=len(results), changed=changed)


def reset_for_replay(session: Session, *, ids: list[int] | None = None, failed: bool = False) -> list[int]:
    """Put rows back to ``received`` so that they are converted again; the caller commits and enqueues.

    Args:
        ids: these rows (any status but ``rejected``).
        failed: every ``failed`` row.

    Returns:
        The ids reset, in order.
    """
    query = select(InboxMessage.id).where(InboxMessage.status != REJECTED)
    if ids:
        query = query.where(InboxMessage.id.in_(ids))
    elif failed:
        query = query.where(InboxMessage.status == FAILED)
    else:
        return []
    found = sorted(session.execute(query).scalars())
    if found:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id.in_(found))
            .values(status=RECEIVED, error=None, error_location=None)
        )
    return found
