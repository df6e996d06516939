"""The Alembic migrations on a database of their own (SQLite, and PostgreSQL when the suite has one): an
existing inbox upgraded to the batch columns (0006), what ingestion then writes, the way back down, and the
migrated schema against the declared tables."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from hub.config import Settings
from hub.db import dispose_engines, get_engine, upgrade
from hub.db.migrate import alembic_config
from hub.db.tables import Base
from hub.hl7.ingest import Ingestor
from tests.conftest import TEST_DATABASE_URL
from tests.support.batches import adt, nightly, oru, wrap

BATCH_COLUMNS = {"file_control_id", "batch_control_id", "batch_position"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def blank(request, settings: Settings, tmp_path) -> Iterator[Settings]:
    """Settings on an empty database (no tables at all), dropped afterwards."""
    if request.param == "sqlite":
        yield settings.model_copy(update={"database_url": f"sqlite:///{(tmp_path / 'migrations.db').as_posix()}"})
        dispose_engines()
        return
    url = make_url(TEST_DATABASE_URL)
    name = f"hub_migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield settings.model_copy(update={"database_url": url.set(database=name).render_as_string(False)})
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _columns(settings: Settings) -> set[str]:
    return {c["name"] for c in inspect(get_engine(settings)).get_columns("inbox")}


def test_0006_adds_the_batch_columns_to_an_existing_inbox(blank):
    from alembic import command

    upgrade(blank, "0005")
    engine = get_engine(blank)
    with engine.begin() as conn:  # a message stored before the upgrade
        conn.execute(
            text(
                "INSERT INTO inbox (received_at, transport, sending_application, sending_facility, control_id,"
                " raw, status, attempts) VALUES (:at, 'mllp', 'HIS', 'SZ_PEOPLES_2', 'NR0315001', :raw, 'converted', 0)"
            ),
            {
                "at": datetime(2026, 3, 15, 23, 0, tzinfo=UTC),
                "raw": adt("NR0315001", mrn="0012873", family="Chen", given="Zhiqiang").encode(),
            },
        )
    assert not _columns(blank) & BATCH_COLUMNS

    upgrade(blank, "head")
    assert BATCH_COLUMNS <= _columns(blank)
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("inbox")}
    assert indexes["ix_inbox_batch_control_id"] == ["batch_control_id"]
    assert indexes["ix_inbox_file_control_id"] == ["file_control_id"]
    query = text("SELECT control_id, file_control_id, batch_control_id, batch_position FROM inbox ORDER BY id")
    with engine.connect() as conn:
        assert conn.execute(query).all() == [("NR0315001", None, None, None)]  # the old row: sent alone

    # Ingestion on the upgraded database fills them.
    result = Ingestor(blank).receive_ack_sync(wrap(nightly()).encode(), transport="cli")
    assert [p.code for p in result.parts] == ["AA"] * 3
    with engine.connect() as conn:
        assert conn.execute(query).all()[1:] == [
            ("NR0316001", "F20260316", "B20260316", 1),
            ("NR0316002", "F20260316", "B20260316", 2),
            ("NR0316003", "F20260316", "B20260316", 3),
        ]

    # Down and up again: the messages stay, the batch columns go and come back empty.
    dispose_engines()
    command.downgrade(alembic_config(blank), "0005")
    assert not _columns(blank) & BATCH_COLUMNS
    upgrade(blank, "head")
    with get_engine(blank).connect() as conn:
        rows = conn.execute(query).all()
    assert [r[0] for r in rows] == ["NR0315001", "NR0316001", "NR0316002", "NR0316003"]
    assert {r[1:] for r in rows} == {(None, None, None)}


def test_the_migrated_inbox_is_the_declared_one(blank):
    upgrade(blank, "head")
    with get_engine(blank).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    inbox = [d for d in diffs if "inbox" in repr(d)]
    assert inbox == []


REPLY_COLUMNS = {"reply_file_control_id", "reply_batch_control_id"}


def test_0007_adds_the_answer_columns_to_an_existing_inbox(blank):
    from alembic import command

    upgrade(blank, "0006")
    engine = get_engine(blank)
    with engine.begin() as conn:  # a message of a batch stored before the upgrade: the answer to it was not kept
        conn.execute(
            text(
                "INSERT INTO inbox (received_at, transport, sending_application, sending_facility, control_id,"
                " raw, status, attempts, file_control_id, batch_control_id, batch_position)"
                " VALUES (:at, 'mllp', 'LIS', 'SZ_PEOPLES_2', 'NR0316002', :raw, 'converted', 0, 'F20260316',"
                " 'B20260316', 2)"
            ),
            {
                "at": datetime(2026, 3, 16, 2, 0, tzinfo=UTC),
                "raw": oru("NR0316002", mrn="0045190", family="Wang", given="Xiuying").encode(),
            },
        )
    assert not _columns(blank) & REPLY_COLUMNS

    upgrade(blank, "head")
    assert REPLY_COLUMNS <= _columns(blank)
    indexes = {i["name"]: i["column_names"] for i in inspect(engine).get_indexes("inbox")}
    assert indexes["ix_inbox_reply_batch_control_id"] == ["reply_batch_control_id"]
    assert indexes["ix_inbox_reply_file_control_id"] == ["reply_file_control_id"]
    query = text("SELECT control_id, batch_control_id, reply_file_control_id, reply_batch_control_id FROM inbox")
    with engine.connect() as conn:
        assert conn.execute(query).all() == [("NR0316002", "B20260316", None, None)]

    # Ingestion on the upgraded database fills them with the ids its answer carries.
    night = wrap(nightly(("NR0317001", "NR0317002", "NR0317003")), batch_id="B20260317", file_id="F20260317")
    reply = Ingestor(blank).receive_ack_sync(night.encode(), transport="cli")
    bhs = next(line for line in reply.data.decode().split("\r") if line.startswith("BHS")).split("|")
    fhs = next(line for line in reply.data.decode().split("\r") if line.startswith("FHS")).split("|")
    with engine.connect() as conn:
        rows = conn.execute(text(f"{query.text} WHERE control_id LIKE 'NR0317%'")).all()
    assert {r[2:] for r in rows} == {(fhs[10], bhs[10])} and len(rows) == 3

    dispose_engines()
    command.downgrade(alembic_config(blank), "0006")
    assert not _columns(blank) & REPLY_COLUMNS
    assert "ix_inbox_reply_batch_control_id" not in {i["name"] for i in inspect(get_engine(blank)).get_indexes("inbox")}
    dispose_engines()
    upgrade(blank, "head")
    with get_engine(blank).connect() as conn:
        assert len(conn.execute(query).all()) == 4
