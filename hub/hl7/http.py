"""``POST /hl7/v2``: one HL7 v2 message in the body, its ACK in the response body; the same ingestion
(store, commit, then ACK; dedup; AR with ERR) as the MLLP listener. A body that is a batch (FHS/BHS …
BTS/FTS, :mod:`hub.hl7.batch`) is answered with the batch of ACKs, after its last message is committed.

Status codes: 200 with the ACK for every answer about the message itself (AA/CA, and AR/CR with an ERR
segment for a message the hub refuses: the ACK says why); 503 with the AR (HL7 error 206) and
``Retry-After`` when the hub could not store it now, so HTTP clients that look only at the status retry too;
204 without a body when the message's MSH-15 asks for no accept acknowledgment. The body is read only up to
``max_message_bytes`` (``max_batch_bytes`` for a batch; plus one byte to detect more). A batch is 503 when
any of its messages could not be stored now (their ACKs say which; resending the batch is safe: the stored
ones are recognised by their control ids).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from hub.hl7.batch import batch_limit, is_batch
from hub.hl7.ingest import AckResult, Ingestor

MEDIA_TYPE = "x-application/hl7-v2+er7"
RETRY_AFTER_SECONDS = 5
_HEAD_BYTES = 65_536  # of an over-size body, read to answer it
_SNIFF_BYTES = 128  # enough to tell a batch from a message

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
    summary="Receive one HL7 v2 message (or a batch); answer its ACK (or the batch of ACKs)",
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
    """Store the message in the body, then answer its ACK (in the message's charset); a batch, each of its
    messages, then the batch of their ACKs."""
    ingestor: Ingestor = request.app.state.ingestor
    settings = ingestor.settings
    peer = f"{request.client.host}:{request.client.port}" if request.client else None
    body = bytearray()
    limit: int | None = None  # known once the first bytes tell a batch from a message
    announced_too_large = False
    async for chunk in request.stream():
        body += chunk
        if limit is None and len(body) >= _SNIFF_BYTES:
            limit = batch_limit(settings) if is_batch(body) else settings.max_message_bytes
            announced_too_large = content_length is not None and content_length > limit
        if announced_too_large:
            if len(body) >= _HEAD_BYTES:
                break  # answer from the first bytes without reading the rest
        elif limit is not None and len(body) > limit:
            return _response(ingestor.oversize_ack(bytes(body), len(body), transport="http", peer=peer))
    if limit is None:
        limit = batch_limit(settings) if is_batch(body) else settings.max_message_bytes
    if content_length is not None and content_length > limit:
        return _response(ingestor.oversize_ack(bytes(body), content_length, transport="http", peer=peer))
    return _response(await ingestor.receive_ack(bytes(body), transport="http", peer=peer))
