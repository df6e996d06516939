"""MLLP framing and the listener, over real sockets into a real database."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import time

import hl7
import pytest
from hl7.client import MLLPClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hub.hl7.client import AsyncMllpClient, asend_message
from hub.hl7.mllp import MllpDecoder, Oversize, frame
from tests.support.messages import adt_a01, oru_r01

SB, EB, CR = b"\x0b", b"\x1c", b"\r"


def ne_message(control_id: str) -> str:
    # enhanced mode, MSH-15 = NE: the sender wants no accept acknowledgment
    return adt_a01(control_id).replace("|P|2.5.1||||||UNICODE UTF-8", "|P|2.5.1|||NE|AL||UNICODE UTF-8")


# The decoder ------------------------------------------------------------------------------------


def test_decoder_every_split_point():
    stream = frame(b"MSH|first") + frame(b"MSH|second")
    for cut in range(len(stream) + 1):
        decoder = MllpDecoder(1000)
        got = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert got == [b"MSH|first", b"MSH|second"], cut
        assert decoder.skipped == 0 and not decoder.in_frame


def test_decoder_byte_by_byte_with_garbage_restart_and_missing_cr():
    stream = b"noise" + frame(b"A") + b"\r\n junk " + SB + b"partial" + SB + b"B" + EB + SB + b"C" + EB + CR
    decoder = MllpDecoder(1000)
    got = []
    for byte in stream:
        got += decoder.feed(bytes([byte]))
    assert got == [b"A", b"B", b"C"]  # the partial frame is dropped when the sender starts again
    assert decoder.skipped == len(b"noise") + len(b"\r\n junk ") + len(b"partial" + SB)


def test_decoder_oversize_is_reported_once_and_the_stream_goes_on():
    decoder = MllpDecoder(10)
    out = decoder.feed(SB + b"MSH|0123456789abcdef")
    assert len(out) == 1 and isinstance(out[0], Oversize) and out[0].head.startswith(b"MSH|")
    assert decoder.feed(b"more of it" * 100) == []  # the rest of the frame is not buffered
    assert decoder.feed(EB + CR + frame(b"ok")) == [b"ok"]
    assert len(decoder._buf) == 0


@hsettings(max_examples=200, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=60).map(lambda b: b.replace(SB, b"").replace(EB, b"")), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=10),
)
def test_decoder_framing_survives_any_chunking(messages, cuts):
    stream = b"".join(frame(m) for m in messages)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    decoder = MllpDecoder(100)
    got = []
    previous = 0
    for point in [*points, len(stream)]:
        got += decoder.feed(stream[previous:point])
        previous = point
    assert got == messages


# The listener -----------------------------------------------------------------------------------


def test_one_message_one_ack(hub, acks):
    assert acks.msa(hub.send(adt_a01("M1"))) == ("AA", "M1")
    [row] = hub.rows()
    assert row.transport == "mllp" and row.peer.startswith("127.0.0.1:")
    assert row.raw == adt_a01("M1").encode()


def test_frames_split_byte_by_byte(hub, acks):
    data = frame(adt_a01("SPLIT1").encode()) + frame(adt_a01("SPLIT2").encode())
    with hub.client() as c:
        for i in range(len(data)):
            c.write(data[i : i + 1])
            if i % 50 == 0:
                time.sleep(0.001)  # let some bytes arrive in reads of their own
        assert acks.msa(c.read_reply()) == ("AA", "SPLIT1")
        assert acks.msa(c.read_reply()) == ("AA", "SPLIT2")


def test_pipelined_messages_are_answered_in_order(hub, acks):
    messages = [adt_a01(f"PIPE{i:03d}") if i % 7 else oru_r01(f"PIPE{i:03d}") for i in range(200)]
    with hub.client() as c:
        replies = c.send_many(messages)
    assert [acks.msa(r) for r in replies] == [("AA", f"PIPE{i:03d}") for i in range(200)]
    assert len(hub.rows()) == 200


def test_fifty_concurrent_senders(hub, acks):
    async def sender(k: int) -> list[tuple[str, str]]:
        async with AsyncMllpClient("127.0.0.1", hub.port, timeout=30) as c:
            return [acks.msa(await c.send(adt_a01(f"S{k:02d}-{i:02d}", facility=f"H{k % 5}"))) for i in range(20)]

    async def main():
        return await asyncio.gather(*(sender(k) for k in range(50)))

    results = asyncio.run(main())
    for k, replies in enumerate(results):
        assert replies == [("AA", f"S{k:02d}-{i:02d}") for i in range(20)]
    rows = hub.rows()
    assert len(rows) == 1000 and len({r.control_id for r in rows}) == 1000
    assert sorted(hub.stored) == sorted(r.id for r in rows)


def test_garbage_between_frames_is_skipped(hub, acks):
    data = (
        b"GET / HTTP/1.1\r\n\r\n"
        + frame(adt_a01("G1").encode())
        + b"\x00\xff\x1c\r\n"
        + frame(adt_a01("G2").encode())
        + b"trailing"
    )
    with hub.client() as c:
        c.write(data)
        assert [acks.msa(c.read_reply()) for _ in range(2)] == [("AA", "G1"), ("AA", "G2")]
        c.write(frame(adt_a01("G3").encode()))  # the connection is still good
        assert acks.msa(c.read_reply()) == ("AA", "G3")


def test_oversize_frame_gets_ar_then_the_connection_closes(start_hub, settings, acks):
    hub = start_hub(settings.model_copy(update={"max_message_bytes": 2000}))
    big = oru_r01("BIG1", observations=100).encode()
    assert len(big) > 2000
    with hub.client() as c:
        c.write(frame(adt_a01("BEFORE").encode()) + frame(big) + frame(adt_a01("AFTER").encode()))
        replies = c.read_until_closed()
    assert [acks.msa(r) for r in replies] == [("AA", "BEFORE"), ("AR", "BIG1")]
    assert acks.err(replies[1])[0] == "207"
    assert [r.control_id for r in hub.rows()] == ["BEFORE"]  # the over-size message is not stored


def test_oversize_partial_frame_is_answered_before_it_ends(start_hub, settings, acks):
    hub = start_hub(settings.model_copy(update={"max_message_bytes": 1000}))
    with hub.client() as c:
        c.write(SB + oru_r01("BIG2", observations=40).encode())  # no end block ever comes
        replies = c.read_until_closed()
    assert [acks.msa(r) for r in replies] == [("AR", "BIG2")]


def test_gb18030_with_msh_18(hub, acks):
    raw = adt_a01("ZH1", family="张", given="三").replace("UNICODE UTF-8", "GB18030").encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    reply = hub.send(raw)
    assert acks.msa(reply, "gb18030") == ("AA", "ZH1")
    [row] = hub.rows()
    assert row.raw == raw and row.charset == "gb18030"


def test_gb18030_by_the_senders_default(start_hub, settings, acks):
    hub = start_hub(settings.model_copy(update={"sender_charsets": {"HIS^医院": "GB18030"}}))
    raw = adt_a01("ZH2", facility="医院", family="王").replace("||||||UNICODE UTF-8", "").encode("gb18030")
    reply = hub.send(raw)
    assert acks.msa(reply, "gb18030") == ("AA", "ZH2")
    assert acks.parse(reply, "gb18030").msh[6] == "医院"  # echoed in the sender's charset


def test_duplicate_control_ids_over_mllp(hub, acks):
    first = hub.send(adt_a01("D1"))
    with hub.client() as c:
        again = c.send_many([adt_a01("D1"), adt_a01("D1")])
    assert again == [first, first]
    assert len(hub.rows()) == 1 and len(hub.stored) == 1


@pytest.mark.parametrize(
    ("message", "code", "location", "hl7apy_valid"),
    [
        # hl7apy_valid False: no MSH-10 to echo into the required MSA-2, or a version hl7apy does not know
        ("not an hl7 message", "100", "MSH^1", False),
        (adt_a01("E1").replace("ADT^A01^ADT_A01", ""), "101", "MSH^1^9", True),
        (adt_a01("E2").replace("|E2|", "||"), "101", "MSH^1^10", False),
        (adt_a01("E3").replace("ADT^A01^ADT_A01", "ZZZ^Z01"), "200", "MSH^1^9^1^1", True),
        (adt_a01("E4").replace("|2.5.1|", "|2.9.9|"), "203", "MSH^1^12", False),
    ],
)
def test_each_error_class_over_mllp(hub, acks, message, code, location, hl7apy_valid):
    reply = hub.send(message)
    assert acks.msa(reply)[0] == "AR"
    assert acks.err(reply) == (code, location)
    if hl7apy_valid:
        acks.validate(reply.decode())


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_two_messages_in_one_frame_are_refused_not_half_accepted(hub, acks, sep):
    # MLLP carries one message per frame; a sender that pastes two into one would otherwise get AA for the
    # first control id, no answer at all for the second, and the first stored but never converted (the
    # converter refuses a second MSH). AR with ERR-2 at the second MSH: the sender resends them one by one.
    first = adt_a01("TWO1", sep=sep)
    second = adt_a01("TWO2", mrn="MRN0002", family="王", given="芳", sep=sep)
    with hub.client() as c:
        c.write(frame((first + second).encode()))
        reply = c.read_reply()
    assert acks.msa(reply) == ("AR", "TWO1")
    assert acks.err(reply) == ("100", "MSH^2")
    acks.validate(reply.decode())
    [row] = hub.rows()
    assert row.status == "rejected" and row.control_id is None and row.error_location == "MSH^2"
    assert hub.stored == []  # nothing queued for conversion
    # each alone is accepted
    assert acks.msa(hub.send(first)) == ("AA", "TWO1")
    assert acks.msa(hub.send(second)) == ("AA", "TWO2")


def test_processing_ids_the_hub_does_not_accept_get_ar_202(start_hub, settings, acks):
    # v2.5.1 2.9.2.1: the receiver checks that MSH-11 (table 0103: P production, T training, D debugging) is
    # right for it. A production hub set to P takes no training patient into the live FHIR store.
    hub = start_hub(settings.model_copy(update={"allowed_processing_ids": ["P"]}))
    training = adt_a01("PT1", family="测试", given="患者").replace("|P|2.5.1|", "|T|2.5.1|")
    reply = hub.send(training)
    assert acks.msa(reply) == ("AR", "PT1")
    assert acks.err(reply) == ("202", "MSH^1^11")
    acks.validate(reply.decode())
    assert acks.parse(reply).msh[11] == "T"  # MSH-11 echoed
    # MSH-11.2 processing mode (A archive, I initial load, R restore …) does not change the processing id
    assert acks.msa(hub.send(adt_a01("PT2").replace("|P|2.5.1|", "|P^I|2.5.1|"))) == ("AA", "PT2")
    [refused, accepted] = hub.rows()
    assert refused.status == "rejected" and refused.error_location == "MSH^1^11" and accepted.control_id == "PT2"


def test_every_processing_id_is_accepted_by_default(hub, acks):
    for pid in ("T", "D", "P"):
        assert acks.msa(hub.send(adt_a01(f"PD{pid}").replace("|P|2.5.1|", f"|{pid}|2.5.1|")))[0] == "AA"


def test_ne_gets_no_reply_frame(hub, acks):
    with hub.client() as c:
        c.write(frame(ne_message("NE1").encode()) + frame(adt_a01("AFTER_NE").encode()))
        assert acks.msa(c.read_reply()) == ("AA", "AFTER_NE")  # the first reply is the second message's
    assert sorted(r.control_id for r in hub.rows()) == ["AFTER_NE", "NE1"]


def test_independent_client_python_hl7(hub):
    """python-hl7's MLLPClient (its own framing code) sends and reads the ACK."""
    with MLLPClient("127.0.0.1", hub.port) as client:
        client.socket.settimeout(20)
        reply = client.send_message(adt_a01("PYHL7"))
    assert reply.startswith(SB) and reply.endswith(EB + CR)
    ack = hl7.parse(reply.strip(SB + EB + CR).decode("utf-8"))
    assert str(ack.segment("MSA")[1]) == "AA" and str(ack.segment("MSA")[2]) == "PYHL7"
    assert str(ack.segment("MSH")[9]) == "ACK^A01^ACK"


def test_idle_connection_is_closed(start_hub, settings, acks):
    hub = start_hub(settings.model_copy(update={"mllp_idle_timeout": 0.3}))
    with hub.client() as c:
        assert acks.msa(c.send(adt_a01("IDLE1")))[0] == "AA"
        time.sleep(0.8)
        c.socket.settimeout(5)
        assert c.socket.recv(10) == b""  # closed by the server


def test_tls(start_hub, settings, acks, tls_files):
    cert, key = tls_files
    hub = start_hub(settings.model_copy(update={"mllp_tls_cert": cert, "mllp_tls_key": key}))
    with hub.client(ssl_context=acks.tls_context(cert), server_hostname="localhost") as c:
        assert isinstance(c.socket, ssl.SSLSocket) and c.socket.version() is not None
        assert acks.msa(c.send(adt_a01("TLS1"))) == ("AA", "TLS1")
        assert acks.msa(c.send_many([adt_a01("TLS2"), adt_a01("TLS3")])[1]) == ("AA", "TLS3")
    # A plain-TCP sender gets no ACK (the handshake fails) and the listener carries on.
    with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as plain:
        plain.sendall(frame(adt_a01("PLAIN").encode()))
        try:
            data = plain.recv(1000)
        except ConnectionResetError:
            data = b""
        assert b"MSA" not in data
    with hub.client(ssl_context=acks.tls_context(cert), server_hostname="127.0.0.1") as c:
        assert acks.msa(c.send(adt_a01("TLS4"))) == ("AA", "TLS4")
    reply = asyncio.run(asend_message("127.0.0.1", hub.port, adt_a01("TLS5"), ssl_context=acks.tls_context(cert)))
    assert acks.msa(reply) == ("AA", "TLS5")
    assert sorted(r.control_id for r in hub.rows()) == ["TLS1", "TLS2", "TLS3", "TLS4", "TLS5"]


def test_stop_answers_what_is_in_flight(start_hub, acks):
    hub = start_hub()
    with hub.client() as c:
        c.write(b"".join(frame(adt_a01(f"STOP{i}").encode()) for i in range(30)))
        time.sleep(0.2)
        hub.thread.run(hub.server.stop())
        replies = c.read_until_closed()
    stored = {r.control_id for r in hub.rows()}
    acked = {acks.msa(r)[1] for r in replies if acks.msa(r)[0] == "AA"}
    assert acked and acked <= stored  # every AA is stored (messages not answered are resent by the sender)
    assert hub.server.connections == 0


# Arbitrary bytes --------------------------------------------------------------------------------

_FRAME_RE = re.compile(rb"\x0b([^\x0b\x1c]*)\x1c")  # an independent reading of "a complete frame"

_PIECES = [
    SB,
    EB,
    EB + CR,
    CR,
    b"MSH|^~\\&|",
    b"|ADT^A01|",
    b"\xff\xfe\x00",
    adt_a01("HYP").encode(),
    adt_a01("HYP2").replace("UNICODE UTF-8", "GB18030").encode(),
    oru_r01("HYP3").encode(),
    "MSH|^~\\&|他|院".encode("gb18030"),
]


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(_PIECES)), max_size=12).map(b"".join))
def test_arbitrary_bytes_get_acks_or_a_clean_close(hub, acks, data):
    errors = _ErrorLog()
    logging.getLogger("hub").addHandler(errors)
    try:
        with hub.client(timeout=10) as c:
            c.write(data)
            c.shutdown_write()
            replies = c.read_until_closed()
    finally:
        logging.getLogger("hub").removeHandler(errors)
    assert len(replies) == len(_FRAME_RE.findall(data))  # one reply per complete frame
    for reply in replies:
        # CA/CR when a (possibly mangled) MSH-15/16 is valued: enhanced mode
        assert acks.msa(reply, "latin-1")[0] in ("AA", "AR", "CA", "CR")
    assert not errors.records, [r.getMessage() for r in errors.records]
    assert hub.server.connections <= 1  # the handler is gone or finishing


def test_the_listener_survives_arbitrary_bytes(hub, acks):
    # after the property above ran against other listeners: this one takes abuse and then a good message
    for data in (b"\x0b\x1c\r" * 50, bytes(range(256)) * 4, b"\x0b" + b"\x00" * 5000):
        with hub.client(timeout=10) as c:
            c.write(data)
            c.shutdown_write()
            c.read_until_closed()
    assert acks.msa(hub.send(adt_a01("ALIVE"))) == ("AA", "ALIVE")
