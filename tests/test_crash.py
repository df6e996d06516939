"""Crash test: a stream of messages into `hub serve`, SIGKILL in the middle, restart; nothing ACKed is lost.

The sender frames MLLP by hand (independent of the hub's client) and parses ACKs with python-hl7, behaving like
an interface engine: it resends a message until it gets an ACK, reconnecting when the hub is down.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import hl7
import pytest
from sqlalchemy import func, select

from hub.config import Settings
from hub.db import get_sessionmaker
from hub.db.tables import InboxMessage
from tests.support.messages import adt_a01

pytestmark = pytest.mark.slow

N_MESSAGES = 1000
KILL_AFTER = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_hub(settings: Settings, http_port: int, mllp_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATA_DIR=str(settings.data_dir),
        HUB_DATABASE_URL=settings.database_url,
        HUB_BROKER_URL=settings.broker_url,
        HUB_TASK_QUEUE=settings.task_queue,
        HUB_HTTP_PORT=str(http_port),
        HUB_MLLP_PORT=str(mllp_port),
        HUB_SWEEP_INTERVAL_S="2",
        HUB_SWEEP_GRACE_S="1",
    )
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--log-level", "warning"],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"port {port} did not open")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _mllp_exchange(port: int, message: str) -> str:
    """One MLLP exchange on a fresh connection, framed by hand (independent of the hub's own client)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"\x0b" + message.encode("utf-8") + b"\x1c\r")
        reply = b""
        while b"\x1c\r" not in reply:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the hub closed the connection before a complete ACK")
            reply += chunk
    start = reply.index(b"\x0b") + 1
    return reply[start : reply.index(b"\x1c\r")].decode("utf-8")


def _send_until_acked(port: int, message: str, deadline: float) -> str:
    """Send one message until an ACK comes back (reconnecting as needed); return MSA-1."""
    while time.monotonic() < deadline:
        try:
            ack = _mllp_exchange(port, message)
        except OSError:  # refused, reset, timed out or closed early: the hub is down or restarting
            time.sleep(0.2)
            continue
        return str(hl7.parse(ack).segment("MSA")[1])
    raise AssertionError("no ACK before the deadline")


def test_sigkill_in_the_middle_loses_nothing(settings: Settings, tmp_path: Path) -> None:
    http_port, mllp_port = _free_port(), _free_port()
    log = tmp_path / "hub.log"
    proc = _start_hub(settings, http_port, mllp_port, log)
    try:
        _wait_for_port(mllp_port)
        messages = [adt_a01(f"CRASH{i:05d}", mrn=f"M{i % 250:04d}") for i in range(N_MESSAGES)]
        acked: list[str] = []
        failures: list[BaseException] = []

        def sender() -> None:
            # Like an interface engine: each message is resent until it is ACKed, in order.
            try:
                deadline = time.monotonic() + 300
                for i, message in enumerate(messages):
                    assert _send_until_acked(mllp_port, message, deadline) == "AA"
                    acked.append(f"CRASH{i:05d}")
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

        thread = threading.Thread(target=sender)
        thread.start()
        while len(acked) < KILL_AFTER and thread.is_alive():
            time.sleep(0.01)
        # Kill the whole hub (API, MLLP listener and worker) mid-stream, without any chance to clean up.
        _kill_group(proc)
        killed_at = len(acked)
        proc = _start_hub(settings, http_port, mllp_port, log)
        thread.join(timeout=400)
        assert not failures, failures
        assert KILL_AFTER <= killed_at < N_MESSAGES
        assert len(acked) == N_MESSAGES

        # Every ACKed message is stored exactly once and, eventually, converted.
        maker = get_sessionmaker(settings)
        wait_until = time.monotonic() + 240
        while True:
            with maker() as session:
                counts = dict(
                    session.execute(select(InboxMessage.status, func.count()).group_by(InboxMessage.status)).all()
                )
            if counts.get("converted", 0) == N_MESSAGES or time.monotonic() > wait_until:
                break
            time.sleep(1)
        with maker() as session:
            stored = list(session.execute(select(InboxMessage.control_id)).scalars())
        assert sorted(stored) == sorted(acked)
        assert len(set(stored)) == N_MESSAGES
        assert counts == {"converted": N_MESSAGES}, (counts, log.read_text()[-3000:])
    finally:
        _kill_group(proc)


def test_kill_between_batches_then_resend_is_stored_once(settings: Settings, tmp_path: Path) -> None:
    """A sender that never saw an ACK resends after the restart: the hub stores the message once."""
    http_port, mllp_port = _free_port(), _free_port()
    log = tmp_path / "hub.log"
    proc = _start_hub(settings, http_port, mllp_port, log)
    try:
        _wait_for_port(mllp_port)
        message = adt_a01("RESEND0001")
        assert _send_until_acked(mllp_port, message, time.monotonic() + 60) == "AA"
        _kill_group(proc)
        proc = _start_hub(settings, http_port, mllp_port, log)
        _wait_for_port(mllp_port)
        assert _send_until_acked(mllp_port, message, time.monotonic() + 60) == "AA"
        with get_sessionmaker(settings)() as session:
            n = session.execute(
                select(func.count()).select_from(InboxMessage).where(InboxMessage.control_id == "RESEND0001")
            ).scalar_one()
        assert n == 1
    finally:
        _kill_group(proc)
