"""Masters and links through the real store and the outbox: resident-ID links, no link on a bad check digit,
review Tasks for near matches, operator decisions, and expansion of a patient reference for searches."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from hub.fhir import store
from hub.identity import linking, records
from hub.identity.tables import MpiKey, MpiReview, MpiSource

from .conftest import LI, ZHANG, bad_check, dispatch, hospital_patient, put, read


def links(resource, link_type):
    return sorted(records.links_of(resource, link_type))


def open_tasks(session):
    page = store.search(session, "Task", [("_tag", "urn:hub:mpi|review"), ("status", "requested")], count=50)
    return [dict(r) for r in page.resources]


def test_same_resident_id_from_two_hospitals_links_to_one_master(mpi):
    put(mpi, hospital_patient("h1", "1001", name="张三", birth="1990-03-07", gender="male", resident=ZHANG))
    put(mpi, hospital_patient("h2", "A-77", name={"family": "Zhang", "given": ["San"]}, resident=ZHANG.lower()))
    dispatch(mpi)

    master_id = linking.master_of(mpi, "h1-1001")
    assert master_id is not None
    assert linking.master_of(mpi, "h2-A-77") == master_id
    master = read(mpi, "Patient", master_id)
    assert records.is_master(master)
    assert master["active"] is True
    assert links(master, "seealso") == ["h1-1001", "h2-A-77"]
    assert {"use": "official", "system": "urn:oid:2.16.156.10011.1.3", "value": ZHANG} in master["identifier"]
    assert master["name"] == [{"text": "张三"}]  # the record with the number and most demographics
    for pid in ("h1-1001", "h2-A-77"):
        source = read(mpi, "Patient", pid)
        assert links(source, "refer") == [master_id]
        assert source["meta"]["tag"] == [{"system": "urn:hub:producer", "code": pid.split("-")[0]}]
    # Strong links never need review.
    assert open_tasks(mpi) == []
    # Settled: dispatching again writes nothing.
    versions = {pid: read(mpi, "Patient", pid)["meta"]["versionId"] for pid in ("h1-1001", "h2-A-77", master_id)}
    put(mpi, hospital_patient("h1", "1001", name="张三", birth="1990-03-07", gender="male", resident=ZHANG))
    dispatch(mpi)
    assert read(mpi, "Patient", master_id)["meta"]["versionId"] == versions[master_id]
    assert links(read(mpi, "Patient", "h1-1001"), "refer") == [master_id]


def test_a_third_hospital_joins_and_a_hospital_update_keeps_the_link(mpi):
    for org, mrn in (("h1", "1"), ("h2", "2"), ("h3", "3")):
        put(mpi, hospital_patient(org, mrn, name="李娜", birth="1985-11-11", gender="female", resident=LI))
    dispatch(mpi)
    master_id = linking.master_of(mpi, "h1-1")
    assert {linking.master_of(mpi, p) for p in ("h1-1", "h2-2", "h3-3")} == {master_id}
    assert links(read(mpi, "Patient", master_id), "seealso") == ["h1-1", "h2-2", "h3-3"]
    # The hospital re-sends its record without the hub's refer link: the index puts it back.
    put(
        mpi,
        hospital_patient("h2", "2", name="李娜", birth="1985-11-11", gender="female", resident=LI, phone="13900000000"),
    )
    dispatch(mpi)
    assert links(read(mpi, "Patient", "h2-2"), "refer") == [master_id]
    assert read(mpi, "Patient", "h2-2")["telecom"][0]["value"] == "13900000000"


def test_invalid_check_digit_does_not_link(mpi):
    put(mpi, hospital_patient("h1", "1001", name="张三", birth="1990-03-07", gender="male", resident=ZHANG))
    put(mpi, hospital_patient("h2", "9", name="王五", birth="1970-01-01", gender="male", resident=bad_check(ZHANG)))
    dispatch(mpi)
    m1, m2 = linking.master_of(mpi, "h1-1001"), linking.master_of(mpi, "h2-9")
    assert m1 and m2 and m1 != m2
    master2 = read(mpi, "Patient", m2)
    assert not any(i["system"] == "urn:oid:2.16.156.10011.1.3" for i in master2["identifier"])
    assert (
        mpi.scalar(select(func.count()).select_from(MpiKey).where(MpiKey.kind == "rid", MpiKey.patient_id == "h2-9"))
        == 0
    )


def test_invalid_check_digit_with_same_demographics_is_reviewed_not_linked(mpi):
    put(mpi, hospital_patient("h1", "1001", name="张三", birth="1990-03-07", gender="male", resident=ZHANG))
    put(mpi, hospital_patient("h2", "9", name="张三", birth="1990-03-07", gender="male", resident=bad_check(ZHANG)))
    dispatch(mpi)
    assert linking.master_of(mpi, "h1-1001") != linking.master_of(mpi, "h2-9")
    tasks = open_tasks(mpi)
    assert len(tasks) == 1
    assert tasks[0]["focus"] == {"reference": "Patient/h2-9"}


PINYIN = {"family": "ZHANG", "given": ["San"]}


def test_near_match_becomes_a_review_task_and_no_link(mpi):
    put(mpi, hospital_patient("h1", "1001", name="张三", birth="1990-03-07", gender="male", phone="13800138000"))
    put(
        mpi, hospital_patient("h2", "55", name={"family": "ZHANG", "given": ["San"]}, birth="1990-03-07", gender="male")
    )
    dispatch(mpi)
    m1, m2 = linking.master_of(mpi, "h1-1001"), linking.master_of(mpi, "h2-55")
    assert m1 != m2
    tasks = open_tasks(mpi)
    assert len(tasks) == 1
    task = tasks[0]
    assert task["intent"] == "order" and task["code"]["coding"][0]["code"] == "review-match"
    assert task["focus"] == {"reference": "Patient/h2-55"}
    inputs = {i["type"]["coding"][0]["code"]: i for i in task["input"]}
    assert inputs["candidate"]["valueReference"] == {"reference": "Patient/h1-1001"}
    assert inputs["candidate-master"]["valueReference"] == {"reference": f"Patient/{m1}"}
    assert 0.5 <= inputs["score"]["valueDecimal"] < 1.0
    assert inputs["match-grade"]["valueCode"] == "possible"
    assert "张" not in inputs["evidence"]["valueString"] and "1990" not in inputs["evidence"]["valueString"]
    assert "for" not in task
    # Re-sending either record does not open a second Task for the same pair.
    put(
        mpi, hospital_patient("h2", "55", name={"family": "ZHANG", "given": ["San"]}, birth="1990-03-07", gender="male")
    )
    dispatch(mpi)
    assert len(open_tasks(mpi)) == 1


def test_a_record_like_many_people_opens_reviews_for_the_likeliest_only(mpi):
    # Eight people at one hospital share a name and birth date; a ninth record, from another hospital, resembles
    # them all. The phone number makes h1-7 the likeliest.
    for i in range(8):
        phone = "13800138007" if i == 7 else f"1390000000{i}"
        put(mpi, hospital_patient("h1", str(i), name="王芳", birth="1985-06-01", gender="female", phone=phone))
    dispatch(mpi)
    focus = Counter(t["focus"]["reference"] for t in open_tasks(mpi))
    # Possible duplicates within the hospital are asked about too, at most MAX_REVIEWS_PER_RECORD per record.
    assert 0 < max(focus.values()) <= linking.MAX_REVIEWS_PER_RECORD  # (records are synced in any order)
    put(mpi, hospital_patient("h2", "9", name="王芳", birth="1985-06-01", gender="female", phone="13800138007"))
    dispatch(mpi)
    tasks = [t for t in open_tasks(mpi) if t["focus"] == {"reference": "Patient/h2-9"}]
    assert len(tasks) == linking.MAX_REVIEWS_PER_RECORD
    candidates = [
        next(i for i in t["input"] if i["type"]["coding"][0]["code"] == "candidate")["valueReference"]["reference"]
        for t in tasks
    ]
    assert "Patient/h1-7" in candidates


def test_unrelated_patients_open_no_review(mpi):
    put(mpi, hospital_patient("h1", "1", name="张三", birth="1990-03-07", gender="male"))
    put(mpi, hospital_patient("h2", "2", name="李四", birth="1990-03-07", gender="male"))
    put(mpi, hospital_patient("h2", "3", name="张三", birth="1962-08-01", gender="male"))
    dispatch(mpi)
    assert open_tasks(mpi) == []
    assert len({linking.master_of(mpi, p) for p in ("h1-1", "h2-2", "h2-3")}) == 3


def test_operator_decides_same_then_records_are_one_person(mpi):
    put(mpi, hospital_patient("h1", "1001", name="张三", birth="1990-03-07", gender="male", phone="13800138000"))
    put(mpi, hospital_patient("h2", "55", name="Zhang San", birth="1990-03-07", gender="male"))
    dispatch(mpi)
    (task,) = open_tasks(mpi)
    m1 = linking.master_of(mpi, "h1-1001")
    m2 = linking.master_of(mpi, "h2-55")
    master = linking.resolve_review(mpi, task["id"], "same")
    mpi.commit()
    dispatch(mpi)
    assert master == m1
    assert linking.master_of(mpi, "h2-55") == m1
    done = read(mpi, "Task", task["id"])
    assert done["status"] == "completed" and done["businessStatus"]["text"] == "linked"
    assert done["output"][0]["valueReference"] == {"reference": f"Patient/{m1}"}
    folded = read(mpi, "Patient", m2)
    assert folded["active"] is False and links(folded, "replaced-by") == [m1]
    assert links(read(mpi, "Patient", m1), "seealso") == ["h1-1001", "h2-55"]
    # The folded master's id still finds the person.
    assert linking.master_of(mpi, m2) == m1
    assert set(linking.expand_patient_ids(mpi, m2)) == {m1, m2, "h1-1001", "h2-55"}


def test_operator_decides_distinct_and_the_pair_is_not_raised_again(mpi):
    put(mpi, hospital_patient("h1", "1001", name="张三", birth="1990-03-07", gender="male"))
    put(mpi, hospital_patient("h2", "55", name="Zhang San", birth="1990-03-07", gender="male"))
    dispatch(mpi)
    (task,) = open_tasks(mpi)
    assert linking.resolve_review(mpi, task["id"], "distinct") is None
    mpi.commit()
    put(mpi, hospital_patient("h2", "55", name="Zhang San", birth="1990-03-07", gender="male", phone="1"))
    dispatch(mpi)
    assert open_tasks(mpi) == []
    assert read(mpi, "Task", task["id"])["businessStatus"]["text"] == "distinct"
    assert linking.master_of(mpi, "h1-1001") != linking.master_of(mpi, "h2-55")


def test_unlink_gives_own_master_and_resident_id_does_not_pull_it_back(mpi):
    put(mpi, hospital_patient("h1", "1", name="张三", resident=ZHANG))
    put(mpi, hospital_patient("h2", "2", name="张三", resident=ZHANG))
    dispatch(mpi)
    shared = linking.master_of(mpi, "h1-1")
    new = linking.unlink(mpi, "h2-2")
    mpi.commit()
    dispatch(mpi)
    assert new != shared and linking.master_of(mpi, "h2-2") == new
    assert links(read(mpi, "Patient", shared), "seealso") == ["h1-1"]
    assert links(read(mpi, "Patient", "h2-2"), "refer") == [new]
    # The hospital re-sends it: the operator's decision holds.
    put(mpi, hospital_patient("h2", "2", name="张三", resident=ZHANG, phone="13800138000"))
    dispatch(mpi)
    assert linking.master_of(mpi, "h2-2") == new
    # A third record with the number now meets two masters that hold it: reviewed, not linked.
    put(mpi, hospital_patient("h3", "3", name="张三", resident=ZHANG))
    dispatch(mpi)
    m3 = linking.master_of(mpi, "h3-3")
    assert m3 not in (shared, new)
    assert {t["focus"]["reference"] for t in open_tasks(mpi)} == {"Patient/h3-3"}
    # Linking back by hand works and reverses the distinct decision.
    assert linking.link(mpi, "h2-2", "h1-1") == shared
    mpi.commit()
    dispatch(mpi)
    assert linking.master_of(mpi, "h2-2") == shared
    assert mpi.scalar(select(func.count()).select_from(MpiReview).where(MpiReview.status == "distinct")) == 0


def test_deleting_a_hospital_record_takes_it_out_of_its_master(mpi):
    put(mpi, hospital_patient("h1", "1", name="张三", resident=ZHANG))
    put(mpi, hospital_patient("h2", "2", name="张三", resident=ZHANG))
    dispatch(mpi)
    master_id = linking.master_of(mpi, "h1-1")
    store.delete(mpi, "Patient", "h2-2")
    mpi.commit()
    dispatch(mpi)
    assert links(read(mpi, "Patient", master_id), "seealso") == ["h1-1"]
    assert mpi.get(MpiSource, "h2-2").status == "deleted"
    assert linking.expand_patient_ids(mpi, master_id) == [master_id, "h1-1"]


def test_expand_patient_ids(mpi):
    put(mpi, hospital_patient("h1", "1", name="张三", resident=ZHANG))
    put(mpi, hospital_patient("h2", "2", name="张三", resident=ZHANG))
    put(mpi, hospital_patient("h3", "3", name="李娜", resident=LI))
    dispatch(mpi)
    master_id = linking.master_of(mpi, "h1-1")
    assert linking.expand_patient_ids(mpi, master_id) == [master_id, "h1-1", "h2-2"]
    assert linking.expand_patient_ids(mpi, "h1-1") == ["h1-1", "h2-2", master_id]  # itself first, then sorted
    assert linking.expand_patient_ids(mpi, "h1-1", include_linked=False) == ["h1-1"]
    assert linking.expand_patient_ids(mpi, "unknown") == ["unknown"]
    assert linking.linked_sources(mpi, master_id) == {"h1-1", "h2-2"}
    assert linking.linked_sources(mpi, "h1-1") == set()
    assert linking.masters_of(mpi, "h2-2") == {master_id}
    assert linking.masters_of(mpi, "unknown") == set()


def test_observations_of_every_linked_hospital_are_found_through_the_master(mpi):
    put(mpi, hospital_patient("h1", "1", name="张三", resident=ZHANG))
    put(mpi, hospital_patient("h2", "2", name="张三", resident=ZHANG))
    put(mpi, hospital_patient("h3", "3", name="李娜", resident=LI))
    for oid, pid in (("o1", "h1-1"), ("o2", "h2-2"), ("o3", "h3-3")):
        put(
            mpi,
            {
                "resourceType": "Observation",
                "id": oid,
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                "subject": {"reference": f"Patient/{pid}"},
            },
        )
    dispatch(mpi)
    master_id = linking.master_of(mpi, "h1-1")
    refs = ",".join(f"Patient/{i}" for i in linking.expand_patient_ids(mpi, master_id))
    page = store.search(mpi, "Observation", [("patient", refs)], count=50)
    assert sorted(r["id"] for r in page.resources) == ["o1", "o2"]
