"""Batch ingestion: each message of a batch payload (FHS/BHS … BTS/FTS, read by :mod:`hub.hl7.batch`) goes the
single message's way through the ingestor, and the batch of their ACKs is made after the last one's commit.

The ingestor (:class:`hub.hl7.ingest.Ingestor`) calls these functions when a payload is a batch, and they call
it back, through :class:`MessageReceiver`, for each message; the shared types are in :mod:`hub.hl7.receipt`,
so this module never imports the ingestor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from hub.config import Settings
from hub.hl7 import batch
from hub.hl7.receipt import AckResult, BatchPlace

# The ingestion's log lines keep one logger, whichever module writes them.
log = logging.getLogger("hub.hl7.ingest")


class MessageReceiver(Protocol):
    """What batch ingestion needs of the ingestor: single messages received its way."""

    @property
    def settings(self) -> Settings: ...

    def submit_message(
        self, raw: bytes, *, transport: str, peer: str | None, place: BatchPlace | None = None
    ) -> asyncio.Future[AckResult]:
        """Queue one message (never read as a batch); the future resolves after its commit."""
        ...

    def receive_messages_sync(
        self,
        messages: Sequence[bytes],
        *,
        transport: str,
        peer: str | None,
        places: Sequence[BatchPlace | None] | None = None,
    ) -> list[AckResult]:
        """Store messages (never read as batches) in one commit, without the writer task."""
        ...


async def receive(receiver: MessageReceiver, raw: bytes, transport: str, peer: str | None) -> AckResult:
    """Receive a batch payload: each message queued as a single one, the answer after the last commit.

    Returns:
        The batch of ACKs, with each message's own outcome in ``parts``.
    """
    try:
        envelope = batch.read(raw, receiver.settings)
    except batch.BatchRefused as exc:
        return _refused(exc, receiver.settings, transport, peer)
    futures = [
        [
            receiver.submit_message(m, transport=transport, peer=peer, place=place)
            for m, place in zip(b.messages, places(envelope, b), strict=True)
        ]
        for b in envelope.batches
    ]
    outcomes = [[await future for future in batch_futures] for batch_futures in futures]
    return _answer(envelope, outcomes, transport, peer)


def receive_sync(receiver: MessageReceiver, raw: bytes, transport: str, peer: str | None) -> AckResult:
    """:func:`receive` without the writer task: the whole batch stored in one commit."""
    try:
        envelope = batch.read(raw, receiver.settings)
    except batch.BatchRefused as exc:
        return _refused(exc, receiver.settings, transport, peer)
    where = [place for b in envelope.batches for place in places(envelope, b)]
    flat = receiver.receive_messages_sync(envelope.messages, transport=transport, peer=peer, places=where)
    outcomes: list[list[AckResult]] = []
    start = 0
    for b in envelope.batches:
        outcomes.append(flat[start : start + len(b.messages)])
        start += len(b.messages)
    return _answer(envelope, outcomes, transport, peer)


def places(envelope: batch.Envelope, one: batch.Batch) -> list[BatchPlace]:
    """Where each message of ``one`` (a batch of ``envelope``) stands: FHS-11, BHS-11 and its position.

    The control ids are kept as sent (an empty one is None); the position counts every message of the batch,
    whether it is stored or not, so that it can be checked against the sender's list.
    """
    file_id = _control_id(envelope.file_header)
    batch_id = _control_id(one.header)
    return [BatchPlace(file_id, batch_id, n) for n in range(1, len(one.messages) + 1)]


def _control_id(header: batch.EnvelopeHeader | None) -> str | None:
    """FHS-11 / BHS-11 as text. The header fields are read as Latin-1 (to echo the sender's bytes); an id in
    UTF-8 is stored as the characters it stands for, anything else as read."""
    value = header.get(11).strip() if header is not None else ""
    try:
        value = value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return value or None


def refuse_oversize(head: bytes, size: int, settings: Settings, transport: str, peer: str | None) -> AckResult:
    """The answer to a batch over ``max_batch_bytes``, from its first bytes; nothing is stored."""
    log.info("rejected an over-size batch (%d+ bytes) over %s from %s", size, transport, peer)
    return _result(batch.refuse_oversize(head, settings), [])


def _answer(envelope: batch.Envelope, outcomes: list[list[AckResult]], transport: str, peer: str | None) -> AckResult:
    reply = batch.answer(envelope, outcomes)
    flat = [o for os in outcomes for o in os]
    log.info(
        "batch %s over %s from %s: %d messages, %s",
        (envelope.batches[0].header.get(11)[:40] if envelope.batches[0].header else "") or "-",
        transport,
        peer,
        len(flat),
        batch.summary([o.code for o in flat]),
    )
    return _result(reply, flat)


def _refused(exc: batch.BatchRefused, settings: Settings, transport: str, peer: str | None) -> AckResult:
    log.info("refused a batch over %s from %s: HL7 %s at %s", transport, peer, exc.hl7_code, exc.location)
    return _result(batch.refuse(exc.envelope, exc, settings), [])


def _result(reply: batch.Reply, parts: list[AckResult]) -> AckResult:
    transient = any(p.transient for p in parts)
    return AckResult(reply.data, reply.code, reply.codec, transient=transient, parts=tuple(parts))
