"""The FHIR REST API (read side): capabilities, read, vread, history, search (http://hl7.org/fhir/R4/http.html).

Each route's ``name`` is its FHIR interaction code; :mod:`hub.fhir.capability` lists what is routed, so a
route added here (or by another router under ``/fhir``) appears in ``/fhir/metadata`` by itself. Routes are
plain functions (run in the thread pool): the store is synchronous SQLAlchemy.

Search pages are ``_count`` long (``HUB_FHIR_SEARCH_DEFAULT_COUNT``, at most ``HUB_FHIR_SEARCH_MAX_COUNT``);
the ``previous``/``next``/``last`` links carry a keyset ``_cursor`` (:mod:`hub.fhir.search_paging`), so pages
stay right while data changes. ``Prefer: handling=lenient`` ignores unknown or unsupported search parameters
(reported in an OperationOutcome entry, left out of the self link); the default is strict (400). History pages
use ``_count`` and ``_offset``.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from hub.config import Settings
from hub.errors import InvalidInput, NotFound
from hub.fhir import store
from hub.fhir.capability import capability_statement
from hub.fhir.deps import SessionDep, SettingsDep
from hub.fhir.media import FHIR_JSON, FhirResponse, wants_json
from hub.fhir.outcomes import operation_outcome, outcome_response
from hub.fhir.search_params import RESOURCE_TYPES

_VERSION = re.compile(r"[0-9]{1,9}")
DEFAULT_COUNT = 50
MAX_COUNT = 1000
# Result parameters handled here, not by the search (http://hl7.org/fhir/R4/search.html#Summary).
_CONTROL = frozenset({"_count", "_offset", "_format", "_pretty"})

_JSON_OBJECT = {FHIR_JSON: {"schema": {"type": "object"}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    200: {"description": "A FHIR resource (JSON)", "content": _JSON_OBJECT},
    **{
        status: {"description": f"{text} (OperationOutcome)", "content": _JSON_OBJECT}
        for status, text in (
            (400, "Invalid request or parameter"),
            (404, "Unknown resource type or id"),
            (406, "A format other than JSON asked for"),
        )
    },
    # Also stands for FastAPI's 422: request validation errors are answered 400 here.
    "4XX": {"description": "Other client errors (OperationOutcome)", "content": _JSON_OBJECT},
    500: {"description": "Server error (OperationOutcome)", "content": _JSON_OBJECT},
}
_VERSIONED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match matched the version)"},
    410: {"description": "Deleted (OperationOutcome)", "content": _JSON_OBJECT},
}

router = APIRouter(prefix="/fhir", tags=["FHIR"], default_response_class=FhirResponse, responses=_ERRORS)

CountParam = Annotated[
    int | None, Query(alias="_count", ge=0, le=2**31 - 1, description="Page size (at most 1000 are returned)")
]
OffsetParam = Annotated[int, Query(alias="_offset", ge=0, le=2**31 - 1, description="Resources to skip (paging)")]
FormatParam = Annotated[str | None, Query(alias="_format", description="json (the only format served)")]
PrettyParam = Annotated[bool, Query(alias="_pretty", description="Indent the JSON")]


def _base(settings: Settings, request: Request | None = None) -> str:
    """The configured FHIR base URL; when it is empty, the base of ``request`` (the FHIR prefix under it)."""
    if not settings.fhir_base_url and request is not None:
        return str(request.base_url).rstrip("/") + router.prefix
    return settings.fhir_base_url.rstrip("/")


def _negotiate(request: Request, format_param: str | None) -> Response | None:
    if wants_json(format_param, request.headers.get("accept")):
        return None
    return outcome_response(406, "only FHIR JSON (application/fhir+json) is served", code="not-supported")


def _check_type(resource_type: str) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise NotFound(f"unknown resource type {resource_type[:64]!r}")


def _version_headers(resource: dict[str, Any]) -> dict[str, str]:
    meta = resource.get("meta") or {}
    headers = {"ETag": f'W/"{meta.get("versionId", "")}"'}
    updated = meta.get("lastUpdated")
    if isinstance(updated, str):
        headers["Last-Modified"] = format_datetime(datetime.fromisoformat(updated.replace("Z", "+00:00")), usegmt=True)
    return headers


def _resource_response(request: Request, resource: dict[str, Any], pretty: bool) -> Response:
    headers = _version_headers(resource)
    if request.headers.get("if-none-match", "").strip() in (headers["ETag"], headers["ETag"][2:]):
        return Response(status_code=304, headers=headers)
    return FhirResponse(resource, headers=headers, pretty=pretty)


def _link(base: str, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base}/{path}?{query}" if query else f"{base}/{path}"


@router.get("/metadata", name="capabilities", summary="The CapabilityStatement: what this server implements")
def metadata(
    request: Request, settings: SettingsDep, format_: FormatParam = None, pretty: PrettyParam = False
) -> Response:
    refused = _negotiate(request, format_)
    if refused is not None:
        return refused
    body = capability_statement(request.app, base_url=_base(settings), prefix=router.prefix)
    return FhirResponse(body, pretty=pretty)


@router.get("/{resource_type}/_history", name="history-type", summary="The versions of every resource of a type")
def history_type(
    request: Request,
    resource_type: str,
    session: SessionDep,
    settings: SettingsDep,
    count: CountParam = None,
    offset: OffsetParam = 0,
    since: Annotated[str | None, Query(alias="_since", description="Versions at or after this instant")] = None,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    return _history(request, session, settings, resource_type, None, count, offset, since, format_, pretty)


@router.get("/{resource_type}/{id}/_history/{version_id}", name="vread", summary="One version of a resource (vread)")
def vread(
    request: Request,
    resource_type: str,
    id: str,
    version_id: str,
    session: SessionDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = _negotiate(request, format_)
    if refused is not None:
        return refused
    _check_type(resource_type)
    if not _VERSION.fullmatch(version_id):
        raise NotFound(f"{resource_type}/{id[:64]} has no version {version_id[:16]!r}")
    return _resource_response(request, store.vread(session, resource_type, id, int(version_id)), pretty)


@router.get("/{resource_type}/{id}/_history", name="history-instance", summary="The versions of a resource")
def history_instance(
    request: Request,
    resource_type: str,
    id: str,
    session: SessionDep,
    settings: SettingsDep,
    count: CountParam = None,
    offset: OffsetParam = 0,
    since: Annotated[str | None, Query(alias="_since", description="Versions at or after this instant")] = None,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    return _history(request, session, settings, resource_type, id, count, offset, since, format_, pretty)


@router.get("/{resource_type}/{id}", name="read", summary="The current version of a resource", responses=_VERSIONED)
def read(
    request: Request,
    resource_type: str,
    id: str,
    session: SessionDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = _negotiate(request, format_)
    if refused is not None:
        return refused
    return _resource_response(request, store.read(session, resource_type, id), pretty)


@router.get("/{resource_type}", name="search-type", summary="Search resources of a type (searchset Bundle)")
def search(
    request: Request,
    resource_type: str,
    session: SessionDep,
    settings: SettingsDep,
    count: CountParam = None,
    offset: OffsetParam = 0,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = _negotiate(request, format_)
    if refused is not None:
        return refused
    _check_type(resource_type)
    wanted = count if count is not None else settings.fhir_search_default_count
    page_size = min(wanted, settings.fhir_search_max_count)
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in _CONTROL]
    lenient = "handling=lenient" in request.headers.get("prefer", "").replace(" ", "")
    result = store.search(session, resource_type, params, count=page_size, offset=offset, strict=not lenient)

    base = _base(settings, request)
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"{base}/{resource_type}/{r['id']}", "resource": result.shaped(r), "search": {"mode": "match"}}
        for r in result.matches
    ]
    entries.extend(
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "include"}}
        for r in result.included
    )
    notes = list(result.warnings)
    if result.ignored:
        notes.insert(
            0, f"search parameters ignored (unknown or not supported): {', '.join(sorted(set(result.ignored)))}"
        )
    if notes:
        outcome = operation_outcome("; ".join(notes), code="not-supported")
        outcome["issue"][0]["severity"] = "warning"
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None:
        bundle["total"] = result.total
    bundle["link"] = _search_links(base, resource_type, result, page_size)
    if entries:
        bundle["entry"] = entries
    return FhirResponse(bundle, pretty=pretty)


def _search_links(base: str, resource_type: str, result: store.SearchResult, page_size: int) -> list[dict[str, str]]:
    """self, first, previous, next and last: the applied parameters, ``_count``, and the page's ``_cursor``."""
    keep = [*result.params, ("_count", str(page_size))]

    def url(cursor: str | None) -> str:
        return _link(base, resource_type, keep + ([("_cursor", cursor)] if cursor else []))

    here = (
        url(result.cursor)
        if result.cursor or not result.offset
        else _link(base, resource_type, keep + _offset(result.offset))
    )
    links = [{"relation": "self", "url": here}]
    if page_size and result.summary != "count":
        links.append({"relation": "first", "url": url(None)})
        for relation, cursor in (
            ("previous", result.previous_cursor),
            ("next", result.next_cursor),
            ("last", result.last_cursor),
        ):
            if cursor is not None:
                links.append({"relation": relation, "url": url(cursor)})
    return links


def _offset(offset: int) -> list[tuple[str, str]]:
    return [("_offset", str(offset))] if offset else []


def _history(
    request: Request,
    session: Session,
    settings: Settings,
    resource_type: str,
    id: str | None,
    count: int | None,
    offset: int,
    since: str | None,
    format_: str | None,
    pretty: bool,
) -> Response:
    refused = _negotiate(request, format_)
    if refused is not None:
        return refused
    _check_type(resource_type)
    since_at: datetime | None = None
    if since is not None:
        try:
            since_at = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidInput("_since must be an instant (2024-03-01T00:00:00Z)", expression="_since") from exc
        if since_at.tzinfo is None:
            raise InvalidInput("_since needs a time zone", expression="_since")
    page_size = min(count if count is not None else DEFAULT_COUNT, MAX_COUNT)
    entries = store.history(session, resource_type, id, count=page_size, since=since_at, offset=offset)
    base = _base(settings)
    path = f"{resource_type}/{id}/_history" if id is not None else f"{resource_type}/_history"
    keep = [("_since", since)] if since else []
    paging = [("_count", str(page_size))]
    links = [{"relation": "self", "url": _link(base, path, keep + paging + _offset(offset))}]
    if page_size and len(entries) == page_size:
        links.append({"relation": "next", "url": _link(base, path, keep + paging + _offset(offset + page_size))})
    for entry in entries:
        rid = entry["resource"]["id"] if "resource" in entry else entry["request"]["url"].split("/", 1)[1]
        entry["fullUrl"] = f"{base}/{resource_type}/{rid}"
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history", "link": links}
    if entries:
        bundle["entry"] = [{"fullUrl": e.pop("fullUrl"), **e} for e in entries]
    return FhirResponse(bundle, pretty=pretty)
