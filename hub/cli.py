"""The ``hub`` command: serve, worker, convert, replay, inbox, db upgrade."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import ColumnElement, select

from hub.config import Settings, get_settings
from hub.fhir import jsoncodec
from hub.mapping.commands import conformance, mappings_app

app = typer.Typer(help="City health interoperability hub.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(mappings_app, name="mappings")
app.command("conformance")(conformance)
err = Console(stderr=True)
out = Console()

log = logging.getLogger("hub")


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Alembic revision")] = "head") -> None:
    """Bring the database schema up to date."""
    from hub.db import upgrade

    settings = get_settings()
    upgrade(settings, revision)
    err.print(f"database at {revision}: {_safe_url(settings.database_url)}")
    if revision == "head":
        _index_up_to_date(settings)


def _index_up_to_date(settings: Settings) -> None:
    """Re-index the stored types whose search parameters changed since they were indexed (hub.fhir.index_state)."""
    from hub.fhir.index_state import bring_up_to_date

    def announce(rtype: str, count: int) -> None:
        log.info("re-indexing %d %s resources (its search parameters changed)", count, rtype)
        err.print(f"re-indexing {count} {rtype} resources (its search parameters changed)")

    done = bring_up_to_date(settings, on_type=announce)
    if done:
        err.print(f"re-indexed {sum(done.values())} resources of {len(done)} types")


def _safe_url(url: str) -> str:
    # Never print a password.
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}@{host}"
    return url


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # PR_SET_PDEATHSIG: the embedded worker ends when `hub serve` ends, even on SIGKILL.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class _EmbeddedWorker:
    """The Celery worker that `hub serve` runs beside the API on the embedded default; restarted if it dies."""

    def __init__(self, concurrency: int) -> None:
        self.argv = [sys.executable, "-m", "hub.cli", "worker", "--beat", "--concurrency", str(concurrency)]
        self.proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="embedded-worker", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=os.environ.copy(), preexec_fn=_die_with_parent)  # noqa: S603

    def _watch(self) -> None:
        while not self._stop.wait(2.0):
            if self.proc is not None and self.proc.poll() is not None:
                log.warning("embedded worker exited with %s; restarting it", self.proc.returncode)
                self._spawn()

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@app.command()
def serve(
    worker: Annotated[bool, typer.Option(help="Run a Celery worker beside the API (the embedded default).")] = True,
    mllp: Annotated[bool, typer.Option(help="Run the MLLP listener.")] = True,
    concurrency: Annotated[int, typer.Option(help="Embedded worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the hub: HTTP API, MLLP listener and (by default) a worker, after upgrading the schema."""
    import uvicorn

    from hub.app import create_app
    from hub.db import session_scope, upgrade
    from hub.tasks import enqueue_conversion
    from hub.tasks.sweeper import unconverted

    _setup_logging(log_level)
    settings = get_settings()
    upgrade(settings)
    _index_up_to_date(settings)  # before serving: a search must find what was stored before its parameters
    # Crash recovery: whatever was stored (and ACKed) but not converted before a stop is queued again.
    with session_scope(settings) as session:
        pending = unconverted(session, older_than_s=0)
    if pending:
        log.info("re-enqueueing %d messages stored before the last stop", len(pending))
        enqueue_conversion(pending, settings)
    embedded = _EmbeddedWorker(concurrency) if worker else None
    if embedded:
        embedded.start()
    try:
        application = create_app(settings, mllp=mllp)
        config = uvicorn.Config(
            application, host=settings.http_host, port=settings.http_port, log_level=log_level, lifespan="on"
        )
        uvicorn.Server(config).run()
    finally:
        if embedded:
            embedded.stop()


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    beat: Annotated[bool, typer.Option(help="Also run the periodic scheduler (sweeper, outbox).")] = False,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run a Celery worker that converts messages and dispatches outbox events."""
    from celery.signals import worker_process_init

    from hub.db import dispose_engines, upgrade
    from hub.tasks import configure

    settings = get_settings()
    upgrade(settings)
    celery = configure(settings)

    @worker_process_init.connect(weak=False)
    def _fresh_connections(**_: object) -> None:
        dispose_engines()

    argv = [
        "worker",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        log_level,
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv.append("--beat")
    celery.worker_main(argv)


@app.command()
def beat(log_level: Annotated[str, typer.Option(help="Log level.")] = "info") -> None:
    """Run the periodic scheduler (sweeper, outbox) alone: exactly one per deployment."""
    from hub.tasks import configure

    settings = get_settings()
    celery = configure(settings)
    celery.start(["beat", "--loglevel", log_level])


@app.command()
def convert(
    files: Annotated[
        list[Path], typer.Argument(help="HL7 v2 message files (one message each, or a batch: FHS/BHS …).", exists=False)
    ],
    sender_overlay: Annotated[
        Path | None, typer.Option("--sender-overlay", help="Apply this sender overlay file whoever the sender is.")
    ] = None,
) -> None:
    """Print the FHIR Bundle of each message (one JSON document per line when there are several); the
    conversion report (unmapped local codes, flagged identifiers) goes to stderr. A batch file (FHS/BHS …
    BTS/FTS) gives one Bundle per message, in order; a batch the hub would refuse whole (a BTS-1 count that
    disagrees, an unreadable header) gives none."""
    from hub.errors import HubError
    from hub.hl7 import batch
    from hub.mapping import convert_bytes_with_report

    settings = get_settings()
    failures = 0
    inputs: list[tuple[str, bytes]] = []  # (name for messages on stderr, message bytes)
    for path in files:
        try:
            raw = path.read_bytes()
            if not batch.is_batch(raw):
                inputs.append((str(path), raw))
                continue
            messages = batch.read(raw, settings).messages
        except OSError as exc:
            err.print(f"{path}: cannot read: {exc.strerror}", markup=False, highlight=False)
            failures += 1
            continue
        except batch.BatchRefused as exc:
            _print_error(str(path), exc, f"{exc.reason}: the hub would refuse this batch whole")
            failures += 1
            continue
        if not messages:
            err.print(f"{path}: the batch holds no messages", markup=False, highlight=False)
        inputs.extend((f"{path} message {n}", message) for n, message in enumerate(messages, start=1))
    option = orjson.OPT_INDENT_2 if len(files) == 1 and len(inputs) == 1 else 0
    for name, raw in inputs:
        try:
            result = convert_bytes_with_report(raw, settings, overlay_file=sender_overlay)
        except HubError as exc:
            _print_error(name, exc)
            failures += 1
            continue
        for entry in result.report:
            err.print(f"{name}: report: {orjson.dumps(entry).decode()}", markup=False, highlight=False, soft_wrap=True)
        sys.stdout.buffer.write(jsoncodec.dumps(result.bundle, option=option) + b"\n")
    sys.stdout.flush()
    if failures:
        raise typer.Exit(code=1)


def _print_error(name: str, exc: Exception, message: str | None = None) -> None:
    where = getattr(exc, "location", None)
    text = message or getattr(exc, "message", str(exc))
    err.print(f"{name}: {text}" + (f" (at {where})" if where else ""), markup=False, highlight=False, soft_wrap=True)


@app.command()
def replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Inbox ids to convert again.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every failed message.")] = False,
    now: Annotated[bool, typer.Option("--now", help="Convert here and now instead of queueing.")] = False,
) -> None:
    """Convert stored messages again (after a mapping fix)."""
    from hub.conversion import convert_message, reset_for_replay
    from hub.db import session_scope, upgrade
    from hub.tasks import enqueue_conversion

    if not ids and not failed:
        err.print("name inbox ids or --failed")
        raise typer.Exit(code=2)
    settings = get_settings()
    upgrade(settings)
    with session_scope(settings) as session:
        reset = reset_for_replay(session, ids=ids or None, failed=failed)
    if not reset:
        err.print("nothing to replay")
        return
    if not now:
        enqueue_conversion(reset, settings)
        err.print(f"queued {len(reset)} messages for conversion")
        return
    counts: dict[str, int] = {}
    with Progress(console=err, transient=False) as progress:
        task = progress.add_task("converting", total=len(reset))
        for inbox_id in reset:
            with session_scope(settings) as session:
                outcome = convert_message(session, inbox_id, settings)
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            progress.advance(task)
    err.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    if counts.get("failed"):
        raise typer.Exit(code=1)


@app.command()
def inbox(
    limit: Annotated[
        int | None, typer.Option(help="How many, newest first (default 20; with --batch, the whole batch).")
    ] = None,
    status: Annotated[str | None, typer.Option(help="received | converted | failed | rejected")] = None,
    message_id: Annotated[
        int | None, typer.Option("--id", help="One message, whole: its error and every line of its conversion report.")
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch",
            help="Only the messages of this batch: its BHS-11 (batch) or FHS-11 (file) control id, as sent, or"
            " those of the hub's answer to it (the BHS-11 or FHS-11 of the batch of ACKs).",
        ),
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option(
            "--sender",
            help="Only this sender's messages: MSH-3, or MSH-3^MSH-4 (as the sender column shows it and as"
            " HUB_SENDER_CHARSETS names senders).",
        ),
    ] = None,
    control_id: Annotated[
        str | None,
        typer.Option(
            "--control-id",
            help="Only the message(s) with this MSH-10; control ids are unique per sender: add --sender.",
        ),
    ] = None,
) -> None:
    """Recent messages and their status, with what their conversion reported (no patient data is shown)."""
    from sqlalchemy import or_

    from hub.db import session_scope, upgrade
    from hub.db.tables import InboxMessage

    settings = get_settings()
    upgrade(settings)
    query = select(InboxMessage).order_by(InboxMessage.id.desc())
    if limit is None and batch is None:
        limit = 20
    if limit is not None:
        # (a batch is listed whole unless asked otherwise: a night's results are often more than twenty messages)
        query = query.limit(limit)
    if status:
        query = query.where(InboxMessage.status == status)
    if batch is not None:
        query = query.where(
            or_(
                InboxMessage.batch_control_id == batch,
                InboxMessage.file_control_id == batch,
                InboxMessage.reply_batch_control_id == batch,
                InboxMessage.reply_file_control_id == batch,
            )
        )
    if sender is not None:
        query = query.where(_sender_clause(sender))
    if control_id is not None:
        query = query.where(InboxMessage.control_id == control_id)
    if message_id is not None:
        query = select(InboxMessage).where(InboxMessage.id == message_id)
    header = (
        "id",
        "received",
        "via",
        "sender",
        "type",
        "control id",
        "ack",
        "status",
        "error",
        "report",
        "batch",
        "reply",
    )
    rows: list[tuple[str, ...]] = []
    reports: list[tuple[int, list[dict[str, Any]]]] = []
    # for --id: FHS-11, BHS-11, position, the answer's FHS-11 and BHS-11, the ACK's MSH-10
    places: list[tuple[str, ...]] = []
    with session_scope(settings) as session:
        for row in session.execute(query).scalars():
            report = orjson.loads(row.report) if row.report else []
            reports.append((row.id, report))
            rows.append(
                (
                    str(row.id),
                    row.received_at.strftime("%Y-%m-%d %H:%M:%S"),
                    row.transport,
                    f"{row.sending_application or ''}^{row.sending_facility or ''}",
                    row.message_type or "",
                    row.control_id or "",
                    row.ack_code or "",
                    row.status,
                    ((row.error or "") + (f" @{row.error_location}" if row.error_location else ""))[:80],
                    _report_summary(report),
                    _batch_summary(row.file_control_id, row.batch_control_id, row.batch_position),
                    "/".join(i for i in (row.reply_file_control_id, row.reply_batch_control_id) if i),
                )
            )
            places.append(
                (
                    row.file_control_id or "",
                    row.batch_control_id or "",
                    str(row.batch_position or ""),
                    row.reply_file_control_id or "",
                    row.reply_batch_control_id or "",
                    _ack_control_id(row.ack),
                )
            )
    if message_id is not None:
        if not rows:
            err.print(f"no inbox message {message_id}", markup=False, highlight=False)
            raise typer.Exit(1)
        for name, value in zip(header[:-3], rows[0][:-3], strict=True):
            sys.stdout.write(f"{name}: {value}\n")
        names = (
            "file control id",
            "batch control id",
            "batch position",
            "reply file control id",
            "reply batch control id",
            "ack control id",
        )
        for name, value in zip(names, places[0], strict=True):
            sys.stdout.write(f"{name}: {value}\n")
        for entry in reports[0][1]:  # one JSON object per line: where and why, never patient data
            sys.stdout.write(f"report: {orjson.dumps(entry).decode()}\n")
        return
    if not out.is_terminal:  # piped or redirected: whole values, tab-separated, for grep and scripts
        for line in (header, *rows):
            sys.stdout.write("\t".join(line) + "\n")
        return
    table = Table(*header)
    for line in rows:
        table.add_row(*line)
    out.print(table)


def _sender_clause(sender: str) -> ColumnElement[bool]:
    """The rows of a sender named ``MSH-3`` or ``MSH-3^MSH-4``, the way the settings name senders
    (``HUB_SENDER_CHARSETS``): MSH-3 equal to the whole value, or MSH-3, ``^`` and MSH-4 equal to it.

    MSH-3 is kept as sent and may itself hold ``^`` (an HD with components), so each ``^`` is tried as the
    place between the two; every term is an equality on the unique index's leading columns.
    """
    from sqlalchemy import and_, or_

    from hub.db.tables import InboxMessage

    app_col, fac_col = InboxMessage.sending_application, InboxMessage.sending_facility
    terms = [app_col == sender]
    at = sender.find("^")
    while at >= 0:
        terms.append(and_(app_col == sender[:at], fac_col == sender[at + 1 :]))
        at = sender.find("^", at + 1)
    return or_(*terms)


def _ack_control_id(ack: str | None) -> str:
    """MSH-10 of a stored ACK (the hub's own control id for it), "" when there is none."""
    if not ack or not ack.startswith("MSH") or len(ack) < 4:
        return ""
    first = ack.replace("\n", "\r").split("\r", 1)[0]
    fields = first.split(ack[3])
    return fields[9] if len(fields) > 9 else ""


def _batch_summary(file_id: str | None, batch_id: str | None, position: int | None) -> str:
    """The batch a message came in, ``F20260316/B20260316 #2`` (file/batch control id, position); empty for a
    message sent alone."""
    if position is None:
        return ""
    ids = "/".join(i for i in (file_id, batch_id) if i)
    return f"{ids} #{position}" if ids else f"#{position}"


def _report_summary(report: list[dict[str, Any]]) -> str:
    """How many report entries of each code: ``2 invalid-value, 1 unmapped-local-code``."""
    counts: dict[str, int] = {}
    for entry in report:
        code = str(entry.get("code", "?"))
        counts[code] = counts.get(code, 0) + 1
    return ", ".join(f"{n} {code}" for code, n in sorted(counts.items()))


@app.command()
def reindex(
    types: Annotated[list[str] | None, typer.Argument(help="Resource types (default: all stored types).")] = None,
    batch: Annotated[int, typer.Option(help="Resources per transaction.")] = 1000,
) -> None:
    """Rebuild the search index of current resources (after search parameters changed)."""
    from functools import partial

    from sqlalchemy import func

    from hub.db import session_scope, upgrade
    from hub.fhir.index_state import reindex_type
    from hub.fhir.store import RESOURCE

    settings = get_settings()
    upgrade(settings)
    with session_scope(settings) as session:
        counts: dict[str, int] = dict(
            session.execute(
                select(RESOURCE.c.resource_type, func.count())
                .where(RESOURCE.c.deleted.is_(False))
                .group_by(RESOURCE.c.resource_type)
            ).all()
        )
    wanted = types or sorted(counts)
    with Progress(console=err, transient=False) as progress:
        for rtype in wanted:
            task = progress.add_task(rtype, total=counts.get(rtype, 0))
            reindex_type(settings, rtype, batch=batch, advance=partial(progress.advance, task))
    err.print(f"re-indexed {sum(counts.get(t, 0) for t in wanted)} resources of {len(wanted)} types")


def main() -> None:
    """Console script entry point."""
    app()


if __name__ == "__main__":
    main()
