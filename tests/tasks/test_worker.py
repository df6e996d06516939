"""The conversion pipeline through a real `hub worker` on the configured broker.

The broker is the embedded transport (SQLite) unless HUB_TEST_BROKER_URL names Redis or RabbitMQ, as in CI's
second and third runs; each test has a queue of its own (HUB_TASK_QUEUE), so workers of other runs sharing the
broker never take its tasks.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from hub.config import Settings
from hub.db import get_sessionmaker
from hub.db.tables import InboxMessage
from hub.fhir import store
from hub.hl7.ingest import Ingestor
from hub.tasks import enqueue_conversion
from hub.tasks.jobs import sweep
from tests.support.messages import adt_a01, oru_r01

pytestmark = pytest.mark.slow


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATA_DIR=str(settings.data_dir),
        HUB_DATABASE_URL=settings.database_url,
        HUB_BROKER_URL=settings.broker_url,
        HUB_TASK_QUEUE=settings.task_queue,
    )
    return env


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "worker", "--concurrency", "1", "--log-level", "warning"],
        env=_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


def _store(settings: Settings, *messages: str) -> list[int]:
    ingestor = Ingestor(settings, on_stored=None)
    for message in messages:
        ack = ingestor.receive_sync(message.encode(), transport="cli")
        assert b"MSA|AA|" in ack or b"MSA|AR||MSH-9" in ack, ack
    with get_sessionmaker(settings)() as session:
        return sorted(session.execute(select(InboxMessage.id)).scalars())


def _wait_for(settings: Settings, ids: list[int], timeout: float = 90.0) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        with get_sessionmaker(settings)() as session:
            rows = dict(session.execute(select(InboxMessage.id, InboxMessage.status)).all())
        statuses = {i: rows[i] for i in ids}
        if all(s != "received" for s in statuses.values()) or time.monotonic() > deadline:
            return statuses


def test_worker_converts_enqueued_messages(settings: Settings, worker: subprocess.Popen[bytes]) -> None:
    ids = _store(settings, adt_a01("W0001", mrn="M1"), oru_r01("W0002", mrn="M1"), "MSH|^~\\&|HIS|H|HUB|C|x")
    enqueue_conversion(ids, settings)
    statuses = _wait_for(settings, ids)
    assert worker.poll() is None
    # the third message was refused at the door (no MSH-9): rejected, never queued work
    assert list(statuses.values()) == ["converted", "converted", "rejected"]
    with get_sessionmaker(settings)() as session:
        observations = store.search(session, "Observation", [("code", "http://loinc.org|2345-7")])
        assert observations.total >= 1


def test_failed_message_is_kept_with_its_reason_and_replays(
    settings: Settings, worker: subprocess.Popen[bytes]
) -> None:
    # An ORU without OBR/OBX is stored (ACKed) but cannot be converted: the operator sees why.
    broken = "MSH|^~\\&|LIS|HOSP_A|HUB|CITY|20260315083000||ORU^R01^ORU_R01|W0003|P|2.5.1\rPID|1||M9^^^HOSP_A^MR\r"
    ids = _store(settings, broken)
    enqueue_conversion(ids, settings)
    assert _wait_for(settings, ids) == {ids[0]: "failed"}
    with get_sessionmaker(settings)() as session:
        row = session.get(InboxMessage, ids[0])
        assert row is not None and row.error
    # After a fix (here: the content is corrected in place, as an operator's mapping fix would make it convert),
    # `hub replay --failed` queues it again and the worker converts it.
    with get_sessionmaker(settings)() as session:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == ids[0])
            .values(raw=adt_a01("W0003", facility="HOSP_A").encode(), message_type="ADT^A01")
        )
        session.commit()
    replay = subprocess.run(
        [sys.executable, "-m", "hub.cli", "replay", "--failed"],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replay.returncode == 0, replay.stderr
    assert "queued 1 messages" in replay.stderr
    assert _wait_for(settings, ids) == {ids[0]: "converted"}


def test_sweeper_requeues_messages_that_were_never_enqueued(
    settings: Settings, worker: subprocess.Popen[bytes]
) -> None:
    # Stored, but the process died before enqueueing: nothing was published for these rows.
    ids = _store(settings, adt_a01("W0004"), adt_a01("W0005"))
    with get_sessionmaker(settings)() as session:
        session.execute(update(InboxMessage).values(received_at=datetime.now(UTC) - timedelta(minutes=5)))
        session.commit()
    assert sweep() == 2  # run here, as beat would; it publishes to the worker's queue
    assert set(_wait_for(settings, ids).values()) == {"converted"}
