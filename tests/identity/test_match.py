"""Patient $match through linking.match: one scored candidate per person, grades, onlyCertainMatches, count; and
blocking: candidates come from the key index, not from a scan of all Patients."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text

from hub.identity import linking, matching
from hub.identity.tables import MpiKey, MpiMaster, MpiSource

from .conftest import LI, ZHANG, dispatch, hospital_patient, put, rid


@pytest.fixture
def people(mpi):
    put(
        mpi,
        hospital_patient(
            "h1", "1", name="张三", birth="1990-03-07", gender="male", resident=ZHANG, phone="13800138000"
        ),
    )
    put(mpi, hospital_patient("h2", "2", name="Zhang San", resident=ZHANG))
    put(mpi, hospital_patient("h3", "3", name="章三", birth="1990-03-07", gender="male"))
    put(mpi, hospital_patient("h3", "4", name="李娜", birth="1985-11-11", gender="female", resident=LI))
    dispatch(mpi)
    return mpi


def query(**kw):
    return hospital_patient("client", "q", **kw)


def test_resident_id_is_a_certain_match_on_the_person(people):
    mpi = people
    found = linking.match(mpi, query(resident=ZHANG))
    assert len(found) == 1
    assert found[0].master_id == linking.master_of(mpi, "h1-1")
    assert found[0].match.grade == "certain" and found[0].match.score == 1.0
    only = linking.match(mpi, query(resident=ZHANG), only_certain=True)
    assert [c.master_id for c in only] == [found[0].master_id]


def test_demographics_give_graded_scores_best_first(people):
    mpi = people
    found = linking.match(mpi, query(name="张三", birth="1990-03-07", gender="male"))
    assert [c.master_id for c in found] == [linking.master_of(mpi, "h1-1"), linking.master_of(mpi, "h3-3")]
    assert found[0].match.grade == "probable" and 0.9 < found[0].match.score < 1.0
    assert found[1].match.grade == "possible" and found[1].match.score < found[0].match.score
    # No certain match: onlyCertainMatches answers nothing rather than a guess.
    assert linking.match(mpi, query(name="张三", birth="1990-03-07", gender="male"), only_certain=True) == []
    assert len(linking.match(mpi, query(name="张三", birth="1990-03-07", gender="male"), count=1)) == 1


def test_a_different_valid_resident_id_is_not_a_candidate(people):
    other = rid("44030419900307131")
    found = linking.match(people, query(name="张三", birth="1990-03-07", gender="male", resident=other))
    assert linking.master_of(people, "h1-1") not in [c.master_id for c in found]


def test_nothing_matches_a_stranger(people):
    assert linking.match(people, query(name="赵六", birth="2001-01-01", gender="female")) == []


def _bulk_index(session, n):
    """n indexed hospital records with distinct demographics, straight into the index tables."""
    now = datetime.now(UTC)
    masters, sources, keys = [], [], []
    for i in range(n):
        pid, mid = f"bulk-{i}", f"mpi-bulk-{i}"
        profile = matching.profile_of(
            hospital_patient("bulk", str(i), name=f"Person{i}", birth=f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}")
        )
        masters.append({"id": mid, "status": "active", "replaced_by": None, "created_at": now, "updated_at": now})
        sources.append(
            {
                "patient_id": pid,
                "master_id": mid,
                "status": "linked",
                "basis": "single",
                "replaced_by": None,
                "profile": json.dumps(profile.to_json()),
                "updated_at": now,
            }
        )
        keys.extend({"patient_id": pid, "kind": k, "value": v} for k, v in matching.blocking_keys(profile))
    session.execute(insert(MpiMaster), masters)
    session.execute(insert(MpiSource), sources)
    session.execute(insert(MpiKey), keys)
    session.commit()


def test_candidates_come_from_the_key_index(people):
    mpi = people
    _bulk_index(mpi, 5000)
    started = time.perf_counter()
    for _ in range(20):
        found = linking.find_candidates(mpi, matching.profile_of(query(name="张三", birth="1990-03-07")))
    per_lookup = (time.perf_counter() - started) / 20
    # Only records sharing a key are scored: the three zhangsan records (h2-2's birth date comes from its resident
    # ID), none of the 5000 others.
    assert {c.patient_id for c, _ in found} == {"h1-1", "h2-2", "h3-3"}
    assert per_lookup < 0.05, f"{per_lookup * 1000:.1f} ms per candidate lookup"
    if mpi.get_bind().dialect.name == "sqlite":
        plan = " ".join(
            str(row[-1])
            for row in mpi.execute(
                text("EXPLAIN QUERY PLAN SELECT patient_id FROM mpi_key WHERE kind = 'nbd' AND value = 'x'")
            )
        )
        assert "ix_mpi_key_lookup" in plan
