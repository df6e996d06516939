"""Writes through the REST API: create, conditional create, update (create-on-update, ``If-Match``, conditional
update) and delete — one from a route, or many from a transaction Bundle, all-or-nothing in the caller's
transaction (the caller audits and commits).

:func:`apply` does, for all the writes together (http://hl7.org/fhir/R4/http.html#trules):

1. checks each resource (:func:`hub.fhir.validation.check_resource`: 400/422 with the element's expression),
   that a PUT body's ``id`` is the URL's, and that AuditEvents are left to the hub (405);
2. resolves conditions among what the caller may see (``If-None-Exist`` / ``ifNoneExist``: 0 matches → create,
   1 → that resource, 2+ → 412; conditional update ``PUT Type?criteria`` likewise);
3. gives POSTs new ids and rewrites references to entries' ``fullUrl`` (``urn:uuid:…``) and conditional
   references (``Patient?identifier=…``: exactly one visible match, else 412) to ``Type/id``;
4. reads the current rows, checks ``If-Match`` (412) and the access policy with the stored content
   (``Access.check_write``: scope, compartment, organisation; the writer's organisation is stamped);
5. writes everything in one :func:`hub.fhir.store.write` (DELETE, then POST, then PUT), which re-checks
   ``If-Match`` on the rows it claims; with it, what a deletion takes along (:mod:`hub.referrers`: a deleted
   Coverage leaves its producer's Accounts of the beneficiary, each written again from its version read under
   lock, and refused (403) unless the caller may update it), reported as the delete's
   :attr:`WriteOutcome.consequences` for the caller to audit.

Conditions see only what the caller may read, so a conditional create never reveals, or attaches to, another
organisation's record it may not see.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from hub import referrers
from hub.errors import Forbidden, HubError, InvalidInput, MethodNotAllowed, NotFound, PreconditionFailed
from hub.fhir import store
from hub.fhir.call import Call, database_conflicts
from hub.fhir.rest import check_type
from hub.fhir.search_params import RESOURCE_TYPES
from hub.fhir.validation import check_resource
from hub.security.audit import build_event
from hub.security.compartment import patients_of

#: Types the API reads but never writes: the hub writes its own AuditEvents.
READ_ONLY_TYPES = frozenset({"AuditEvent"})
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2}
_CONDITIONAL_REF = re.compile(r"([A-Z][A-Za-z]{1,63})\?(.+)", re.DOTALL)
_PAGE = 50
_MAX_PAGES = 20  # a condition is decided within the first 1,000 candidates the caller may see

Method = Literal["POST", "PUT", "DELETE"]


@dataclass(slots=True)
class WriteRequest:
    """One write as the client asked for it.

    Attributes:
        id: the URL's id (PUT, DELETE); None for POST and conditional update.
        criteria: ``PUT Type?criteria`` (conditional update).
        if_none_exist: ``If-None-Exist`` criteria (conditional create).
        full_url: the Bundle entry's ``fullUrl`` (what other entries' references may name).
        where: the entry's expression in a Bundle (``Bundle.entry[3]``); empty for a single request.
    """

    method: Method
    resource_type: str
    id: str | None = None
    resource: dict[str, Any] | None = None
    criteria: list[tuple[str, str]] | None = None
    if_match: int | None = None
    if_none_exist: list[tuple[str, str]] | None = None
    full_url: str | None = None
    where: str = ""

    @property
    def root(self) -> str:
        """The expression of the resource (``Patient`` or ``Bundle.entry[3].resource``)."""
        return f"{self.where}.resource" if self.where else self.resource_type

    def header(self, name: str, element: str) -> str:
        """The expression of a request header (``If-Match``) or Bundle request element (``…request.ifMatch``)."""
        return f"{self.where}.request.{element}" if self.where else name


@dataclass(slots=True)
class WriteOutcome:
    """What one write did.

    Attributes:
        status: 201 (created), 200 (updated, unchanged, or a conditional create that found its resource), 204
            (deleted, or already deleted).
        interaction: ``create``, ``update`` or ``delete`` (the AuditEvent's subtype).
        resource: the stored resource with its ``meta`` (the existing one for a conditional create match); None
            for a delete.
        previous: the content before the write (update, delete), for the audit.
        consequences: the writes the hub made because of this one, in the same transaction (the Accounts a
            deleted Coverage was taken out of: ``update`` outcomes), each to be audited as a write of its own.
    """

    request: WriteRequest
    status: int
    interaction: str
    resource_type: str
    id: str
    version_id: int
    resource: dict[str, Any] | None
    previous: dict[str, Any] | None
    consequences: list[WriteOutcome] = field(default_factory=list)


@contextmanager
def at(where: str) -> Iterator[None]:
    """In a Bundle entry (``where``), errors name the entry: one without an expression gets the entry's; one
    naming a search parameter of the entry's criteria gets the entry's request (the parameter goes to the text)."""
    try:
        yield
    except HubError as exc:
        if where and exc.expression is None:
            exc.expression = where
        elif where and exc.expression and not exc.expression.startswith("Bundle"):
            exc.message = f"{exc.expression}: {exc.message}"
            exc.expression = f"{where}.request"
        raise


def visible_matches(call: Call, resource_type: str, criteria: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The resources matching ``criteria`` that the caller may see (at most two are needed; stops there).

    Raises:
        InvalidInput: no criteria, or criteria the search refuses.
        Forbidden: the caller may not search the type.
    """
    if not criteria:
        raise InvalidInput("conditional criteria are empty")
    scope = call.access.search_scope(resource_type)
    found: list[dict[str, Any]] = []
    offset = 0
    for _ in range(_MAX_PAGES):
        page = store.search(call.session, resource_type, criteria, count=_PAGE, offset=offset, scope=scope.params)
        found.extend(dict(r) for r in call.access.filter(page.matches))
        offset += _PAGE
        if len(found) > 1 or not page.matches or (page.total is not None and offset >= page.total):
            break
    return found


class _References:
    """Rewrites a resource's references: entries' fullUrls and conditional references to ``Type/id``."""

    def __init__(self, call: Call, targets: dict[str, str]) -> None:
        self.call = call
        self.targets = targets
        self.resolved: dict[str, str] = {}

    def rewrite(self, node: Any, path: str) -> None:
        try:
            self._walk(node, path)
        except RecursionError as exc:
            raise InvalidInput("the resource is nested too deeply", expression=path) from exc

    def _walk(self, node: Any, path: str) -> None:
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str):
                node["reference"] = self._target(ref, f"{path}.reference")
            for key, value in node.items():
                if isinstance(value, dict | list):
                    self._walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, dict | list):
                    self._walk(item, f"{path}[{i}]")

    def _target(self, ref: str, where: str) -> str:
        if ref in self.targets:
            return self.targets[ref]
        if ref.startswith(("urn:uuid:", "urn:oid:")):
            raise InvalidInput(
                f"reference {ref[:80]} is not the fullUrl of an entry of this transaction", expression=where
            )
        match = _CONDITIONAL_REF.fullmatch(ref)
        if match is None or match.group(1) not in RESOURCE_TYPES:
            return ref
        if ref not in self.resolved:
            rtype = match.group(1)
            found = visible_matches(self.call, rtype, parse_qsl(match.group(2), keep_blank_values=True))
            if len(found) != 1:
                raise PreconditionFailed(
                    f"the conditional reference {ref[:120]} matches {'no' if not found else 'several'} {rtype}",
                    expression=where,
                )
            self.resolved[ref] = f"{rtype}/{found[0]['id']}"
        return self.resolved[ref]


def _check_request(request: WriteRequest) -> None:
    """Step 1: the type, the body, the id."""
    check_type(request.resource_type)
    if request.resource_type in READ_ONLY_TYPES:
        raise MethodNotAllowed(f"{request.resource_type} resources are written by the hub only")
    if request.method == "DELETE":
        return
    check_resource(request.resource, request.resource_type, where=request.root)
    assert request.resource is not None
    if request.method == "PUT" and request.criteria is None:
        body_id = request.resource.get("id")
        if body_id is None:
            raise InvalidInput("an update needs the resource's id (the id in the URL)", expression=f"{request.root}.id")
        if body_id != request.id:
            raise InvalidInput(
                f"the resource's id {str(body_id)[:64]!r} is not the id in the URL", expression=f"{request.root}.id"
            )


def _resolve_conditions(call: Call, request: WriteRequest) -> dict[str, Any] | None:
    """Step 2: the resource a conditional create found (None: create); the id of a conditional update."""
    if request.method == "POST" and request.if_none_exist is not None:
        found = visible_matches(call, request.resource_type, request.if_none_exist)
        if len(found) > 1:
            raise PreconditionFailed(
                f"If-None-Exist matches {len(found)} or more {request.resource_type} resources",
                expression=request.header("If-None-Exist", "ifNoneExist"),
            )
        return found[0] if found else None
    if request.method == "PUT" and request.criteria is not None:
        assert request.resource is not None
        found = visible_matches(call, request.resource_type, request.criteria)
        if len(found) > 1:
            raise PreconditionFailed(
                f"the criteria match {len(found)} or more {request.resource_type} resources",
                expression=request.header("url", "url"),
            )
        body_id = request.resource.get("id")
        if found:
            if body_id is not None and body_id != found[0]["id"]:
                raise InvalidInput(
                    "the resource's id is not the id of the resource the criteria found",
                    expression=f"{request.root}.id",
                )
            request.id = str(found[0]["id"])
        else:
            request.id = str(body_id) if isinstance(body_id, str) else str(uuid.uuid4())
        request.resource["id"] = request.id
    return None


def _check_version(request: WriteRequest, current: store.Stored | None) -> None:
    if request.if_match is None:
        return
    if current is None or current.deleted or current.version_id != request.if_match:
        now = "none" if current is None else ("deleted" if current.deleted else f'W/"{current.version_id}"')
        raise PreconditionFailed(
            f'the current version is {now}, not W/"{request.if_match}"',
            expression=request.header("If-Match", "ifMatch"),
        )


def apply(call: Call, requests: list[WriteRequest]) -> list[WriteOutcome]:
    """Make the writes, all or none, in the call's session (see the module docstring); the caller audits and
    commits.

    Returns:
        One :class:`WriteOutcome` per request, in order.

    Raises:
        InvalidInput, UnprocessableEntity, MethodNotAllowed, NotFound: a request that cannot be made (400, 422,
            405, 404; a Bundle entry's errors name it in ``expression``).
        Forbidden: the access policy refuses a write (403).
        PreconditionFailed: ``If-Match``, ``If-None-Exist`` or a conditional reference failed (412).
        Conflict: concurrent writers (409).
    """
    with database_conflicts():
        return _apply(call, requests)


def _apply(call: Call, requests: list[WriteRequest]) -> list[WriteOutcome]:
    found: list[dict[str, Any] | None] = []
    for request in requests:
        with at(request.where):
            _check_request(request)
            found.append(_resolve_conditions(call, request))

    ids: list[str] = []
    targets: dict[str, str] = {}
    for request, existing in zip(requests, found, strict=True):
        if request.method == "POST":
            rid = str(existing["id"]) if existing is not None else str(uuid.uuid4())
        else:
            if request.id is None:  # pragma: no cover - set by the parser or the condition
                raise InvalidInput(f"{request.method} needs an id", expression=request.header("url", "url"))
            rid = request.id
        ids.append(rid)
        if request.full_url:
            targets[request.full_url] = f"{request.resource_type}/{rid}"

    seen: set[tuple[str, str]] = set()
    references = _References(call, targets)
    for request, rid, existing in zip(requests, ids, found, strict=True):
        if existing is not None:
            continue  # a conditional create that found its resource writes nothing
        key = (request.resource_type, rid)
        if key in seen:
            raise InvalidInput(f"{request.resource_type}/{rid} is written twice", expression=request.where or None)
        seen.add(key)
        if request.resource is not None:
            request.resource["id"] = rid
            with at(request.where):
                references.rewrite(request.resource, request.root)

    stored = store.load(
        call.session, [(r.resource_type, rid) for r, rid in zip(requests, ids, strict=True) if r.method != "POST"]
    )
    writes: list[tuple[int, store.Write]] = []
    previous: list[dict[str, Any] | None] = []
    for n, (request, rid, existing) in enumerate(zip(requests, ids, found, strict=True)):
        current = stored.get((request.resource_type, rid))
        previous.append(current.content if current is not None and not current.deleted else None)
        with at(request.where):
            if existing is not None:
                continue  # a conditional create that found its resource: nothing to write
            _check_version(request, current)
            if request.method == "POST":
                to_store = call.access.check_write("create", request.resource)
            elif request.method == "PUT":
                alive = current is not None and not current.deleted
                to_store = call.access.check_write(
                    "update" if alive else "create", request.resource, current.content if current else None
                )
            else:
                if current is None:
                    raise NotFound(f"{request.resource_type}/{rid} is not known")
                to_store = call.access.check_write("delete", None, current.content)
        writes.append((n, store.Write(request.method, request.resource_type, rid, to_store, if_match=request.if_match)))

    writes.sort(key=lambda item: _ORDER[item[1].method])
    cleaned = _referrers(call, requests, ids, stored, writes)
    results = store.write(call.session, [w for _, w in writes] + [w for w, _ in cleaned]) if writes else []
    done: dict[int, tuple[store.Write, store.WriteResult]] = {
        n: (w, r) for (n, w), r in zip(writes, results[: len(writes)], strict=True)
    }
    outcomes: list[WriteOutcome] = []
    for n, (request, rid, existing) in enumerate(zip(requests, ids, found, strict=True)):
        if existing is not None:
            version = int((existing.get("meta") or {}).get("versionId", 0))
            outcomes.append(
                WriteOutcome(request, 200, "create", request.resource_type, rid, version, existing, previous[n])
            )
            continue
        written, result = done[n]
        if request.method == "DELETE":
            status, interaction = 204, "delete"
        elif result.event == "create":
            status, interaction = 201, "create"
        else:
            status, interaction = 200, "update"
        outcomes.append(
            WriteOutcome(
                request,
                status,
                interaction,
                request.resource_type,
                rid,
                result.version_id,
                written.resource,
                previous[n],
            )
        )
    _attach(outcomes, cleaned, results[len(writes) :])
    return outcomes


def audit_writes(call: Call, outcomes: Sequence[WriteOutcome], *, only_consequences: bool = False) -> None:
    """One AuditEvent per write, and per write the hub made because of it (:attr:`WriteOutcome.consequences`,
    described as such), in the caller's session (one batch of statements; the caller commits).

    Args:
        only_consequences: audit only the hub's writes (a route whose :func:`hub.security.audit.audited` records
            the request's own write).
    """
    writes: list[store.Write] = []

    def add(outcome: WriteOutcome, description: str | None = None) -> None:
        resources = [outcome.resource] if outcome.resource is not None else []
        event = build_event(
            principal=call.principal,
            interaction=outcome.interaction,
            resources=resources,
            refs=[f"{outcome.resource_type}/{outcome.id}"],
            patients=sorted(patients_of(outcome.previous)) if outcome.previous is not None and not resources else (),
            source_address=call.context.source_address,
            description=description,
        )
        event["id"] = str(uuid.uuid4())
        writes.append(store.Write("POST", "AuditEvent", event["id"], event))

    for outcome in outcomes:
        if not only_consequences:
            add(outcome)
        for consequence in outcome.consequences:
            add(consequence, f"references to the deleted {outcome.resource_type}/{outcome.id} removed by the hub")
    if writes:
        store.write(call.session, writes)


def _referrers(
    call: Call,
    requests: list[WriteRequest],
    ids: list[str],
    stored: dict[store.Key, store.Stored],
    writes: list[tuple[int, store.Write]],
) -> list[tuple[store.Write, dict[str, Any]]]:
    """The PUTs that take the deleted resources' references along (:mod:`hub.referrers`), with the version each
    was made from. Referrers the request writes itself are left as it writes them."""
    deleted = [
        row.content
        for _, write in writes
        if write.method == "DELETE"
        and (row := stored.get((write.resource_type, write.id))) is not None
        and not row.deleted
    ]
    dangling = referrers.Dangling(deleted)
    if not dangling:
        return []
    entries = [{"request": {"url": f"{r.resource_type}/{rid}"}} for r, rid in zip(requests, ids, strict=True)]

    current: dict[store.Key, dict[str, Any]] = {}

    def read(keys: set[store.Key]) -> dict[store.Key, dict[str, Any]]:
        rows = store.load(call.session, keys, lock=True)
        current.update({key: row.content for key, row in rows.items() if not row.deleted})
        return {key: current[key] for key in keys if key in current}

    out: list[tuple[store.Write, dict[str, Any]]] = []
    for entry in dangling.updates(call.session, entries, read):
        resource = entry["resource"]
        key = (str(resource["resourceType"]), str(resource["id"]))
        cause = next(
            (
                r
                for r in requests
                if r.method == "DELETE" and referrers.names(current[key], r.resource_type, {r.id or ""})
            ),
            None,
        )
        try:
            # The hub writes the referrer on the caller's behalf (the AuditEvent names the caller): the caller must
            # be allowed to update it, as if it sent the PUT itself; otherwise the whole request is refused.
            call.access.check_write("update", None, current[key])
        except Forbidden as exc:
            where = cause.where if cause is not None else ""
            raise Forbidden(
                f"deleting {cause.resource_type if cause else 'this resource'} would change {key[0]} resources that "
                f"name it, and {exc.message}",
                expression=where or None,
            ) from exc
        out.append((store.Write("PUT", key[0], key[1], resource), current[key]))
    return out


def _attach(
    outcomes: list[WriteOutcome],
    cleaned: list[tuple[store.Write, dict[str, Any]]],
    results: list[store.WriteResult],
) -> None:
    """Each referrer written again, as an ``update`` outcome of the first delete whose resource it named."""
    deletes = [o for o in outcomes if o.interaction == "delete" and o.previous is not None]
    for (written, previous), result in zip(cleaned, results, strict=True):
        request = WriteRequest("PUT", written.resource_type, id=written.id, resource=written.resource)
        outcome = WriteOutcome(
            request, 200, "update", written.resource_type, written.id, result.version_id, written.resource, previous
        )
        cause = next((o for o in deletes if referrers.names(previous, o.resource_type, {o.id})), deletes[0])
        cause.consequences.append(outcome)
