"""The index follows Patient changes through the outbox (:func:`hub.events.subscribe`).

Every committed change of a Patient — a hospital record mapped from HL7 v2, a REST create/update/delete — reaches
:func:`on_patient_event` in the dispatcher's transaction, which syncs the record into the master patient index
(:func:`hub.identity.linking.sync_patient`). The index's own writes (masters, refer links) come back as events too;
syncing is idempotent, so they settle after one round. :func:`install` is called by the app factory and the worker.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from hub.events import ResourceEvent, subscribe, unsubscribe
from hub.identity import linking

log = logging.getLogger(__name__)


def on_patient_event(session: Session, event: ResourceEvent) -> None:
    """Sync one changed Patient into the index (a stale event reads the current version: still correct)."""
    if event.resource_type != "Patient":
        return
    if event.event == "delete":
        linking.forget_patient(session, event.resource_id)
        return
    result = linking.sync_patient(session, event.resource_id, inbox_id=event.inbox_id)
    if result is not None and result.reviews:
        log.info("mpi: event %s opened %d review task(s)", event.event_id, len(result.reviews))


def install() -> None:
    """Subscribe the index to Patient events (idempotent)."""
    subscribe("Patient", on_patient_event)


def uninstall() -> None:
    unsubscribe("Patient", on_patient_event)
