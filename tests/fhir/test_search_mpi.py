"""A reference search on a Patient finds the records of every hospital record linked to the same person (the
master patient index): by id, by Type/id, through a chain, on the master or on any linked record."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from hub.fhir import store
from hub.identity import linking, subscriber
from hub.identity import tables as _tables  # noqa: F401  (registers the MPI tables for truncation)
from tests.fhir.factories import observation
from tests.identity.conftest import LI, ZHANG, dispatch, hospital_patient


@pytest.fixture
def linked(session: Session) -> Iterator[tuple[Session, str]]:
    """h1-1 and h2-2 are one person (same resident ID) at two hospitals; h3-3 is someone else. Each has one
    Observation, and one Encounter. Yields the session and the person's master id."""
    subscriber.install()
    try:
        store.put(session, hospital_patient("h1", "1", name="张三", resident=ZHANG))
        store.put(session, hospital_patient("h2", "2", name="张三", resident=ZHANG))
        store.put(session, hospital_patient("h3", "3", name="李娜", resident=LI))
        for n, pid in ((1, "h1-1"), (2, "h2-2"), (3, "h3-3")):
            store.put(session, observation(f"o{n}", pid=pid))
            store.put(
                session,
                {
                    "resourceType": "Encounter",
                    "id": f"e{n}",
                    "status": "finished",
                    "class": {"code": "AMB"},
                    "subject": {"reference": f"Patient/{pid}"},
                },
            )
        session.commit()
        dispatch(session)
        master = linking.master_of(session, "h1-1")
        assert master is not None and master == linking.master_of(session, "h2-2") != linking.master_of(session, "h3-3")
        yield session, master
    finally:
        subscriber.uninstall()


def found(session: Session, rtype: str, *params: tuple[str, str], **kw) -> list[str]:
    return [r["id"] for r in store.search(session, rtype, list(params), **kw).resources]


def test_the_master_finds_every_linked_hospitals_records(linked) -> None:
    session, master = linked
    assert found(session, "Observation", ("patient", master)) == ["o1", "o2"]
    assert found(session, "Observation", ("patient", f"Patient/{master}")) == ["o1", "o2"]
    assert found(session, "Observation", ("subject", f"Patient/{master}")) == ["o1", "o2"]
    assert found(session, "Observation", ("subject:Patient", master)) == ["o1", "o2"]
    assert found(session, "Observation", ("subject", master)) == ["o1", "o2"]  # untyped: may be a Patient
    assert found(session, "Encounter", ("patient", master)) == ["e1", "e2"]
    assert found(session, "Observation", ("patient", "h3-3")) == ["o3"]


def test_a_linked_record_stands_for_the_person(linked) -> None:
    session, _ = linked
    assert found(session, "Observation", ("patient", "h1-1")) == ["o1", "o2"]
    assert found(session, "Observation", ("patient", "h2-2"), ("code", "http://loinc.org|718-7")) == ["o1", "o2"]
    assert found(session, "Observation", ("patient", "h1-1,h3-3")) == ["o1", "o2", "o3"]
    # Without expansion (the caller asked for the record alone) only the record's own resources.
    assert found(session, "Observation", ("patient", "h1-1"), expand_patients=False) == ["o1"]
    # An id the index does not know is itself.
    assert found(session, "Observation", ("patient", "nobody")) == []


def test_chains_on_patient_expand_too(linked) -> None:
    session, _ = linked
    assert found(session, "Observation", ("subject:Patient.identifier", "urn:hub:mrn:h1|1")) == ["o1", "o2"]
    assert found(session, "Observation", ("patient.identifier", "urn:hub:mrn:h2|2")) == ["o1", "o2"]
    assert found(session, "Observation", ("patient.identifier", "urn:hub:mrn:h3|3")) == ["o3"]
    assert found(session, "Observation", ("patient.identifier", "urn:hub:mrn:h1|1"), expand_patients=False) == ["o1"]


def test_patient_searches_themselves_are_not_expanded(linked) -> None:
    session, _ = linked
    assert found(session, "Patient", ("_id", "h1-1")) == ["h1-1"]


def test_over_http(linked, client) -> None:
    _, master = linked
    response = client.get("/fhir/Observation", params={"patient": master, "_include": "Observation:patient"})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["total"] == 2
    assert [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"] == ["o1", "o2"]
    assert [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "include"] == ["h1-1", "h2-2"]
