"""Durable receipt of HL7 v2 messages: store, commit, then acknowledge.

Every transport (MLLP, HTTP, the CLI) hands the bytes of one message, or of one batch (FHS/BHS …,
:mod:`hub.hl7.batch_ingest`: each of its messages goes the single message's way, and the batch of their ACKs
is made after the last one's commit), to :class:`Ingestor`. The header is read and judged on the caller's
event loop (tens of microseconds); the message then waits in a bounded queue for the one writer task,
which takes whatever is waiting (up to ``ingest_batch_max``, waiting at most ``ingest_batch_wait_ms`` for
more) and stores it with one multi-row INSERT, its own transaction, in a worker thread: a group commit
(:mod:`hub.hl7.inbox_writer`).
Only after the commit are the waiting callers given their ACKs; if the database fails, they get AR (CE in
enhanced mode) with HL7 error 206, so the sender resends.

Dedup: ``INSERT … ON CONFLICT (sending application, facility, control id) DO NOTHING … RETURNING`` tells
the new rows from retransmissions; a retransmission gets the ACK text stored with the first copy
(``inbox.ack``), verbatim, also when both copies are in the same batch.

Rejected messages (unreadable or unusable header, type or version not accepted, a type and event no message
template converts: :mod:`hub.mapping.events`) are answered AR with an ERR segment. Those with a readable MSH are
kept in ``inbox`` with status ``rejected`` and no dedup key (their ``control_id`` is NULL; MSH-10 is in ``raw``)
for the operator; over-size ones and bytes without an MSH are not stored.

After each commit the ids of newly stored messages go to ``on_stored`` (the coordinator wires it to the
conversion queue), called in a thread of its own so a slow broker never holds up an ACK; a failure there
is logged and left to the sweeper, which re-enqueues committed rows that were never converted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from hub.config import Settings
from hub.db import get_engine
from hub.errors import Hl7Error, Hl7ParseError, Hl7Rejected, MappingTemplateError
from hub.hl7 import batch, batch_ingest, er7
from hub.hl7.ack import accept_ack_due, ack_code_for_error, build_ack, version_tuple
from hub.hl7.header import MessageHeader, check_header, check_single_message, parse_header, salvage_header
from hub.hl7.inbox_writer import TRANSIENT_ERRORS, InboxWriter
from hub.hl7.receipt import NOT_STORED, AckResult, BatchPlace, Pending, Stored
from hub.mapping.events import Mapped, choose_structure, message_kind, read_mapped, refusal

__all__ = ["AckResult", "IngestStats", "Ingestor", "OnStored"]

log = logging.getLogger(__name__)

OnStored = Callable[[list[int]], None]

# The MSH of an over-size message is looked for in its first bytes only.
_OVERSIZE_HEADER_BYTES = 65_536
# Ids waiting for on_stored beyond this are dropped (with a warning): the sweeper finds them anyway, and a
# broker outage must not grow the process without bound.
_MAX_PENDING_NOTIFICATIONS = 100_000
_NOTIFY_FAILURE_LOG_INTERVAL = 10.0  # seconds between two reports of on_stored failures


@dataclass(slots=True)
class IngestStats:
    """Counters of the group-commit writer since the ingestor was made (for metrics and the benchmark)."""

    batches: int = 0  # writer batches (each one transaction)
    messages: int = 0  # messages in them (accepted, duplicates and rejected ones)
    stored: int = 0  # newly stored accepted messages
    failed: int = 0  # messages not stored because the database failed


class _ShuttingDown(Exception):
    """The ingestor stopped before the message could be stored."""


def _encode(text: str | None, codec: str) -> bytes:
    if not text:
        return b""
    try:
        return text.encode(codec, errors="replace")
    except LookupError:  # pragma: no cover - codecs come from charset.codec_for
        return text.encode("utf-8", errors="replace")


def _too_long_code(header: MessageHeader | None) -> str:
    # Table 0357 has "104 Value too long" from v2.7 on; earlier versions only have the catch-all 207.
    version = header.version if header is not None else ""
    return "104" if version_tuple(version) >= (2, 7) else "207"


class Ingestor:
    """Receives messages from any transport; stores each durably before it is acknowledged.

    Args:
        settings: limits, allow-lists, charsets, the database and the group-commit sizes.
        on_stored: called, in a thread, with the inbox ids of newly stored messages after each commit.
    """

    def __init__(self, settings: Settings, *, on_stored: OnStored | None = None) -> None:
        self._settings = settings
        self._on_stored = on_stored
        self._inbox = InboxWriter(get_engine(settings))
        self._batch_max = max(1, settings.ingest_batch_max)
        self._batch_wait = max(0.0, settings.ingest_batch_wait_ms / 1000.0)
        self._queue: asyncio.Queue[Pending | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._notifier: asyncio.Task[None] | None = None
        self._db_pool: ThreadPoolExecutor | None = None
        self._notify_pool: ThreadPoolExecutor | None = None
        self._notify_ids: list[int] = []
        self._notify_wakeup: asyncio.Event | None = None
        self._accepting = False
        self._stopping = False
        self._closed = False
        self._waiting_puts = 0
        self._notify_failures = 0
        self._notify_failure_logged = float("-inf")
        # the mapping library's structures and events, asked whether a message can be converted
        # (refuse_unmapped_messages); when its templates cannot be read (_mapping_failed), messages are stored unjudged
        self._mapping: dict[str, Mapped] | None = None
        self._mapping_failed = False
        self.stats = IngestStats()

    # Lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the group-commit writer (and the on_stored notifier) on the running event loop."""
        if self._writer is not None:
            raise RuntimeError("the ingestor is already started")
        self._queue = asyncio.Queue(maxsize=4 * self._batch_max)
        self._db_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-ingest-db")
        self._notify_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-ingest-notify")
        self._notify_wakeup = asyncio.Event()
        if self._settings.refuse_unmapped_messages:
            # the message templates are read once (a fraction of a second), in a thread, before any message waits
            await asyncio.get_running_loop().run_in_executor(self._notify_pool, self._mapped)
        self._stopping = False
        self._closed = False
        self._accepting = True
        self._writer = asyncio.create_task(self._run_writer(), name="hub-ingest-writer")
        self._notifier = asyncio.create_task(self._run_notifier(), name="hub-ingest-notifier")

    async def stop(self) -> None:
        """Store what is already queued, answer it, then stop; later messages get a transient AR."""
        if self._writer is None or self._queue is None:
            return
        self._accepting = False
        await self._queue.put(None)
        await self._writer
        self._closed = True
        while not self._queue.empty():  # queued behind the sentinel by receivers that raced stop()
            item = self._queue.get_nowait()
            if item is not None and item.future is not None and not item.future.done():
                item.future.set_result(self._result(item, _ShuttingDown("the hub stopped before storing it")))
        self._stopping = True
        assert self._notify_wakeup is not None and self._notifier is not None
        self._notify_wakeup.set()
        try:
            await asyncio.wait_for(self._notifier, timeout=10.0)
        except TimeoutError:
            log.warning("on_stored did not finish in time; the sweeper will enqueue what it missed")
        if self._db_pool is not None:
            await asyncio.get_running_loop().run_in_executor(self._db_pool, self._inbox.drop_connection)
        for pool in (self._db_pool, self._notify_pool):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._writer = self._notifier = None
        self._queue = None

    @property
    def running(self) -> bool:
        return self._accepting

    @property
    def settings(self) -> Settings:
        return self._settings

    # Receiving ------------------------------------------------------------------------------------
    async def receive(self, raw: bytes, *, transport: str, peer: str | None = None) -> bytes:
        """Store one message and return its ACK.

        Args:
            raw: the message bytes as received, without MLLP framing.
            transport: ``mllp``, ``http`` or ``cli`` (kept in ``inbox.transport``).
            peer: the sender's address, for the operator.

        Returns:
            The ACK bytes in the message's charset, or ``b""`` when the message's MSH-15 says no accept
            ACK is wanted for this outcome (enhanced mode: NE, or ER on success, or SU on failure).
        """
        return (await self.receive_ack(raw, transport=transport, peer=peer)).data

    async def receive_ack(self, raw: bytes, *, transport: str, peer: str | None = None) -> AckResult:
        """Like :meth:`receive`, with the outcome (code, inbox id, duplicate, transient) alongside the ACK."""
        return await self.submit(raw, transport=transport, peer=peer)

    def submit(self, raw: bytes, *, transport: str, peer: str | None = None) -> asyncio.Future[AckResult]:
        """Read and queue one message now; the future resolves to its :class:`AckResult` after the commit.

        A batch resolves to one :class:`AckResult` holding the batch of ACKs (``parts``: each message's own)
        once every message of it is committed.

        For transports that keep several messages in flight (MLLP pipelining): no task per message, and
        the messages are queued in the order they are submitted. Call it on the ingestor's event loop.
        """
        if batch.is_batch(raw):
            return asyncio.get_running_loop().create_task(batch_ingest.receive(self, raw, transport, peer))
        return self.submit_message(raw, transport=transport, peer=peer)

    def submit_message(
        self, raw: bytes, *, transport: str, peer: str | None, place: BatchPlace | None = None
    ) -> asyncio.Future[AckResult]:
        """Like :meth:`submit`, for bytes that are one message, never read as a batch.

        Args:
            place: where the message stood in the batch it came in (kept on its row), None for one sent alone.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AckResult] = loop.create_future()
        pending = self._prepare(raw, transport, peer, place)
        if isinstance(pending, AckResult):
            future.set_result(pending)
            return future
        if not pending.accepted and pending.header is None:
            future.set_result(self._result(pending, NOT_STORED))  # nothing an operator could read: not kept
            return future
        queue = self._queue
        if not self._accepting or queue is None:
            future.set_result(self._result(pending, _ShuttingDown("the hub is not accepting messages now")))
            return future
        pending.future = future
        if queue.full() or self._waiting_puts:
            # Back-pressure: wait for room (the caller awaits the future, so it waits too), behind the
            # messages already waiting, so that messages are stored in the order they came.
            self._waiting_puts += 1
            loop.create_task(self._enqueue_when_room(queue, pending))
        else:
            queue.put_nowait(pending)
        return future

    async def _enqueue_when_room(self, queue: asyncio.Queue[Pending | None], pending: Pending) -> None:
        try:
            await queue.put(pending)
        finally:
            self._waiting_puts -= 1
        future = pending.future
        if self._closed and future is not None and not future.done():
            # Queued behind the writer's last batch while stop() ran: nobody will store it.
            future.set_result(self._result(pending, _ShuttingDown("the hub stopped before storing it")))

    def receive_sync(self, raw: bytes, *, transport: str, peer: str | None = None) -> bytes:
        """:meth:`receive` without the writer task: stores the message in a transaction of its own."""
        return self.receive_ack_sync(raw, transport=transport, peer=peer).data

    def receive_ack_sync(self, raw: bytes, *, transport: str, peer: str | None = None) -> AckResult:
        """Like :meth:`receive_sync`, with the outcome alongside the ACK."""
        if batch.is_batch(raw):
            return batch_ingest.receive_sync(self, raw, transport, peer)
        return self.receive_messages_sync([raw], transport=transport, peer=peer)[0]

    def receive_messages_sync(
        self,
        messages: Sequence[bytes],
        *,
        transport: str,
        peer: str | None,
        places: Sequence[BatchPlace | None] | None = None,
    ) -> list[AckResult]:
        """Store messages (each one message, never read as a batch) in one commit, without the writer task.

        Args:
            places: for each message, where it stood in its batch (None: all sent alone).

        Returns:
            The outcome of each message, in order.
        """
        where = places if places is not None else [None] * len(messages)
        prepared = [self._prepare(raw, transport, peer, place) for raw, place in zip(messages, where, strict=True)]
        storable = [p for p in prepared if isinstance(p, Pending) and p.header is not None]
        stored = dict(zip(map(id, storable), self._store(storable) if storable else [], strict=True))  # one commit
        new_ids = [o.inbox_id for o in stored.values() if isinstance(o, Stored) and o.new and o.inbox_id is not None]
        if new_ids:
            self._notify(new_ids)
        return [p if isinstance(p, AckResult) else self._result(p, stored.get(id(p), NOT_STORED)) for p in prepared]

    def oversize_ack(self, head: bytes, size: int, *, transport: str, peer: str | None = None) -> AckResult:
        """The AR for a message over ``max_message_bytes``, from its first bytes; nothing is stored.

        Args:
            head: the start of the message (its MSH is read for the ACK, if it is there).
            size: how many bytes of it were seen (more than the limit).
            transport: the transport, for the log.
            peer: the sender's address, for the log.
        """
        if batch.is_batch(head):
            return batch_ingest.refuse_oversize(head[:_OVERSIZE_HEADER_BYTES], size, self._settings, transport, peer)
        header = salvage_header(head[:_OVERSIZE_HEADER_BYTES])
        error = Hl7Rejected(
            f"the message is larger than the {self._settings.max_message_bytes} bytes accepted",
            hl7_code=_too_long_code(header),
            location="MSH^1",
        )
        log.info("rejected an over-size message (%d+ bytes) over %s from %s", size, transport, peer)
        pending = self._rejection(b"", transport, peer, header, error, datetime.now(UTC))
        return self._result(pending, NOT_STORED)

    # Reading and judging (on the caller's loop) --------------------------------------------------
    def _prepare(
        self, raw: bytes, transport: str, peer: str | None, place: BatchPlace | None = None
    ) -> Pending | AckResult:
        now = datetime.now(UTC)
        settings = self._settings
        if len(raw) > settings.max_message_bytes:
            return self.oversize_ack(raw, len(raw), transport=transport, peer=peer)
        try:
            header, text = parse_header(raw, settings)
        except Hl7Error as exc:
            return self._rejection(raw, transport, peer, salvage_header(raw), exc, now, place)
        except Exception as exc:  # a reader bug must cost one AR, never the listener
            log.warning("unreadable message header (%s)", type(exc).__name__)
            error = Hl7ParseError("the message header cannot be read", hl7_code="100", location="MSH^1")
            return self._rejection(raw, transport, peer, salvage_header(raw), error, now, place)
        try:
            check_header(header, settings)
            check_single_message(text, header)
            if settings.refuse_unmapped_messages and header.message_code != "ACK":
                self._check_mapped(header, text)
        except Hl7Error as exc:
            return self._rejection(raw, transport, peer, header, exc, now, place)
        code = "CA" if header.enhanced_mode else "AA"
        ack = build_ack(header, code) if accept_ack_due(header, code) else None
        return Pending(raw, transport, peer, header, True, ack, code, None, now, place)

    def _mapped(self) -> dict[str, Mapped] | None:
        """The message templates' structures and events (read once, as the conversion reads its templates once per
        process), or None when they cannot be read."""
        if self._mapping is None and not self._mapping_failed:
            try:
                self._mapping = read_mapped(self._settings.mappings_dir)
            except (MappingTemplateError, OSError) as exc:
                log.error("the message templates cannot be read (%s): messages are stored without asking them", exc)
                self._mapping_failed = True
        return self._mapping

    def _check_mapped(self, header: MessageHeader, text: str) -> None:
        """Refuse, as the standard's receiver does (AR, HL7 error 200 or 201), a message whose type and event no
        template converts (``ADT^Z99``): acknowledged AA, it would be stored only for its conversion to fail, and the
        sender would never learn. An acknowledgment (``ACK``) is not asked.

        Raises:
            Hl7Rejected: no template maps the message's structure or event (an overlay patches a template's rules,
                never its events: the answer is the same for every sender).
        """
        mapped = self._mapped()
        if mapped is None:
            return
        code, event, given = header.message_code, header.trigger_event, header.structure
        if not event and header.version == "2.1":  # v2.1's MSH-9 is the type alone; the event is EVN-1
            try:
                code, event, given = message_kind(er7.parse(text))
            except Exception:  # noqa: BLE001 - what the tokeniser refuses, the conversion reports in full
                return
        refused = refusal(mapped, code, event, choose_structure(mapped, code, event, given))
        if refused is not None:
            raise Hl7Rejected(refused.message, hl7_code=refused.hl7_code, location=refused.location)

    def _rejection(
        self,
        raw: bytes,
        transport: str,
        peer: str | None,
        header: MessageHeader | None,
        error: Hl7Error,
        now: datetime,
        place: BatchPlace | None = None,
    ) -> Pending:
        code = ack_code_for_error(header, error)
        ack = build_ack(header, code, error=error) if accept_ack_due(header, code) else None
        log.info(
            "rejected message control id %s type %s: HL7 %s at %s",
            header.control_id[:40] if header else "?",
            header.message_type[:20] if header else "?",
            error.hl7_code,
            error.location,
        )
        return Pending(raw, transport, peer, header, False, ack, code, error, now, place)

    def _result(self, pending: Pending, outcome: Stored | BaseException) -> AckResult:
        header = pending.header
        codec = header.codec if header is not None else "ascii"
        if not pending.accepted:
            # Rejected: the AR stands whether or not the copy for the operator could be stored.
            return AckResult(_encode(pending.ack, codec), pending.ack_code, codec)
        if isinstance(outcome, BaseException):
            transient = isinstance(outcome, (*TRANSIENT_ERRORS, _ShuttingDown))
            error = Hl7Error(
                "the hub cannot store the message now; send it again later"
                if transient
                else "the hub failed to store the message",
                hl7_code="206" if transient else "207",
                location="MSH^1",
            )
            code = "CE" if header is not None and header.enhanced_mode else "AR"
            ack = build_ack(header, code, error=error) if accept_ack_due(header, code) else None
            return AckResult(_encode(ack, codec), code, codec, transient=transient)
        return AckResult(
            _encode(outcome.ack, codec),
            outcome.ack_code,
            codec,
            inbox_id=outcome.inbox_id,
            duplicate=not outcome.new,
            reply=outcome.reply,
        )

    # The writer (event loop side) ----------------------------------------------------------------
    async def _run_writer(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        done = False
        while not done:
            first = await queue.get()
            if first is None:
                break
            batch = [first]
            deadline = loop.time() + self._batch_wait
            while len(batch) < self._batch_max:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        async with asyncio.timeout(remaining):
                            item = await queue.get()
                    except TimeoutError:
                        break
                if item is None:
                    done = True
                    break
                batch.append(item)
            try:
                outcomes = await loop.run_in_executor(self._db_pool, partial(self._store, batch, writer=True))
            except Exception as exc:  # pragma: no cover - _store returns its failures
                log.exception("ingest writer failed")
                outcomes = [exc] * len(batch)
            new_ids: list[int] = []
            for item, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, Stored) and outcome.new and outcome.inbox_id is not None:
                    new_ids.append(outcome.inbox_id)
                future = item.future
                if future is not None and not future.done():
                    future.set_result(self._result(item, outcome))
            stats = self.stats
            stats.batches += 1
            stats.messages += len(batch)
            stats.stored += len(new_ids)
            stats.failed += sum(1 for outcome in outcomes if isinstance(outcome, BaseException))
            if new_ids:
                self._queue_notification(new_ids)

    # The notifier --------------------------------------------------------------------------------
    def _queue_notification(self, ids: list[int]) -> None:
        if self._on_stored is None or self._notify_wakeup is None:
            return
        self._notify_ids.extend(ids)
        excess = len(self._notify_ids) - _MAX_PENDING_NOTIFICATIONS
        if excess > 0:
            del self._notify_ids[:excess]
            log.warning("on_stored is behind; %d inbox ids left to the sweeper", excess)
        self._notify_wakeup.set()

    async def _run_notifier(self) -> None:
        assert self._notify_wakeup is not None
        wakeup = self._notify_wakeup
        loop = asyncio.get_running_loop()
        while True:
            if not self._notify_ids:
                if self._stopping:
                    return
                await wakeup.wait()
                wakeup.clear()
                continue
            ids, self._notify_ids = self._notify_ids, []
            await loop.run_in_executor(self._notify_pool, self._notify, ids)

    def _notify(self, ids: list[int]) -> None:
        if self._on_stored is None:
            return
        try:
            self._on_stored(ids)
        except Exception as exc:
            # A broker outage fails every batch: say so once per interval, with how many were missed.
            self._notify_failures += len(ids)
            now = time.monotonic()
            if now - self._notify_failure_logged >= _NOTIFY_FAILURE_LOG_INTERVAL:
                log.warning(
                    "on_stored failed for %d stored messages since the last report (%s: %.200s); "
                    "the sweeper will enqueue them",
                    self._notify_failures,
                    type(exc).__name__,
                    exc,
                )
                self._notify_failures = 0
                self._notify_failure_logged = now

    # The database (worker thread) ----------------------------------------------------------------
    def _store(self, items: Sequence[Pending], *, writer: bool = False) -> list[Stored | BaseException]:
        """Store messages (:meth:`InboxWriter.store <hub.hl7.inbox_writer.InboxWriter.store>`)."""
        return self._inbox.store(items, writer=writer)
