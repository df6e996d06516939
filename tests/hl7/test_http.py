"""POST /hl7/v2 over a real socket (uvicorn in a thread), same semantics as MLLP."""

from __future__ import annotations

import pytest

from hub.hl7.client import send_message
from hub.hl7.http import MEDIA_TYPE as MEDIA
from tests.support.messages import adt_a01, oru_r01


def test_post_stores_then_answers_the_ack(http_hub, acks):
    response = http_hub.post(adt_a01("H1"))
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{MEDIA}; charset=utf-8"
    assert acks.msa(response.content) == ("AA", "H1")
    acks.validate(response.text)
    [row] = http_hub.rows()
    assert row.transport == "http" and row.raw == adt_a01("H1").encode() and row.ack == response.text


def test_retransmission_gets_the_same_ack_whatever_the_transport(http_hub):
    first = http_hub.post(adt_a01("H2"))
    again = http_hub.post(adt_a01("H2"))
    over_mllp = send_message("127.0.0.1", http_hub.mllp_port, adt_a01("H2"), timeout=20)
    assert first.content == again.content == over_mllp
    assert len(http_hub.rows()) == 1


@pytest.mark.parametrize(
    ("body", "code", "location"),
    [
        (b"hello", "100", "MSH^1"),
        (adt_a01("H3").replace("|H3|", "||").encode(), "101", "MSH^1^10"),
        (adt_a01("H4").replace("ADT^A01^ADT_A01", "QQQ^Q01").encode(), "200", "MSH^1^9^1^1"),
        (adt_a01("H5").replace("|2.5.1|", "|1.0|").encode(), "203", "MSH^1^12"),
        ((adt_a01("H6") + adt_a01("H7", mrn="MRN0007")).encode(), "100", "MSH^2"),  # two messages in one body
    ],
)
def test_errors_are_ar_with_err(http_hub, acks, body, code, location):
    response = http_hub.post(body)
    assert response.status_code == 200  # the ACK is the answer; it says what is wrong
    assert acks.msa(response.content)[0] == "AR"
    assert acks.err(response.content) == (code, location)


def test_oversize_body(make_http_hub, settings, acks):
    hub = make_http_hub(settings.model_copy(update={"max_message_bytes": 1500}))
    big = oru_r01("HBIG", observations=60).encode()
    announced = hub.post(big)  # with Content-Length
    assert acks.msa(announced.content) == ("AR", "HBIG") and acks.err(announced.content)[0] == "207"

    def chunks():  # no Content-Length: chunked transfer, counted as it comes
        for i in range(0, len(big), 300):
            yield big[i : i + 300]

    streamed = hub.client.post("/hl7/v2", content=chunks(), headers={"content-type": MEDIA})
    assert acks.msa(streamed.content) == ("AR", "HBIG")
    assert hub.rows() == []


def test_gb18030_round_trip(http_hub, acks):
    body = adt_a01("HZH", family="赵").replace("UNICODE UTF-8", "GB18030").encode("gb18030")
    response = http_hub.post(body)
    assert response.headers["content-type"] == f"{MEDIA}; charset=gb18030"
    assert "MSA|AA|HZH" in response.text  # httpx decodes by the announced charset
    assert http_hub.rows()[0].raw == body


def test_no_accept_ack_wanted_is_204(http_hub):
    body = adt_a01("HNE").replace("|P|2.5.1||||||UNICODE UTF-8", "|P|2.5.1|||NE|AL||UNICODE UTF-8")
    response = http_hub.post(body)
    assert response.status_code == 204 and response.content == b""
    assert http_hub.rows()[0].control_id == "HNE"


def test_database_unreachable_is_503_with_ar(make_http_hub, settings, acks):
    hub = make_http_hub(settings.model_copy(update={"database_url": acks.unreachable_database_url}))
    response = hub.post(adt_a01("HDOWN"))
    assert response.status_code == 503 and response.headers["retry-after"]
    assert acks.msa(response.content) == ("AR", "HDOWN") and acks.err(response.content)[0] == "206"
