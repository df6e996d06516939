"""The HTTP conventions of the FHIR RESTful API shared by its routes (http://hl7.org/fhir/R4/http.html).

* request bodies: FHIR JSON only (``application/fhir+json``, ``application/json``; UTF-8), at most
  :data:`MAX_BODY_BYTES` — else 415 / 413; a body that is not JSON is 400;
* ``_format`` / ``Accept``: JSON only (406);
* versions: ``ETag: W/"n"``, ``Last-Modified``, ``If-None-Match`` (304), ``If-Match`` (412 when stale);
* ``Prefer: return=minimal | representation | OperationOutcome`` on writes, ``Location`` with the version;
* the OpenAPI descriptions of the routes (FHIR JSON bodies, the statuses they really answer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import orjson
from fastapi import Depends, Query, Request
from starlette.responses import Response

from hub.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from hub.fhir import jsoncodec
from hub.fhir.media import FHIR_JSON, FhirResponse, wants_json
from hub.fhir.outcomes import operation_outcome, outcome_response
from hub.fhir.search_params import RESOURCE_TYPES

MAX_BODY_BYTES = 32 * 1024 * 1024  # a transaction of a few thousand resources
_BODY_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
JSON_PATCH = "application/json-patch+json"
_ETAG = re.compile(r'(?:W/)?"([0-9]{1,9})"')
_VERSION = re.compile(r"[0-9]{1,9}")

Return = Literal["minimal", "representation", "OperationOutcome"]

# -- OpenAPI -------------------------------------------------------------------------------------------------------

JSON_OBJECT: dict[str, Any] = {FHIR_JSON: {"schema": {"type": "object"}}}


def _outcomes(*statuses: tuple[int | str, str]) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": f"{text} (OperationOutcome)", "content": JSON_OBJECT} for status, text in statuses}


#: Every /fhir route's responses (the router's).
COMMON: dict[int | str, dict[str, Any]] = {
    200: {"description": "A FHIR resource (JSON)", "content": JSON_OBJECT},
    **_outcomes((406, "A format other than JSON asked for")),
    # Also stands for FastAPI's 422: request validation errors are answered 400 here.
    "4XX": {"description": "Other client errors (OperationOutcome)", "content": JSON_OBJECT},
    500: {"description": "Server error (OperationOutcome)", "content": JSON_OBJECT},
}
#: The responses of every authenticated route (all but metadata).
RESPONSES: dict[int | str, dict[str, Any]] = _outcomes(
    (400, "Invalid request or parameter"),
    (401, "No or an invalid bearer token (with a WWW-Authenticate challenge)"),
    (403, "Not allowed: scope, patient compartment, organisation isolation or consent"),
    (404, "Unknown resource type or id"),
    (429, "Rate limited (with Retry-After)"),
)
VERSIONED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified (If-None-Match matched the version)"},
    **_outcomes((410, "Deleted")),
}
#: The responses of writes.
WRITES: dict[int | str, dict[str, Any]] = _outcomes(
    (405, "AuditEvents are written by the hub only"),
    (409, "Concurrent writers: try again"),
    (412, "If-Match is not the current version, or conditional criteria matched several resources"),
)
#: The responses of requests with a body.
BODIES: dict[int | str, dict[str, Any]] = _outcomes(
    (413, "Body too large"),
    (415, "Body not FHIR JSON"),
    (422, "The resource breaks an R4 rule (expression names the element)"),
)


def body_spec(description: str) -> dict[str, Any]:
    """``openapi_extra`` describing a FHIR JSON request body (bodies are read raw, not by a pydantic model)."""
    return {
        "requestBody": {
            "description": description,
            "required": True,
            "content": {FHIR_JSON: {"schema": {"type": "object"}}, "application/json": {"schema": {"type": "object"}}},
        }
    }


# -- parameters and headers ----------------------------------------------------------------------------------------

FormatParam = Annotated[str | None, Query(alias="_format", description="json (the only format served)")]
PrettyParam = Annotated[bool, Query(alias="_pretty", description="Indent the JSON")]


def negotiate(request: Request, format_param: str | None) -> Response | None:
    """None if the client accepts FHIR JSON; else the 406 response."""
    if wants_json(format_param, request.headers.get("accept")):
        return None
    return outcome_response(406, "only FHIR JSON (application/fhir+json) is served", code="not-supported")


def check_type(resource_type: str) -> None:
    """Raises NotFound for a type that is not an R4 resource type the store keeps."""
    if resource_type not in RESOURCE_TYPES:
        raise NotFound(f"unknown resource type {resource_type[:64]!r}")


def parse_version(version_id: str, what: str) -> int:
    """A ``_history/{vid}`` segment as a number (NotFound for anything else: no such version)."""
    if not _VERSION.fullmatch(version_id):
        raise NotFound(f"{what} has no version {version_id[:16]!r}")
    return int(version_id)


def parse_etag(value: str | None, where: str = "If-Match") -> int | None:
    """The version in an ``If-Match`` ETag (``W/"3"`` or ``"3"``), None without the header.

    Raises:
        InvalidInput: a value that is not such an ETag.
    """
    if value is None:
        return None
    match = _ETAG.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(f'{where} must be an ETag such as W/"3"', expression=where)
    return int(match.group(1))


def prefer_return(request: Request) -> Return:
    """``Prefer: return=…`` (default ``representation``)."""
    for part in request.headers.get("prefer", "").split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "return":
            value = value.strip().strip('"')
            if value in ("minimal", "representation", "OperationOutcome"):
                return value  # type: ignore[return-value]
    return "representation"


def lenient(request: Request) -> bool:
    """``Prefer: handling=lenient`` (unknown search parameters ignored, not refused)."""
    return "handling=lenient" in request.headers.get("prefer", "").replace(" ", "")


def link(base: str, path: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base}/{path}?{query}" if query else f"{base}/{path}"


# -- bodies ----------------------------------------------------------------------------------------------------------


async def read_body(request: Request) -> Any:
    """The request body as parsed JSON.

    Raises:
        UnsupportedMediaType: not FHIR JSON (or JSON), or a charset other than UTF-8 (415).
        PayloadTooLarge: over :data:`MAX_BODY_BYTES` (413).
        InvalidInput: empty, or not JSON (400).
    """
    return await _read_json(request, _BODY_TYPES, FHIR_JSON)


async def read_patch_body(request: Request) -> Any:
    """A PATCH request's body: a JSON Patch document (RFC 6902), parsed but not yet checked.

    Raises:
        UnsupportedMediaType: not ``application/json-patch+json`` (415).
        PayloadTooLarge, InvalidInput: as :func:`read_body`.
    """
    return await _read_json(request, frozenset({JSON_PATCH}), JSON_PATCH)


async def _read_json(request: Request, types: frozenset[str], wanted: str) -> Any:
    media, *params = (p.strip() for p in request.headers.get("content-type", "").split(";"))
    if media.lower() not in types:
        raise UnsupportedMediaType(f"the body must be {wanted}, not {media[:64] or 'unspecified'}")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise UnsupportedMediaType("FHIR JSON is UTF-8")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidInput("the request has no body")
    try:
        return jsoncodec.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not JSON ({exc.msg} at byte {exc.pos})") from exc


BodyDep = Annotated[Any, Depends(read_body)]
PatchBodyDep = Annotated[Any, Depends(read_patch_body)]

# -- responses -------------------------------------------------------------------------------------------------------


def version_headers(resource: Mapping[str, Any]) -> dict[str, str]:
    """``ETag`` and ``Last-Modified`` of a stored resource."""
    meta = resource.get("meta") or {}
    headers = {"ETag": f'W/"{meta.get("versionId", "")}"'}
    updated = meta.get("lastUpdated")
    if isinstance(updated, str):
        headers["Last-Modified"] = format_datetime(datetime.fromisoformat(updated.replace("Z", "+00:00")), usegmt=True)
    return headers


def resource_response(request: Request, resource: Mapping[str, Any], pretty: bool) -> Response:
    """A read's response: the resource with its version headers, or 304 when ``If-None-Match`` names it."""
    headers = version_headers(resource)
    if request.headers.get("if-none-match", "").strip() in (headers["ETag"], headers["ETag"][2:]):
        return Response(status_code=304, headers=headers)
    return FhirResponse(resource, headers=headers, pretty=pretty)


def location(base: str, resource: Mapping[str, Any]) -> str:
    """``{base}/{type}/{id}/_history/{version}``."""
    meta = resource.get("meta") or {}
    return f"{base}/{resource['resourceType']}/{resource['id']}/_history/{meta.get('versionId', '')}"


def informational(text: str) -> dict[str, Any]:
    """An OperationOutcome with one ``information`` issue (``Prefer: return=OperationOutcome``)."""
    outcome = operation_outcome(text, code="informational", severity="information")
    return outcome


def write_response(
    resource: Mapping[str, Any], status: int, prefer: Return, base: str, text: str, *, pretty: bool = False
) -> Response:
    """The response to a create or update: ``Location``, ``ETag``, ``Last-Modified``, and the body ``Prefer`` asks
    for (the resource by default; none for ``minimal``; an OperationOutcome)."""
    headers = {**version_headers(resource), "Location": location(base, resource)}
    if prefer == "minimal":
        return Response(status_code=status, headers=headers)
    if prefer == "OperationOutcome":
        return FhirResponse(informational(text), status_code=status, headers=headers, pretty=pretty)
    return FhirResponse(resource, status_code=status, headers=headers, pretty=pretty)
