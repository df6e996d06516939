"""Durable receipt of HL7 v2 messages: store, commit, then acknowledge.

Every transport (MLLP, HTTP, the CLI) hands the bytes of one message, or of one batch (FHS/BHS …,
:mod:`hub.hl7.batch`: each of its messages goes the single message's way, and the batch of their ACKs is
made after the last one's commit), to :class:`Ingestor`. The header is read and judged on the caller's
event loop (tens of microseconds); the message then waits in a bounded queue for the one writer task,
which takes whatever is waiting (up to ``ingest_batch_max``, waiting at most ``ingest_batch_wait_ms`` for
more) and stores it with one multi-row INSERT, its own transaction, in a worker thread: a group commit.
Only after the commit are the waiting callers given their ACKs; if the database fails, they get AR (CE in
enhanced mode) with HL7 error 206, so the sender resends.

Dedup: ``INSERT … ON CONFLICT (sending application, facility, control id) DO NOTHING … RETURNING`` tells
the new rows from retransmissions; a retransmission gets the ACK text stored with the first copy
(``inbox.ack``), verbatim, also when both copies are in the same batch.

Rejected messages (unreadable or unusable header, type or version not accepted) are answered AR with an ERR
segment. Those with a readable MSH are kept in ``inbox`` with status ``rejected`` and no dedup key (their
``control_id`` is NULL; MSH-10 is in ``raw``) for the operator; over-size ones and bytes without an MSH are
not stored.

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
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, or_, select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from hub.config import Settings
from hub.db import get_engine
from hub.db.tables import InboxMessage
from hub.errors import Hl7Error, Hl7ParseError, Hl7Rejected
from hub.hl7 import batch
from hub.hl7.ack import accept_ack_due, ack_code_for_error, build_ack, version_tuple
from hub.hl7.header import MessageHeader, check_header, parse_header, salvage_header

log = logging.getLogger(__name__)

OnStored = Callable[[list[int]], None]

_INBOX = cast(Table, InboxMessage.__table__)
_KEY_COLUMNS = (_INBOX.c.sending_application, _INBOX.c.sending_facility, _INBOX.c.control_id)
# The columns each stored message fills, in the order of _Pending.row().
_COLUMNS = (
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
)
_PG_ARRAY_TYPES = {"received_at": "timestamptz", "raw": "bytea", "attempts": "int"}  # the rest: text
_RETURNING = "RETURNING id, sending_application, sending_facility, control_id"
_ON_CONFLICT = "ON CONFLICT (sending_application, sending_facility, control_id) DO NOTHING"
# The MSH of an over-size message is looked for in its first bytes only.
_OVERSIZE_HEADER_BYTES = 65_536
# Ids waiting for on_stored beyond this are dropped (with a warning): the sweeper finds them anyway, and a
# broker outage must not grow the process without bound.
_MAX_PENDING_NOTIFICATIONS = 100_000
_TRANSIENT_ERRORS = (OperationalError, InterfaceError)
_NOTIFY_FAILURE_LOG_INTERVAL = 10.0  # seconds between two reports of on_stored failures

Key = tuple[str, str, str]


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


@dataclass(frozen=True, slots=True)
class _Stored:
    inbox_id: int | None
    ack: str | None
    ack_code: str
    new: bool  # newly stored accepted message (reported to on_stored)


@dataclass(slots=True)
class IngestStats:
    """Counters of the group-commit writer since the ingestor was made (for metrics and the benchmark)."""

    batches: int = 0  # writer batches (each one transaction)
    messages: int = 0  # messages in them (accepted, duplicates and rejected ones)
    stored: int = 0  # newly stored accepted messages
    failed: int = 0  # messages not stored because the database failed


class _ShuttingDown(Exception):
    """The ingestor stopped before the message could be stored."""


_NOT_STORED = _Stored(None, None, "", new=False)


@dataclass(slots=True, eq=False)
class _Pending:
    raw: bytes
    transport: str
    peer: str | None
    header: MessageHeader | None
    accepted: bool  # False: rejected, stored only for the operator
    ack: str | None  # None: no accept ACK due (enhanced mode, MSH-15)
    ack_code: str
    error: Hl7Error | None
    received_at: datetime
    future: asyncio.Future[AckResult] | None = None

    @property
    def key(self) -> Key:
        assert self.header is not None
        return self.header.dedup_key

    def row(self) -> tuple[Any, ...]:
        """The inbox row, in the order of ``_COLUMNS``."""
        h = self.header
        assert h is not None
        app: str | None
        fac: str | None
        control: str | None
        if self.accepted:
            app, fac, control = h.sending_application, h.sending_facility, h.control_id
        else:
            app, fac, control = _clean(h.sending_application, 227), _clean(h.sending_facility, 227), None
        error = self.error
        return (
            self.received_at,
            self.transport[:8],
            _clean(self.peer, 128),
            app,
            fac,
            control,
            _clean(h.message_type, 32),
            _clean(h.structure, 16),
            _clean(h.version, 16),
            _clean(h.codec, 32),
            self.raw,
            _clean(self.ack, None),
            self.ack_code,
            "received" if self.accepted else "rejected",
            _clean(error.message, None) if error is not None else None,
            _clean(error.location, 64) if error is not None else None,
            0,
        )


def _keys_clause(keys: Sequence[Key]) -> ColumnElement[bool]:
    """``application = :a AND facility = :f AND control_id IN (:ids)``, one term per sender.

    The unique index answers each term; a row-value ``(application, facility, control_id) IN (…)`` of several
    rows makes SQLite scan the whole inbox.
    """
    by_sender: dict[tuple[str, str], list[str]] = {}
    for app, fac, control in keys:
        by_sender.setdefault((app, fac), []).append(control)
    app_col, fac_col, control_col = _KEY_COLUMNS
    return or_(
        *(and_(app_col == app, fac_col == fac, control_col.in_(controls)) for (app, fac), controls in by_sender.items())
    )


def _clean(value: str | None, limit: int | None) -> str | None:
    """A value fit for a text column: no NUL (PostgreSQL refuses it), cut to the column size."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value[:limit] if limit is not None else value


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
        self._engine: Engine = get_engine(settings)
        dialect = self._engine.dialect
        if dialect.name not in ("postgresql", "sqlite"):  # pragma: no cover - the hub supports these two
            raise RuntimeError(f"ingestion needs PostgreSQL or SQLite, not {dialect.name}")
        self._postgres = dialect.name == "postgresql"
        # SQLAlchemy's own conversions of the values (e.g. datetimes to text on SQLite); the statements
        # themselves are written for the driver: per row, SQLAlchemy's generic insert costs more CPU than
        # the database does.
        processors = [_INBOX.c[name].type.bind_processor(dialect) for name in _COLUMNS]
        self._processors = [(i, p) for i, p in enumerate(processors) if p is not None]
        columns = ", ".join(_COLUMNS)
        # PostgreSQL: one statement, one parameter per column (an array), whatever the batch size.
        arrays = ", ".join(f"%s::{_PG_ARRAY_TYPES.get(name, 'text')}[]" for name in _COLUMNS)
        self._pg_insert = f"INSERT INTO inbox ({columns}) SELECT * FROM unnest({arrays}) {_ON_CONFLICT} {_RETURNING}"
        self._sqlite_columns = columns
        self._sqlite_inserts: dict[int, str] = {}
        self._batch_max = max(1, settings.ingest_batch_max)
        self._batch_wait = max(0.0, settings.ingest_batch_wait_ms / 1000.0)
        self._queue: asyncio.Queue[_Pending | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._notifier: asyncio.Task[None] | None = None
        self._db_pool: ThreadPoolExecutor | None = None
        self._notify_pool: ThreadPoolExecutor | None = None
        self._notify_ids: list[int] = []
        self._notify_wakeup: asyncio.Event | None = None
        self._accepting = False
        self._stopping = False
        self._closed = False
        self._writer_conn: Connection | None = None
        self._waiting_puts = 0
        self._notify_failures = 0
        self._notify_failure_logged = float("-inf")
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
            await asyncio.get_running_loop().run_in_executor(self._db_pool, self._drop_writer_connection)
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
        loop = asyncio.get_running_loop()
        if batch.is_batch(raw):
            return loop.create_task(self._receive_batch(raw, transport, peer))
        return self._submit_one(raw, transport, peer)

    def _submit_one(self, raw: bytes, transport: str, peer: str | None) -> asyncio.Future[AckResult]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AckResult] = loop.create_future()
        pending = self._prepare(raw, transport, peer)
        if isinstance(pending, AckResult):
            future.set_result(pending)
            return future
        if not pending.accepted and pending.header is None:
            future.set_result(self._result(pending, _NOT_STORED))  # nothing an operator could read: not kept
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

    async def _enqueue_when_room(self, queue: asyncio.Queue[_Pending | None], pending: _Pending) -> None:
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
        if batch.is_batch(raw):
            return self._receive_batch_sync(raw, transport, peer)
        pending = self._prepare(raw, transport, peer)
        if isinstance(pending, AckResult):
            return pending
        if not pending.accepted and pending.header is None:
            return self._result(pending, _NOT_STORED)
        outcome = self._store([pending])[0]
        if isinstance(outcome, _Stored) and outcome.new and outcome.inbox_id is not None:
            self._notify([outcome.inbox_id])
        return self._result(pending, outcome)

    def oversize_ack(self, head: bytes, size: int, *, transport: str, peer: str | None = None) -> AckResult:
        """The AR for a message over ``max_message_bytes``, from its first bytes; nothing is stored.

        Args:
            head: the start of the message (its MSH is read for the ACK, if it is there).
            size: how many bytes of it were seen (more than the limit).
            transport: the transport, for the log.
            peer: the sender's address, for the log.
        """
        if batch.is_batch(head):
            log.info("rejected an over-size batch (%d+ bytes) over %s from %s", size, transport, peer)
            return self._batch_result(batch.refuse_oversize(head[:_OVERSIZE_HEADER_BYTES], self._settings), [])
        header = salvage_header(head[:_OVERSIZE_HEADER_BYTES])
        error = Hl7Rejected(
            f"the message is larger than the {self._settings.max_message_bytes} bytes accepted",
            hl7_code=_too_long_code(header),
            location="MSH^1",
        )
        log.info("rejected an over-size message (%d+ bytes) over %s from %s", size, transport, peer)
        pending = self._rejection(b"", transport, peer, header, error, datetime.now(UTC))
        return self._result(pending, _NOT_STORED)

    # Batches (hub.hl7.batch): each message received as a single one, the answer after the last commit ---
    async def _receive_batch(self, raw: bytes, transport: str, peer: str | None) -> AckResult:
        try:
            envelope = batch.read(raw, self._settings)
        except batch.BatchRefused as exc:
            return self._batch_refused(exc, transport, peer)
        futures = [[self._submit_one(m, transport, peer) for m in b.messages] for b in envelope.batches]
        outcomes = [[await future for future in batch_futures] for batch_futures in futures]
        return self._batch_answer(envelope, outcomes, transport, peer)

    def _receive_batch_sync(self, raw: bytes, transport: str, peer: str | None) -> AckResult:
        try:
            envelope = batch.read(raw, self._settings)
        except batch.BatchRefused as exc:
            return self._batch_refused(exc, transport, peer)
        prepared = [[self._prepare(m, transport, peer) for m in b.messages] for b in envelope.batches]
        storable = [p for ps in prepared for p in ps if isinstance(p, _Pending) and p.header is not None]
        stored = dict(zip(map(id, storable), self._store(storable) if storable else [], strict=True))  # one commit
        new_ids = [o.inbox_id for o in stored.values() if isinstance(o, _Stored) and o.new and o.inbox_id is not None]
        if new_ids:
            self._notify(new_ids)
        outcomes = [
            [p if isinstance(p, AckResult) else self._result(p, stored.get(id(p), _NOT_STORED)) for p in ps]
            for ps in prepared
        ]
        return self._batch_answer(envelope, outcomes, transport, peer)

    def _batch_answer(
        self, envelope: batch.Envelope, outcomes: list[list[AckResult]], transport: str, peer: str | None
    ) -> AckResult:
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
        return self._batch_result(reply, flat)

    def _batch_refused(self, exc: batch.BatchRefused, transport: str, peer: str | None) -> AckResult:
        log.info("refused a batch over %s from %s: HL7 %s at %s", transport, peer, exc.hl7_code, exc.location)
        return self._batch_result(batch.refuse(exc.envelope, exc, self._settings), [])

    @staticmethod
    def _batch_result(reply: batch.Reply, parts: list[AckResult]) -> AckResult:
        transient = any(p.transient for p in parts)
        return AckResult(reply.data, reply.code, reply.codec, transient=transient, parts=tuple(parts))

    # Reading and judging (on the caller's loop) --------------------------------------------------
    def _prepare(self, raw: bytes, transport: str, peer: str | None) -> _Pending | AckResult:
        now = datetime.now(UTC)
        settings = self._settings
        if len(raw) > settings.max_message_bytes:
            return self.oversize_ack(raw, len(raw), transport=transport, peer=peer)
        try:
            header, _text = parse_header(raw, settings)
        except Hl7Error as exc:
            return self._rejection(raw, transport, peer, salvage_header(raw), exc, now)
        except Exception as exc:  # a reader bug must cost one AR, never the listener
            log.warning("unreadable message header (%s)", type(exc).__name__)
            error = Hl7ParseError("the message header cannot be read", hl7_code="100", location="MSH^1")
            return self._rejection(raw, transport, peer, salvage_header(raw), error, now)
        try:
            check_header(header, settings)
        except Hl7Error as exc:
            return self._rejection(raw, transport, peer, header, exc, now)
        code = "CA" if header.enhanced_mode else "AA"
        ack = build_ack(header, code) if accept_ack_due(header, code) else None
        return _Pending(raw, transport, peer, header, True, ack, code, None, now)

    def _rejection(
        self,
        raw: bytes,
        transport: str,
        peer: str | None,
        header: MessageHeader | None,
        error: Hl7Error,
        now: datetime,
    ) -> _Pending:
        code = ack_code_for_error(header, error)
        ack = build_ack(header, code, error=error) if accept_ack_due(header, code) else None
        log.info(
            "rejected message control id %s type %s: HL7 %s at %s",
            header.control_id[:40] if header else "?",
            header.message_type[:20] if header else "?",
            error.hl7_code,
            error.location,
        )
        return _Pending(raw, transport, peer, header, False, ack, code, error, now)

    def _result(self, pending: _Pending, outcome: _Stored | BaseException) -> AckResult:
        header = pending.header
        codec = header.codec if header is not None else "ascii"
        if not pending.accepted:
            # Rejected: the AR stands whether or not the copy for the operator could be stored.
            return AckResult(_encode(pending.ack, codec), pending.ack_code, codec)
        if isinstance(outcome, BaseException):
            transient = isinstance(outcome, (*_TRANSIENT_ERRORS, _ShuttingDown))
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
            _encode(outcome.ack, codec), outcome.ack_code, codec, inbox_id=outcome.inbox_id, duplicate=not outcome.new
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
                if isinstance(outcome, _Stored) and outcome.new and outcome.inbox_id is not None:
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
    #
    # Each batch is one multi-row ``INSERT … ON CONFLICT DO NOTHING … RETURNING`` run in autocommit mode:
    # the statement is its own transaction, durable when it returns, which saves the BEGIN and COMMIT
    # round trips (on a 2-core machine a thread coming back from I/O may wait milliseconds for the GIL,
    # so every round trip counts). The writer keeps one connection checked out. Nothing is acknowledged
    # before every statement of its batch has returned; a batch that fails after a first statement
    # succeeded is answered AR, and the resend is recognised by the dedup key, so no message is lost or
    # stored twice either way.
    def _writer_connection(self) -> tuple[Connection, bool]:
        conn = self._writer_conn
        if conn is not None and not conn.closed and not conn.invalidated:
            return conn, False
        conn = self._engine.connect()
        if self._postgres:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        self._writer_conn = conn
        return conn, True

    def _drop_writer_connection(self) -> None:
        conn, self._writer_conn = self._writer_conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing a broken connection
                log.debug("closing the ingest connection failed", exc_info=True)

    def _store(self, items: Sequence[_Pending], *, writer: bool = False) -> list[_Stored | BaseException]:
        """Store messages; one result per item, failures as exception objects.

        Args:
            items: the batch.
            writer: use the writer thread's long-lived connection (else a connection of its own).
        """
        for attempt in (1, 2):
            fresh = True
            try:
                if writer:
                    conn, fresh = self._writer_connection()
                    return self._store_batch(items, conn)
                with self._engine.connect() as conn:
                    if self._postgres:
                        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                    return self._store_batch(items, conn)
            except _TRANSIENT_ERRORS as exc:
                if writer:
                    self._drop_writer_connection()
                if attempt == 1 and not fresh:
                    continue  # a pooled connection gone stale (database restarted): once more, on a new one
                log.warning("cannot store %d messages: database unavailable (%s)", len(items), type(exc).__name__)
                return [exc] * len(items)
            except SQLAlchemyError as exc:
                if writer:
                    self._drop_writer_connection()  # and with it any failed transaction
                if len(items) == 1:
                    log.error("cannot store a message (%s)", type(exc).__name__)
                    return [exc]
                break
            except Exception as exc:
                if writer:
                    self._drop_writer_connection()
                log.exception("unexpected failure storing %d messages", len(items))
                return [exc] * len(items)
        # One row the database refuses must not fail its neighbours: store them one by one.
        log.warning("batch of %d messages failed; storing them one by one", len(items))
        results: list[_Stored | BaseException] = []
        for item in items:
            results.extend(self._store([item], writer=writer))
        return results

    def _store_batch(self, items: Sequence[_Pending], conn: Connection) -> list[_Stored | BaseException]:
        first_of: dict[Key, _Pending] = {}
        rows: list[tuple[Any, ...]] = []
        for item in items:
            if item.accepted:
                key = item.key
                if key not in first_of:
                    first_of[key] = item
                    rows.append(item.row())
            elif item.header is not None:
                rows.append(item.row())  # rejected: control_id NULL, never a conflict
        if self._processors:
            rows = [self._process(row) for row in rows]
        inserted: dict[Key, int] = {}
        if rows:
            for row_id, app, fac, control in self._insert(conn, rows):
                if control is not None:
                    inserted[(app, fac, control)] = row_id
        missing = [key for key in first_of if key not in inserted]
        existing: dict[Key, tuple[int, str | None, str]] = {}
        for start in range(0, len(missing), 200):
            query = select(_INBOX.c.id, *_KEY_COLUMNS, _INBOX.c.ack, _INBOX.c.ack_code).where(
                _keys_clause(missing[start : start + 200])
            )
            for row in conn.execute(query):
                existing[(row[1], row[2], row[3])] = (row[0], row[4], row[5] or "AA")
        if not self._postgres and conn.in_transaction():
            conn.commit()
        if len(existing) != len(missing):
            raise _LostRow("a conflicting inbox row disappeared")
        results: list[_Stored | BaseException] = []
        for item in items:
            if not item.accepted:
                results.append(_Stored(None, item.ack, item.ack_code, new=False))
                continue
            key = item.key
            first = first_of[key]
            if key in inserted:
                results.append(_Stored(inserted[key], first.ack, first.ack_code, new=item is first))
            else:
                inbox_id, ack, code = existing[key]
                results.append(_Stored(inbox_id, ack, code, new=False))
        return results

    def _process(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for i, processor in self._processors:
            values[i] = processor(values[i])
        return tuple(values)

    def _insert(self, conn: Connection, rows: list[tuple[Any, ...]]) -> list[tuple[int, str, str, str | None]]:
        """Insert the rows, skipping dedup-key conflicts; the (id, key) of each row inserted."""
        if self._postgres:
            columns = tuple(list(values) for values in zip(*rows, strict=True))
            return [tuple(r) for r in conn.exec_driver_sql(self._pg_insert, columns).all()]
        # SQLite: multi-row VALUES in chunks of power-of-two sizes (a handful of distinct statements for
        # the driver's statement cache), all in the one transaction the caller commits.
        returned: list[tuple[int, str, str, str | None]] = []
        start = 0
        while start < len(rows):
            size = min(512, 1 << ((len(rows) - start).bit_length() - 1))
            chunk = rows[start : start + size]
            start += size
            params = tuple(value for row in chunk for value in row)
            returned.extend(tuple(r) for r in conn.exec_driver_sql(self._sqlite_insert(size), params).all())
        return returned

    def _sqlite_insert(self, size: int) -> str:
        statement = self._sqlite_inserts.get(size)
        if statement is None:
            one = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
            values = ", ".join([one] * size)
            statement = f"INSERT INTO inbox ({self._sqlite_columns}) VALUES {values} {_ON_CONFLICT} {_RETURNING}"
            self._sqlite_inserts[size] = statement
        return statement


class _LostRow(SQLAlchemyError):
    """A retransmission's first copy was not found after its insert conflicted (deleted meanwhile)."""
