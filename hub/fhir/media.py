"""The FHIR JSON media type: ``application/fhir+json`` responses rendered with orjson (FHIR decimals as received,
:mod:`hub.fhir.jsoncodec`), and ``_format`` / ``Accept`` negotiation (the hub speaks JSON only;
http://hl7.org/fhir/R4/http.html#mime-type)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.responses import Response

from hub.fhir import jsoncodec

FHIR_JSON = "application/fhir+json"
_JSON_FORMATS = frozenset({"json", "application/json", FHIR_JSON, "application/json+fhir"})
_ACCEPTABLE = ("application/fhir+json", "application/json", "application/*", "*/*", "application/json+fhir")


class FhirResponse(Response):
    """A FHIR JSON body (``_pretty=true`` indents it)."""

    media_type = FHIR_JSON

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundTask | None = None,
        *,
        pretty: bool = False,
    ) -> None:
        self.pretty = pretty
        super().__init__(content, status_code, headers, media_type, background)

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        return jsoncodec.dumps(content, option=orjson.OPT_INDENT_2 if getattr(self, "pretty", False) else 0)


def wants_json(format_param: str | None, accept: str | None) -> bool:
    """Whether the client accepts JSON, by ``_format`` (which wins) or the ``Accept`` header."""
    if format_param:
        return format_param.split(";", 1)[0].strip().lower() in _JSON_FORMATS
    if not accept:
        return True
    for item in accept.split(","):
        kind = item.split(";", 1)[0].strip().lower()
        if kind in _ACCEPTABLE or kind.endswith("+json"):
            return True
    return False
