"""``POST /hl7/v2``: one HL7 v2 message in the body, its ACK in the response body; the same ingestion
(store, commit, then ACK; dedup; AR with ERR) as the MLLP listener.

Status codes: 200 with the ACK for every answer about the message itself (AA/CA, and AR/CR with an ERR
segment for a message the hub refuses: the ACK says why); 503 with the AR (HL7 error 206) and
``Retry-After`` when the hub could not store it now, so HTTP clients that look only at the status retry too;
204 without a body when the message's MSH-15 asks for no accept acknowledgment. The body is read only up to
``max_message_bytes`` (plus one byte to detect more).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from hub.hl7.ingest import AckResult, Ingestor

MEDIA_TYPE = "x-application/hl7-v2+er7"
RETRY_AFTER_SECONDS = 5

router = APIRouter(tags=["HL7 v2"])

# Python codec names → the charset labels HTTP clients know.
_HTTP_CHARSETS = {"utf-8": "utf-8", "iso8859-1": "iso-8859-1", "latin-1": "iso-8859-1", "ascii": "us-ascii"}


def _response(result: AckResult) -> Response:
    if not result.data:
        return Response(status_code=204)
    charset = _HTTP_CHARSETS.get(result.codec, result.codec)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if result.transient else None
    return Response(
        content=result.data,
        status_code=503 if result.transient else 200,
        media_type=f"{MEDIA_TYPE}; charset={charset}",
        headers=headers,
    )


@router.post(
    "/hl7/v2",
    response_class=Response,
    summary="Receive one HL7 v2 message; answer its ACK",
    responses={
        200: {"content": {MEDIA_TYPE: {}}, "description": "The ACK (AA/CA, or AR/CR with an ERR segment)"},
        204: {"description": "Stored; MSH-15 asked for no accept acknowledgment"},
        503: {"content": {MEDIA_TYPE: {}}, "description": "Not stored now (AR, HL7 error 206): send it again"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {MEDIA_TYPE: {"schema": {"type": "string"}}}}},
)
async def receive_hl7v2(
    request: Request, content_length: Annotated[int | None, Header(include_in_schema=False)] = None
) -> Response:
    """Store the message in the body, then answer its ACK (in the message's charset)."""
    ingestor: Ingestor = request.app.state.ingestor
    limit = ingestor.settings.max_message_bytes
    peer = f"{request.client.host}:{request.client.port}" if request.client else None
    if content_length is not None and content_length > limit:
        # Announced too large: answer from the first bytes without reading the rest.
        head = bytearray()
        async for chunk in request.stream():
            head += chunk
            if len(head) >= 65_536:
                break
        return _response(ingestor.oversize_ack(bytes(head), content_length, transport="http", peer=peer))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return _response(ingestor.oversize_ack(bytes(body), len(body), transport="http", peer=peer))
    return _response(await ingestor.receive_ack(bytes(body), transport="http", peer=peer))
