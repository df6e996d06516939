"""The FHIR R4 REST API under ``/fhir`` (http://hl7.org/fhir/R4/http.html): the router, the capabilities and search.

=========================================  ==========================================  ==========================
``GET  /fhir/metadata``                    CapabilityStatement (public)                here
``POST /fhir``                             transaction / batch Bundle                  :mod:`routes_bundle`
``GET  /fhir/{type}/_history``             history-type                                :mod:`routes_read`
``GET  /fhir/{type}/{id}/_history/{vid}``  vread                                       :mod:`routes_read`
``GET  /fhir/{type}/{id}/_history``        history-instance                            :mod:`routes_read`
``GET  /fhir/{type}/{id}``                 read                                        :mod:`routes_read`
``GET  /fhir/{type}``, ``POST …/_search``  search-type                                 here
``POST /fhir/{type}``                      create (``If-None-Exist``)                  :mod:`routes_write`
``PUT  /fhir/{type}/{id}``, ``PUT …?q``    update (create-on-update, ``If-Match``)     :mod:`routes_write`
``DELETE /fhir/{type}/{id}``               delete                                      :mod:`routes_write`
=========================================  ==========================================  ==========================

Every route but ``metadata`` authenticates the bearer token, checks the SMART scope, applies the patient
compartment, organisation isolation and consent, and writes an AuditEvent (``hub/security/README.md``). Each
route's ``name`` is its FHIR interaction code; :mod:`hub.fhir.capability` lists what is routed, so a route added
here (or by another router under ``/fhir``) appears in ``/fhir/metadata`` by itself. Routes are plain functions
(run in the thread pool): the store is synchronous SQLAlchemy.

Search pages are ``_count`` long (``HUB_FHIR_SEARCH_DEFAULT_COUNT``, at most ``HUB_FHIR_SEARCH_MAX_COUNT``);
the ``previous``/``next``/``last`` links carry a keyset ``_cursor`` (:mod:`hub.fhir.search_paging`), so pages
stay right while data changes. ``Prefer: handling=lenient`` ignores unknown or unsupported search parameters
(reported in an OperationOutcome entry, left out of the self link); the default is strict (400). History pages
use ``_count`` and ``_offset``. A search finds only what the caller may see: the access policy's parameters are
ANDed into it and its matches and included resources are filtered, so a page may be shorter than ``_count``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from hub.config import Settings
from hub.errors import InvalidInput, UnsupportedMediaType
from hub.fhir import routes_bundle, routes_read, routes_write, store
from hub.fhir.call import Call, CallDep, fhir_base
from hub.fhir.capability import capability_statement
from hub.fhir.deps import SettingsDep
from hub.fhir.media import FhirResponse
from hub.fhir.outcomes import operation_outcome
from hub.fhir.rest import BODIES, COMMON, RESPONSES, FormatParam, PrettyParam, check_type, lenient, link, negotiate

# Result parameters handled here, not by the search (http://hl7.org/fhir/R4/search.html#Summary).
_CONTROL = frozenset({"_count", "_offset", "_format", "_pretty"})
_MAX_FORM_BYTES = 1024 * 1024

router = APIRouter(prefix="/fhir", tags=["FHIR"], default_response_class=FhirResponse, responses=COMMON)

CountParam = Annotated[
    int | None, Query(alias="_count", ge=0, le=2**31 - 1, description="Page size (at most 1000 are returned)")
]
OffsetParam = Annotated[int, Query(alias="_offset", ge=0, le=2**31 - 1, description="Resources to skip (paging)")]


def _base(settings: Settings, request: Request) -> str:
    return fhir_base(settings, request)


@router.get("/metadata", name="capabilities", summary="The CapabilityStatement: what this server implements")
def metadata(
    request: Request, settings: SettingsDep, format_: FormatParam = None, pretty: PrettyParam = False
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    body = capability_statement(request.app, base_url=_base(settings, request), prefix=router.prefix)
    return FhirResponse(body, pretty=pretty)


# POST to the base itself: a path FastAPI accepts only on the prefixed router.
router.add_api_route("", routes_bundle.process_bundle, methods=["POST"], **routes_bundle.ROUTE)
router.include_router(routes_read.router)


@router.get(
    "/{resource_type}", name="search-type", summary="Search resources of a type (searchset Bundle)", responses=RESPONSES
)
def search(
    request: Request,
    resource_type: str,
    call: CallDep,
    count: CountParam = None,
    offset: OffsetParam = 0,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    check_type(resource_type)
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in _CONTROL]
    bundle = search_bundle(call, resource_type, params, count=count, offset=offset, lenient=lenient(request))
    call.commit()
    return FhirResponse(bundle, pretty=pretty)


@router.post(
    "/{resource_type}/_search",
    name="search-type",
    summary="Search by POST (parameters in an application/x-www-form-urlencoded body, and the query)",
    responses={**RESPONSES, **{k: v for k, v in BODIES.items() if k in (413, 415)}},
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
        }
    },
)
async def search_post(
    request: Request,
    resource_type: str,
    call: CallDep,
    format_: FormatParam = None,
    pretty: PrettyParam = False,
) -> Response:
    refused = negotiate(request, format_)
    if refused is not None:
        return refused
    check_type(resource_type)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    raw = await request.body()
    if raw and media != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("a _search body must be application/x-www-form-urlencoded")
    if len(raw) > _MAX_FORM_BYTES:
        raise InvalidInput("the search form is too large")
    try:
        form = parse_qsl(raw.decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("the body is not a valid form") from exc
    items = [*request.query_params.multi_items(), *form]
    count = _int_param(items, "_count")
    offset = _int_param(items, "_offset") or 0
    params = [(k, v) for k, v in items if k not in _CONTROL]
    bundle = await run_in_threadpool(
        search_bundle, call, resource_type, params, count=count, offset=offset, lenient=lenient(request)
    )
    await run_in_threadpool(call.commit)
    return FhirResponse(bundle, pretty=pretty)


def _int_param(items: list[tuple[str, str]], name: str) -> int | None:
    values = [v for k, v in items if k == name]
    if not values:
        return None
    if len(values) > 1 or not values[0].isdigit() or len(values[0]) > 10:
        raise InvalidInput(f"{name} must be one non-negative integer", expression=name)
    return int(values[0])


def search_bundle(
    call: Call,
    resource_type: str,
    params: list[tuple[str, str]],
    *,
    count: int | None,
    offset: int,
    lenient: bool,
) -> dict[str, Any]:
    """Search for the caller, audited in the call's session (the caller commits): the searchset Bundle.

    The access policy's parameters (``search_scope``) are ANDed into the search; matches and included resources
    pass through ``access.filter`` (consent, secondary compartment elements, multi-parameter scopes).

    Raises:
        Forbidden: no scope grants searching the type (or the caller can see none of it).
        InvalidInput: a parameter the search refuses.
    """
    settings = call.settings
    wanted = count if count is not None else settings.fhir_search_default_count
    page_size = min(wanted, settings.fhir_search_max_count)
    with call.audited("search-type") as trail:
        scope = call.access.search_scope(resource_type)
        result = store.search(
            call.session, resource_type, params, count=page_size, offset=offset, strict=not lenient, scope=scope.params
        )
        matches = call.access.filter(result.matches)
        included = call.access.filter(result.included)
        trail.add(*matches, *included)
        total = result.total
        if total is not None and not call.access.search_is_exact(resource_type):
            total = _visible_total(call, resource_type, params, scope.params, result, len(matches), lenient=lenient)

    base = call.base
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base}/{resource_type}/{r['id']}",
            "resource": result.shaped(dict(r)),
            "search": {"mode": "match"},
        }
        for r in matches
    ]
    entries.extend(
        {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "include"}}
        for r in included
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
    if total is not None:
        bundle["total"] = total
    bundle["link"] = _search_links(base, resource_type, result, page_size)
    if entries:
        bundle["entry"] = entries
    return bundle


# Searches whose count the access filter may change are counted through it up to this many matches.
VISIBLE_TOTAL_LIMIT = 1000
# Result parameters that do not change which resources match (dropped when counting the visible matches).
_NOT_FILTERS = frozenset({"_sort", "_include", "_revinclude", "_elements", "_summary", "_total", "_cursor", "_count"})


def _visible_total(
    call: Call,
    resource_type: str,
    params: list[tuple[str, str]],
    scope: tuple[tuple[str, str], ...],
    result: store.SearchResult,
    visible_here: int,
    *,
    lenient: bool,
) -> int | None:
    """The number of matches the caller may see, when the search's own count may include hidden ones.

    ``access.filter`` may hide matches the search parameters cannot exclude (a patient's Consent refusing the
    caller's organisation, several granular scopes), so the count of the search is never disclosed as such:
    the matches are counted through the filter when there are at most :data:`VISIBLE_TOTAL_LIMIT` of them
    (one page holding them all is counted as it is), and the total is left out (FHIR allows it) otherwise.
    """
    whole_page = result.count > 0 and result.summary != "count" and result.cursor is None and not result.offset
    if whole_page and result.next_cursor is None:
        return visible_here
    limit = VISIBLE_TOTAL_LIMIT
    if result.total is None or result.total > limit:
        return None
    filters = [(n, v) for n, v in params if n.split(":", 1)[0] not in _NOT_FILTERS]
    filters.append(("_total", "none"))
    every = store.search(call.session, resource_type, filters, count=limit, offset=0, strict=not lenient, scope=scope)
    if every.next_cursor is not None:  # more matched meanwhile
        return None
    return len(call.access.filter(every.matches))


def _search_links(base: str, resource_type: str, result: store.SearchResult, page_size: int) -> list[dict[str, str]]:
    """self, first, previous, next and last: the applied parameters, ``_count``, and the page's ``_cursor``."""
    keep = [*result.params, ("_count", str(page_size))]

    def url(cursor: str | None) -> str:
        return link(base, resource_type, keep + ([("_cursor", cursor)] if cursor else []))

    here = (
        url(result.cursor)
        if result.cursor or not result.offset
        else link(base, resource_type, keep + [("_offset", str(result.offset))])
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


router.include_router(routes_write.router)
