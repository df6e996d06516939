"""The inbox writer: stores received messages in ``inbox``, several in one statement, and tells new rows from
retransmissions (the dedup key is sending application, facility and control id).

Each batch is one multi-row ``INSERT … ON CONFLICT DO NOTHING … RETURNING`` run in autocommit mode:
the statement is its own transaction, durable when it returns, which saves the BEGIN and COMMIT
round trips (on a 2-core machine a thread coming back from I/O may wait milliseconds for the GIL,
so every round trip counts). The writer keeps one connection checked out. Nothing is acknowledged
before every statement of its batch has returned; a batch that fails after a first statement
succeeded is answered AR, and the resend is recognised by the dedup key, so no message is lost or
stored twice either way.

The ingestor (:mod:`hub.hl7.ingest`) calls it from one worker thread; it never touches the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, or_, select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from hub.db.tables import InboxMessage
from hub.hl7.receipt import INBOX_COLUMNS, Key, Pending, ReplyIds, Stored

# The ingestion's log lines keep one logger, whichever module writes them.
log = logging.getLogger("hub.hl7.ingest")

_INBOX = cast(Table, InboxMessage.__table__)
_KEY_COLUMNS = (_INBOX.c.sending_application, _INBOX.c.sending_facility, _INBOX.c.control_id)
_PG_ARRAY_TYPES = {
    "received_at": "timestamptz",
    "raw": "bytea",
    "attempts": "int",
    "batch_position": "int",
}  # the rest: text
_RETURNING = "RETURNING id, sending_application, sending_facility, control_id"
_ON_CONFLICT = "ON CONFLICT (sending_application, sending_facility, control_id) DO NOTHING"
# Failures of the database itself (down, restarting, unreachable): the sender should resend.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


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


class InboxWriter:
    """Stores messages in ``inbox`` on one engine (PostgreSQL or SQLite).

    Args:
        engine: the hub's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect
        if dialect.name not in ("postgresql", "sqlite"):  # pragma: no cover - the hub supports these two
            raise RuntimeError(f"ingestion needs PostgreSQL or SQLite, not {dialect.name}")
        self._postgres = dialect.name == "postgresql"
        # SQLAlchemy's own conversions of the values (e.g. datetimes to text on SQLite); the statements
        # themselves are written for the driver: per row, SQLAlchemy's generic insert costs more CPU than
        # the database does.
        processors = [_INBOX.c[name].type.bind_processor(dialect) for name in INBOX_COLUMNS]
        self._processors = [(i, p) for i, p in enumerate(processors) if p is not None]
        columns = ", ".join(INBOX_COLUMNS)
        # PostgreSQL: one statement, one parameter per column (an array), whatever the batch size.
        arrays = ", ".join(f"%s::{_PG_ARRAY_TYPES.get(name, 'text')}[]" for name in INBOX_COLUMNS)
        self._pg_insert = f"INSERT INTO inbox ({columns}) SELECT * FROM unnest({arrays}) {_ON_CONFLICT} {_RETURNING}"
        self._sqlite_columns = columns
        self._sqlite_inserts: dict[int, str] = {}
        self.connection: Connection | None = None  # the writer thread's long-lived connection

    def _writer_connection(self) -> tuple[Connection, bool]:
        conn = self.connection
        if conn is not None and not conn.closed and not conn.invalidated:
            return conn, False
        conn = self._engine.connect()
        if self._postgres:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        self.connection = conn
        return conn, True

    def drop_connection(self) -> None:
        """Close the writer connection (after a failure, and when the ingestor stops)."""
        conn, self.connection = self.connection, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing a broken connection
                log.debug("closing the ingest connection failed", exc_info=True)

    def store(self, items: Sequence[Pending], *, writer: bool = False) -> list[Stored | BaseException]:
        """Store messages; one result per item, failures as exception objects.

        Args:
            items: the batch.
            writer: use the writer thread's long-lived connection (else a connection of its own).

        Returns:
            For each item, what was stored (the first copy's row for a retransmission) or the exception.
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
            except TRANSIENT_ERRORS as exc:
                if writer:
                    self.drop_connection()
                if attempt == 1 and not fresh:
                    continue  # a pooled connection gone stale (database restarted): once more, on a new one
                log.warning("cannot store %d messages: database unavailable (%s)", len(items), type(exc).__name__)
                return [exc] * len(items)
            except SQLAlchemyError as exc:
                if writer:
                    self.drop_connection()  # and with it any failed transaction
                if len(items) == 1:
                    log.error("cannot store a message (%s)", type(exc).__name__)
                    return [exc]
                break
            except Exception as exc:
                if writer:
                    self.drop_connection()
                log.exception("unexpected failure storing %d messages", len(items))
                return [exc] * len(items)
        # One row the database refuses must not fail its neighbours: store them one by one.
        log.warning("batch of %d messages failed; storing them one by one", len(items))
        results: list[Stored | BaseException] = []
        for item in items:
            results.extend(self.store([item], writer=writer))
        return results

    def _store_batch(self, items: Sequence[Pending], conn: Connection) -> list[Stored | BaseException]:
        first_of: dict[Key, Pending] = {}
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
        existing: dict[Key, tuple[int, str | None, str, ReplyIds]] = {}
        for start in range(0, len(missing), 200):
            query = select(
                _INBOX.c.id,
                *_KEY_COLUMNS,
                _INBOX.c.ack,
                _INBOX.c.ack_code,
                _INBOX.c.reply_file_control_id,
                _INBOX.c.reply_batch_control_id,
            ).where(_keys_clause(missing[start : start + 200]))
            for row in conn.execute(query):
                existing[(row[1], row[2], row[3])] = (row[0], row[4], row[5] or "AA", (row[6], row[7]))
        if not self._postgres and conn.in_transaction():
            conn.commit()
        if len(existing) != len(missing):
            raise _LostRow("a conflicting inbox row disappeared")
        results: list[Stored | BaseException] = []
        for item in items:
            if not item.accepted:
                results.append(Stored(None, item.ack, item.ack_code, new=False))
                continue
            key = item.key
            first = first_of[key]
            if key in inserted:
                results.append(Stored(inserted[key], first.ack, first.ack_code, new=item is first, reply=first.reply))
            else:
                inbox_id, ack, code, reply = existing[key]
                results.append(Stored(inbox_id, ack, code, new=False, reply=reply))
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
            one = "(" + ", ".join("?" * len(INBOX_COLUMNS)) + ")"
            values = ", ".join([one] * size)
            statement = f"INSERT INTO inbox ({self._sqlite_columns}) VALUES {values} {_ON_CONFLICT} {_RETURNING}"
            self._sqlite_inserts[size] = statement
        return statement


class _LostRow(SQLAlchemyError):
    """A retransmission's first copy was not found after its insert conflicted (deleted meanwhile)."""
