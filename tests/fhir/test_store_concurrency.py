"""Concurrent writers of one resource, each in its own session and thread: version ids never repeat, no write
is lost, and every committed version has its outbox event. Runs on SQLite and (HUB_TEST_DATABASE_URL) on
PostgreSQL; the interleaving test holds one writer's row lock while the other writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.config import Settings
from hub.db import get_sessionmaker
from hub.db.tables import OutboxEvent, Resource, ResourceVersion
from hub.fhir import store
from tests.fhir.factories import patient


def _retrying(factory: sessionmaker[Session], write: Callable[[Session], store.WriteResult]) -> store.WriteResult:
    """Run one write in its own transaction; retry when SQLite reports the database busy (as tasks do)."""
    for _ in range(50):
        with factory() as session:
            try:
                result = write(session)
                session.commit()
                return result
            except OperationalError:
                session.rollback()
                time.sleep(0.01)
    raise AssertionError("the write never got through")


def _versions(session: Session, rid: str) -> list[int]:
    return list(
        session.execute(
            select(ResourceVersion.version_id).where(ResourceVersion.id == rid).order_by(ResourceVersion.version_id)
        ).scalars()
    )


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()


def test_concurrent_updates_of_one_resource(settings: Settings) -> None:
    factory = get_sessionmaker(settings)
    _retrying(factory, lambda s: store.put(s, patient("p1")))
    writers, writes = 6, 8
    start = threading.Barrier(writers)
    results: list[store.WriteResult] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(writes):
                content = patient("p1", gender="other", multipleBirthInteger=n * 100 + i)
                r = _retrying(factory, lambda s, content=content: store.put(s, dict(content)))
                with lock:
                    results.append(r)
        except BaseException as exc:  # reported below
            errors.append(exc)

    _run([threading.Thread(target=writer, args=(n,)) for n in range(writers)])
    assert not errors
    assert all(r.changed for r in results)
    total = 1 + writers * writes
    assert sorted(r.version_id for r in results) == list(range(2, total + 1))
    with factory() as session:
        assert _versions(session, "p1") == list(range(1, total + 1))
        row = session.get(Resource, ("Patient", "p1"))
        assert row is not None and row.version_id == total
        # The current row holds the content of the last version.
        last = store.vread(session, "Patient", "p1", total)
        assert store.read(session, "Patient", "p1") == last
        events = session.execute(select(OutboxEvent.version_id).where(OutboxEvent.resource_id == "p1")).scalars()
        assert sorted(events) == list(range(1, total + 1))


def test_concurrent_creates_of_one_new_id(settings: Settings) -> None:
    factory = get_sessionmaker(settings)
    writers = 6
    start = threading.Barrier(writers)
    results: list[store.WriteResult] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            start.wait()
            results.append(_retrying(factory, lambda s: store.put(s, patient("new", multipleBirthInteger=n))))
        except BaseException as exc:
            errors.append(exc)

    _run([threading.Thread(target=writer, args=(n,)) for n in range(writers)])
    assert not errors
    assert sorted(r.version_id for r in results) == list(range(1, writers + 1))
    assert [r.event for r in sorted(results, key=lambda r: r.version_id)] == ["create"] + ["update"] * (writers - 1)
    with factory() as session:
        assert _versions(session, "new") == list(range(1, writers + 1))


def test_a_writer_waiting_on_another_retries_on_the_new_version(settings: Settings) -> None:
    """T1 writes version 2 and holds its transaction open; T2 read version 1 and writes meanwhile. T2 must
    end up writing version 3 on top of T1's, not a second version 2."""
    factory = get_sessionmaker(settings)
    _retrying(factory, lambda s: store.put(s, patient("p1")))
    first_written = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with factory() as session:
            outcome["t1"] = store.put(session, patient("p1", gender="female"))
            first_written.set()
            time.sleep(0.5)  # T2 runs into T1's row (PostgreSQL) or write lock (SQLite) meanwhile
            session.commit()

    def second() -> None:
        first_written.wait(10)
        outcome["t2"] = _retrying(factory, lambda s: store.put(s, patient("p1", gender="unknown")))

    _run([threading.Thread(target=first), threading.Thread(target=second)])
    assert outcome["t1"] == store.WriteResult("Patient", "p1", 2, True, "update")
    assert outcome["t2"] == store.WriteResult("Patient", "p1", 3, True, "update")
    with factory() as session:
        assert store.read(session, "Patient", "p1")["gender"] == "unknown"
        assert store.vread(session, "Patient", "p1", 2)["gender"] == "female"
        assert _versions(session, "p1") == [1, 2, 3]


@pytest.mark.postgres
def test_postgres_writer_blocks_then_retries_without_error(settings: Settings) -> None:
    """On PostgreSQL the second writer waits on the row lock and retries inside its own transaction: no
    OperationalError, no retry by the caller."""
    factory = get_sessionmaker(settings)
    with factory() as session:
        store.put(session, patient("p1"))
        session.commit()
    first_written = threading.Event()
    second_started = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with factory() as session:
            store.put(session, patient("p1", gender="female"))
            first_written.set()
            second_started.wait(10)
            time.sleep(0.3)
            session.commit()

    def second() -> None:
        first_written.wait(10)
        with factory() as session:
            second_started.set()
            began = time.monotonic()
            outcome["t2"] = store.put(session, patient("p1", gender="unknown"))
            outcome["waited"] = time.monotonic() - began
            session.commit()

    _run([threading.Thread(target=first), threading.Thread(target=second)])
    assert outcome["t2"] == store.WriteResult("Patient", "p1", 3, True, "update")
    assert isinstance(outcome["waited"], float) and outcome["waited"] > 0.2
