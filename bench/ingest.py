"""Ingestion benchmark: HL7 v2 messages over MLLP into the hub, ACKed after the commit.

The hub's MLLP listener and Ingestor run in this process (so its RSS is the hub's); the senders run in a
child process (``--client``) so they do not share this process's GIL. For each database it prints:

* a fixed offered rate (default 1,000 msg/s): ACKed msg/s and ACK latency p50/p99 (send → ACK received);
* the maximum rate (each connection keeps a window of messages in flight);
* a baseline measured in the same run: the same listener with group commit off (one INSERT + COMMIT per
  message: ``ingest_batch_max=1``, no batch wait), at maximum rate, and the ratio;
* peak RSS (``getrusage``) and the RSS growth over the measured phases.

Figures only, no asserts. Examples::

    python bench/ingest.py                       # SQLite in a temporary directory
    python bench/ingest.py --db postgres         # PostgreSQL, database hub_bench (created if missing)
    python bench/ingest.py --db both --messages 30000 --connections 8

The ``converted msg/s`` figure needs the worker and is measured elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hub.hl7.mllp import MllpDecoder, frame  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/hub_bench"


def adt_message(control_id: str, i: int) -> bytes:
    return (
        f"MSH|^~\\&|HIS|HOSP_{i % 4}|HUB|CITY|20260315083000||ADT^A01^ADT_A01|{control_id}|P|2.5.1||||||UNICODE UTF-8\r"
        f"EVN|A01|20260315083000\r"
        f"PID|1||MRN{i % 5000:06d}^^^HOSP_{i % 4}^MR||Zhang^San^^^^^L||19800101|M|||"
        f"Jianshe Road 1^^Shenzhen^GD^518000^CHN||^PRN^PH^^^^^^^^^13800000000\r"
        f"PV1|1|I|W1^101^1^HOSP_{i % 4}||||D001^Li^Si|||MED|||||||||V{control_id}"
        f"|||||||||||||||||||||||||20260315083000\r"
    ).encode()


def oru_message(control_id: str, i: int) -> bytes:
    segments = [
        f"MSH|^~\\&|LIS|HOSP_{i % 4}|HUB|CITY|20260315093000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"PID|1||MRN{i % 5000:06d}^^^HOSP_{i % 4}^MR||Li^Si||19750505|F",
        f"OBR|1|P{control_id}|F{control_id}|24323-8^Comprehensive metabolic panel^LN|||20260315090000"
        "||||||||||||||||||F",
    ]
    segments += [
        f"OBX|{k}|NM|2345-7^Glucose^LN||{90 + k}|mg/dL^mg/dL^UCUM|70-99|N|||F|||20260315090000" for k in range(1, 21)
    ]
    return ("\r".join(segments) + "\r").encode()


# The senders (child process) --------------------------------------------------------------------


async def _connection(
    port: int,
    messages: list[tuple[str, bytes]],
    window: int,
    interval: float | None,
    start_at: float,
    out: dict[str, Any],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder = MllpDecoder(1 << 24)
    sent_at: list[float] = []
    expected: list[str] = []
    latencies: list[float] = out["latencies"]
    done = asyncio.Event()
    total = len(messages)
    next_index = 0
    received = 0

    def send_one() -> None:
        nonlocal next_index
        control, body = messages[next_index]
        next_index += 1
        expected.append(control)
        sent_at.append(time.perf_counter())
        writer.write(frame(body))

    async def read_acks() -> None:
        nonlocal received
        head = 0
        while received < total:
            data = await reader.read(65_536)
            if not data:
                out["errors"] += total - received
                break
            now = time.perf_counter()
            for reply in decoder.feed(data):
                assert isinstance(reply, bytes)
                msa = reply[reply.find(b"MSA|") :].split(b"\r", 1)[0].split(b"|")
                latencies.append(now - sent_at[head])
                if msa[1] != b"AA" or msa[2].decode() != expected[head]:
                    out["errors"] += 1
                else:
                    out["acked"] += 1
                head += 1
                received += 1
                if interval is None and next_index < total:
                    send_one()  # max rate: keep the window full
        done.set()

    reader_task = asyncio.create_task(read_acks())
    while time.perf_counter() < start_at:
        await asyncio.sleep(0.001)
    if interval is None:
        for _ in range(min(window, total)):
            send_one()
    else:
        # Fixed rate: message n leaves at start_at + n * interval, whatever the ACKs do.
        while next_index < total:
            due = start_at + next_index * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            while next_index < total and start_at + next_index * interval <= time.perf_counter():
                send_one()
            await writer.drain()
    await done.wait()
    await reader_task
    writer.close()
    await writer.wait_closed()


async def _client_main(spec: dict[str, Any]) -> dict[str, Any]:
    make = oru_message if spec["kind"] == "oru" else adt_message
    n, k = spec["messages"], spec["connections"]
    prefix = spec["prefix"]
    shares = [[(f"{prefix}{i:08d}", make(f"{prefix}{i:08d}", i)) for i in range(c, n, k)] for c in range(k)]
    rate = spec.get("rate")
    interval = (k / rate) if rate else None
    out: dict[str, Any] = {"acked": 0, "errors": 0, "latencies": []}
    start_at = time.perf_counter() + 0.2
    cpu0 = time.process_time()
    await asyncio.gather(
        *(
            _connection(
                spec["port"], share, spec["window"], interval, start_at + (c * interval / k if interval else 0), out
            )
            for c, share in enumerate(shares)
        )
    )
    elapsed = time.perf_counter() - start_at
    lat = sorted(out.pop("latencies"))

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {
        **out,
        "elapsed": elapsed,
        "rate": out["acked"] / elapsed,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "max": lat[-1] * 1000 if lat else float("nan"),
        "client_cpu": time.process_time() - cpu0,
    }


# The hub side (this process) --------------------------------------------------------------------


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _thread_cpu(native_id: int) -> float:
    """CPU seconds (user + system) of one thread of this process."""
    with open(f"/proc/self/task/{native_id}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


@dataclass
class Phase:
    name: str
    result: dict[str, Any]
    batches: int
    server_cpu: float
    loop_cpu: float
    writer_cpu: float


async def _run_phase(settings: Any, name: str, spec: dict[str, Any]) -> Phase:
    from hub.hl7.ingest import Ingestor
    from hub.hl7.mllp import MllpServer

    ingestor = Ingestor(settings, on_stored=lambda ids: None)
    await ingestor.start()
    server = MllpServer(ingestor, settings)
    await server.start()
    spec = {**spec, "port": server.port, "prefix": f"{name[:2].upper()}{uuid.uuid4().hex[:6]}"}
    loop = asyncio.get_running_loop()
    writer_tid = await loop.run_in_executor(ingestor._db_pool, threading.get_native_id)
    loop_tid = threading.get_native_id()
    cpu0, loop0, writer0 = time.process_time(), _thread_cpu(loop_tid), _thread_cpu(writer_tid)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", json.dumps(spec), stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await proc.communicate()
    server_cpu = time.process_time() - cpu0
    loop_cpu, writer_cpu = _thread_cpu(loop_tid) - loop0, _thread_cpu(writer_tid) - writer0
    await server.stop()
    await ingestor.stop()
    if proc.returncode != 0:
        raise RuntimeError(f"client failed in phase {name}")
    return Phase(name, json.loads(stdout), ingestor.stats.batches, server_cpu, loop_cpu, writer_cpu)


def _prepare_database(kind: str, url: str | None, tmp: Path) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if kind == "sqlite":
        return url or f"sqlite:///{(tmp / 'bench.db').as_posix()}"
    url = url or DEFAULT_PG
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()
    return url


def _fmt(p: Phase) -> str:
    r = p.result
    per_batch = r["acked"] / max(1, p.batches)
    return (
        f"  {p.name:<28} {r['rate']:8.0f} ACKed msg/s   p50 {r['p50']:7.2f} ms   p99 {r['p99']:7.2f} ms"
        f"   max {r['max']:7.1f} ms   errors {r['errors']}   {per_batch:5.1f} msg/batch"
        f"   hub CPU {p.server_cpu / r['elapsed'] * 100:3.0f}% (loop {p.loop_cpu / r['acked'] * 1e6:3.0f} µs/msg,"
        f" writer {p.writer_cpu / r['acked'] * 1e6:3.0f} µs/msg)"
    )


async def _bench_database(kind: str, url: str | None, args: argparse.Namespace, tmp: Path) -> None:
    from sqlalchemy import text

    from hub.config import Settings
    from hub.db import dispose_engines, get_engine, upgrade

    database_url = _prepare_database(kind, url, tmp)
    base = Settings(data_dir=tmp / kind, database_url=database_url, mllp_host="127.0.0.1", mllp_port=0)
    if args.batch_wait_ms is not None:
        base = base.model_copy(update={"ingest_batch_wait_ms": args.batch_wait_ms})
    if args.batch_max is not None:
        base = base.model_copy(update={"ingest_batch_max": args.batch_max})
    upgrade(base)
    if kind == "postgres":
        with get_engine(base).begin() as conn:
            conn.execute(text("TRUNCATE inbox RESTART IDENTITY CASCADE"))
    common = {"kind": args.kind, "connections": args.connections, "window": args.window}
    baseline_settings = base.model_copy(update={"ingest_batch_max": 1, "ingest_batch_wait_ms": 0.0})

    print(
        f"\n{kind}: {database_url.split('@')[-1]}  ({args.kind.upper()}, {args.connections} connections, "
        f"batch ≤ {base.ingest_batch_max}, wait ≤ {base.ingest_batch_wait_ms} ms)"
    )
    await _run_phase(base, "warm-up", {**common, "messages": 2000})
    rss = [("after warm-up", _rss_mib())]
    fixed = await _run_phase(
        base, f"offered {args.rate:.0f} msg/s", {**common, "messages": args.fixed_messages, "rate": args.rate}
    )
    print(_fmt(fixed))
    rss.append((f"+{args.fixed_messages} at {args.rate:.0f}/s", _rss_mib()))
    top = await _run_phase(base, "max rate (group commit)", {**common, "messages": args.messages})
    print(_fmt(top))
    rss.append((f"+{args.messages} at max rate", _rss_mib()))
    again = await _run_phase(base, "max rate, again", {**common, "messages": args.messages})
    print(_fmt(again))
    rss.append((f"+{args.messages} more", _rss_mib()))
    baseline = await _run_phase(
        baseline_settings, "baseline: commit per message", {**common, "messages": args.baseline_messages}
    )
    print(_fmt(baseline))
    ratio = top.result["rate"] / baseline.result["rate"] if baseline.result["rate"] else float("nan")
    print(f"  group commit / baseline (max rate): {ratio:.1f}x")
    print("  RSS (MiB): " + ", ".join(f"{label} {value:.1f}" for label, value in rss))
    growth, second = rss[-1][1] - rss[0][1], rss[-1][1] - rss[-2][1]
    print(f"  RSS growth over the measured phases: {growth:+.1f} MiB (the second max-rate run: {second:+.1f} MiB);")
    print(f"  peak RSS {_peak_rss_mib():.1f} MiB")
    dispose_engines()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--database-url", help=f"override the database URL (PostgreSQL default: {DEFAULT_PG})")
    parser.add_argument("--kind", choices=["adt", "oru"], default="adt", help="ADT^A01 or ORU^R01 with 20 OBX")
    parser.add_argument("--messages", type=int, default=30_000, help="messages at maximum rate")
    parser.add_argument("--fixed-messages", type=int, default=10_000, help="messages at the fixed offered rate")
    parser.add_argument("--baseline-messages", type=int, default=3_000, help="messages for the baseline")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--window", type=int, default=32, help="messages in flight per connection at max rate")
    parser.add_argument("--rate", type=float, default=1000.0, help="the fixed offered rate, msg/s")
    parser.add_argument("--batch-wait-ms", type=float, help="override ingest_batch_wait_ms")
    parser.add_argument("--batch-max", type=int, help="override ingest_batch_max")
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval for the hub process (s)")
    args = parser.parse_args()
    if args.client:
        print(json.dumps(asyncio.run(_client_main(json.loads(args.client)))))
        return
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    print(
        f"bench/ingest.py on {os.cpu_count()} CPUs, Python {sys.version.split()[0]},"
        f" GIL switch interval {sys.getswitchinterval() * 1000:g} ms"
    )
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        for kind in kinds:
            asyncio.run(_bench_database(kind, args.database_url, args, Path(tmp)))


if __name__ == "__main__":
    main()
