"""HL7 v2 batches (FHS/BHS … BTS/FTS) over MLLP and HTTP, into a real database: each message stored as a
single one, the batch of ACKs only after the commit, refusals of the whole payload."""

from __future__ import annotations

import pytest

from hub.hl7 import batch as hl7_batch
from hub.hl7.client import send_message
from hub.hl7.ingest import Ingestor
from hub.hl7.mllp import frame
from tests.support.batches import BOM, adt, nightly, oru, wrap

ENVELOPE = ("FHS", "BHS", "BTS", "FTS")


def segments(data: bytes, encoding: str = "utf-8") -> list[list[str]]:
    lines = [line for line in data.decode(encoding).split("\r") if line]
    return [line.split("|") for line in lines]


def envelope(data: bytes, name: str) -> list[str]:
    """The answer's segment ``name`` as a list indexed by field number (``[11]`` is BHS-11)."""
    [fields] = [s for s in segments(data) if s[0] == name]
    return fields if name in ("BTS", "FTS") else [fields[0], "|", *fields[1:]]


def ack_messages(data: bytes, encoding: str = "utf-8") -> list[bytes]:
    """The ACK messages inside an answer, each as its own bytes."""
    acks: list[list[str]] = []
    for line in [line for line in data.decode(encoding).split("\r") if line]:
        if line.startswith("MSH"):
            acks.append([line])
        elif line[:3] not in ENVELOPE:
            acks[-1].append(line)
    return [("\r".join(a) + "\r").encode(encoding) for a in acks]


# Reading the envelope ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sep", "bom"), [("\r", b""), ("\n", b""), ("\r\n", b""), ("\r\n", BOM), ("\n", BOM)], ids=repr
)
def test_each_message_is_its_exact_bytes_whatever_the_line_ends(settings, sep, bom):
    messages = nightly(sep=sep)
    raw = bom + wrap(messages, sep=sep).encode()
    env = hl7_batch.read(raw, settings)
    assert env.file_header is not None and env.file_header.get(11) == "F20260316"
    [only] = env.batches
    assert only.header is not None and only.header.get(11) == "B20260316"
    assert only.trailer is not None and only.trailer[1] == "3"
    assert only.messages == [m.encode() for m in messages]


def test_several_batches_in_one_file(settings):
    first, second = nightly()[:2], nightly(("NR0316004", "NR0316005", "NR0316006"))[2:]
    raw = (
        "FHS|^~\\&|LIS|SZ_PEOPLES_2|HUB|CITY|20260316020000||||F77\r"
        + wrap(first, fhs=False, batch_id="B1")
        + wrap(second, fhs=False, batch_id="B2")
        + "FTS|2\r"
    ).encode()
    env = hl7_batch.read(raw, settings)
    assert [b.header.get(11) for b in env.batches if b.header] == ["B1", "B2"]
    assert [len(b.messages) for b in env.batches] == [2, 1]


# Over MLLP ---------------------------------------------------------------------------------------------
def test_mllp_batch_of_three_is_stored_then_answered_with_a_batch_of_acks(hub, acks):
    messages = nightly()
    reply = hub.send(wrap(messages))
    names = [s[0] for s in segments(reply)]
    assert names == ["FHS", "BHS", "MSH", "MSA", "MSH", "MSA", "MSH", "MSA", "BTS", "FTS"]
    fhs, bhs, bts, fts = (envelope(reply, n) for n in ENVELOPE)
    # Sender and receiver swapped; our own control ids; the received ones as references (FHS-12, BHS-12).
    for header in (fhs, bhs):
        assert header[2] == "^~\\&"
        assert (header[3], header[4], header[5], header[6]) == ("HUB", "CITY", "LIS", "SZ_PEOPLES_2")
        assert header[11] and header[11] not in ("F20260316", "B20260316")
    assert fhs[12] == "F20260316" and bhs[12] == "B20260316"
    assert bts[1] == "3" and fts[1] == "1"
    answers = ack_messages(reply)
    assert [acks.msa(a) for a in answers] == [("AA", "NR0316001"), ("AA", "NR0316002"), ("AA", "NR0316003")]
    for a in answers:
        acks.validate(a.decode())
    rows = hub.rows()
    assert [r.raw for r in rows] == [m.encode() for m in messages]  # each exactly as sent
    assert [(r.status, r.transport, r.ack_code) for r in rows] == [("received", "mllp", "AA")] * 3
    assert [r.ack.encode() for r in rows] == answers
    assert sorted(hub.stored) == [r.id for r in rows]  # each queued for conversion


def test_bhs_only_with_lf_line_ends_and_a_bom(hub, acks):
    messages = nightly(sep="\n")
    reply = hub.send(BOM + wrap(messages, fhs=False, sep="\n").encode())
    assert [s[0] for s in segments(reply)][:2] == ["BHS", "MSH"] and segments(reply)[-1][0] == "BTS"
    assert "FHS" not in {s[0] for s in segments(reply)} and "FTS" not in {s[0] for s in segments(reply)}
    assert envelope(reply, "BHS")[12] == "B20260316" and envelope(reply, "BTS")[1] == "3"
    assert [acks.msa(a)[0] for a in ack_messages(reply)] == ["AA"] * 3
    assert [r.raw for r in hub.rows()] == [m.encode() for m in messages]


def test_a_retransmitted_batch_gets_the_same_acks_and_is_stored_once(http_hub, acks):
    raw = wrap(nightly())
    first = send_message("127.0.0.1", http_hub.mllp_port, raw, timeout=20)
    again = send_message("127.0.0.1", http_hub.mllp_port, raw, timeout=20)
    over_http = http_hub.post(raw)
    assert over_http.status_code == 200
    assert ack_messages(first) == ack_messages(again) == ack_messages(over_http.content)  # byte for byte
    assert len(ack_messages(first)) == 3
    assert [r.control_id for r in http_hub.rows()] == ["NR0316001", "NR0316002", "NR0316003"]
    # A batch with one new message among the three: only that one is stored.
    more = http_hub.post(wrap([*nightly(), oru("NR0316004", mrn="0045190", family="Wang", given="Xiuying")]))
    assert ack_messages(more.content)[:3] == ack_messages(first)
    assert [r.control_id for r in http_hub.rows()][-1] == "NR0316004" and len(http_hub.rows()) == 4


def test_a_batch_frame_among_single_frames_on_one_connection(hub, acks):
    single = adt("NR0316010", mrn="0077310", family="Zhou", given="Guohua")
    with hub.client() as c:
        c.write(frame(single.encode()) + frame(wrap(nightly()).encode()) + frame(single.encode()))
        replies = [c.read_reply() for _ in range(3)]
    assert acks.msa(replies[0]) == ("AA", "NR0316010") and replies[2] == replies[0]
    assert [acks.msa(a)[1] for a in ack_messages(replies[1])] == ["NR0316001", "NR0316002", "NR0316003"]
    assert len(hub.rows()) == 4


# Bad input ---------------------------------------------------------------------------------------------
def test_one_bad_message_gets_its_ar_and_the_good_ones_are_stored(http_hub, acks):
    good_a, good_b, good_c = nightly()
    old_version = adt("NR0316020", mrn="0058214", family="Huang", given="Meiling", version="1.0")
    unknown_type = oru("NR0316021", mrn="0058214", family="Huang", given="Meiling", msh9="QQQ^Q01")
    no_control_id = good_b.replace("|NR0316002|", "||").replace("ORU^R01", "ORU^R01")
    response = http_hub.post(wrap([good_a, old_version, unknown_type, no_control_id, good_c]))
    assert response.status_code == 200
    answers = ack_messages(response.content)
    assert [acks.msa(a) for a in answers] == [
        ("AA", "NR0316001"),
        ("AR", "NR0316020"),
        ("AR", "NR0316021"),
        ("AR", ""),
        ("AA", "NR0316003"),
    ]
    assert [acks.err(a) for a in answers[1:4]] == [("203", "MSH^1^12"), ("200", "MSH^1^9^1^1"), ("101", "MSH^1^10")]
    for a in (answers[0], answers[2], answers[4]):  # hl7apy knows no version 1.0; MSA-2 of [3] is empty
        acks.validate(a.decode())
    assert envelope(response.content, "BTS")[1] == "5"
    assert envelope(response.content, "BTS")[2] == "2 AA, 3 AR"
    rows = http_hub.rows()
    assert [(r.control_id, r.status) for r in rows if r.status == "received"] == [
        ("NR0316001", "received"),
        ("NR0316003", "received"),
    ]
    assert sum(r.status == "rejected" for r in rows) == 3  # kept for the operator, as single messages are


@pytest.mark.parametrize(
    ("count", "code", "text"),
    [(4, "100", "BTS-1 says 4 messages, the batch holds 3"), (2, "100", "BTS-1 says 2"), ("three", "102", "BTS-1")],
)
def test_a_bts_count_that_disagrees_refuses_the_whole_batch(http_hub, acks, count, code, text):
    response = http_hub.post(wrap(nightly(), count=count))
    assert response.status_code == 200
    answers = ack_messages(response.content)
    assert [acks.msa(a) for a in answers] == [("AR", "NR0316001"), ("AR", "NR0316002"), ("AR", "NR0316003")]
    for a in answers:
        assert acks.err(a) == (code, "BTS^1^1")
        assert text in a.decode() and "batch refused, nothing stored" in a.decode()
        acks.validate(a.decode())
    bts = envelope(response.content, "BTS")
    assert bts[1] == "3" and bts[2].startswith("refused: ")
    assert http_hub.rows() == []  # nothing stored: the sender resends the batch whole


def test_a_count_that_disagrees_in_one_of_two_batches_refuses_the_file_batch_by_batch(hub, acks):
    first = wrap(nightly()[:2], fhs=False, batch_id="B1")
    second = wrap(nightly()[2:], fhs=False, batch_id="B2", count=2)
    reply = hub.send(f"FHS|^~\\&|LIS|SZ_PEOPLES_2|HUB|CITY|20260316020000||||F9\r{first}{second}FTS|2\r")
    names = [s[0] for s in segments(reply) if s[0] in ENVELOPE]
    assert names == ["FHS", "BHS", "BTS", "BHS", "BTS", "FTS"]  # one answering batch per batch sent
    assert [s[11] for s in segments(reply) if s[0] == "BHS"] == ["B1", "B2"]  # BHS-12 (split: [11])
    assert [acks.msa(a)[0] for a in ack_messages(reply)] == ["AR"] * 3
    assert "batch 2's BTS-1 says 2 messages, the batch holds 1" in ack_messages(reply)[0].decode()
    assert hub.rows() == []


def test_an_fts_count_that_disagrees_refuses_the_file(hub, acks):
    reply = hub.send(wrap(nightly()).replace("FTS|1", "FTS|2"))
    assert [acks.msa(a)[0] for a in ack_messages(reply)] == ["AR"] * 3
    assert acks.err(ack_messages(reply)[0]) == ("100", "FTS^1^1")
    assert envelope(reply, "FTS")[2].startswith("refused: FTS-1 says 2 batches")
    assert hub.rows() == []


FILE_HEADER = "FHS|^~\\&|LIS|SZ_PEOPLES_2|HUB|CITY|20260316020000||||F20260318\r"


@pytest.mark.parametrize("fts1", ["0", "1"])
def test_messages_with_no_bhs_are_one_implicit_batch_whatever_fts_counts(settings, fts1):
    # FHS, the messages, FTS: no BHS/BTS. FTS-1 0 (no batch header sent) or 1 (the implicit batch) agrees.
    env = hl7_batch.read(f"{FILE_HEADER}{''.join(nightly())}FTS|{fts1}\r".encode(), settings)
    [only] = env.batches
    assert only.header is None and only.trailer is None
    assert only.messages == [m.encode() for m in nightly()]


def test_fts_0_over_messages_without_bhs_is_stored_and_answered_over_mllp(hub, acks):
    reply = hub.send(f"{FILE_HEADER}{''.join(nightly())}FTS|0\r")
    assert [s[0] for s in segments(reply) if s[0] in ENVELOPE] == ["FHS", "BHS", "BTS", "FTS"]
    assert [acks.msa(a) for a in ack_messages(reply)] == [
        ("AA", "NR0316001"),
        ("AA", "NR0316002"),
        ("AA", "NR0316003"),
    ]
    assert envelope(reply, "FHS")[12] == "F20260318" and envelope(reply, "BTS")[1] == "3"
    assert [r.raw for r in hub.rows()] == [m.encode() for m in nightly()]


def test_fts_0_over_messages_without_bhs_is_stored_and_answered_over_http(http_hub, acks):
    response = http_hub.post(f"{FILE_HEADER}{''.join(nightly())}FTS|0\r")
    assert response.status_code == 200
    assert [acks.msa(a)[0] for a in ack_messages(response.content)] == ["AA"] * 3
    assert [(r.control_id, r.status) for r in http_hub.rows()] == [
        ("NR0316001", "received"),
        ("NR0316002", "received"),
        ("NR0316003", "received"),
    ]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        # No BHS, FTS-1 2: one implicit batch, not two.
        (f"{FILE_HEADER}{''.join(nightly())}FTS|2\r", "FTS-1 says 2 batches, the file holds 1"),
        # One BHS … BTS, FTS-1 0: the batch header was sent, so 0 disagrees.
        (wrap(nightly()).replace("FTS|1", "FTS|0"), "FTS-1 says 0 batches, the file holds 1"),
    ],
    ids=["no-bhs-fts-2", "one-bhs-fts-0"],
)
def test_an_fts_count_that_really_disagrees_is_still_refused(http_hub, acks, raw, text):
    response = http_hub.post(raw)
    answers = ack_messages(response.content)
    assert [acks.msa(a)[0] for a in answers] == ["AR"] * 3
    assert acks.err(answers[0]) == ("100", "FTS^1^1") and text in answers[0].decode()
    assert http_hub.rows() == []


def test_an_empty_batch_is_answered_with_an_empty_batch(http_hub):
    # HL7 allows it: a batch sent "to meet a requirement for periodic submission" when there is nothing.
    response = http_hub.post(wrap([]))
    assert response.status_code == 200
    assert [s[0] for s in segments(response.content)] == ["FHS", "BHS", "BTS", "FTS"]
    bts = envelope(response.content, "BTS")
    assert bts[1] == "0" and bts[2] == "no messages in the batch; nothing stored"
    assert envelope(response.content, "BHS")[12] == "B20260316"
    # A file with no batch at all, FTS-1 0: the same.
    response = http_hub.post("FHS|^~\\&|LIS|SZ_PEOPLES_2|HUB|CITY|20260316020000||||F20260317\rFTS|0\r")
    assert [s[0] for s in segments(response.content)] == ["FHS", "BHS", "BTS", "FTS"]
    assert envelope(response.content, "FHS")[12] == "F20260317" and envelope(response.content, "BTS")[1] == "0"
    assert http_hub.rows() == []


def test_an_unreadable_batch_header_is_refused(hub, acks):
    broken = wrap(nightly(), fhs=False).replace("BHS|^~\\&|", "BHS|^^^^|", 1)  # encoding characters repeat
    reply = hub.send(broken)
    answers = ack_messages(reply)
    assert [acks.msa(a) for a in answers] == [("AR", "NR0316001"), ("AR", "NR0316002"), ("AR", "NR0316003")]
    assert acks.err(answers[0]) == ("102", "BHS^1^2")
    assert "BHS-1/BHS-2 (the delimiters) cannot be read" in answers[0].decode()
    assert hub.rows() == []
    # Nothing readable at all: one AR that says why, never an empty (= "all accepted") batch.
    reply = hub.send(b"BHS1^~\\&|LIS\rBTS|0\r")
    [only] = ack_messages(reply)
    assert acks.msa(only) == ("AR", "") and acks.err(only) == ("102", "BHS^1^1")


def test_a_segment_outside_any_message_refuses_the_batch(hub, acks):
    stray = wrap(nightly()).replace("BTS|3\r", "BTS|3\rNTE|1||left over\r")
    reply = hub.send(stray)
    assert [acks.msa(a)[0] for a in ack_messages(reply)] == ["AR"] * 3
    assert acks.err(ack_messages(reply)[0]) == ("100", "NTE^1")
    assert hub.rows() == []


def test_messages_that_want_no_accept_ack_have_none_in_the_answer(http_hub, acks):
    a, b, c = nightly()
    never = b.replace("|P|2.5.1", "|P|2.5.1|||NE|AL")  # enhanced mode, MSH-15 NE
    response = http_hub.post(wrap([a, never, c]))
    assert [acks.msa(x)[1] for x in ack_messages(response.content)] == ["NR0316001", "NR0316003"]
    assert envelope(response.content, "BTS")[1] == "2"
    assert len(http_hub.rows()) == 3
    # A batch none of whose messages wants an ACK is answered as such a single message is: nothing.
    response = http_hub.post(wrap([never.replace("NR0316002", "NR0316009")]))
    assert response.status_code == 204


def test_gb18030_batch(http_hub, acks):
    names = {"Chen^Zhiqiang": "陈^志强", "Wang^Xiuying": "王^秀英", "Liu^Jianguo": "刘^建国"}
    messages = []
    for message in nightly():
        message = message.replace("|P|2.5.1", "|P|2.5.1||||||GB18030")  # MSH-18
        for latin, chinese in names.items():
            message = message.replace(latin, chinese)
        messages.append(message)
    raw = wrap(messages).encode("gb18030")
    response = http_hub.post(raw)
    assert response.headers["content-type"].endswith("charset=gb18030")
    assert [acks.msa(a, "gb18030")[0] for a in ack_messages(response.content, "gb18030")] == ["AA"] * 3
    assert [r.raw for r in http_hub.rows()] == [m.encode("gb18030") for m in messages]


# Size limits -------------------------------------------------------------------------------------------
def test_a_batch_may_be_larger_than_a_message_up_to_its_own_limit(start_hub, make_http_hub, settings, acks):
    limits = settings.model_copy(update={"max_message_bytes": 1200, "max_batch_bytes": 6000})
    messages = [oru(f"NR03161{i:02d}", mrn="0045190", family="Wang", given="Xiuying") for i in range(8)]
    raw = wrap(messages).encode()
    assert 1200 < len(raw) < 6000 and all(len(m) < 1200 for m in messages)
    hub = start_hub(limits)
    assert [acks.msa(a)[0] for a in ack_messages(hub.send(raw))] == ["AA"] * 8
    http = make_http_hub(limits)
    assert [acks.msa(a)[0] for a in ack_messages(http.post(raw).content)] == ["AA"] * 8
    assert len(hub.rows()) == 8  # the second sending was recognised


def test_a_batch_over_its_limit_is_refused_and_nothing_stored(start_hub, make_http_hub, settings, acks):
    limits = settings.model_copy(update={"max_message_bytes": 1200, "max_batch_bytes": 2000})
    messages = [oru(f"NR03162{i:02d}", mrn="0045190", family="Wang", given="Xiuying") for i in range(8)]
    raw = wrap(messages).encode()
    assert len(raw) > 2000
    hub = start_hub(limits)
    with hub.client() as c:
        c.write(frame(raw) + frame(adt("NR0316299", mrn="0012873", family="Chen", given="Zhiqiang").encode()))
        replies = c.read_until_closed()  # answered, then closed: the rest of the frame is never read
    [reply] = replies
    answers = ack_messages(reply)
    assert answers and all(acks.msa(a)[0] == "AR" for a in answers)
    assert acks.err(answers[0]) == ("207", "BHS^1")
    assert envelope(reply, "BHS")[12] == "B20260316"
    http = make_http_hub(limits)
    response = http.post(raw)
    assert [acks.msa(a)[0] for a in ack_messages(response.content)] == ["AR"] * len(ack_messages(response.content))
    assert "the batch is larger than the 2000 bytes accepted" in response.text
    assert hub.rows() == []


def test_a_message_inside_a_batch_keeps_the_message_limit(settings, acks):
    small = settings.model_copy(update={"max_message_bytes": 250})
    ingestor = Ingestor(small)
    result = ingestor.receive_ack_sync(wrap(nightly()).encode(), transport="cli")
    codes = [acks.msa(a) for a in ack_messages(result.data)]
    assert codes == [
        ("AA", "NR0316001"),
        ("AR", "NR0316002"),
        ("AA", "NR0316003"),
    ]  # the ORU is 280 bytes, the ADTs 200
    assert acks.err(ack_messages(result.data)[1])[0] == "207"


# The ingestion guarantee -------------------------------------------------------------------------------
def test_no_aa_for_a_batch_the_database_did_not_take(make_http_hub, settings, acks):
    hub = make_http_hub(settings.model_copy(update={"database_url": acks.unreachable_database_url}))
    response = hub.post(wrap(nightly()))
    assert response.status_code == 503 and response.headers["retry-after"]
    answers = ack_messages(response.content)
    assert [acks.msa(a)[0] for a in answers] == ["AR"] * 3 and {acks.err(a)[0] for a in answers} == {"206"}


def test_the_synchronous_path_stores_a_batch_in_one_commit(settings, acks):
    stored: list[int] = []
    ingestor = Ingestor(settings, on_stored=stored.extend)
    calls: list[int] = []
    original = ingestor._store

    def counting(items, **kwargs):
        calls.append(len(items))
        return original(items, **kwargs)

    ingestor._store = counting  # type: ignore[method-assign]
    result = ingestor.receive_ack_sync(wrap(nightly()).encode(), transport="cli")
    assert calls == [3]  # one call of the writer: one transaction for the batch
    assert [p.code for p in result.parts] == ["AA"] * 3 and len(stored) == 3
    assert [acks.msa(a)[0] for a in ack_messages(result.data)] == ["AA"] * 3
