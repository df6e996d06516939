"""Fixtures for the master patient index: hospital Patients written through the real store, and the outbox
dispatched to the index's subscriber as the worker would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from hub.events import dispatch_pending
from hub.fhir import store
from hub.identity import resident_id, subscriber
from hub.identity import tables as _tables  # noqa: F401  (registers the MPI tables for truncation)

PRODUCER = "urn:hub:producer"


def rid(first17: str) -> str:
    """A valid resident ID from its first 17 digits (check character from the standard's weights)."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def bad_check(number: str) -> str:
    return number[:17] + ("0" if number[17] != "0" else "1")


ZHANG = rid("44030419900307123")  # male, born 1990-03-07
LI = rid("11010519851111002")  # female, born 1985-11-11


def hospital_patient(
    org: str,
    mrn: str,
    *,
    name: dict[str, Any] | str | None = None,
    birth: str | None = None,
    gender: str | None = None,
    phone: str | None = None,
    resident: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """A Patient as a hospital's feed produces it: id from facility + MRN, MRN and resident ID identifiers."""
    p: dict[str, Any] = {
        "resourceType": "Patient",
        "id": f"{org}-{mrn}",
        "meta": {"tag": [{"system": PRODUCER, "code": org}]},
        "identifier": [{"system": f"urn:hub:mrn:{org}", "value": mrn}],
    }
    if resident:
        p["identifier"].append({"system": resident_id.SYSTEM, "value": resident})
    if name is not None:
        p["name"] = [name if isinstance(name, dict) else {"text": name}]
    if birth:
        p["birthDate"] = birth
    if gender:
        p["gender"] = gender
    if phone:
        p["telecom"] = [{"system": "phone", "value": phone}]
    if address:
        p["address"] = [{"text": address}]
    return p


def dispatch(session: Session, rounds: int = 20) -> int:
    """Run the outbox until it is empty (the index's own writes come back as events); commit. Returns events."""
    total = 0
    for _ in range(rounds):
        n = dispatch_pending(session)
        session.commit()
        total += n
        if n == 0:
            return total
    raise AssertionError("the outbox did not settle: the subscriber keeps writing")


def put(session: Session, resource: dict[str, Any]) -> None:
    store.put(session, resource)
    session.commit()


def read(session: Session, rtype: str, rid_: str) -> dict[str, Any]:
    return dict(store.read(session, rtype, rid_))


def content(resource: dict[str, Any]) -> dict[str, Any]:
    out = dict(resource)
    meta = dict(out.get("meta") or {})
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    if meta:
        out["meta"] = meta
    else:
        out.pop("meta", None)
    return out


@pytest.fixture
def mpi(session: Session) -> Iterator[Session]:
    """The session, with the index subscribed to Patient events for the test."""
    subscriber.install()
    try:
        yield session
    finally:
        subscriber.uninstall()
