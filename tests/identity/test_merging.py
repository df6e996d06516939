"""ADT A40 merge and unmerge: replaced-by / replaces, masters folded, the prior state restored exactly."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub.errors import Conflict, InvalidInput, NotFound
from hub.fhir import store
from hub.identity import linking, merging, records
from hub.identity.tables import MpiMaster, MpiSource

from .conftest import ZHANG, content, dispatch, hospital_patient, put, read


def index_state(session):
    sources = {
        r.patient_id: (r.master_id, r.status, r.basis, r.replaced_by) for r in session.scalars(select(MpiSource))
    }
    masters = {r.id: (r.status, r.replaced_by) for r in session.scalars(select(MpiMaster))}
    return sources, masters


def snapshot(session, ids):
    return {i: content(read(session, "Patient", i)) for i in ids}


@pytest.fixture
def duplicates(mpi):
    """h1 holds the same person twice (1 with the resident ID, 2 without); h2 has the person with the number."""
    put(mpi, hospital_patient("h1", "1", name="张三", birth="1990-03-07", gender="male", resident=ZHANG))
    put(mpi, hospital_patient("h1", "2", name="张三", birth="1990-03-08", gender="male", phone="13800138000"))
    put(mpi, hospital_patient("h2", "7", name="Zhang San", resident=ZHANG))
    dispatch(mpi)
    return mpi


def test_a40_merge_then_unmerge_restores_the_prior_state(duplicates):
    mpi = duplicates
    m1, m2 = linking.master_of(mpi, "h1-1"), linking.master_of(mpi, "h1-2")
    assert m1 != m2 and linking.master_of(mpi, "h2-7") == m1
    ids = ["h1-1", "h1-2", "h2-7", m1, m2]
    before = snapshot(mpi, ids)
    before_versions = {i: int(read(mpi, "Patient", i)["meta"]["versionId"]) for i in ids}
    before_index = index_state(mpi)

    result = merging.merge(mpi, "h1-2", "h1-1")
    mpi.commit()
    dispatch(mpi)
    assert result.master_id == m1
    merged_away = read(mpi, "Patient", "h1-2")
    assert merged_away["active"] is False
    assert records.links_of(merged_away, "replaced-by") == ["h1-1"]
    assert records.links_of(merged_away, "refer") == []
    survivor = read(mpi, "Patient", "h1-1")
    assert records.links_of(survivor, "replaces") == ["h1-2"]
    assert records.links_of(survivor, "refer") == [m1]
    folded = read(mpi, "Patient", m2)
    assert folded["active"] is False and records.links_of(folded, "replaced-by") == [m1]
    assert sorted(records.links_of(read(mpi, "Patient", m1), "seealso")) == ["h1-1", "h2-7"]
    # The merged-away record's data is still the person's.
    assert set(linking.expand_patient_ids(mpi, m1)) == {m1, m2, "h1-1", "h1-2", "h2-7"}
    assert "h1-2" in linking.expand_patient_ids(mpi, "h1-1", include_linked=False)

    # A re-delivered A40 changes nothing.
    again = merging.merge(mpi, "h1-2", "h1-1")
    assert again.already and again.merge_id == result.merge_id

    undone = merging.unmerge(mpi, source_id="h1-2")
    mpi.commit()
    dispatch(mpi)
    assert undone.merge_id == result.merge_id
    assert snapshot(mpi, ids) == before
    assert index_state(mpi) == before_index
    # History is kept: every change was a new version.
    for i in ("h1-1", "h1-2", m2):
        assert int(read(mpi, "Patient", i)["meta"]["versionId"]) >= before_versions[i] + 2
        assert len(store.history(mpi, "Patient", i).resources) >= 3
    with pytest.raises(Conflict):
        merging.unmerge(mpi, undone.merge_id)
    assert linking.expand_patient_ids(mpi, m2) == [m2, "h1-2"]


def test_unmerge_keeps_a_hospital_update_made_after_the_merge(duplicates):
    mpi = duplicates
    result = merging.merge(mpi, "h1-2", "h1-1")
    mpi.commit()
    dispatch(mpi)
    # The hospital updates the survivor (its feed does not carry the hub's links).
    put(
        mpi,
        hospital_patient("h1", "1", name="张三", birth="1990-03-07", gender="male", resident=ZHANG, phone="1390000"),
    )
    dispatch(mpi)
    merging.unmerge(mpi, result.merge_id)
    mpi.commit()
    dispatch(mpi)
    survivor = read(mpi, "Patient", "h1-1")
    assert survivor["telecom"] == [{"system": "phone", "value": "1390000"}]
    assert records.links_of(survivor, "replaces") == []
    assert records.links_of(survivor, "refer") == [linking.master_of(mpi, "h1-1")]
    assert "active" not in read(mpi, "Patient", "h1-2")


def test_merge_errors(duplicates):
    mpi = duplicates
    with pytest.raises(InvalidInput):
        merging.merge(mpi, "h1-1", "h1-1")
    with pytest.raises(NotFound):
        merging.merge(mpi, "h1-1", "nobody")
    with pytest.raises(InvalidInput):
        merging.merge(mpi, "h1-1", linking.master_of(mpi, "h2-7"))
    merging.merge(mpi, "h1-2", "h1-1")
    with pytest.raises(Conflict):
        merging.merge(mpi, "h1-2", "h2-7")
    with pytest.raises(Conflict):
        merging.merge(mpi, "h2-7", "h1-2")
    with pytest.raises(NotFound):
        merging.unmerge(mpi, source_id="h2-7")


def test_later_merge_must_be_undone_first(duplicates):
    mpi = duplicates
    put(mpi, hospital_patient("h1", "3", name="张三"))
    dispatch(mpi)
    first = merging.merge(mpi, "h1-2", "h1-1")
    second = merging.merge(mpi, "h1-3", "h1-1")
    mpi.commit()
    with pytest.raises(Conflict):
        merging.unmerge(mpi, first.merge_id)
    merging.unmerge(mpi, second.merge_id)
    merging.unmerge(mpi, first.merge_id)
    mpi.commit()
    dispatch(mpi)
    assert read(mpi, "Patient", "h1-1").get("link") == [
        {"other": {"reference": f"Patient/{linking.master_of(mpi, 'h1-1')}"}, "type": "refer"}
    ]


def test_merge_answers_an_open_review_and_unmerge_reopens_it(mpi):
    put(mpi, hospital_patient("h1", "1", name="张三", birth="1990-03-07", gender="male", resident=ZHANG))
    put(mpi, hospital_patient("h1", "2", name="章三", birth="1990-03-07", gender="male"))
    dispatch(mpi)
    (task,) = store.search(mpi, "Task", [("_tag", "urn:hub:mpi|review"), ("status", "requested")]).resources
    result = merging.merge(mpi, "h1-2", "h1-1")
    mpi.commit()
    dispatch(mpi)
    done = read(mpi, "Task", task["id"])
    assert done["status"] == "completed" and done["businessStatus"]["text"] == "linked"
    merging.unmerge(mpi, result.merge_id)
    mpi.commit()
    dispatch(mpi)
    assert content(read(mpi, "Task", task["id"])) == content(task)
    assert linking.master_of(mpi, "h1-1") != linking.master_of(mpi, "h1-2")
