"""``POST /fhir``: transaction and batch Bundles (http://hl7.org/fhir/R4/http.html#transaction).

**transaction** — all or nothing, in one database transaction: the writes go through
:func:`hub.fhir.writes.apply` together (DELETE, POST, PUT; ``urn:uuid`` references to entries' ``fullUrl``
and conditional references rewritten to ``Type/id``; ``ifNoneExist`` / ``ifMatch`` honoured), then the GET
entries are answered (read, vread, search) and see the writes. Every entry has its own AuditEvent, written in
the same transaction, beside the transaction's; any failure rolls everything back, is recorded as a failed
transaction, and is answered with the failing entry's status and an OperationOutcome whose expression names it
(``Bundle.entry[2].resource.birthDate``).

**batch** — each entry on its own (its own database transaction and AuditEvent); a failed entry gets its status
and an OperationOutcome in ``response.outcome``; the others are made. Entries cannot reference each other.

The response is a ``transaction-response`` / ``batch-response`` Bundle, one entry per request entry, in order:
``response.status`` ("201 Created" …), ``location`` (``Type/id/_history/n``), ``etag``, ``lastModified`` and,
by ``Prefer``, the resource or an OperationOutcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.responses import Response

from hub.errors import HubError, InvalidInput, PayloadTooLarge
from hub.fhir.call import Call, CallDep
from hub.fhir.media import FhirResponse
from hub.fhir.outcomes import operation_outcome
from hub.fhir.rest import (
    BODIES,
    JSON_OBJECT,
    RESPONSES,
    WRITES,
    BodyDep,
    FormatParam,
    PrettyParam,
    Return,
    body_spec,
    check_type,
    informational,
    negotiate,
    parse_etag,
    parse_version,
    prefer_return,
)
from hub.fhir.routes_read import read_resource
from hub.fhir.validation import check_resource
from hub.fhir.writes import WriteOutcome, WriteRequest, apply, at, audit_writes
from hub.security.compartment import patients_of

MAX_ENTRIES = 10_000

ROUTE: dict[str, Any] = {
    "name": "transaction",
    "summary": "Process a transaction (all or nothing) or batch (each entry on its own) Bundle",
    "responses": {
        200: {"description": "transaction-response or batch-response Bundle", "content": JSON_OBJECT},
        **RESPONSES,
        **WRITES,
        **BODIES,
    },
    "openapi_extra": {
        **body_spec("A Bundle of type transaction or batch"),
        "x-fhir-interactions": ["transaction", "batch"],
    },
}


@dataclass(slots=True)
class _Entry:
    """One request entry: a write, a read (``version`` for vread) or a search."""

    where: str
    write: WriteRequest | None = None
    read: tuple[str, str, int | None] | None = None
    search: tuple[str, list[tuple[str, str]]] | None = None


def process_bundle(
    request: Request,
    call: CallDep,
    body: BodyDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    """The route (registered on the ``/fhir`` router by :mod:`hub.fhir.api`, whose path is the base itself)."""
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    check_resource(body, "Bundle", where="Bundle", models=False)
    kind = body.get("type")
    if kind not in ("transaction", "batch"):
        raise InvalidInput("POST to the base takes a transaction or batch Bundle", expression="Bundle.type")
    raw = body.get("entry") or []
    if len(raw) > MAX_ENTRIES:
        raise PayloadTooLarge(f"a Bundle of more than {MAX_ENTRIES} entries")
    prefer = prefer_return(request)
    if kind == "transaction":
        entries = [_parse(call, n, e) for n, e in enumerate(raw)]
        response = _transaction(call, entries, prefer)
    else:
        response = _batch(call, raw, prefer)
    return FhirResponse(response, pretty=pretty)


# -- parsing ------------------------------------------------------------------------------------------------------


def _parse(call: Call, n: int, entry: dict[str, Any]) -> _Entry:
    where = f"Bundle.entry[{n}]"
    request = entry.get("request")
    if not isinstance(request, dict):
        raise InvalidInput("an entry needs a request", expression=f"{where}.request")
    method, url = request.get("method"), request.get("url")
    if not isinstance(url, str) or not url:
        raise InvalidInput("an entry's request needs a url", expression=f"{where}.request.url")
    path, _, query = url.partition("?")
    if "://" in path:
        if not path.startswith(call.base + "/"):
            raise InvalidInput("the url names another server", expression=f"{where}.request.url")
        path = path[len(call.base) + 1 :]
    parts = path.strip("/").split("/")
    criteria = parse_qsl(query, keep_blank_values=True)
    resource = entry.get("resource")
    full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
    bad = InvalidInput(f"{method} {url[:120]} is not supported in a Bundle", expression=f"{where}.request.url")
    with at(where):
        check_type(parts[0])
    rtype = parts[0]
    if_match = parse_etag(request.get("ifMatch"), f"{where}.request.ifMatch")
    if method in ("POST", "PUT"):
        if not isinstance(resource, dict):
            raise InvalidInput(f"a {method} entry needs a resource", expression=f"{where}.resource")
        if method == "POST" and len(parts) == 1 and not query:
            condition = request.get("ifNoneExist")
            if_none_exist = parse_qsl(condition.lstrip("?"), keep_blank_values=True) if condition else None
            return _Entry(
                where,
                write=WriteRequest(
                    "POST", rtype, resource=resource, if_none_exist=if_none_exist, full_url=full_url, where=where
                ),
            )
        if method == "PUT" and len(parts) == 2 and not query:
            return _Entry(
                where,
                write=WriteRequest(
                    "PUT", rtype, id=parts[1], resource=resource, if_match=if_match, full_url=full_url, where=where
                ),
            )
        if method == "PUT" and len(parts) == 1 and criteria:
            return _Entry(
                where,
                write=WriteRequest(
                    "PUT",
                    rtype,
                    resource=resource,
                    criteria=criteria,
                    if_match=if_match,
                    full_url=full_url,
                    where=where,
                ),
            )
        raise bad
    if method == "DELETE" and len(parts) == 2 and not query:
        return _Entry(where, write=WriteRequest("DELETE", rtype, id=parts[1], if_match=if_match, where=where))
    if method == "GET":
        if len(parts) == 2 and not query:
            return _Entry(where, read=(rtype, parts[1], None))
        if len(parts) == 4 and parts[2] == "_history" and not query:
            return _Entry(where, read=(rtype, parts[1], parse_version(parts[3], f"{rtype}/{parts[1][:64]}")))
        if len(parts) == 1:
            return _Entry(where, search=(rtype, criteria))
    raise bad


# -- answering ----------------------------------------------------------------------------------------------------


def _status(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def _write_entry(call: Call, outcome: WriteOutcome, prefer: Return) -> dict[str, Any]:
    response: dict[str, Any] = {"status": _status(outcome.status)}
    entry: dict[str, Any] = {}
    resource = outcome.resource
    if resource is not None:
        meta = resource.get("meta") or {}
        entry["fullUrl"] = f"{call.base}/{outcome.resource_type}/{outcome.id}"
        response["location"] = f"{outcome.resource_type}/{outcome.id}/_history/{meta.get('versionId')}"
        response["etag"] = f'W/"{meta.get("versionId")}"'
        if meta.get("lastUpdated"):
            response["lastModified"] = meta["lastUpdated"]
        if prefer == "representation":
            entry["resource"] = resource
    else:
        response["etag"] = f'W/"{outcome.version_id}"'
    if prefer == "OperationOutcome":
        response["outcome"] = informational(f"{outcome.interaction} {outcome.resource_type}/{outcome.id}")
    entry["response"] = response
    return entry


def _read_entry(call: Call, entry: _Entry) -> dict[str, Any]:
    if entry.read is not None:
        rtype, rid, version = entry.read
        resource = read_resource(call, rtype, rid, version)
        meta = resource.get("meta") or {}
        response = {"status": _status(200), "etag": f'W/"{meta.get("versionId")}"'}
        if meta.get("lastUpdated"):
            response["lastModified"] = meta["lastUpdated"]
        return {"fullUrl": f"{call.base}/{rtype}/{rid}", "resource": resource, "response": response}
    assert entry.search is not None
    from hub.fhir.api import search_bundle  # the api module includes this one's route

    rtype, criteria = entry.search
    count = next((int(v) for k, v in criteria if k == "_count" and v.isdigit() and len(v) < 10), None)
    params = [(k, v) for k, v in criteria if k not in ("_count", "_format", "_pretty")]
    bundle = search_bundle(call, rtype, params, count=count, offset=0, lenient=False)
    return {"resource": bundle, "response": {"status": _status(200)}}


def _error_entry(exc: HubError) -> dict[str, Any]:
    outcome = operation_outcome(exc.message, code=exc.code, expression=exc.expression)
    return {"response": {"status": _status(exc.status), "outcome": outcome}}


def _transaction(call: Call, entries: list[_Entry], prefer: Return) -> dict[str, Any]:
    writes = [e for e in entries if e.write is not None]
    out: dict[int, dict[str, Any]] = {}
    with call.audited("transaction") as trail:
        trail.refs.extend(f"{e.write.resource_type}/{e.write.id}" for e in writes if e.write and e.write.id)
        outcomes = apply(call, [e.write for e in writes if e.write is not None])
        audit_writes(call, outcomes)
        for entry, outcome in zip(writes, outcomes, strict=True):
            out[id(entry)] = _write_entry(call, outcome, prefer)
        for entry in entries:
            if entry.write is None:
                with at(entry.where):
                    out[id(entry)] = _read_entry(call, entry)
    call.commit()
    return _response("transaction-response", [out[id(e)] for e in entries])


def _batch(call: Call, raw: list[dict[str, Any]], prefer: Return) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for n, item in enumerate(raw):
        try:
            entry = _parse(call, n, item)
            if entry.write is None:
                with at(entry.where):
                    results.append(_read_entry(call, entry))
                call.commit()
                continue
            write = entry.write
            interaction = {"POST": "create", "PUT": "update", "DELETE": "delete"}[write.method]
            refs = [f"{write.resource_type}/{write.id}"] if write.id else []
            with call.audited(interaction, refs=refs) as trail:
                outcome = apply(call, [write])[0]
                if outcome.resource is not None:
                    trail.add(outcome.resource)
                elif outcome.previous is not None:
                    trail.patients.extend(sorted(patients_of(outcome.previous)))
                audit_writes(call, [outcome], only_consequences=True)
            call.commit()
            results.append(_write_entry(call, outcome, prefer))
        except HubError as exc:
            call.session.rollback()
            if exc.expression is None or not exc.expression.startswith("Bundle"):
                exc.expression = f"Bundle.entry[{n}]"
            results.append(_error_entry(exc))
    return _response("batch-response", results)


def _response(kind: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": kind}
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    return bundle
