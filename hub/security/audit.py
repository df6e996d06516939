"""AuditEvent: a FHIR R4 AuditEvent for every read, search and write, stored through the FHIR store.

:func:`record` writes the event in the caller's session, so a write and its audit commit together; a read's
audit commits with the read's own short transaction. :func:`audited` wraps an interaction: on success it
records the event (the caller commits); on failure it rolls the caller's work back, records the failed attempt
and commits that alone, then re-raises.

Each event names who (the user and/or the client, their organisation), on whose behalf (the patients whose
records were touched, as ``entity`` with role Patient, so ``AuditEvent?patient=…`` finds them), what
(``Type/id/_history/v`` of each resource; the search query, base64, for searches), when (``recorded``), from
where (``agent.network.address``), why (``purposeOfEvent``) and the outcome. Nothing of it goes to the logs.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.errors import HubError
from hub.fhir import store
from hub.security.compartment import patients_of
from hub.security.deps import RequestContext
from hub.security.principal import Principal

log = logging.getLogger(__name__)

_ACTION = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
    "search-type": "E",
    "search-system": "E",
    "history-type": "E",
    "history-system": "E",
    "transaction": "E",
    "batch": "E",
    "operation": "E",
}
_V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
_DICOM = "http://dicom.nema.org/resources/ontology/DCM"
USER_ID_SYSTEM = "urn:hub:user"
CLIENT_ID_SYSTEM = "urn:hub:client"


def outcome_code(outcome: int | HubError | BaseException | None) -> str:
    """AuditEvent.outcome: 0 success, 4 minor failure (refused, not found, invalid), 8 serious (server)."""
    if outcome is None or outcome == 0:
        return "0"
    if isinstance(outcome, int):
        return str(outcome)
    if isinstance(outcome, HubError) and outcome.status < 500:
        return "4"
    return "8"


def _reference(resource: Mapping[str, Any]) -> str:
    ref = f"{resource.get('resourceType')}/{resource.get('id')}"
    meta = resource.get("meta")
    if isinstance(meta, Mapping) and meta.get("versionId"):
        ref += f"/_history/{meta['versionId']}"
    return ref


def build_event(
    *,
    principal: Principal | None,
    interaction: str,
    outcome: int | HubError | BaseException | None = 0,
    resources: Sequence[Mapping[str, Any]] = (),
    refs: Sequence[str] = (),
    patients: Iterable[str] = (),
    purpose: Sequence[str] | None = None,
    source_address: str | None = None,
    query: str | None = None,
    description: str | None = None,
    recorded: datetime | None = None,
) -> dict[str, Any]:
    """The AuditEvent for one interaction (not stored; see :func:`record`)."""
    when = (recorded or datetime.now(UTC)).astimezone(UTC)
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": interaction}],
        "action": _ACTION.get(interaction, "E"),
        "recorded": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "outcome": outcome_code(outcome),
        "agent": [],
        "source": {
            "site": "city-health-hub",
            "observer": {"display": "city-health-hub"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4"}],
        },
        "entity": [],
    }
    if isinstance(outcome, BaseException):
        event["outcomeDesc"] = outcome.message if isinstance(outcome, HubError) else type(outcome).__name__
    purposes = list(purpose) if purpose is not None else list(principal.purposes if principal else ())
    if purposes:
        event["purposeOfEvent"] = [{"coding": [{"system": _V3_ACT_REASON, "code": p}]} for p in purposes]
    network = {"address": source_address, "type": "2"} if source_address else None
    if principal is not None:
        policy = [f"urn:jti:{principal.token_id}"] if principal.token_id else []
        if principal.is_user:
            who: dict[str, Any] = {"identifier": {"system": USER_ID_SYSTEM, "value": principal.subject}}
            if principal.fhir_user:
                who["reference"] = principal.fhir_user
            user_agent: dict[str, Any] = {
                "type": {"coding": [{"system": _SECURITY_ROLE, "code": "humanuser"}]},
                "role": [{"text": principal.role}],
                "who": who,
                "requestor": True,
            }
            event["agent"].append(user_agent)
        client_agent: dict[str, Any] = {
            "type": {"coding": [{"system": _DICOM, "code": "110150", "display": "Application"}]},
            "who": {"identifier": {"system": CLIENT_ID_SYSTEM, "value": principal.client_id}},
            "requestor": not principal.is_user,
        }
        event["agent"].append(client_agent)
        if principal.organization:
            event["agent"].append(
                {
                    "type": {
                        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "code": "PROV"}]
                    },
                    "who": {"reference": f"Organization/{principal.organization}"},
                    "requestor": False,
                }
            )
        first = event["agent"][0]
        if network:
            first["network"] = network
        if policy:
            first["policy"] = policy
        if purposes:
            first["purposeOfUse"] = event["purposeOfEvent"]
    else:
        anonymous: dict[str, Any] = {"who": {"display": "unauthenticated"}, "requestor": True}
        if network:
            anonymous["network"] = network
        event["agent"].append(anonymous)

    seen: set[str] = set()
    patient_ids: list[str] = list(dict.fromkeys(patients))
    for resource in resources:
        ref = _reference(resource)
        if ref not in seen:
            seen.add(ref)
            event["entity"].append(_object(ref))
        # A patient listing their own audit trail is not a disclosure of it: no entity, no ever-growing trail.
        if resource.get("resourceType") != "AuditEvent":
            patient_ids.extend(sorted(patients_of(resource)))
    for ref in refs:
        # "Observation/1" asked for and "Observation/1/_history/3" read: one entity, the precise one.
        if ref not in seen and not any(r.startswith(ref + "/_history/") for r in seen):
            seen.add(ref)
            event["entity"].append(_object(ref))
    for pid in dict.fromkeys(patient_ids):
        ref = f"Patient/{pid}"
        event["entity"].append(
            {
                "what": {"reference": ref},
                "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    if query:
        event["entity"].append(
            {
                "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": _OBJECT_ROLE, "code": "24", "display": "Query"},
                "query": base64.b64encode(query.encode()).decode(),
            }
        )
    if description:
        event["entity"].append({"description": description})
    if not event["entity"]:
        del event["entity"]
    return event


def _object(ref: str) -> dict[str, Any]:
    return {
        "what": {"reference": ref},
        "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": _OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
    }


def record(
    session: Session,
    *,
    principal: Principal | None,
    interaction: str,
    outcome: int | HubError | BaseException | None = 0,
    resources: Sequence[Mapping[str, Any]] = (),
    refs: Sequence[str] = (),
    patients: Iterable[str] = (),
    purpose: Sequence[str] | None = None,
    source_address: str | None = None,
    query: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Write an AuditEvent through the store in the caller's transaction (flushes, never commits).

    Args:
        session: the caller's session; the event commits with the caller's work.
        principal: who (None: an unauthenticated request).
        interaction: the FHIR interaction (``read``, ``search-type``, ``create`` …); sets ``action``.
        outcome: 0 for success, or the error that ended the interaction.
        resources: the resources read or written (their references and patients are recorded).
        refs: further references (``Observation/1``) for resources not at hand (a refused read).
        patients: further patient ids on whose records the interaction bore.
        purpose: purposes of use (default: the principal's).
        source_address: the peer address.
        query: the search query string, for searches.
        description: a short note without personal data.

    Returns:
        The AuditEvent as stored (with its id).
    """
    event = build_event(
        principal=principal,
        interaction=interaction,
        outcome=outcome,
        resources=resources,
        refs=refs,
        patients=patients,
        purpose=purpose,
        source_address=source_address,
        query=query,
        description=description,
    )
    store.create(session, event)  # assigns the id and meta
    return event


@dataclass
class Trail:
    """What an audited interaction touched; the route adds to it as it goes."""

    resources: list[Mapping[str, Any]] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)

    def add(self, *resources: Mapping[str, Any]) -> None:
        self.resources.extend(resources)


@contextmanager
def audited(
    session: Session,
    *,
    principal: Principal | None,
    interaction: str,
    context: RequestContext | None = None,
    refs: Sequence[str] = (),
) -> Iterator[Trail]:
    """Audit one interaction.

    On success the event is written in ``session`` (the caller commits it with its work). On an error the
    caller's uncommitted work is rolled back, the failed attempt is recorded and committed on its own, and the
    error propagates.
    """
    trail = Trail(refs=list(refs))
    query = context.query if context is not None and interaction.startswith(("search", "history-type")) else None
    address = context.source_address if context is not None else None
    try:
        yield trail
    except BaseException as exc:
        session.rollback()
        try:
            record(
                session,
                principal=principal,
                interaction=interaction,
                outcome=exc,
                resources=trail.resources,
                refs=trail.refs,
                patients=trail.patients,
                source_address=address,
                query=query,
            )
            session.commit()
        except Exception:
            session.rollback()
            log.exception("could not record the audit event of a failed %s", interaction)
        raise
    record(
        session,
        principal=principal,
        interaction=interaction,
        resources=trail.resources,
        refs=trail.refs,
        patients=trail.patients,
        source_address=address,
        query=query,
    )
