"""Shared fixtures: settings on a temporary data directory, a migrated database, a session.

The database is SQLite in a temporary directory unless ``HUB_TEST_DATABASE_URL`` names a PostgreSQL
database (``.ci/run`` sets it); the broker is the embedded transport unless ``HUB_TEST_BROKER_URL`` is set.
Tests marked ``postgres`` or ``broker`` are skipped, loudly, without them.

Under pytest-xdist (``make test`` runs ``-n auto``) each worker has a PostgreSQL database of its own, the given one's
name plus the worker's (``test_gw0``), created when missing and migrated once: every test TRUNCATEs the tables, so
two workers on one database would empty each other's. SQLite files and data directories are under ``tmp_path``,
which is per worker already; broker queues are per test (``HUB_TASK_QUEUE``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from hub.config import Settings, get_settings
from hub.db import dispose_engines, get_engine, get_sessionmaker, upgrade
from hub.db.tables import Base
from tests.support.paths import SHARED


def _worker_database_url(url: str, worker: str) -> str:
    """The PostgreSQL database of this xdist worker (``<name>_gw0``); ``url`` as given without workers."""
    if not worker or not url.startswith("postgresql"):
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{worker}").render_as_string(hide_password=False)


GIVEN_DATABASE_URL = os.environ.get("HUB_TEST_DATABASE_URL", "")
TEST_DATABASE_URL = _worker_database_url(GIVEN_DATABASE_URL, os.environ.get("PYTEST_XDIST_WORKER", ""))
TEST_BROKER_URL = os.environ.get("HUB_TEST_BROKER_URL", "")
CORPUS = SHARED / "corpus" / "hl7v2"
FHIR_SCHEMA = SHARED / "fhir" / "fhir.r4.schema.json"

_pg_migrated = False

# Why a test is skipped when a service is missing (tests/security/conftest.py adds Redis's). The closing banner
# counts the skip reports of these reasons: under xdist the controller collects nothing, so it counts what the
# workers report.
NO_POSTGRES = "HUB_TEST_DATABASE_URL is not a PostgreSQL URL"
NO_BROKER = "HUB_TEST_BROKER_URL is not set"
NO_REDIS = "no Redis: set HUB_TEST_REDIS_URL"


def pytest_report_header() -> list[str]:
    db = GIVEN_DATABASE_URL or "SQLite (temporary file per test)"
    if GIVEN_DATABASE_URL.startswith("postgresql"):
        db += " (under xdist: one database per worker, <name>_gw0 …)"
    broker = TEST_BROKER_URL or "embedded (kombu SQLAlchemy transport on SQLite)"
    return [f"hub database: {db}", f"hub broker: {broker}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres" in item.keywords and not TEST_DATABASE_URL.startswith("postgresql"):
            item.add_marker(pytest.mark.skip(reason=NO_POSTGRES))
        if "broker" in item.keywords and not TEST_BROKER_URL:
            item.add_marker(pytest.mark.skip(reason=NO_BROKER))


def _skipped_for(terminalreporter: pytest.TerminalReporter, reasons: tuple[str, ...]) -> int:
    count = 0
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        message = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
        count += message.removeprefix("Skipped: ") in reasons
    return count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = _skipped_for(terminalreporter, (NO_POSTGRES, NO_BROKER))
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"{skipped} tests SKIPPED: they need a real PostgreSQL/broker "
            "(set HUB_TEST_DATABASE_URL / HUB_TEST_BROKER_URL, as .ci/run does)",
            yellow=True,
            bold=True,
        )
    redis_skipped = _skipped_for(terminalreporter, (NO_REDIS,))
    if redis_skipped:
        terminalreporter.write_line(
            f"WARNING: {redis_skipped} Redis tests skipped (set HUB_TEST_REDIS_URL=redis://127.0.0.1:6379/0)",
            yellow=True,
            bold=True,
        )


def _create_worker_database() -> None:
    """Create this worker's database, when it is not the given one and does not exist, from the given URL."""
    if TEST_DATABASE_URL == GIVEN_DATABASE_URL:
        return
    name = make_url(TEST_DATABASE_URL).database
    admin = create_engine(GIVEN_DATABASE_URL, isolation_level="AUTOCOMMIT")  # CREATE DATABASE refuses a transaction
    try:
        with admin.connect() as conn:
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def _truncate_all(settings: Settings) -> None:
    engine = get_engine(settings)
    names = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings for one test, also installed as the process settings (``get_settings()``)."""
    global _pg_migrated
    env = {
        "HUB_DATA_DIR": str(tmp_path / "var"),
        "HUB_DATABASE_URL": TEST_DATABASE_URL or f"sqlite:///{(tmp_path / 'var' / 'hub.db').as_posix()}",
        "HUB_BROKER_URL": TEST_BROKER_URL or f"sqla+sqlite:///{(tmp_path / 'var' / 'broker.db').as_posix()}",
        "HUB_HTTP_PORT": "0",
        "HUB_MLLP_PORT": "0",
        # a queue of its own: workers of other test runs on the same broker never take this test's tasks
        "HUB_TASK_QUEUE": f"hub-test-{uuid.uuid4().hex[:12]}",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    dispose_engines()
    s = get_settings()
    if TEST_DATABASE_URL:
        if not _pg_migrated:
            _create_worker_database()
            upgrade(s)
            _pg_migrated = True
        _truncate_all(s)
    else:
        upgrade(s)
    yield s
    dispose_engines()
    get_settings.cache_clear()


@pytest.fixture
def session(settings: Settings) -> Iterator[Session]:
    """A session on the test database; the test commits what it wants kept."""
    s = get_sessionmaker(settings)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()
