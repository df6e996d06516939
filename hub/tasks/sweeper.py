"""Finding inbox rows that were committed (and so ACKed) but never converted.

A crash between the commit and the enqueue, a broker outage, or a lost task leaves a row ``received``; the
sweeper hands such rows to the converter again. Converting twice is harmless, so a row still waiting in a
busy queue may be enqueued twice without effect.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.db.tables import InboxMessage


def unconverted(session: Session, *, older_than_s: float, limit: int = 10_000) -> list[int]:
    """Ids of ``received`` rows older than ``older_than_s`` seconds, oldest first."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    query = (
        select(InboxMessage.id)
        .where(InboxMessage.status == "received", InboxMessage.received_at <= cutoff)
        .order_by(InboxMessage.id)
        .limit(limit)
    )
    return list(session.execute(query).scalars())
