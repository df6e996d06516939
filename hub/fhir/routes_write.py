"""create, update and delete (http://hl7.org/fhir/R4/http.html#create, #update, #delete).

``POST /fhir/{type}``           create with a server-assigned id: 201, ``Location`` (with the version), ``ETag``;
                                ``If-None-Exist: <criteria>``: 0 visible matches → create, 1 → 200 with it, 2+ → 412.
``POST /fhir/{type}?<criteria>`` the same conditional create, the criteria in the query (as some clients send them,
                                e.g. fhirpy's ``get_or_create``) rather than ignored; not both (400).
``PUT /fhir/{type}/{id}``       update, or create at that id (201); ``If-Match: W/"n"`` → 412 unless current; the
                                body's id must be the URL's (400).
``PUT /fhir/{type}?<criteria>`` conditional update: 0 visible matches → create, 1 → update it, 2+ → 412.
``PATCH /fhir/{type}/{id}``     a JSON Patch (RFC 6902, ``application/json-patch+json``) of the current version: 200
                                with the result; a failed ``test`` or a path that is not there is 422 and writes
                                nothing; ``If-Match`` as for PUT; the caller must be able to read and update it.
``DELETE /fhir/{type}/{id}``    204 (200 with ``Prefer: return=OperationOutcome``); reading it then is 410;
                                deleting it again is 204; an id never stored is 404.

``Prefer: return=minimal | representation | OperationOutcome`` chooses the body of creates and updates. Each
write is audited in its own transaction (refused and failed attempts too), after the access policy has checked
it (``hub/security/README.md``). AuditEvents are read-only here (405).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import jsonpatch
import jsonpointer
from fastapi import APIRouter, Request
from starlette.responses import Response

from hub.errors import InvalidInput, MethodNotAllowed, PreconditionFailed, UnprocessableEntity
from hub.fhir import store
from hub.fhir.call import Call, CallDep
from hub.fhir.media import FhirResponse
from hub.fhir.rest import (
    BODIES,
    JSON_OBJECT,
    JSON_PATCH,
    RESPONSES,
    WRITES,
    BodyDep,
    FormatParam,
    PatchBodyDep,
    PrettyParam,
    body_spec,
    check_type,
    informational,
    negotiate,
    parse_etag,
    prefer_return,
    write_response,
)
from hub.fhir.writes import READ_ONLY_TYPES, WriteOutcome, WriteRequest, apply, audit_writes
from hub.security.compartment import patients_of

router = APIRouter(responses=RESPONSES)

_NOT_FOR = {"x-fhir-not-for": sorted(READ_ONLY_TYPES)}  # read by capability.py: no writes of these types
_CREATED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Created: the resource (or per Prefer)", "content": JSON_OBJECT},
    200: {"description": "If-None-Exist found it: the resource (or per Prefer)", "content": JSON_OBJECT},
}
_UPDATED: dict[int | str, dict[str, Any]] = {
    201: {"description": "Created at the URL's id (the resource, or per Prefer)", "content": JSON_OBJECT},
    200: {"description": "Updated, or unchanged (the resource, or per Prefer)", "content": JSON_OBJECT},
}


def _criteria(request: Request, header: str | None = None) -> list[tuple[str, str]]:
    if header is not None:
        items = parse_qsl(header.lstrip("?"), keep_blank_values=True)
    else:
        items = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_format", "_pretty")]
    if not items:
        raise InvalidInput("conditional criteria are empty", expression="If-None-Exist" if header is not None else None)
    return items


def _text(outcome: WriteOutcome) -> str:
    what = f"{outcome.resource_type}/{outcome.id}"
    if outcome.status == 201:
        return f"created {what} (version {outcome.version_id})"
    if outcome.interaction == "create":
        return f"{what} already exists (If-None-Exist); nothing created"
    return f"updated {what} (version {outcome.version_id})"


@router.post(
    "/{resource_type}",
    name="create",
    summary="Create a resource (server-assigned id; If-None-Exist for a conditional create)",
    status_code=201,
    responses={**_CREATED, **WRITES, **BODIES},
    openapi_extra={
        **body_spec("The resource (FHIR JSON)"),
        **_NOT_FOR,
        "x-fhir-capability": {"conditionalCreate": True},
    },
)
def create(
    request: Request,
    resource_type: str,
    call: CallDep,
    body: BodyDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    header = request.headers.get("if-none-exist")
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_format", "_pretty")]
    if header is not None and query:
        raise InvalidInput(
            "conditional create criteria in both If-None-Exist and the query", expression="If-None-Exist"
        )
    write = WriteRequest(
        "POST",
        resource_type,
        resource=body,
        if_none_exist=_criteria(request, header) if header is not None else query or None,
    )
    with call.audited("create") as trail:
        outcome = apply(call, [write])[0]
        assert outcome.resource is not None
        trail.add(outcome.resource)
    call.commit()
    return write_response(
        outcome.resource, outcome.status, prefer_return(request), call.base, _text(outcome), pretty=pretty
    )


def _update(request: Request, call: Call, write: WriteRequest, pretty: bool) -> Response:
    refs = [f"{write.resource_type}/{write.id}"] if write.id else []
    with call.audited("update", refs=refs) as trail:
        outcome = apply(call, [write])[0]
        assert outcome.resource is not None
        trail.add(outcome.resource)
    call.commit()
    return write_response(
        outcome.resource, outcome.status, prefer_return(request), call.base, _text(outcome), pretty=pretty
    )


@router.put(
    "/{resource_type}/{id}",
    name="update",
    summary="Update a resource, or create it at this id (If-Match for versioned updates)",
    responses={**_UPDATED, **WRITES, **BODIES},
    openapi_extra={
        **body_spec("The resource (FHIR JSON), with the URL's id"),
        **_NOT_FOR,
        "x-fhir-capability": {"updateCreate": True},
    },
)
def update(
    request: Request,
    resource_type: str,
    id: str,
    call: CallDep,
    body: BodyDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    write = WriteRequest(
        "PUT", resource_type, id=id, resource=body, if_match=parse_etag(request.headers.get("if-match"))
    )
    return _update(request, call, write, pretty)


@router.put(
    "/{resource_type}",
    name="update",
    summary="Conditional update: the resource the search criteria (the query) find, or a new one",
    responses={**_UPDATED, **WRITES, **BODIES},
    openapi_extra={
        **body_spec("The resource (FHIR JSON)"),
        **_NOT_FOR,
        "x-fhir-capability": {"conditionalUpdate": True},
    },
)
def conditional_update(
    request: Request,
    resource_type: str,
    call: CallDep,
    body: BodyDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    write = WriteRequest(
        "PUT",
        resource_type,
        resource=body,
        criteria=_criteria(request),
        if_match=parse_etag(request.headers.get("if-match")),
    )
    return _update(request, call, write, pretty)


@router.delete(
    "/{resource_type}/{id}",
    name="delete",
    summary="Delete a resource (its history stays; a read then answers 410)",
    status_code=204,
    responses={
        204: {"description": "Deleted (or already deleted)"},
        200: {"description": "Deleted (Prefer: return=OperationOutcome)", "content": JSON_OBJECT},
        **WRITES,
    },
    openapi_extra={**_NOT_FOR, "x-fhir-capability": {"conditionalDelete": "not-supported"}},
)
def delete(
    request: Request,
    resource_type: str,
    id: str,
    call: CallDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    write = WriteRequest("DELETE", resource_type, id=id, if_match=parse_etag(request.headers.get("if-match")))
    with call.audited("delete", refs=[f"{resource_type}/{id}"]) as trail:
        outcome = apply(call, [write])[0]
        if outcome.previous is not None:
            trail.patients.extend(sorted(patients_of(outcome.previous)))
        audit_writes(call, [outcome], only_consequences=True)  # the Accounts a deleted Coverage leaves (hub.referrers)
    call.commit()
    headers = {"ETag": f'W/"{outcome.version_id}"'}
    if prefer_return(request) == "OperationOutcome":
        text = f"deleted {resource_type}/{id}" if outcome.previous is not None else f"{resource_type}/{id} was deleted"
        return FhirResponse(informational(text), headers=headers, pretty=pretty)
    return Response(status_code=204, headers=headers)


# -- patch -----------------------------------------------------------------------------------------------------------

MAX_PATCH_OPERATIONS = 1000
_PATCH_OPS = frozenset({"add", "remove", "replace", "move", "copy", "test"})
_PATCH_BODY = {
    "requestBody": {
        "description": "A JSON Patch (RFC 6902): the operations to make on the resource, in order",
        "required": True,
        "content": {JSON_PATCH: {"schema": {"type": "array", "items": {"type": "object"}}}},
    }
}


def _patch_operations(body: Any) -> list[dict[str, Any]]:
    """The body's operations, each checked for its members (RFC 6902 §4).

    Raises:
        InvalidInput: not an array of well-formed operations (400).
    """
    if not isinstance(body, list) or not body:
        raise InvalidInput("a JSON Patch is a non-empty array of operations")
    if len(body) > MAX_PATCH_OPERATIONS:
        raise InvalidInput(f"a JSON Patch of at most {MAX_PATCH_OPERATIONS} operations")
    for n, op in enumerate(body):
        if not isinstance(op, dict) or op.get("op") not in _PATCH_OPS:
            raise InvalidInput(f"operation {n}: 'op' must be one of {', '.join(sorted(_PATCH_OPS))}")
        members = ("path", "from") if op["op"] in ("move", "copy") else ("path",)
        for member in members:
            pointer = op.get(member)
            if not isinstance(pointer, str) or (pointer and not pointer.startswith("/")):
                raise InvalidInput(f"operation {n}: '{member}' must be a JSON Pointer ('/name/0')")
        if op["op"] in ("add", "replace", "test") and "value" not in op:
            raise InvalidInput(f"operation {n}: '{op['op']}' needs a 'value'")
    return body


def _patched(resource: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """The resource with the operations made, one after the other (a failed ``test`` or a path that is not there
    stops the patch: nothing is written).

    Raises:
        UnprocessableEntity: an operation cannot be made, or the result is no longer this resource (422).
    """
    current: Any = resource
    for n, op in enumerate(operations):
        try:
            current = jsonpatch.JsonPatch([op]).apply(current)
        except jsonpatch.JsonPatchTestFailed:
            where = op["path"] or "the whole resource"
            raise UnprocessableEntity(f"operation {n}: the test failed ({where})") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError) as exc:
            # messages name paths and operations, never values
            raise UnprocessableEntity(f"operation {n} ({op['op']} {op['path']}) cannot be made: {exc}") from None
    if not isinstance(current, dict) or (current.get("resourceType"), current.get("id")) != (
        resource["resourceType"],
        resource["id"],
    ):
        raise UnprocessableEntity("a patch may not change the resource's type or id")
    return current


@router.patch(
    "/{resource_type}/{id}",
    name="patch",
    summary="Change a resource by a JSON Patch (RFC 6902); If-Match for a versioned patch",
    responses={200: _UPDATED[200], **WRITES, **BODIES},
    openapi_extra={**_PATCH_BODY, **_NOT_FOR},
)
def patch(
    request: Request,
    resource_type: str,
    id: str,
    call: CallDep,
    body: PatchBodyDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    check_type(resource_type)
    if resource_type in READ_ONLY_TYPES:
        raise MethodNotAllowed(f"{resource_type} resources are written by the hub only")
    operations = _patch_operations(body)
    if_match = parse_etag(request.headers.get("if-match"))
    with call.audited("patch", refs=[f"{resource_type}/{id}"]) as trail:
        call.access.authorize("patch", resource_type)
        # a patch shows what it changes (and its tests probe values): the caller must be able to read the resource
        call.access.authorize("read", resource_type)
        current = store.read(call.session, resource_type, id)
        call.access.check_read(current, "read")
        version = int((current.get("meta") or {}).get("versionId", 0))
        if if_match is not None and if_match != version:
            raise PreconditionFailed(
                f'If-Match W/"{if_match}" is not the current version (W/"{version}")', expression="If-Match"
            )
        changed = _patched(current, operations)
        # written as an update of the version read: a write in between makes this one 412, not lost
        write = WriteRequest("PUT", resource_type, id=id, resource=changed, if_match=version)
        outcome = apply(call, [write])[0]
        assert outcome.resource is not None
        trail.add(outcome.resource)
    call.commit()
    text = f"patched {resource_type}/{id} (version {outcome.version_id})"
    return write_response(outcome.resource, 200, prefer_return(request), call.base, text, pretty=pretty)
