"""Crash test for batches: `hub serve` killed (SIGKILL) the instant after it answered a batch keeps every message
it acknowledged, and the control ids of the answer on their rows; killed while storing one, the resent batch is
stored once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import hl7
import pytest
from sqlalchemy import select

from hub.config import Settings
from hub.db import get_sessionmaker
from hub.db.tables import InboxMessage
from tests.support.batches import adt, oru, wrap
from tests.test_crash import _free_port, _kill_group, _mllp_exchange, _wait_for_port

pytestmark = pytest.mark.slow


def _serve(settings: Settings, mllp_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATA_DIR=str(settings.data_dir),
        HUB_DATABASE_URL=settings.database_url,
        HUB_BROKER_URL=settings.broker_url,
        HUB_TASK_QUEUE=settings.task_queue,
        HUB_HTTP_PORT=str(_free_port()),
        HUB_MLLP_PORT=str(mllp_port),
    )
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--no-worker", "--log-level", "warning"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _night(prefix: str, n: int) -> tuple[str, list[str]]:
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    messages = [
        adt(c, mrn=f"00{i:05d}", family="Chen", given="Zhiqiang")
        if i % 2
        else oru(c, mrn=f"00{i:05d}", family="Wang", given="Xiuying")
        for i, c in enumerate(ids)
    ]
    return wrap(messages, batch_id=prefix, file_id=prefix), ids


def _acked(reply: str) -> list[str]:
    """MSA-2 of every AA in a batch answer (python-hl7 reads each ACK message on its own)."""
    out = []
    for chunk in reply.split("\rMSH")[1:]:
        message = hl7.parse("MSH" + chunk.split("\rBTS")[0])
        if str(message.segment("MSA")[1]) == "AA":
            out.append(str(message.segment("MSA")[2]))
    return out


def _stored(settings: Settings) -> list[str]:
    with get_sessionmaker(settings)() as session:
        return [c for c in session.execute(select(InboxMessage.control_id)).scalars() if c is not None]


def _answer_ids(reply: str) -> tuple[str, str]:
    """FHS-11 and BHS-11 of the hub's answer (its own control ids)."""
    heads = {line[:3]: line.split("|")[10] for line in reply.split("\r") if line[:3] in ("FHS", "BHS")}
    return heads["FHS"], heads["BHS"]


def _replies(settings: Settings) -> set[tuple[str | None, str | None]]:
    """The answers the stored rows name."""
    query = select(InboxMessage.reply_file_control_id, InboxMessage.reply_batch_control_id)
    with get_sessionmaker(settings)() as session:
        return {(f, b) for f, b in session.execute(query).all()}


def test_an_answered_batch_survives_sigkill_and_a_cut_one_is_stored_once(settings: Settings, tmp_path: Path) -> None:
    port, log = _free_port(), tmp_path / "hub.log"
    proc = _serve(settings, port, log)
    try:
        _wait_for_port(port)
        first, first_ids = _night("KA", 300)
        reply = _mllp_exchange(port, first)
        _kill_group(proc)  # the instant the answer is in: no chance to flush anything more
        assert _acked(reply) == first_ids
        assert sorted(_stored(settings)) == first_ids
        assert _replies(settings) == {_answer_ids(reply)}  # the answer received is named by the rows it answered

        proc = _serve(settings, port, log)
        _wait_for_port(port)
        second, second_ids = _night("KB", 3000)
        cut = threading.Thread(target=lambda: _quietly(_mllp_exchange, port, second), daemon=True)
        cut.start()
        time.sleep(0.3)  # mid-batch: part of it may be committed, none of it answered
        _kill_group(proc)
        proc = _serve(settings, port, log)
        _wait_for_port(port)
        reply = _mllp_exchange(port, second)  # the sender resends the batch it got no answer for
        assert _acked(reply) == second_ids
        stored = _stored(settings)
        assert sorted(stored) == sorted(first_ids + second_ids) and len(set(stored)) == len(stored)
        assert _answer_ids(reply) in _replies(settings)  # new rows name it, or it repeats the cut attempt's ids
    finally:
        _kill_group(proc)


def _quietly(fn, *args) -> None:  # type: ignore[no-untyped-def]
    try:
        fn(*args)
    except OSError:
        pass  # the hub was killed under it: expected
