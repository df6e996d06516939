"""The FHIR side of the index: master Patients built from their sources, and the links on source records.

FHIR R4 ``Patient.link`` (http://hl7.org/fhir/R4/patient.html#links, code system ``link-type``):

* the hub-owned master links each hospital record with ``seealso`` — "in use and valid … known to contain data
  about the same person", no relative importance;
* each hospital record links its master with ``refer`` — "in use and valid but not considered the main source of
  information … points forward to another patient resource that should be consulted";
* an A40 merge marks the merged-away record inactive with ``replaced-by`` → the survivor, and the survivor
  ``replaces`` → it; a master folded into another master likewise becomes inactive, ``replaced-by`` → the other.

Master records carry the ``urn:hub:mpi|master`` tag and no producer tag (``urn:hub:producer``): they belong to
the hub, not to a hospital. Their content is a pure function of their sources' content, so recomputing a master
after an unmerge gives back exactly what it was.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from hub.errors import NotFound
from hub.fhir import store
from hub.identity import resident_id
from hub.identity.matching import as_list

MPI_SYSTEM = "urn:hub:mpi"
MASTER_TAG = {"system": MPI_SYSTEM, "code": "master", "display": "Master patient record (hub-owned)"}
REVIEW_TAG = {"system": MPI_SYSTEM, "code": "review", "display": "Possible duplicate patient for review"}
# The master's own business identifier, so that clients can search for it by identifier as well as by id.
MASTER_ID_SYSTEM = "urn:hub:mpi:master"

_PATIENT = "Patient/"


def read_patient(session: Session, patient_id: str) -> dict[str, Any] | None:
    """The current Patient, or None when it does not exist or was deleted."""
    try:
        resource = store.read(session, "Patient", patient_id)
    except NotFound:
        return None
    return dict(resource)


def write(session: Session, resource: dict[str, Any], *, inbox_id: int | None = None) -> None:
    store.put(session, resource, source_inbox_id=inbox_id)


def body(resource: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The resource without what the store stamps (``meta.versionId``, ``meta.lastUpdated``), for comparison."""
    if resource is None:
        return None
    out = copy.deepcopy(dict(resource))
    meta = out.get("meta")
    if isinstance(meta, dict):
        meta.pop("versionId", None)
        meta.pop("lastUpdated", None)
        if not meta:
            out.pop("meta")
    return out


def is_master(resource: Mapping[str, Any]) -> bool:
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, Mapping) else None
    return any(
        isinstance(t, Mapping) and t.get("system") == MPI_SYSTEM and t.get("code") == "master" for t in as_list(tags)
    )


def patient_ref(patient_id: str) -> dict[str, str]:
    return {"reference": f"{_PATIENT}{patient_id}"}


def ref_id(reference: Any) -> str | None:
    """The Patient id of a Reference (``Patient/x``, an absolute URL ending so, or ``Patient/x/_history/n``)."""
    if not isinstance(reference, Mapping):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str):
        return None
    parts = ref.split("/")
    for i in range(len(parts) - 1):
        if parts[i] == "Patient" and parts[i + 1]:
            return parts[i + 1]
    return None


def links_of(resource: Mapping[str, Any], link_type: str) -> list[str]:
    """Patient ids that ``resource.link`` points to with ``link_type``."""
    out: list[str] = []
    for link in as_list(resource.get("link")):
        if isinstance(link, Mapping) and link.get("type") == link_type:
            pid = ref_id(link.get("other"))
            if pid:
                out.append(pid)
    return out


def with_links(
    resource: Mapping[str, Any], *, drop: Iterable[tuple[str, str]] = (), add: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    """A copy of ``resource`` with (type, patient id) links removed and appended (each at most once)."""
    dropped = set(drop)
    links: list[Any] = []
    seen: set[tuple[str, str]] = set()
    for link in as_list(resource.get("link")):
        key = (str(link.get("type")), ref_id(link.get("other")) or "") if isinstance(link, Mapping) else None
        if key is not None and key in dropped:
            continue
        if key is not None:
            seen.add(key)
        links.append(link)
    for link_type, pid in add:
        if (link_type, pid) not in seen:
            links.append({"other": patient_ref(pid), "type": link_type})
            seen.add((link_type, pid))
    out = copy.deepcopy(dict(resource))
    if links:
        out["link"] = links
    else:
        out.pop("link", None)
    return out


def source_with_master(resource: Mapping[str, Any], master_id: str | None, masters: Iterable[str]) -> dict[str, Any]:
    """``resource`` with its ``refer`` links to hub masters replaced by one to ``master_id`` (or none)."""
    drop = [("refer", m) for m in masters if m != master_id]
    add = [("refer", master_id)] if master_id else []
    return with_links(resource, drop=drop, add=add)


def _completeness(resource: Mapping[str, Any]) -> int:
    return sum(1 for key in ("name", "birthDate", "gender", "telecom", "address") if resource.get(key))


def _valid_resident_ids(resource: Mapping[str, Any]) -> list[str]:
    out = []
    for ident in as_list(resource.get("identifier")):
        if resident_id.is_resident_id_identifier(ident):
            parsed = resident_id.parse(ident.get("value"))
            if parsed is not None:
                out.append(parsed.value)
    return out


def build_master(master_id: str, sources: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The master Patient for its active sources (id → current resource).

    Demographics come from one source, chosen without timestamps so that the result depends only on content:
    a source with a valid resident ID first, then the most complete, then the smallest id. Every valid resident
    ID of any source is listed. ``link`` lists every source with ``seealso``.
    """
    master: dict[str, Any] = {
        "resourceType": "Patient",
        "id": master_id,
        "meta": {"tag": [dict(MASTER_TAG)]},
        "identifier": [{"use": "official", "system": MASTER_ID_SYSTEM, "value": master_id}],
        "active": True,
    }
    if not sources:
        master["active"] = False
        return master
    rids = sorted({rid for res in sources.values() for rid in _valid_resident_ids(res)})
    master["identifier"].extend({"use": "official", "system": resident_id.SYSTEM, "value": rid} for rid in rids)
    best_id = min(
        sources,
        key=lambda sid: (not _valid_resident_ids(sources[sid]), -_completeness(sources[sid]), sid),
    )
    best = sources[best_id]
    for key in ("name", "gender", "birthDate", "telecom", "address", "maritalStatus"):
        if best.get(key):
            master[key] = copy.deepcopy(best[key])
    master["link"] = [{"other": patient_ref(sid), "type": "seealso"} for sid in sorted(sources)]
    return master


def replaced_master(previous: Mapping[str, Any] | None, master_id: str, replaced_by: str) -> dict[str, Any]:
    """A master folded into ``replaced_by``: inactive, its demographics kept, ``replaced-by`` the survivor."""
    out = copy.deepcopy(dict(previous)) if previous else build_master(master_id, {})
    out.pop("meta", None)
    out["meta"] = {"tag": [dict(MASTER_TAG)]}
    out["active"] = False
    out["link"] = [{"other": patient_ref(replaced_by), "type": "replaced-by"}]
    return out
