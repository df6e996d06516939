"""Inbox rows as ingestion stores them, for tests that convert through the pipeline (``convert_message``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from hub.db.tables import InboxMessage
from hub.hl7 import er7


def receive(session: Session, message: str | bytes) -> int:
    """Add the message as a ``received`` inbox row (sender, control id, type and version from its MSH); its id.

    The row is flushed, not committed: the test commits what it wants kept.
    """
    raw = message.encode("utf-8") if isinstance(message, str) else message
    msh = er7.parse(raw.decode("utf-8")).msh
    msh9 = msh[9].split("^")
    row = InboxMessage(
        received_at=datetime.now(UTC),
        transport="cli",
        sending_application=msh[3],
        sending_facility=msh[4],
        control_id=msh[10],
        message_type="^".join(msh9[:2]),
        structure=msh9[2] if len(msh9) > 2 and msh9[2] else None,
        version=msh[12] or "2.5.1",
        charset="UNICODE UTF-8",
        raw=raw,
        status="received",
        attempts=0,
    )
    session.add(row)
    session.flush()
    return row.id
