"""Small resources for the FHIR tests, persisted by the tests through the real store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.db.tables import InboxMessage


def patient(pid: str = "p1", **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:hub:mrn:h1", "value": f"MRN-{pid}"}],
        "name": [{"family": "Zhang", "given": ["San"]}],
        "gender": "male",
        "birthDate": "1990-03-07",
    }
    resource.update(extra)
    return resource


def observation(oid: str, pid: str = "p1", code: str = "718-7", when: str = "2024-03-01T10:00:00+08:00", **extra: Any):
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": 13.5, "unit": "g/dL", "system": "http://unitsofmeasure.org", "code": "g/dL"},
    }
    resource.update(extra)
    return resource


def inbox_row(session: Session, control_id: str = "MSG1") -> int:
    """An inbox row, so that versions and outbox events can name their source message."""
    row = InboxMessage(
        received_at=datetime.now(UTC),
        transport="cli",
        sending_application="LIS",
        sending_facility="H1",
        control_id=control_id,
        raw=b"MSH|^~\\&|",
        status="converted",
        attempts=1,
    )
    session.add(row)
    session.flush()
    return row.id
