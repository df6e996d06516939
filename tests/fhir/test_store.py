"""The versioned store: put, no-op writes, history, vread, delete, bundles, the outbox, the index rows."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.db.tables import OutboxEvent, Resource, ResourceVersion, SearchReference, SearchToken
from hub.errors import Gone, InvalidInput, NotFound
from hub.fhir import store
from tests.fhir.factories import inbox_row, observation, patient


def outbox(session: Session) -> list[tuple[str, str, int, str, int | None]]:
    rows = session.execute(select(OutboxEvent).order_by(OutboxEvent.id)).scalars()
    return [(r.resource_type, r.resource_id, r.version_id, r.event, r.inbox_id) for r in rows]


def test_put_creates_version_1_with_meta(session: Session) -> None:
    resource = patient()
    result = store.put(session, resource)
    session.commit()

    assert result == store.WriteResult("Patient", "p1", 1, True, "create")
    stored = store.read(session, "Patient", "p1")
    assert stored["meta"]["versionId"] == "1"
    assert stored["meta"]["lastUpdated"].endswith("Z")
    assert stored["name"] == [{"family": "Zhang", "given": ["San"]}]
    # The caller's dict carries the stored meta.
    assert resource["meta"] == stored["meta"]


def test_same_content_is_not_a_new_version(session: Session) -> None:
    store.put(session, patient())
    session.commit()
    first = store.read(session, "Patient", "p1")

    # Same content, with a stale or missing meta.versionId/lastUpdated: nothing changes.
    again = patient(meta={"versionId": "7", "lastUpdated": "2001-01-01T00:00:00Z"})
    result = store.put(session, again)
    session.commit()
    assert result == store.WriteResult("Patient", "p1", 1, False, None)
    assert again["meta"] == first["meta"]
    assert store.read(session, "Patient", "p1") == first
    assert len(store.history(session, "Patient", "p1")) == 1
    assert len(outbox(session)) == 1

    # Key order does not matter either.
    reordered = dict(reversed(list(patient().items())))
    assert not store.put(session, reordered).changed


def test_changed_content_makes_a_new_version_and_history_keeps_both(session: Session) -> None:
    store.put(session, patient())
    session.commit()
    result = store.put(session, patient(gender="female"))
    session.commit()
    assert result == store.WriteResult("Patient", "p1", 2, True, "update")

    assert store.read(session, "Patient", "p1")["gender"] == "female"
    assert store.vread(session, "Patient", "p1", 1)["gender"] == "male"
    assert store.vread(session, "Patient", "p1", 2)["meta"]["versionId"] == "2"
    hist = store.history(session, "Patient", "p1")
    assert [e["resource"]["meta"]["versionId"] for e in hist] == ["2", "1"]
    assert [e["request"]["method"] for e in hist] == ["PUT", "PUT"]
    assert hist[0]["response"]["etag"] == 'W/"2"'
    assert [r["gender"] for r in hist.resources] == ["female", "male"]
    # A meta element other than versionId/lastUpdated is content.
    assert store.put(session, patient(gender="female", meta={"tag": [{"code": "x"}]})).version_id == 3


def test_vread_and_read_errors(session: Session) -> None:
    store.put(session, patient())
    session.commit()
    with pytest.raises(NotFound):
        store.read(session, "Patient", "nope")
    with pytest.raises(NotFound):
        store.vread(session, "Patient", "p1", 2)
    with pytest.raises(NotFound):
        store.read(session, "NotAType", "p1")
    with pytest.raises(NotFound):
        store.history(session, "Patient", "nope")


def test_delete_is_a_version_then_gone(session: Session) -> None:
    store.put(session, patient())
    store.put(session, observation("o1"))
    session.commit()

    result = store.delete(session, "Patient", "p1")
    session.commit()
    assert result == store.WriteResult("Patient", "p1", 2, True, "delete")
    with pytest.raises(Gone):
        store.read(session, "Patient", "p1")
    with pytest.raises(Gone):
        store.vread(session, "Patient", "p1", 2)
    assert store.vread(session, "Patient", "p1", 1)["id"] == "p1"
    hist = store.history(session, "Patient", "p1")
    assert hist[0] == {
        "request": {"method": "DELETE", "url": "Patient/p1"},
        "response": {"status": "204", "etag": 'W/"2"', "lastModified": hist[0]["response"]["lastModified"]},
    }
    assert len(hist.resources) == 1
    # A deleted resource leaves the index.
    assert store.search(session, "Patient", [("identifier", "urn:hub:mrn:h1|MRN-p1")]).total == 0
    owned = select(func.count()).select_from(SearchToken).where(SearchToken.resource_id == "p1")
    assert session.execute(owned).scalar_one() == 0

    # Deleting again, or something never stored, changes nothing.
    assert store.delete(session, "Patient", "p1") == store.WriteResult("Patient", "p1", 2, False, None)
    assert store.delete(session, "Patient", "never") == store.WriteResult("Patient", "never", 0, False, None)
    assert [e[3] for e in outbox(session)] == ["create", "create", "delete"]

    # Writing it again brings it back as a new version (same content as before the delete).
    back = store.put(session, patient())
    session.commit()
    assert back == store.WriteResult("Patient", "p1", 3, True, "create")
    assert store.read(session, "Patient", "p1")["meta"]["versionId"] == "3"
    assert store.search(session, "Patient", [("identifier", "urn:hub:mrn:h1|MRN-p1")]).total == 1


def test_create_assigns_a_uuid(session: Session) -> None:
    resource = {"resourceType": "Observation", "id": "ignored", "status": "final", "code": {"text": "x"}}
    result = store.create(session, resource)
    session.commit()
    assert result.id != "ignored" and len(result.id) == 36
    assert result.event == "create" and result.version_id == 1
    assert resource["id"] == result.id
    assert store.read(session, "Observation", result.id)["status"] == "final"
    assert store.history(session, "Observation", result.id)[0]["request"] == {"method": "POST", "url": "Observation"}


@pytest.mark.parametrize(
    ("resource", "expression"),
    [
        ({"resourceType": "Nope", "id": "x"}, "resourceType"),
        ({"id": "x"}, "resourceType"),
        ({"resourceType": "Patient"}, "Patient.id"),
        ({"resourceType": "Patient", "id": "has space"}, "Patient.id"),
        ({"resourceType": "Patient", "id": "x" * 65}, "Patient.id"),
        ({"resourceType": "Patient", "id": "a_b"}, "Patient.id"),
        ({"resourceType": "Patient", "id": "x", "meta": "no"}, "Patient.meta"),
    ],
)
def test_invalid_resources_are_refused(session: Session, resource, expression) -> None:
    with pytest.raises(InvalidInput) as info:
        store.put(session, resource)
    assert info.value.expression == expression
    assert session.execute(select(func.count()).select_from(Resource)).scalar_one() == 0


def test_outbox_has_one_event_per_change_with_its_source(session: Session) -> None:
    inbox_id = inbox_row(session)
    store.put(session, patient(), source_inbox_id=inbox_id)
    store.put(session, patient(), source_inbox_id=inbox_id)  # no change, no event
    store.put(session, patient(gender="female"))
    store.delete(session, "Patient", "p1")
    store.delete(session, "Patient", "p1")
    session.commit()
    assert outbox(session) == [
        ("Patient", "p1", 1, "create", inbox_id),
        ("Patient", "p1", 2, "update", None),
        ("Patient", "p1", 3, "delete", None),
    ]
    versions = session.execute(
        select(ResourceVersion.version_id, ResourceVersion.method, ResourceVersion.source_inbox_id).order_by(
            ResourceVersion.version_id
        )
    ).all()
    assert [tuple(v) for v in versions] == [(1, "PUT", inbox_id), (2, "PUT", None), (3, "DELETE", None)]


def test_the_index_follows_the_current_version(session: Session) -> None:
    store.put(session, observation("o1", pid="p1"))
    session.commit()
    assert store.search(session, "Observation", [("patient", "p1")]).total == 1
    store.put(session, observation("o1", pid="p2"))
    session.commit()
    assert store.search(session, "Observation", [("patient", "p1")]).total == 0
    assert store.search(session, "Observation", [("patient", "p2")]).total == 1
    refs = session.execute(
        select(SearchReference.param, SearchReference.target_type, SearchReference.target_id).where(
            SearchReference.resource_id == "o1"
        )
    ).all()
    assert sorted(tuple(r) for r in refs) == [("patient", "Patient", "p2"), ("subject", "Patient", "p2")]


def test_type_history_and_since(session: Session) -> None:
    store.put(session, patient("a"))
    session.commit()
    store.put(session, patient("b"))
    session.commit()
    store.put(session, patient("a", gender="female"))
    session.commit()
    hist = store.history(session, "Patient")
    assert [(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in hist] == [
        ("a", "2"),
        ("b", "1"),
        ("a", "1"),
    ]
    assert len(store.history(session, "Patient", count=2)) == 2
    assert [e["resource"]["id"] for e in store.history(session, "Patient", count=2, offset=2)] == ["a"]
    since = store.vread(session, "Patient", "b", 1)["meta"]["lastUpdated"]
    from datetime import datetime

    recent = store.history(session, "Patient", since=datetime.fromisoformat(since.replace("Z", "+00:00")))
    assert [e["resource"]["id"] for e in recent] == ["a", "b"]
    assert store.history(session, "Observation") == []


# -- bundles ------------------------------------------------------------------------------------------------


def oru_bundle() -> dict:
    """A transaction Bundle as the mapper makes it: PUTs with deterministic ids, urn:uuid references."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
                "resource": patient("p1"),
                "request": {"method": "PUT", "url": "Patient/p1"},
            },
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002",
                "resource": {
                    "resourceType": "Observation",
                    "id": "o1",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                    "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
                },
                "request": {"method": "PUT", "url": "Observation/o1"},
            },
            {
                "fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000003",
                "resource": {
                    "resourceType": "DiagnosticReport",
                    "status": "final",
                    "code": {"text": "CBC"},
                    "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"},
                    "result": [{"reference": "urn:uuid:00000000-0000-4000-8000-000000000002"}],
                },
                "request": {"method": "PUT", "url": "DiagnosticReport/r1"},
            },
        ],
    }


def test_apply_bundle_rewrites_urn_uuid_references(session: Session) -> None:
    inbox_id = inbox_row(session)
    results = store.apply_bundle(session, oru_bundle(), source_inbox_id=inbox_id)
    session.commit()
    assert [(r.resource_type, r.id, r.version_id, r.event) for r in results] == [
        ("Patient", "p1", 1, "create"),
        ("Observation", "o1", 1, "create"),
        ("DiagnosticReport", "r1", 1, "create"),
    ]
    report = store.read(session, "DiagnosticReport", "r1")
    assert report["subject"] == {"reference": "Patient/p1"}
    assert report["result"] == [{"reference": "Observation/o1"}]
    assert store.read(session, "Observation", "o1")["subject"] == {"reference": "Patient/p1"}
    assert store.search(session, "DiagnosticReport", [("result", "Observation/o1")]).total == 1
    assert [e[4] for e in outbox(session)] == [inbox_id] * 3


def test_apply_bundle_twice_changes_nothing(session: Session) -> None:
    store.apply_bundle(session, oru_bundle())
    session.commit()
    keys = (("Patient", "p1"), ("Observation", "o1"), ("DiagnosticReport", "r1"))
    before = {(t, i): store.read(session, t, i) for t, i in keys}
    results = store.apply_bundle(session, oru_bundle())
    session.commit()
    assert [(r.changed, r.event, r.version_id) for r in results] == [(False, None, 1)] * 3
    for (t, i), resource in before.items():
        assert store.read(session, t, i) == resource
    assert len(outbox(session)) == 3
    assert session.execute(select(func.count()).select_from(ResourceVersion)).scalar_one() == 3

    # One changed resource in the bundle: one new version, one event.
    changed = oru_bundle()
    changed["entry"][1]["resource"]["status"] = "amended"
    results = store.apply_bundle(session, changed)
    session.commit()
    assert [r.changed for r in results] == [False, True, False]
    assert results[1].version_id == 2 and results[1].event == "update"
    assert len(outbox(session)) == 4


def test_apply_bundle_only_new_writes_a_resource_only_if_it_never_had_a_row(session: Session) -> None:
    store.put(session, observation("o1", status="final"))
    store.put(session, patient("gone"))
    store.delete(session, "Patient", "gone")
    session.commit()
    bundle = oru_bundle()
    bundle["entry"][1]["resource"]["status"] = "amended"
    bundle["entry"].append({"resource": patient("gone"), "request": {"method": "PUT", "url": "Patient/gone"}})
    only_new = {("Patient", "p1"), ("Observation", "o1"), ("Patient", "gone")}
    results = store.apply_bundle(session, bundle, only_new=only_new)
    session.commit()
    # p1 never stored: created; o1 stored: left as stored; gone: deleted, not brought back; r1 not asked: written
    assert [(r.id, r.changed, r.version_id) for r in results] == [
        ("p1", True, 1),
        ("o1", False, 1),
        ("r1", True, 1),
        ("gone", False, 2),
    ]
    assert store.read(session, "Observation", "o1")["status"] == "final"
    with pytest.raises(Gone):
        store.read(session, "Patient", "gone")


def test_apply_bundle_delete_and_post(session: Session) -> None:
    store.put(session, patient("gone"))
    session.commit()
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "DELETE", "url": "Patient/gone"}},
            {
                "fullUrl": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001",
                "resource": {"resourceType": "Organization", "name": "Hospital 1"},
                "request": {"method": "POST", "url": "Organization"},
            },
            {
                "resource": patient(
                    "p2", managingOrganization={"reference": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001"}
                ),
                "request": {"method": "PUT", "url": "Patient/p2"},
            },
        ],
    }
    results = store.apply_bundle(session, bundle)
    session.commit()
    assert [(r.resource_type, r.event) for r in results] == [
        ("Patient", "delete"),
        ("Organization", "create"),
        ("Patient", "create"),
    ]
    org_id = results[1].id
    assert store.read(session, "Patient", "p2")["managingOrganization"] == {"reference": f"Organization/{org_id}"}
    with pytest.raises(Gone):
        store.read(session, "Patient", "gone")


@pytest.mark.parametrize(
    ("mutate", "expression"),
    [
        (lambda b: b.update(type="collection"), "Bundle.type"),
        (lambda b: b["entry"][1].pop("request"), "Bundle.entry[1].request"),
        (lambda b: b["entry"][1]["request"].update(method="PATCH"), "Bundle.entry[1].request"),
        (lambda b: b["entry"][1]["request"].update(url="Observation"), "Bundle.entry[1].request.url"),
        (lambda b: b["entry"][1]["request"].update(url="Observation?code=x"), "Bundle.entry[1].request.url"),
        (lambda b: b["entry"][1]["request"].update(url="Observation/o2"), "Bundle.entry[1].resource.id"),
        (lambda b: b["entry"][1]["request"].update(url="Patient/o1"), "Bundle.entry[1].resource"),
        (lambda b: b["entry"][2]["request"].update(url="Observation/o1"), "Bundle.entry[2]"),
        (
            lambda b: b["entry"][1]["resource"].update(subject={"reference": "urn:uuid:0000-missing"}),
            "Bundle.entry[1].resource",
        ),
    ],
)
def test_bad_bundles_are_refused_whole(session: Session, mutate, expression) -> None:
    bundle = oru_bundle()
    if expression == "Bundle.entry[2]":
        bundle["entry"][2]["resource"] = copy.deepcopy(bundle["entry"][1]["resource"])
    mutate(bundle)
    with pytest.raises(InvalidInput) as info:
        store.apply_bundle(session, bundle)
    assert info.value.expression == expression
    assert session.execute(select(func.count()).select_from(Resource)).scalar_one() == 0


def test_reindex_rebuilds_the_rows_of_current_resources(session: Session) -> None:
    for n in range(5):
        store.put(session, patient(f"p{n}"))
    store.delete(session, "Patient", "p4")
    session.commit()
    # As if the index were built before a parameter existed: drop every Patient row, then re-index.
    from sqlalchemy import delete

    for table in (SearchToken, SearchReference):
        session.execute(delete(table))
    session.commit()
    assert store.search(session, "Patient", [("identifier", "MRN-p1")]).total == 0
    done, after = store.reindex(session, "Patient", limit=2)
    assert (done, after) == (2, "p1")
    total = done
    while after is not None:
        done, after = store.reindex(session, "Patient", after_id=after, limit=2)
        total += done
    session.commit()
    assert total == 4  # the deleted one stays out
    assert store.search(session, "Patient", [("identifier", "MRN-p1")]).total == 1
    assert store.search(session, "Patient", [("identifier", "MRN-p4")]).total == 0
    # Re-indexing again leaves the same rows (no duplicates).
    before = session.execute(select(func.count()).select_from(SearchToken)).scalar_one()
    store.reindex(session, "Patient")
    session.commit()
    assert session.execute(select(func.count()).select_from(SearchToken)).scalar_one() == before
