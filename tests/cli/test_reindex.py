"""`hub reindex` rebuilds the search index rows of stored resources, through the real command."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text

from hub.config import Settings
from hub.db import get_sessionmaker
from hub.fhir import store


def _patient(i: int) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "id": f"p{i}",
        "identifier": [{"system": "urn:oid:1.2.3", "value": f"MRN{i}"}],
        "name": [{"family": "Zhang", "given": [f"San{i}"]}],
    }


def test_reindex_restores_dropped_index_rows(settings: Settings) -> None:
    maker = get_sessionmaker(settings)
    with maker() as session:
        for i in range(25):
            store.put(session, _patient(i))
        session.commit()
        found = store.search(session, "Patient", [("identifier", "urn:oid:1.2.3|MRN7")])
        assert [r["id"] for r in found.resources] == ["p7"]
        # Lose the token index (as if a parameter had been added after the data was stored).
        session.execute(text("DELETE FROM search_token"))
        session.commit()
        assert store.search(session, "Patient", [("identifier", "urn:oid:1.2.3|MRN7")]).resources == []

    env = {"HUB_DATA_DIR": str(settings.data_dir), "HUB_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "reindex", "Patient", "--batch", "10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "re-indexed 25 resources of 1 types" in done.stderr

    with maker() as session:
        found = store.search(session, "Patient", [("identifier", "urn:oid:1.2.3|MRN7")])
        assert [r["id"] for r in found.resources] == ["p7"]
