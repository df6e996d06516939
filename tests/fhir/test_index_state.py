"""``hub db upgrade`` (and ``hub serve``) re-index the stored types whose search parameters changed since they were
indexed (hub/fhir/index_state.py, table search_index_state of migration 0008).

Before: an upgrade brought the schema up to date only; a database whose Accounts were stored before Account had
search parameters kept no index rows of them until someone ran ``hub reindex Account``, and meanwhile a patient's
``GET /fhir/Account`` (confined by ``patient=``) did not find the patient's own accounts.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from hub.config import Settings
from hub.db import get_engine, get_sessionmaker
from hub.fhir import store
from hub.security.access import stamp_producer
from tests.support.fhir_client import Tokens, ids, rest_settings, serve_hub

SZRMYY = "org-szrmyy"  # 深圳市人民医院
ZHANG = "p-zhangwei"  # 张伟, 440304198504160033
INDEX_TABLES = ("search_token", "search_string", "search_reference", "search_date", "search_quantity")


def seed(session: Session) -> None:
    patient = {
        "resourceType": "Patient",
        "id": ZHANG,
        "name": [{"text": "张伟"}],
        "identifier": [{"system": "urn:oid:1.2.156.112604.1.2.1", "value": "440304198504160033"}],
        "address": [{"city": "深圳市", "district": "福田区", "line": ["福华三路 88 号"]}],
    }
    store.put(session, stamp_producer(patient, SZRMYY))
    for aid, name in (("acc-zw-zy", "住院 ZY20260315001"), ("acc-zw-mz", "门诊 MZ20260301007")):
        account = {
            "resourceType": "Account",
            "id": aid,
            "status": "active",
            "name": name,
            "subject": [{"reference": f"Patient/{ZHANG}"}],
        }
        store.put(session, stamp_producer(account, SZRMYY))
    session.commit()


def as_before(session: Session, *types: str) -> None:
    """The database as an older release left it: no index rows of ``types`` (they had no parameters then), and no
    record of what was indexed with which parameters."""
    for table in INDEX_TABLES:
        names = ", ".join(f"'{t}'" for t in types)
        session.execute(text(f"DELETE FROM {table} WHERE resource_type IN ({names})"))  # noqa: S608
    if inspect(session.get_bind()).has_table("search_index_state"):
        session.execute(text("DELETE FROM search_index_state"))
    session.commit()


def hub_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HUB_DATA_DIR": str(settings.data_dir), "HUB_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", *args], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def stored(settings: Settings, session: Session) -> Settings:
    seed(session)
    as_before(session, "Account")
    assert store.search(session, "Account", [("patient", f"Patient/{ZHANG}")]).resources == []
    return settings


def test_an_upgrade_reindexes_what_was_stored_before_the_parameters(stored: Settings) -> None:
    done = hub_cli(stored, "db", "upgrade")
    assert "re-indexing 2 Account resources" in done.stderr
    with get_sessionmaker(stored)() as fresh:
        found = store.search(fresh, "Account", [("patient", f"Patient/{ZHANG}")])
        assert sorted(r["id"] for r in found.resources) == ["acc-zw-mz", "acc-zw-zy"]
    # the patient's own app finds them (its search is confined by Account's compartment parameter)
    with serve_hub(rest_settings(stored)) as hub:
        bundle: dict[str, Any] = hub.get("/fhir/Account", headers=Tokens(stored).patient(ZHANG)).json()
        assert sorted(ids(bundle)) == ["acc-zw-mz", "acc-zw-zy"]
    # nothing changed since: the next upgrade re-indexes nothing
    again = hub_cli(stored, "db", "upgrade")
    assert "re-index" not in again.stderr


def test_only_the_types_whose_parameters_changed_are_reindexed(
    stored: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hub.fhir import index_state

    assert index_state.bring_up_to_date(stored) == {"Account": 2, "Patient": 1}
    assert index_state.bring_up_to_date(stored) == {}
    # a later release changes Account's parameters only
    today = index_state.fingerprint
    monkeypatch.setattr(
        index_state,
        "fingerprint",
        lambda t: hashlib.sha256(f"{today(t)} next".encode()).hexdigest() if t == "Account" else today(t),
    )
    with Session(get_engine(stored)) as session:
        assert index_state.stale(session) == {"Account": 2}
    seen: list[tuple[str, int]] = []
    assert index_state.bring_up_to_date(stored, on_type=lambda t, n: seen.append((t, n))) == {"Account": 2}
    assert seen == [("Account", 2)]
    with Session(get_engine(stored)) as session:
        assert index_state.stale(session) == {}


def test_hub_reindex_records_what_it_did(stored: Settings) -> None:
    hub_cli(stored, "reindex", "Account")
    from hub.fhir import index_state

    with Session(get_engine(stored)) as session:
        assert index_state.stale(session) == {"Patient": 1}  # never recorded: the upgrade will do it once
