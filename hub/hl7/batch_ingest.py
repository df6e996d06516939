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
from hub.hl7.ack import next_control_id
from hub.hl7.receipt import NO_REPLY, AckResult, BatchPlace, ReplyIds

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
    planned = _plan_reply(envelope)
    futures = [
        [
            receiver.submit_message(m, transport=transport, peer=peer, place=place)
            for m, place in zip(b.messages, places(envelope, b, (planned[0], batch_id)), strict=True)
        ]
        for b, batch_id in zip(envelope.batches, planned[1], strict=True)
    ]
    outcomes = [[await future for future in batch_futures] for batch_futures in futures]
    return _answer(envelope, outcomes, planned, transport, peer)


def receive_sync(receiver: MessageReceiver, raw: bytes, transport: str, peer: str | None) -> AckResult:
    """:func:`receive` without the writer task: the whole batch stored in one commit."""
    try:
        envelope = batch.read(raw, receiver.settings)
    except batch.BatchRefused as exc:
        return _refused(exc, receiver.settings, transport, peer)
    planned = _plan_reply(envelope)
    where = [
        place
        for b, batch_id in zip(envelope.batches, planned[1], strict=True)
        for place in places(envelope, b, (planned[0], batch_id))
    ]
    flat = receiver.receive_messages_sync(envelope.messages, transport=transport, peer=peer, places=where)
    outcomes: list[list[AckResult]] = []
    start = 0
    for b in envelope.batches:
        outcomes.append(flat[start : start + len(b.messages)])
        start += len(b.messages)
    return _answer(envelope, outcomes, planned, transport, peer)


def places(envelope: batch.Envelope, one: batch.Batch, reply: ReplyIds = NO_REPLY) -> list[BatchPlace]:
    """Where each message of ``one`` (a batch of ``envelope``) stands: FHS-11, BHS-11 and its position, and
    the FHS-11/BHS-11 of the hub's answer that will carry its ACK (``reply``).

    The control ids are kept as sent (an empty one is None); the position counts every message of the batch,
    whether it is stored or not, so that it can be checked against the sender's list.
    """
    file_id = _control_id(envelope.file_header)
    batch_id = _control_id(one.header)
    return [BatchPlace(file_id, batch_id, n, *reply) for n in range(1, len(one.messages) + 1)]


def _plan_reply(envelope: batch.Envelope) -> tuple[str | None, list[str]]:
    """The control ids of the answer (FHS-11 when the payload has an FHS, a BHS-11 for each batch), taken
    before the messages are stored so that each row can name the answer its ACK goes out in: the rows are
    committed before the answer is sent, so an answer an operator is shown never lacks its rows."""
    file_id = next_control_id() if envelope.file_header is not None else None
    return file_id, [next_control_id() for _ in envelope.batches]


def _reply_ids(
    envelope: batch.Envelope, outcomes: list[list[AckResult]], planned: tuple[str | None, list[str]]
) -> tuple[str | None, list[str]]:
    """The answer's control ids: the planned ones, except for a batch that only resends messages already
    stored and first answered in one and the same batch of ACKs. That batch is answered under the first
    answer's BHS-11 again (and the file under its FHS-11 when every batch is), as a retransmitted message gets
    its first ACK again: the stored rows name the answer, none of them names a new one."""
    file_id, batch_ids = planned
    ids = list(batch_ids)
    files: set[str | None] = set()
    for n, outs in enumerate(outcomes):
        due = [o for o in outs if o.data]
        firsts = {o.reply for o in due}
        if not due or not all(o.duplicate for o in due) or len(firsts) != 1:
            files.add(None)
            continue
        first_file, first_batch = firsts.pop()
        if first_batch is None:  # first came alone (or before the hub kept its answers)
            files.add(None)
            continue
        ids[n] = first_batch
        files.add(first_file)
    if envelope.file_header is not None and len(files) == 1 and None not in files:
        file_id = files.pop()
    return file_id, ids


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


def _answer(
    envelope: batch.Envelope,
    outcomes: list[list[AckResult]],
    planned: tuple[str | None, list[str]],
    transport: str,
    peer: str | None,
) -> AckResult:
    reply = batch.answer(envelope, outcomes, control_ids=_reply_ids(envelope, outcomes, planned))
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
