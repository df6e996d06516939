"""Shared fixtures: settings on a temporary data directory, a migrated database, a session.

The database is SQLite in a temporary directory unless ``HUB_TEST_DATABASE_URL`` names a PostgreSQL
database (``.ci/run`` sets it); the broker is the embedded transport unless ``HUB_TEST_BROKER_URL`` is set.
Tests marked ``postgres`` or ``broker`` are skipped, loudly, without them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from hub.config import Settings, get_settings
from hub.db import dispose_engines, get_engine, get_sessionmaker, upgrade
from hub.db.tables import Base
from tests.support.paths import SHARED

TEST_DATABASE_URL = os.environ.get("HUB_TEST_DATABASE_URL", "")
TEST_BROKER_URL = os.environ.get("HUB_TEST_BROKER_URL", "")
CORPUS = SHARED / "corpus" / "hl7v2"
FHIR_SCHEMA = SHARED / "fhir" / "fhir.r4.schema.json"

_pg_migrated = False
_SKIPPED_KEY = pytest.StashKey[list[str]]()


def pytest_report_header() -> list[str]:
    db = TEST_DATABASE_URL or "SQLite (temporary file per test)"
    broker = TEST_BROKER_URL or "embedded (kombu SQLAlchemy transport on SQLite)"
    return [f"hub database: {db}", f"hub broker: {broker}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skipped = []
    for item in items:
        if "postgres" in item.keywords and not TEST_DATABASE_URL.startswith("postgresql"):
            item.add_marker(pytest.mark.skip(reason="HUB_TEST_DATABASE_URL is not a PostgreSQL URL"))
            skipped.append(item.nodeid)
        if "broker" in item.keywords and not TEST_BROKER_URL:
            item.add_marker(pytest.mark.skip(reason="HUB_TEST_BROKER_URL is not set"))
            skipped.append(item.nodeid)
    config.stash[_SKIPPED_KEY] = skipped


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    skipped = config.stash.get(_SKIPPED_KEY, [])
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"{len(skipped)} tests SKIPPED: they need a real PostgreSQL/broker "
            "(set HUB_TEST_DATABASE_URL / HUB_TEST_BROKER_URL, as .ci/run does)",
            yellow=True,
            bold=True,
        )


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
