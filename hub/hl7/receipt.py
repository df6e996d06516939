"""What one received message is on its way to the inbox, and the answer it gets: the types that the ingestor
(:mod:`hub.hl7.ingest`), its database writer (:mod:`hub.hl7.inbox_writer`) and batch ingestion
(:mod:`hub.hl7.batch_ingest`) share. They live here, apart from all three, so that none of those modules has
to import another one that imports it back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.errors import Hl7Error
from hub.hl7.header import MessageHeader

Key = tuple[str, str, str]  # the dedup key: sending application, sending facility, control id

# The inbox columns each stored message fills, in the order of Pending.row().
INBOX_COLUMNS = (
    "received_at",
    "transport",
    "peer",
    "sending_application",
    "sending_facility",
    "control_id",
    "message_type",
    "structure",
    "version",
    "charset",
    "raw",
    "ack",
    "ack_code",
    "status",
    "error",
    "error_location",
    "attempts",
    "file_control_id",
    "batch_control_id",
    "batch_position",
    "reply_file_control_id",
    "reply_batch_control_id",
)

# The control ids of the hub's own FHS/BHS that carried a message's ACK (file, batch); None for each one absent.
ReplyIds = tuple[str | None, str | None]
NO_REPLY: ReplyIds = (None, None)


@dataclass(frozen=True, slots=True)
class AckResult:
    """The answer to one received message."""

    data: bytes  # the ACK in the message's charset, without MLLP framing; b"" when no accept ACK is due
    code: str  # MSA-1 (AA, AR, CA, CE, CR …), also when no ACK is sent
    codec: str  # the Python codec of ``data``
    inbox_id: int | None = None  # the stored row (the first copy's for a duplicate); None if not stored
    duplicate: bool = False  # a retransmission of a stored message, answered with the stored ACK
    transient: bool = False  # not stored because the database failed: the sender should resend
    parts: tuple[AckResult, ...] = ()  # a batch: the outcome of each of its messages, in order
    # a retransmission: the reply batch (FHS-11, BHS-11 of the hub's answer) its first copy's ACK went out in
    reply: ReplyIds = NO_REPLY


@dataclass(frozen=True, slots=True)
class BatchPlace:
    """Where a message stood in the batch it came in (kept on its inbox row, for the operator)."""

    file_control_id: str | None  # FHS-11 of the file, None without an FHS (or an empty FHS-11)
    batch_control_id: str | None  # BHS-11 of its batch, None without a BHS (or an empty BHS-11)
    position: int  # 1 for the first message of its batch, counting every message sent, stored or not
    # FHS-11 and BHS-11 of the hub's answer, decided before the message is stored so that the row names the
    # batch of ACKs that carries its ACK (None: the answer has no FHS)
    reply_file_control_id: str | None = None
    reply_batch_control_id: str | None = None

    @property
    def reply(self) -> ReplyIds:
        return (self.reply_file_control_id, self.reply_batch_control_id)


@dataclass(frozen=True, slots=True)
class Stored:
    """What the database made of one message: its row (the first copy's) and the ACK to send."""

    inbox_id: int | None
    ack: str | None
    ack_code: str
    new: bool  # newly stored accepted message (reported to on_stored)
    reply: ReplyIds = NO_REPLY  # the reply batch the stored row's ACK went out in (for a retransmission)


NOT_STORED = Stored(None, None, "", new=False)


@dataclass(slots=True, eq=False)
class Pending:
    """A message read and judged, waiting to be stored (``future`` resolves to its answer)."""

    raw: bytes
    transport: str
    peer: str | None
    header: MessageHeader | None
    accepted: bool  # False: rejected, stored only for the operator
    ack: str | None  # None: no accept ACK due (enhanced mode, MSH-15)
    ack_code: str
    error: Hl7Error | None
    received_at: datetime
    place: BatchPlace | None = None  # None: the message came alone
    future: asyncio.Future[AckResult] | None = None

    @property
    def reply(self) -> ReplyIds:
        """The hub's FHS-11/BHS-11 that carry this message's ACK; none when it came alone or has no ACK due."""
        place = self.place
        if place is None or self.ack is None:
            return NO_REPLY
        return place.reply

    @property
    def key(self) -> Key:
        assert self.header is not None
        return self.header.dedup_key

    def row(self) -> tuple[Any, ...]:
        """The inbox row, in the order of ``INBOX_COLUMNS``."""
        h = self.header
        assert h is not None
        app: str | None
        fac: str | None
        control: str | None
        if self.accepted:
            app, fac, control = h.sending_application, h.sending_facility, h.control_id
        else:
            app, fac, control = clean(h.sending_application, 227), clean(h.sending_facility, 227), None
        error = self.error
        place = self.place
        reply_file, reply_batch = self.reply
        return (
            self.received_at,
            self.transport[:8],
            clean(self.peer, 128),
            app,
            fac,
            control,
            clean(h.message_type, 32),
            clean(h.structure, 16),
            clean(h.version, 16),
            clean(h.codec, 32),
            self.raw,
            clean(self.ack, None),
            self.ack_code,
            "received" if self.accepted else "rejected",
            clean(error.message, None) if error is not None else None,
            clean(error.location, 64) if error is not None else None,
            0,
            clean(place.file_control_id, 199) if place is not None else None,
            clean(place.batch_control_id, 199) if place is not None else None,
            place.position if place is not None else None,
            reply_file,
            reply_batch,
        )


def clean(value: str | None, limit: int | None) -> str | None:
    """A value fit for a text column: no NUL (PostgreSQL refuses it), cut to the column size."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value[:limit] if limit is not None else value
