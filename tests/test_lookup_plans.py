"""The per-message lookups find their rows through an index, whatever the number of keys.

A row-value ``(a, b) IN ((…), (…))`` of two or more rows makes SQLite scan the whole table; the conversion's
read of the stored versions and ingestion's dedup read ran that way, so every message cost a scan of every
resource (resp. every inbox row) ever stored. These tests catch the statements as they run and ask SQLite for
their plans. PostgreSQL plans depend on table statistics (a scan of a small table is right), so the plan check
is SQLite's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.conversion import CONVERTED, _stored, convert_message
from hub.db import get_engine
from hub.hl7.ingest import Ingestor
from tests.support.inbox import receive

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MESSAGE = (
    "MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A01^ADT_A01|{control}|P|2.5.1\r"
    "EVN|A01|20260315083000\r"
    "PID|1||{mrn}^^^SZRMYY^MR||张三||19800101|M\r"
    "NK1|1|李四|SPO^配偶^HL70063\r"
    "PV1|1|I|内科^301^2||||D001^王^五|||MED||||||||||V{mrn}^^^SZRMYY^VN\r"
)


def _sqlite_only(settings: Settings) -> None:
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("query plans are checked on SQLite (PostgreSQL's depend on table statistics)")


@contextmanager
def _statements(settings: Settings, table: str) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT statements on ``table`` executed inside the block, with their parameters."""
    caught: list[tuple[str, Any]] = []
    engine = get_engine(settings)

    def catch(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and f"FROM {table}" in statement and not many:
            caught.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        yield caught
    finally:
        event.remove(engine, "before_cursor_execute", catch)


def _plan(session: Session, statement: str, parameters: Any) -> str:
    rows = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def _receive(session: Session, control: str, mrn: str) -> int:
    return receive(session, MESSAGE.format(control=control, mrn=mrn))


def test_reading_the_stored_versions_uses_the_primary_key(settings: Settings, session: Session) -> None:
    _sqlite_only(settings)
    for n in range(30):  # rows enough that a scan is a real choice for the planner
        inbox_id = _receive(session, f"C{n:03d}", f"MRN{n:03d}")
        assert convert_message(session, inbox_id, settings).status == CONVERTED
    session.commit()
    session.execute(text("ANALYZE"))
    keys = {("Patient", "p1"), ("Patient", "p2"), ("Encounter", "e1"), ("RelatedPerson", "r1")}
    with _statements(settings, "resource") as caught:
        _stored(session, keys, lock=False)
        inbox_id = _receive(session, "C999", "MRN999")
        assert convert_message(session, inbox_id, settings).status == CONVERTED
    content_reads = [(s, p) for s, p in caught if "content" in s.split("FROM")[0]]
    assert content_reads, "the conversion read no stored content"
    for statement, parameters in content_reads:
        plan = _plan(session, statement, parameters)
        assert "SCAN resource" not in plan, plan
        assert "USING INDEX" in plan or "PRIMARY KEY" in plan, plan


def test_a_batch_with_retransmissions_finds_the_first_copies_by_the_unique_index(settings: Settings) -> None:
    _sqlite_only(settings)
    ingestor = Ingestor(settings, on_stored=None)
    first = [MESSAGE.format(control=f"R{n:03d}", mrn=f"M{n:03d}").encode("utf-8") for n in range(20)]
    for raw in first:
        assert ingestor.receive_ack_sync(raw, transport="cli").code == "AA"
    with get_engine(settings).begin() as conn:
        conn.execute(text("ANALYZE"))
    # the writer's batch: five retransmissions stored together, as a burst from one sender arrives
    pending = [ingestor._prepare(raw, "cli", None) for raw in first[:5]]
    with _statements(settings, "inbox") as caught:
        outcomes = ingestor._store(pending)  # type: ignore[arg-type]
    assert [getattr(o, "new", None) for o in outcomes] == [False] * 5
    dedup = [(s, p) for s, p in caught if "control_id IN" in " ".join(s.split())]
    assert dedup, [s for s, _ in caught]
    with get_engine(settings).connect() as conn:
        for statement, parameters in dedup:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "SCAN inbox" not in plan, plan
