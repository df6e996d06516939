"""Read, vread and history (instance and type) — authenticated, authorised and audited.

Each interaction checks the scope first, reads, records what it read in the trail (so a refused read is on the
patient's audit trail too) and then applies the policy: a resource the principal may not see is 403; history
versions it may not see are left out (a deletion is judged by the version before it), and an instance history
with no visible version is 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from hub.errors import Forbidden, InvalidInput
from hub.fhir import store
from hub.fhir.call import Call, CallDep
from hub.fhir.media import FhirResponse
from hub.fhir.rest import (
    RESPONSES,
    VERSIONED,
    FormatParam,
    PrettyParam,
    check_type,
    link,
    negotiate,
    parse_version,
    resource_response,
)

DEFAULT_COUNT = 50
MAX_COUNT = 1000

router = APIRouter(responses=RESPONSES)

CountParam = Annotated[
    int | None, Query(alias="_count", ge=0, le=2**31 - 1, description="Page size (at most 1000 are returned)")
]
OffsetParam = Annotated[int, Query(alias="_offset", ge=0, le=2**31 - 1, description="Resources to skip (paging)")]
SinceParam = Annotated[str | None, Query(alias="_since", description="Versions at or after this instant")]


def read_resource(call: Call, resource_type: str, id: str, version: int | None = None) -> dict[str, Any]:
    """Read (or vread) one resource for the caller, audited in the call's session (the caller commits).

    Raises:
        Forbidden: not granted, or the resource is not the caller's to see.
        NotFound, Gone: no such resource or version; a deleted one.
    """
    interaction = "read" if version is None else "vread"
    ref = f"{resource_type}/{id}" if version is None else f"{resource_type}/{id}/_history/{version}"
    with call.audited(interaction, refs=[ref]) as trail:
        call.access.authorize(interaction, resource_type)
        if version is None:
            resource = store.read(call.session, resource_type, id)
        else:
            resource = store.vread(call.session, resource_type, id, version)
        trail.add(resource)
        call.access.check_read(resource, interaction)
    return resource


@router.get("/{resource_type}/_history", name="history-type", summary="The versions of every resource of a type")
def history_type(
    request: Request,
    resource_type: str,
    call: CallDep,
    count: CountParam = None,
    offset: OffsetParam = 0,
    since: SinceParam = None,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    return _history(request, call, resource_type, None, count, offset, since, format_, pretty)


@router.get(
    "/{resource_type}/{id}/_history/{version_id}",
    name="vread",
    summary="One version of a resource (vread)",
    responses=VERSIONED,
)
def vread(
    request: Request,
    resource_type: str,
    id: str,
    version_id: str,
    call: CallDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    check_type(resource_type)
    version = parse_version(version_id, f"{resource_type}/{id[:64]}")
    resource = read_resource(call, resource_type, id, version)
    call.commit()
    return resource_response(request, resource, pretty)


@router.get("/{resource_type}/{id}/_history", name="history-instance", summary="The versions of a resource")
def history_instance(
    request: Request,
    resource_type: str,
    id: str,
    call: CallDep,
    count: CountParam = None,
    offset: OffsetParam = 0,
    since: SinceParam = None,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    return _history(request, call, resource_type, id, count, offset, since, format_, pretty)


@router.get(
    "/{resource_type}/{id}",
    name="read",
    summary="The current version of a resource",
    responses=VERSIONED,
    openapi_extra={"x-fhir-capability": {"conditionalRead": "not-match"}},
)
def read(
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
    check_type(resource_type)
    resource = read_resource(call, resource_type, id)
    call.commit()
    return resource_response(request, resource, pretty)


def _offset(offset: int) -> list[tuple[str, str]]:
    return [("_offset", str(offset))] if offset else []


def _since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        since_at = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput("_since must be an instant (2024-03-01T00:00:00Z)", expression="_since") from exc
    if since_at.tzinfo is None:
        raise InvalidInput("_since needs a time zone", expression="_since")
    return since_at


def _id_of(entry: dict[str, Any]) -> str:
    return str(entry["resource"]["id"]) if "resource" in entry else str(entry["request"]["url"].split("/", 1)[1])


def _visible(call: Call, entries: store.History, interaction: str) -> list[dict[str, Any]]:
    """The history entries the caller may see; a deletion is judged by the content it deleted."""
    shown = {id(r) for r in call.access.filter(entries.resources, interaction)}
    out: list[dict[str, Any]] = []
    for entry in entries:
        if "resource" in entry:
            if id(entry["resource"]) in shown:
                out.append(entry)
            continue
        rtype, rid = entry["request"]["url"].split("/", 1)
        deleted_version = int(entry["response"]["etag"][3:-1])
        before = store.vread(call.session, rtype, rid, deleted_version - 1)
        if call.access.can_read(before, interaction):
            out.append(entry)
    return out


def _history(
    request: Request,
    call: Call,
    resource_type: str,
    id: str | None,
    count: int | None,
    offset: int,
    since: str | None,
    format_: str | None,
    pretty: bool,
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    check_type(resource_type)
    since_at = _since(since)
    page_size = min(count if count is not None else DEFAULT_COUNT, MAX_COUNT)
    interaction = "history-instance" if id is not None else "history-type"
    with call.audited(interaction, refs=[f"{resource_type}/{id}"] if id is not None else []) as trail:
        call.access.authorize(interaction, resource_type)
        entries = store.history(call.session, resource_type, id, count=page_size, since=since_at, offset=offset)
        visible = _visible(call, entries, interaction)
        trail.add(*(e["resource"] for e in visible if "resource" in e))
        if id is not None and entries and not visible:
            raise Forbidden(f"no version of this {resource_type} is the caller's to see")
    call.commit()
    base = call.base
    path = f"{resource_type}/{id}/_history" if id is not None else f"{resource_type}/_history"
    keep = [("_since", since)] if since else []
    paging = [("_count", str(page_size))]
    links = [{"relation": "self", "url": link(base, path, keep + paging + _offset(offset))}]
    # Paging counts versions before the policy filter: a page may hold fewer than _count entries.
    if page_size and len(entries) == page_size:
        links.append({"relation": "next", "url": link(base, path, keep + paging + _offset(offset + page_size))})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "link": links}
    if visible:
        bundle["entry"] = [{"fullUrl": f"{base}/{resource_type}/{_id_of(entry)}", **entry} for entry in visible]
    return FhirResponse(bundle, pretty=pretty)
