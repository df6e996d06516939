"""The core's tables. Services own their tables in their own metadata; these are the hub's.

inbox            every HL7 v2 message as received (bytes kept), its ACK, and its conversion status
resource         the current version of every FHIR resource
resource_version every version of every resource (history, vread)
search_*         the search index of the current versions, one narrow table per parameter type
outbox           one event per changed resource, written in the same transaction, for services to react
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Autoincrementing 64-bit keys on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _bytewise(length: int) -> String:
    """A string column compared byte by byte on PostgreSQL too (collation "C"), as SQLite's BINARY does.

    The string search index matches prefixes with ``value >= p AND value < p || U+10FFFF`` (an index range
    scan on both databases); that is only right when the column orders by code point.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class InboxMessage(Base):
    """One received HL7 v2 message.

    status: ``received`` (stored and ACKed, waiting for conversion) → ``converted`` | ``failed``;
    ``rejected`` for a message answered AR that is kept for the operator (no dedup key).
    """

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    transport: Mapped[str] = mapped_column(String(8))  # mllp | http | cli
    peer: Mapped[str | None] = mapped_column(String(128))
    sending_application: Mapped[str | None] = mapped_column(String(227))
    sending_facility: Mapped[str | None] = mapped_column(String(227))
    control_id: Mapped[str | None] = mapped_column(String(199))
    message_type: Mapped[str | None] = mapped_column(String(32))  # MSH-9.1^MSH-9.2, e.g. ADT^A01
    structure: Mapped[str | None] = mapped_column(String(16))  # MSH-9.3 or derived, e.g. ADT_A01
    version: Mapped[str | None] = mapped_column(String(16))
    charset: Mapped[str | None] = mapped_column(String(32))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    ack: Mapped[str | None] = mapped_column(Text)  # the ACK as sent, re-sent verbatim to a retransmission
    ack_code: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(12), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    error_location: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    converted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resource_count: Mapped[int | None] = mapped_column(Integer)
    # the conversion report as a JSON list (unmapped local codes, flagged identifiers, elements left out for an
    # invalid value: where and why, never patient data); NULL before conversion or when there was nothing to say
    report: Mapped[str | None] = mapped_column(Text)
    # The batch the message came in (NULL for a message sent alone): FHS-11 and BHS-11 as sent, and its place in
    # that batch (1 = first). A retransmission is not stored again, so the row keeps the batch that first brought it.
    file_control_id: Mapped[str | None] = mapped_column(String(199))
    batch_control_id: Mapped[str | None] = mapped_column(String(199))
    batch_position: Mapped[int | None] = mapped_column(Integer)
    # The hub's answer that carried the message's ACK: FHS-11 and BHS-11 of its batch of ACKs (NULL for a message
    # sent alone, whose ACK is in `ack`, and for one that had no ACK due); stored with the row, before the answer.
    reply_file_control_id: Mapped[str | None] = mapped_column(String(199))
    reply_batch_control_id: Mapped[str | None] = mapped_column(String(199))

    __table_args__ = (
        UniqueConstraint("sending_application", "sending_facility", "control_id", name="uq_inbox_sender_control"),
        Index("ix_inbox_status_id", "status", "id"),
        # `hub inbox --batch ID`; partial, so that the messages sent alone (most of them) cost no index entry
        Index(
            "ix_inbox_batch_control_id",
            "batch_control_id",
            sqlite_where=text("batch_control_id IS NOT NULL"),
            postgresql_where=text("batch_control_id IS NOT NULL"),
        ),
        Index(
            "ix_inbox_file_control_id",
            "file_control_id",
            sqlite_where=text("file_control_id IS NOT NULL"),
            postgresql_where=text("file_control_id IS NOT NULL"),
        ),
        Index(
            "ix_inbox_reply_batch_control_id",
            "reply_batch_control_id",
            sqlite_where=text("reply_batch_control_id IS NOT NULL"),
            postgresql_where=text("reply_batch_control_id IS NOT NULL"),
        ),
        Index(
            "ix_inbox_reply_file_control_id",
            "reply_file_control_id",
            sqlite_where=text("reply_file_control_id IS NOT NULL"),
            postgresql_where=text("reply_file_control_id IS NOT NULL"),
        ),
    )


class Resource(Base):
    """The current version of a FHIR resource (``content`` is the JSON text, meta included)."""

    __tablename__ = "resource"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    # _lastUpdated searches and type history.
    __table_args__ = (Index("ix_resource_type_updated", "resource_type", "last_updated"),)


class ResourceVersion(Base):
    """Every version of every resource, for history and vread."""

    __tablename__ = "resource_version"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_updated: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    content: Mapped[str | None] = mapped_column(Text)  # None for a delete
    method: Mapped[str] = mapped_column(String(8))  # POST | PUT | DELETE
    source_inbox_id: Mapped[int | None] = mapped_column(BigId)

    __table_args__ = (Index("ix_resource_version_type_updated", "resource_type", "last_updated"),)


class SearchToken(Base):
    __tablename__ = "search_token"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_search_token_lookup", "resource_type", "param", "code", "system", "resource_id"),
        Index("ix_search_token_owner", "resource_type", "resource_id"),
    )


class SearchString(Base):
    __tablename__ = "search_string"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(_bytewise(512))  # normalised: case folded, accents removed
    exact: Mapped[str | None] = mapped_column(_bytewise(512))  # as written (for :exact)

    __table_args__ = (
        Index("ix_search_string_lookup", "resource_type", "param", "value", "resource_id"),
        Index("ix_search_string_owner", "resource_type", "resource_id"),
    )


class SearchDate(Base):
    __tablename__ = "search_date"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    low: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # inclusive
    high: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # exclusive

    __table_args__ = (
        Index("ix_search_date_lookup", "resource_type", "param", "low", "high", "resource_id"),
        Index("ix_search_date_owner", "resource_type", "resource_id"),
    )


class SearchReference(Base):
    __tablename__ = "search_reference"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_search_reference_lookup", "resource_type", "param", "target_id", "target_type", "resource_id"),
        Index("ix_search_reference_owner", "resource_type", "resource_id"),
    )


class SearchQuantity(Base):
    __tablename__ = "search_quantity"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    value: Mapped[Decimal | None] = mapped_column(Numeric(asdecimal=True))
    system: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_search_quantity_lookup", "resource_type", "param", "code", "value", "resource_id"),
        Index("ix_search_quantity_owner", "resource_type", "resource_id"),
    )


class SearchIndexState(Base):
    """The search parameters each type's index rows were built with (``hub.fhir.index_state``)."""

    __tablename__ = "search_index_state"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    indexed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxEvent(Base):
    """One change of one resource, for the services and outbound deliveries (dispatched after commit)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(8))  # create | update | delete
    inbox_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("inbox.id"))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "id"),)
