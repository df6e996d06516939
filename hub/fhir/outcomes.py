"""Errors as FHIR OperationOutcomes with the status they deserve (http://hl7.org/fhir/R4/operationoutcome.html).

:func:`install_error_handlers` makes every :class:`~hub.errors.HubError` an OperationOutcome with the
error's HTTP status, FHIR issue code and ``expression``; under ``/fhir`` also FastAPI's request validation
errors (400), Starlette's own 404/405, and anything unexpected (500, without internals, logged without its
message). Headers an error carries (``WWW-Authenticate``, ``Retry-After``) are sent.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import HubError
from hub.fhir.media import FhirResponse

log = logging.getLogger(__name__)

FHIR_PREFIX = "/fhir"
_HTTP_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
}


def operation_outcome(
    diagnostics: str,
    *,
    code: str = "exception",
    severity: str = "error",
    expression: str | None = None,
) -> dict[str, Any]:
    """An OperationOutcome with one issue."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def outcome_response(
    status: int, diagnostics: str, *, code: str | None = None, expression: str | None = None, headers: Any = None
) -> FhirResponse:
    """An OperationOutcome response with ``status`` (the issue code follows the status unless given)."""
    severity = "fatal" if status >= 500 else "error"
    body = operation_outcome(
        diagnostics, code=code or _HTTP_CODES.get(status, "exception"), severity=severity, expression=expression
    )
    return FhirResponse(body, status_code=status, headers=headers)


def error_response(exc: HubError) -> FhirResponse:
    """The response for a hub error: its status, issue code, message, expression and headers."""
    headers = getattr(exc, "headers", None)
    return outcome_response(exc.status, exc.message, code=exc.code, expression=exc.expression, headers=headers)


def _under_fhir(request: Request) -> bool:
    path = request.url.path
    return path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/")


async def _hub_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    if exc.status >= 500:
        log.error("request failed: %s (%s)", type(exc).__name__, exc.code)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if not _under_fhir(request):
        return await request_validation_exception_handler(request, exc)
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
    message = f"{where}: {first.get('msg', 'invalid request')}" if where else str(first.get("msg", "invalid request"))
    return outcome_response(400, message, code="invalid", expression=where or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not _under_fhir(request):
        return await http_exception_handler(request, exc)
    return outcome_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # The type only: an exception's text can carry resource content.
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return outcome_response(500, "internal error", code="exception")


class ContainUnexpectedErrors:
    """ASGI middleware: an unexpected exception becomes a 500 (an OperationOutcome under ``/fhir``) and is
    logged by type and traceback frames only.

    Starlette's last-resort handler answers too, but then re-raises so that the server logs the exception
    with its message, and a message can carry PHI (a database error quotes the row it failed on).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            path: str = scope.get("path", "")
            where = "/".join(path.split("/")[:3])  # /fhir/<Type>: no ids
            frames = "".join(traceback.format_tb(exc.__traceback__))
            log.error("unexpected %s on %s %s\n%s", type(exc).__name__, scope.get("method"), where, frames)
            if started:
                return  # too late for a response; the server closes the connection
            if path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/"):
                response: Response = outcome_response(500, "internal error", code="exception")
            else:
                response = JSONResponse({"detail": "Internal Server Error"}, status_code=500)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Install the handlers that answer errors with OperationOutcomes (see the module docstring), and
    :class:`ContainUnexpectedErrors` (call before the app starts)."""
    app.add_exception_handler(HubError, _hub_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(ContainUnexpectedErrors)
