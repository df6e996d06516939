"""Two hospitals' records of one person synced at the same moment in two transactions end under one master
(PostgreSQL: the resident ID is locked before the index is read)."""

from __future__ import annotations

import threading

import pytest

from hub.db import get_sessionmaker
from hub.identity import linking

from .conftest import ZHANG, hospital_patient, put


@pytest.mark.postgres
def test_simultaneous_records_of_one_person_get_one_master(settings, mpi):
    put(mpi, hospital_patient("h1", "1", name="张三", resident=ZHANG))
    put(mpi, hospital_patient("h2", "2", name="张三", resident=ZHANG))
    maker = get_sessionmaker(settings)
    first, second = maker(), maker()
    try:
        linking.sync_patient(first, "h1-1")  # holds the resident ID's lock until it commits
        done = threading.Event()

        def run_second() -> None:
            linking.sync_patient(second, "h2-2")
            second.commit()
            done.set()

        thread = threading.Thread(target=run_second)
        thread.start()
        assert not done.wait(0.5), "the second sync should wait for the first transaction"
        first.commit()
        thread.join(10)
        assert done.is_set()
    finally:
        first.close()
        second.close()
    mpi.expire_all()
    assert linking.master_of(mpi, "h1-1") == linking.master_of(mpi, "h2-2")
