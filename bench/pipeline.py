"""Pipeline benchmark: stored inbox rows → FHIR resources in the store, through the real Celery worker.

For a database and a broker it prints:

* the baseline, measured in the same run: the same conversion called in a loop in this process (decode → map →
  store, one transaction per message, no queue): converted msg/s;
* the pipeline: the rows are enqueued as ``hub.convert_messages`` tasks and a ``hub worker`` subprocess (Celery,
  ``--concurrency`` processes) converts them; converted msg/s from the first enqueue to the last converted row,
  and the ratio to the baseline;
* peak RSS of this process and of the worker's processes (VmHWM), and the worker's RSS after each half of the
  stream (a long stream must not grow it).

Figures only, no asserts. Examples::

    python bench/pipeline.py                                   # SQLite + embedded broker
    python bench/pipeline.py --db postgres --broker redis      # database hub_bench (created if missing)
    python bench/pipeline.py --db postgres --broker amqp --messages 20000 --concurrency 2
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for entry in (REPO, REPO / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from ingest import _prepare_database, adt_message, oru_message  # noqa: E402

BROKERS = {
    "embedded": None,
    "redis": "redis://127.0.0.1:6379/9",
    "amqp": "amqp://guest:guest@127.0.0.1:5672//",
}


def _messages(n: int, prefix: str) -> list[bytes]:
    """A mix like a hospital's day: three ADT^A01 for every ORU^R01 with 20 OBX."""
    return [oru_message(f"{prefix}{i:07d}", i) if i % 4 == 3 else adt_message(f"{prefix}{i:07d}", i) for i in range(n)]


def _store(settings: object, raw: list[bytes]) -> list[int]:
    from sqlalchemy import select

    from hub.db import session_scope
    from hub.db.tables import InboxMessage
    from hub.hl7.ingest import Ingestor

    ingestor = Ingestor(settings, on_stored=None)  # type: ignore[arg-type]
    for message in raw:
        ingestor.receive_sync(message, transport="cli")
    control_ids = {m.split(b"|", 10)[9].decode() for m in raw}
    with session_scope(settings) as session:  # type: ignore[arg-type]
        rows = session.execute(select(InboxMessage.id, InboxMessage.control_id)).all()
    return sorted(row.id for row in rows if row.control_id in control_ids)


def _statuses(settings: object, ids: list[int]) -> dict[str, int]:
    from sqlalchemy import func, select

    from hub.db import session_scope
    from hub.db.tables import InboxMessage

    with session_scope(settings) as session:  # type: ignore[arg-type]
        rows = session.execute(
            select(InboxMessage.status, func.count())
            .where(InboxMessage.id >= ids[0], InboxMessage.id <= ids[-1])
            .group_by(InboxMessage.status)
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def _group_memory_mib(pgid: int) -> tuple[float, float]:
    """Current RSS and peak RSS (VmHWM) summed over the processes of one process group."""
    rss = peak = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getpgid(int(pid)) != pgid:
                continue
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) / 1024
                    elif line.startswith("VmHWM:"):
                        peak += int(line.split()[1]) / 1024
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return rss, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--db-url", help="PostgreSQL URL (default: database hub_bench on 127.0.0.1)")
    parser.add_argument("--broker", choices=sorted(BROKERS), default="embedded")
    parser.add_argument("--messages", type=int, default=4000, help="messages per measured phase")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="hub-bench-pipeline-"))
    database_url = _prepare_database(args.db, args.db_url, tmp)
    broker_url = BROKERS[args.broker] or f"sqla+sqlite:///{(tmp / 'broker.db').as_posix()}"
    env = {
        "HUB_DATA_DIR": str(tmp),
        "HUB_DATABASE_URL": database_url,
        "HUB_BROKER_URL": broker_url,
        "HUB_SWEEP_INTERVAL_S": "3600",
    }
    os.environ.update(env)

    from hub.config import get_settings
    from hub.conversion import convert_message
    from hub.db import session_scope, upgrade
    from hub.tasks import enqueue_conversion

    settings = get_settings()
    upgrade(settings)
    run = uuid.uuid4().hex[:5].upper()
    print(f"pipeline benchmark: {args.db} database, {args.broker} broker, {args.messages} messages per phase")
    print("  mix: 3 ADT^A01 : 1 ORU^R01 (20 OBX); each message converted in its own transaction")

    # Baseline: the conversion in a loop, in this process, no queue.
    ids = _store(settings, _messages(args.messages, f"B{run}"))
    start = time.perf_counter()
    for inbox_id in ids:
        with session_scope(settings) as session:
            convert_message(session, inbox_id, settings)
    baseline = len(ids) / (time.perf_counter() - start)
    print(f"  baseline (in-process loop)        {baseline:8.0f} converted msg/s   {_statuses(settings, ids)}")

    # The pipeline: enqueue, and a real worker converts.
    worker = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "worker", "--concurrency", str(args.concurrency), "--log-level", "warning"],
        env={**os.environ, **env},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        rss_marks: list[float] = []
        for half in (1, 2):
            ids = _store(settings, _messages(args.messages // 2, f"W{half}{run}"))
            time.sleep(1.0)  # let the worker come up and idle before the clock starts (first half)
            start = time.perf_counter()
            enqueue_conversion(ids, settings)
            deadline = start + 600
            while True:
                counts = _statuses(settings, ids)
                if counts.get("received", 0) == 0 or time.perf_counter() > deadline or worker.poll() is not None:
                    break
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
            rate = len(ids) / elapsed
            rss, _ = _group_memory_mib(worker.pid)
            rss_marks.append(rss)
            print(
                f"  worker, half {half} ({args.concurrency} processes)  {rate:8.0f} converted msg/s   ratio "
                f"{rate / baseline:4.2f}× baseline   {counts}   worker RSS {rss:6.1f} MiB"
            )
        _, peak = _group_memory_mib(worker.pid)
        growth = rss_marks[-1] - rss_marks[0]
        print(f"  worker peak RSS (VmHWM, all processes) {peak:7.1f} MiB; RSS growth between halves {growth:+.1f} MiB")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        if worker.returncode not in (0, -signal.SIGTERM, None) and worker.stderr is not None:
            print(worker.stderr.read().decode(errors="replace")[-2000:], file=sys.stderr)
    print(f"  this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:7.1f} MiB")


if __name__ == "__main__":
    main()
