"""References that a snapshot deletion would leave dangling: the sending facility's Accounts naming a deleted Coverage.

An ADT or BAR sends the patient's insurance as a set (IN1 in snapshot mode, :mod:`hub.mapping.snapshots`): a policy
the set no longer holds is deleted. The same hospital's Accounts list the policies they bill
(``Account.coverage.coverage``, made from a BAR's or DFT's IN1), and one of them may name the deleted Coverage: a
client following that reference would get 410 Gone for a policy the account still seems to bill. So the deletion
takes the reference with it, in the same transaction: each such Account is written again without the
``coverage`` items naming a deleted Coverage (a new version; the earlier ones keep them, ``_history`` shows when the
policy left the account). FHIR R4 leaves referential integrity to the server (http://hl7.org/fhir/R4/references.html);
removing the item is what the hospital's message says — the patient has no such policy any more — where marking the
item or keeping a reference to a deleted resource would leave the client to find out.

Which Accounts: those the same sending facility produced (its producer tag, as the set's members) whose
``patient`` (Account.subject) is a beneficiary of a deleted Coverage — the hub's own messages name the patient of
the PID as both — written again as new PUT entries of the Bundle (:meth:`Dangling.updates`, from a version read again
under lock); and an Account the Bundle itself writes merged with its stored version (an A08 with PID-18): the stored
version is cleaned before the merge (:meth:`Dangling.cleaned`), so the merge, and its lock on PostgreSQL, work on what
will be written. Another organisation's Accounts are never changed (they are theirs to correct), nor an Account of
the facility whose subject is another person.

A Coverage deleted through the REST API (``DELETE /fhir/Coverage/…``, or a transaction's DELETE entry) takes its
references along the same way (:func:`hub.fhir.writes.apply`): its producer's Accounts of the beneficiary are
written again in the request's transaction, each with an AuditEvent of its own. The hub writes them on the caller's
behalf, so the caller must be allowed to update each (``Access.check_write("update", …)``: an Account ``u`` scope, its
compartment and organisation): otherwise the request is refused (403) before anything is written, as the PUT of those
Accounts would be — never a deletion that leaves the references behind unsaid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from hub.fhir import store
from hub.fhir.indexer import parse_reference
from hub.security.access import PRODUCER_TAG_SYSTEM, producer_of
from hub.security.compartment import patient_id_of

Key = tuple[str, str]
#: Reads the current versions of resources by key (locked until commit where the database can).
Reader = Callable[[set[Key]], dict[Key, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Referrer:
    """A list element of ``type`` whose items name a resource of the deleted type.

    Attributes:
        type: the referring resource type (``Account``).
        element: its list element (``coverage``), whose items go when they name a deleted resource.
        reference: the Reference inside an item (``coverage``).
        param: the referring type's search parameter naming the patient (``patient``).
        patient: the deleted resource's element naming the same patient (``beneficiary``).
    """

    type: str
    element: str
    reference: str
    param: str
    patient: str


#: deleted type → the references to it that a deletion takes along.
REFERRERS: dict[str, tuple[Referrer, ...]] = {
    "Coverage": (Referrer("Account", "coverage", "coverage", "patient", "beneficiary"),),
}

_PAGE = 200


def without(resource: dict[str, Any], referrer: Referrer, gone: set[str]) -> dict[str, Any] | None:
    """A copy of ``resource`` without the items of ``referrer.element`` that name a resource of ``gone`` (ids of the
    deleted type); None when it names none. The element is left out when no item remains."""
    items = resource.get(referrer.element)
    if not isinstance(items, list):
        return None
    kept = [item for item in items if not _names(item, referrer.reference, gone)]
    if len(kept) == len(items):
        return None
    out = {k: v for k, v in resource.items() if k != referrer.element}
    if kept:
        out[referrer.element] = kept
    return out


def names(resource: dict[str, Any], deleted_type: str, ids: set[str]) -> bool:
    """Whether ``resource`` holds a reference that deleting ``ids`` (of ``deleted_type``) takes along."""
    return any(
        referrer.type == resource.get("resourceType") and without(resource, referrer, ids) is not None
        for referrer in REFERRERS.get(deleted_type, ())
    )


def _names(item: Any, reference: str, gone: set[str]) -> bool:
    target = item.get(reference) if isinstance(item, dict) else None
    ref = target.get("reference") if isinstance(target, dict) else None
    parsed = parse_reference(ref) if isinstance(ref, str) else None
    return parsed is not None and parsed[1] in gone


class Dangling:
    """The references to the resources a message's snapshot sets delete, by referrer and producer.

    Args:
        deleted: the resources the snapshot deletes, as stored (producer tag included).
    """

    def __init__(self, deleted: Iterable[dict[str, Any]]) -> None:
        # (referrer, producer) → the deleted ids, and the patients they belong to
        self.wanted: dict[tuple[Referrer, str], tuple[set[str], set[str]]] = {}
        for resource in deleted:
            producer = producer_of(resource)
            if producer is None:
                continue
            for referrer in REFERRERS.get(str(resource.get("resourceType")), ()):
                gone, patients = self.wanted.setdefault((referrer, producer), (set(), set()))
                gone.add(str(resource.get("id")))
                patient = patient_id_of(resource.get(referrer.patient))
                if patient is not None:
                    patients.add(patient)

    def __bool__(self) -> bool:
        return bool(self.wanted)

    def clean(self, resource: dict[str, Any]) -> dict[str, Any] | None:
        """``resource`` without its references to the deleted resources of its own producer; None when it names
        none of them."""
        rtype, producer = resource.get("resourceType"), producer_of(resource)
        result = resource
        for (referrer, by), (gone, _) in self.wanted.items():
            if referrer.type == rtype and by == producer:
                result = without(result, referrer, gone) or result
        return None if result is resource else result

    def cleaned(self, stored: dict[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
        """Stored versions (the base a message's resources are merged with) without those references: a merged
        Account of the message (an A08 with PID-18) keeps no item naming a deleted Coverage."""
        if not self.wanted:
            return stored
        out = dict(stored)
        for key, resource in stored.items():
            changed = self.clean(resource)
            if changed is not None:
                out[key] = changed
        return out

    def updates(self, session: Session, entries: list[dict[str, Any]], read: Reader) -> list[dict[str, Any]]:
        """PUT entries for the stored referrers the Bundle does not write, each without its references to the
        deleted resources, each once.

        Args:
            session: the conversion's session.
            entries: the Bundle's entries (what they write is left to :meth:`cleaned`).
            read: reads stored resources again, locked until commit where the database can: the new version is
                made from what it returns, so that a concurrent change of the referrer is not lost.
        """
        written = {_key(entry) for entry in entries}
        naming: set[Key] = set()
        for (referrer, producer), (gone, patients) in self.wanted.items():
            for stored in _stored_referrers(session, referrer, producer, patients):
                key = (referrer.type, str(stored.get("id")))
                if key not in written and without(stored, referrer, gone) is not None:
                    naming.add(key)
        out: list[dict[str, Any]] = []
        for key, resource in sorted(read(naming).items()) if naming else ():
            changed = self.clean(resource)
            if changed is not None:
                out.append({"resource": changed, "request": {"method": "PUT", "url": f"{key[0]}/{key[1]}"}})
        return out


def _key(entry: dict[str, Any]) -> Key | None:
    url = (entry.get("request") or {}).get("url")
    if isinstance(url, str) and url.count("/") == 1:
        rtype, rid = url.split("/")
        return (rtype, rid)
    return None


def _stored_referrers(
    session: Session, referrer: Referrer, producer: str, patients: set[str]
) -> Iterable[dict[str, Any]]:
    """The stored ``referrer.type`` resources of ``patients`` that ``producer`` produced."""
    if not patients:
        return
    params = [
        (referrer.param, ",".join(f"Patient/{p}" for p in sorted(patients))),
        ("_tag", f"{PRODUCER_TAG_SYSTEM}|{producer}"),
    ]
    offset = 0
    while True:
        page = store.search(session, referrer.type, params, count=_PAGE, offset=offset, expand_patients=False)
        yield from (r for r in page.resources if producer_of(r) == producer)
        if len(page.resources) < _PAGE:
            return
        offset += _PAGE
