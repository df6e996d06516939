"""The access policy: scopes, patient compartment, organisation isolation and consent, for one request.

Routes build one :class:`Access` per request (``access = Access(principal, settings, StoreDirectory(session))``)
and call it before and after touching the store:

* ``access.authorize(interaction, type)`` — the SMART scope check (403);
* ``access.check_read(resource)`` after a read, ``access.filter(resources)`` on search results and
  ``_include``d resources;
* ``access.search_scope(type)`` — search parameters to AND into a search so it only finds what may be seen;
* ``access.check_write(interaction, new, existing)`` before a create/update/delete; it returns the resource to
  store, stamped with the writer's organisation.

The model is described in ``hub/security/README.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from hub.config import Settings
from hub.errors import Forbidden
from hub.security import consent
from hub.security.compartment import (
    NAMING_PATIENT,
    compartment_search,
    is_patient_data,
    is_patient_resource,
    patients_of,
)
from hub.security.principal import Principal
from hub.security.scopes import PERMISSION, Scope, token_matches

#: meta.tag system naming the Organization (by id) that produced a resource. The store keeps it; the mapper
#: sets it from the sending facility, :meth:`Access.check_write` from the writing principal.
PRODUCER_TAG_SYSTEM = "urn:hub:producer"

Resource = Mapping[str, Any]


def producer_of(resource: Resource) -> str | None:
    """The Organization id that produced ``resource`` (its producer ``meta.tag``), if any."""
    meta = resource.get("meta")
    if not isinstance(meta, Mapping):
        return None
    for tag in meta.get("tag", []) or []:
        if isinstance(tag, Mapping) and tag.get("system") == PRODUCER_TAG_SYSTEM and isinstance(tag.get("code"), str):
            return str(tag["code"])
    return None


def stamp_producer(resource: Resource, organization: str) -> dict[str, Any]:
    """A copy of ``resource`` whose producer tag names ``organization`` (any other producer tag removed)."""
    out = copy.deepcopy(dict(resource))
    meta = out.setdefault("meta", {})
    tags = [
        t for t in meta.get("tag", []) or [] if not (isinstance(t, Mapping) and t.get("system") == PRODUCER_TAG_SYSTEM)
    ]
    tags.append({"system": PRODUCER_TAG_SYSTEM, "code": organization})
    meta["tag"] = tags
    return out


def producer_param(organization: str) -> tuple[str, str]:
    """The search parameter selecting what ``organization`` produced."""
    return ("_tag", f"{PRODUCER_TAG_SYSTEM}|{organization}")


class PatientDirectory(Protocol):
    """What the policy needs to know about patients beyond the resource in hand (backed by the store)."""

    def linked(self, patient_id: str) -> set[str]:
        """The other Patient records of the same person, by hub-owned links (never a hospital's Patient.link)."""
        ...

    def masters_of(self, patient_id: str) -> set[str]:
        """Hub-owned master Patients that link to ``patient_id``."""
        ...

    def consents(self, patient_id: str) -> list[dict[str, Any]]:
        """The Consent resources of ``patient_id``."""
        ...


def authorize(principal: Principal, interaction: str, resource_type: str) -> list[Scope]:
    """The SMART scope check.

    Args:
        principal: the caller.
        interaction: a FHIR interaction (``read``, ``vread``, ``search-type``, ``create``, ``update``,
            ``patch``, ``delete``, ``history-instance``, ``history-type``).
        resource_type: the resource type acted on.

    Returns:
        The scopes that grant it (``patient/`` scopes count only with a patient in context).

    Raises:
        Forbidden: no scope grants it.
    """
    if interaction not in PERMISSION:
        raise ValueError(f"unknown interaction {interaction!r}")
    scopes = [
        s
        for s in principal.scopes.granting(interaction, resource_type)
        if s.context != "patient" or principal.patient is not None
    ]
    if principal.role == "system":
        # A system acts for itself: patient/ and user/ scopes need a person.
        scopes = [s for s in scopes if s.context == "system"]
    elif principal.is_patient:
        scopes = [s for s in scopes if s.context in ("patient", "user")]
    if not scopes:
        raise Forbidden(f"no granted scope allows {interaction} on {resource_type}")
    return scopes


@dataclass(frozen=True, slots=True)
class Grant:
    """How a granted interaction is bounded."""

    compartment: bool  # only the principal's patient's compartment
    isolated: bool  # organisation isolation applies
    queries: tuple[tuple[tuple[str, str], ...], ...]  # granular scope queries, any of which suffices; () = none


@dataclass(frozen=True, slots=True)
class SearchScope:
    """Parameters to AND into a search (standard FHIR search parameters the store indexes).

    A name of several parameters joined by commas (``patient,subscriber,policy-holder,payor``) matches when any
    of them matches the value (a patient compartment of several elements, :func:`compartment_search`); the
    store accepts such names in its ``scope`` only.

    The search must still pass its results (and ``_include``d resources) through :meth:`Access.filter`:
    consent, secondary compartment elements and multi-parameter scope queries are checked there.
    """

    params: tuple[tuple[str, str], ...]


class Access:
    """The access policy for one principal in one request (caches patient lookups for the request)."""

    def __init__(
        self, principal: Principal, settings: Settings, directory: PatientDirectory, *, at: datetime | None = None
    ) -> None:
        self.principal = principal
        self.directory = directory
        self.at = at or datetime.now(UTC)
        self._purpose_types: set[str] = set()
        for purpose in principal.purposes:
            self._purpose_types.update(settings.auth_purpose_grants.get(purpose, ()))
        self._compartment: frozenset[str] | None = None
        self._denied: dict[tuple[str, str], bool] = {}

    # -- building blocks -------------------------------------------------------------------------------------

    def grant(self, interaction: str, resource_type: str) -> Grant:
        """The scope check, and how the granted access is bounded (raises :class:`Forbidden`)."""
        scopes = authorize(self.principal, interaction, resource_type)
        p = self.principal
        compartment = p.is_patient or all(s.context == "patient" for s in scopes)
        if compartment and not p.is_patient:
            scopes = [s for s in scopes if s.context == "patient"]
        elif not p.is_patient:
            scopes = [s for s in scopes if s.context != "patient"]
        queries: tuple[tuple[tuple[str, str], ...], ...] = ()
        if all(s.query for s in scopes):
            queries = tuple(dict.fromkeys(s.query for s in scopes))
        isolated = not p.is_patient and not p.hub_wide
        return Grant(compartment=compartment, isolated=isolated, queries=queries)

    def authorize(self, interaction: str, resource_type: str) -> None:
        """Raise :class:`Forbidden` unless a granted scope allows ``interaction`` on ``resource_type``."""
        self.grant(interaction, resource_type)

    def compartment(self) -> frozenset[str]:
        """The patient ids the principal's patient context covers: the patient and the person's other records
        (master and hospital records) according to the master patient index."""
        if self._compartment is None:
            pid = self.principal.patient
            ids = {pid} | self.directory.linked(pid) if pid else set()
            self._compartment = frozenset(ids)
        return self._compartment

    def _consent_denies(self, patient_ids: Iterable[str], resource_type: str) -> bool:
        org = self.principal.organization
        if org is None:
            return True
        for pid in patient_ids:
            key = (pid, resource_type)
            if key not in self._denied:
                consents: list[dict[str, Any]] = []
                for owner in {pid} | self.directory.masters_of(pid):
                    consents.extend(self.directory.consents(owner))
                self._denied[key] = consent.any_denies(
                    consents, org, purposes=self.principal.purposes, resource_type=resource_type, at=self.at
                )
            if self._denied[key]:
                return True
        return False

    def _cross_org_allowed(self, resource_type: str) -> bool:
        if self.principal.organization is None or resource_type == "AuditEvent":
            return False
        return "*" in self._purpose_types or resource_type in self._purpose_types

    def _why_not(self, resource: Resource, grant: Grant) -> str | None:
        """None if ``resource`` may be read under ``grant``; otherwise the reason (no PHI in it)."""
        rtype = str(resource.get("resourceType"))
        if grant.queries and not any(all(token_matches(resource, n, v) for n, v in q) for q in grant.queries):
            return f"the granted scopes do not cover this {rtype}"
        if not is_patient_resource(resource):
            return None
        if grant.compartment:
            if not patients_of(resource) & self.compartment():
                return f"this {rtype} is outside the patient's compartment"
            if rtype == "Group" and not patients_of(resource) <= self.compartment():
                # R4 puts a Group in each member's compartment, but its member list names the other patients
                # (a cohort, a family): a patient context reads only a Group whose patients are all its own.
                return "this Group lists other patients"
            if not self.principal.is_patient and grant.isolated:
                return self._isolation(resource, rtype)
            return None
        if grant.isolated:
            return self._isolation(resource, rtype)
        return None

    def _isolation(self, resource: Resource, rtype: str) -> str | None:
        org = self.principal.organization
        if org is not None and producer_of(resource) == org:
            return None
        if not self._cross_org_allowed(rtype):
            return f"this {rtype} was produced by another organisation and no purpose of use grants it"
        patients = patients_of(resource)
        if self._consent_denies(patients, rtype):
            return "the patient has refused sharing with this organisation"
        return None

    # -- reads -----------------------------------------------------------------------------------------------

    def check_read(self, resource: Resource, interaction: str = "read") -> None:
        """Raise :class:`Forbidden` unless the principal may see ``resource`` (scope, compartment, isolation,
        consent)."""
        rtype = str(resource.get("resourceType"))
        reason = self._why_not(resource, self.grant(interaction, rtype))
        if reason is not None:
            raise Forbidden(reason)

    def can_read(self, resource: Resource, interaction: str = "read") -> bool:
        try:
            self.check_read(resource, interaction)
        except Forbidden:
            return False
        return True

    def filter(self, resources: Sequence[Resource], interaction: str = "search-type") -> list[Resource]:
        """The resources the principal may see, in order (search results, ``_include``, history)."""
        grants: dict[str, Grant | None] = {}
        out: list[Resource] = []
        for resource in resources:
            rtype = str(resource.get("resourceType"))
            if rtype not in grants:
                try:
                    grants[rtype] = self.grant(interaction, rtype)
                except Forbidden:
                    grants[rtype] = None
            grant = grants[rtype]
            if grant is not None and self._why_not(resource, grant) is None:
                out.append(resource)
        return out

    def search_scope(self, resource_type: str) -> SearchScope:
        """The parameters that confine a search of ``resource_type`` to what the principal may see.

        Raises:
            Forbidden: no scope grants searching this type, or the principal can see none of it.
        """
        grant = self.grant("search-type", resource_type)
        params: list[tuple[str, str]] = list(_scope_query(grant) or ())
        if is_patient_data(resource_type):
            if grant.compartment:
                ids = sorted(self.compartment())
                if resource_type == "Patient":
                    params.append(("_id", ",".join(ids)))
                else:
                    names = compartment_search(resource_type)
                    if not names:
                        raise Forbidden(f"{resource_type} cannot be searched within a patient compartment yet")
                    # every compartment element, as a read checks them: any of the parameters naming the patient
                    params.append((",".join(names), ",".join(f"Patient/{i}" for i in ids)))
            if grant.isolated and not self.principal.is_patient and not self._cross_org_allowed(resource_type):
                org = self.principal.organization
                if org is None:
                    raise Forbidden(f"a principal without an organisation cannot search {resource_type}")
                params.append(producer_param(org))
        return SearchScope(tuple(params))

    def search_is_exact(self, resource_type: str) -> bool:
        """Whether :meth:`search_scope`'s parameters alone decide what the principal sees of ``resource_type``.

        When they do not, :meth:`filter` may still take matches away (several granular scopes that no one
        parameter expresses; another organisation's data read under a purpose of use, where a patient's Consent
        may refuse it), and a count of the search's matches would count what the principal may not see.
        """
        grant = self.grant("search-type", resource_type)
        if grant.queries and _scope_query(grant) is None:
            return False
        if resource_type in NAMING_PATIENT and (grant.compartment or grant.isolated):
            return False  # which Devices name a patient, and whose, only the filter tells
        if resource_type == "Group" and grant.compartment:
            return False  # a Group naming other patients besides the principal's
        return not (
            is_patient_data(resource_type)
            and grant.isolated
            and not self.principal.is_patient
            and self._cross_org_allowed(resource_type)
        )

    # -- writes ----------------------------------------------------------------------------------------------

    def check_write(
        self, interaction: str, resource: Resource | None, existing: Resource | None = None
    ) -> dict[str, Any] | None:
        """Check a create, update, patch or delete and return the resource to store.

        Args:
            interaction: ``create``, ``update``, ``patch`` or ``delete``.
            resource: the new content (None for a delete).
            existing: the current version (for update, patch and delete).

        Returns:
            ``resource`` stamped with the writer's organisation (a copy), or None for a delete.

        Raises:
            Forbidden: not granted, outside the compartment, or another organisation's resource.
        """
        target = resource if resource is not None else existing
        if target is None:
            raise ValueError("check_write needs the new or the existing resource")
        rtype = str(target.get("resourceType"))
        grant = self.grant(interaction, rtype)
        p = self.principal
        for r in (resource, existing):
            if r is None:
                continue
            if grant.queries and not any(all(token_matches(r, n, v) for n, v in q) for q in grant.queries):
                raise Forbidden(f"the granted scopes do not cover this {rtype}")
            if grant.compartment:
                if not is_patient_data(rtype):
                    raise Forbidden(f"a patient context cannot write {rtype}")
                if rtype == "Patient" and interaction == "create":
                    raise Forbidden("a patient context cannot create Patient records")
                if not patients_of(r) & self.compartment():
                    raise Forbidden(f"this {rtype} is outside the patient's compartment")
                if rtype == "Group" and not patients_of(r) <= self.compartment():
                    raise Forbidden("this Group lists other patients")  # as a read: a write returns the Group
        if existing is not None and grant.isolated and producer_of(existing) != p.organization:
            raise Forbidden(f"this {rtype} belongs to another organisation")
        if resource is None:
            return None
        claimed = producer_of(resource)
        if p.hub_wide:
            return dict(resource)
        if p.is_patient or p.organization is None:
            if claimed is not None:
                raise Forbidden("only an organisation's own systems can mark what it produced")
            if grant.isolated and not grant.compartment:
                raise Forbidden("a principal without an organisation cannot write")
            return dict(resource)
        if claimed is not None and claimed != p.organization:
            raise Forbidden("a resource cannot be marked as produced by another organisation")
        return stamp_producer(resource, p.organization)


def _scope_query(grant: Grant) -> tuple[tuple[str, str], ...] | None:
    """The search parameters that express the grant's granular scopes (``()`` for none), or None when no
    parameter list can (several queries on different parameters: :meth:`Access.filter` checks those)."""
    if not grant.queries:
        return ()
    if len(grant.queries) == 1:
        return tuple(grant.queries[0])
    names = {n for q in grant.queries for n, _ in q}
    if all(len(q) == 1 for q in grant.queries) and len(names) == 1:
        return ((names.pop(), ",".join(v for q in grant.queries for _, v in q)),)
    return None
