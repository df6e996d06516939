"""The hub's answer to a batch, on the inbox rows: each stored message of a batch names the FHS-11/BHS-11 of the
batch of ACKs that carried its ACK (over MLLP, HTTP and the synchronous path, into a real database), the answer
is sent with exactly those ids, and a retransmitted batch is answered under the ids of its first answer."""

from __future__ import annotations

from sqlalchemy import select

from hub.db import get_sessionmaker
from hub.db.tables import InboxMessage
from hub.hl7.ingest import Ingestor
from tests.support.batches import adt, nightly, oru, wrap


def headers(reply: bytes) -> dict[str, list[str]]:
    """FHS/BHS of an answer by segment id, each as its fields numbered as in the standard ([11] = FHS-11)."""
    out: dict[str, list[str]] = {}
    for line in reply.decode("latin-1").split("\r"):
        if line[:3] in ("FHS", "BHS") and line[:3] not in out:
            fields = line.split("|")
            fields.insert(1, "|")
            out[line[:3]] = fields
    return out


def reply_ids(reply: bytes) -> tuple[str, str]:
    h = headers(reply)
    return h["FHS"][11], h["BHS"][11]


def replies(rows) -> list[tuple[str | None, str | None, str | None]]:
    return [(r.control_id, r.reply_file_control_id, r.reply_batch_control_id) for r in rows]


def test_mllp_rows_name_the_answer_that_carried_their_ack(hub):
    hub.send(adt("NR0316010", mrn="0077310", family="Zhou", given="Guohua"))
    reply = hub.send(wrap(nightly()))
    file_id, batch_id = reply_ids(reply)
    assert headers(reply)["FHS"][12] == "F20260316" and headers(reply)["BHS"][12] == "B20260316"  # the references
    assert file_id != batch_id and file_id.startswith("H") and batch_id.startswith("H")
    assert replies(hub.rows()) == [
        ("NR0316010", None, None),  # sent alone: its ACK (and its MSH-10) is in inbox.ack
        ("NR0316001", file_id, batch_id),
        ("NR0316002", file_id, batch_id),
        ("NR0316003", file_id, batch_id),
    ]


def test_each_batch_of_a_file_has_its_own_answer(hub):
    first = wrap(nightly()[:2], fhs=False, batch_id="B20260316A")
    second = wrap(nightly()[2:], fhs=False, batch_id="B20260316B")
    reply = hub.send(f"FHS|^~\\&|LIS|SZ_PEOPLES_2|HUB|CITY|20260316020000||||F20260316N\r{first}{second}FTS|2\r")
    lines = [line.split("|") for line in reply.decode().split("\r") if line[:3] in ("FHS", "BHS")]
    fhs11, bhs11_a, bhs11_b = lines[0][10], lines[1][10], lines[2][10]  # split() numbers them one less
    assert [line[11] for line in lines] == ["F20260316N", "B20260316A", "B20260316B"]
    assert replies(hub.rows()) == [
        ("NR0316001", fhs11, bhs11_a),
        ("NR0316002", fhs11, bhs11_a),
        ("NR0316003", fhs11, bhs11_b),
    ]


def test_a_message_without_an_ack_due_names_no_answer(http_hub):
    # MSH-15 NE (enhanced mode): stored, but its ACK is in no answer; the others' answer is named on theirs
    a, b, c = nightly()
    never = b.replace("|P|2.5.1", "|P|2.5.1|||NE|AL")
    reply = http_hub.post(wrap([a, never, c])).content
    file_id, batch_id = reply_ids(reply)
    assert reply.count(b"MSA|") == 2
    assert replies(http_hub.rows()) == [
        ("NR0316001", file_id, batch_id),
        ("NR0316002", None, None),
        ("NR0316003", file_id, batch_id),
    ]


def test_a_rejected_message_names_the_answer_its_ar_went_in(http_hub):
    good_a, _b, good_c = nightly()
    unknown_type = oru("NR0316021", mrn="0058214", family="Huang", given="Meiling", msh9="QQQ^Q01")
    reply = http_hub.post(wrap([good_a, unknown_type, good_c])).content
    assert b"MSA|AR|NR0316021" in reply
    _file_id, batch_id = reply_ids(reply)
    assert [(r.status, r.reply_batch_control_id) for r in http_hub.rows()] == [
        ("received", batch_id),
        ("rejected", batch_id),
        ("received", batch_id),
    ]


def test_a_retransmitted_batch_is_answered_under_its_first_answers_ids(http_hub):
    first = http_hub.post(wrap(nightly())).content
    again = http_hub.post(wrap(nightly())).content  # the reply was lost: the hospital resends the same batch
    assert reply_ids(again) == reply_ids(first)
    assert again.split(b"MSH|", 1)[1] == first.split(b"MSH|", 1)[1]  # and the very ACKs of the first time
    file_id, batch_id = reply_ids(first)
    assert replies(http_hub.rows()) == [
        ("NR0316001", file_id, batch_id),
        ("NR0316002", file_id, batch_id),
        ("NR0316003", file_id, batch_id),
    ]


def test_a_batch_with_new_messages_gets_a_new_answer_named_on_them(http_hub):
    alone = adt("NR0316030", mrn="0029518", family="Sun", given="Lihua")
    http_hub.post(alone)
    first = reply_ids(http_hub.post(wrap(nightly())).content)
    new = oru("NR0316004", mrn="0045190", family="Wang", given="Xiuying")
    resent = reply_ids(http_hub.post(wrap([*nightly(), alone, new], batch_id="B20260316R")).content)
    assert resent[1] != first[1]
    assert replies(http_hub.rows()) == [
        ("NR0316030", None, None),  # first came alone
        ("NR0316001", *first),  # keep the answer of their first arrival, as they keep its batch
        ("NR0316002", *first),
        ("NR0316003", *first),
        ("NR0316004", *resent),
    ]
    # Resent once more: its messages were first answered in different answers (or alone): a new answer again
    assert reply_ids(http_hub.post(wrap([*nightly(), alone, new], batch_id="B20260316R")).content)[1] not in (
        first[1],
        resent[1],
    )


def test_a_batch_without_a_file_header_has_no_reply_file_id(hub):
    reply = hub.send(wrap(nightly(), fhs=False, batch_id="B20260316"))
    assert "FHS" not in headers(reply)
    batch_id = headers(reply)["BHS"][11]
    assert {(r.reply_file_control_id, r.reply_batch_control_id) for r in hub.rows()} == {(None, batch_id)}


def test_the_synchronous_path_names_the_answer_too(settings):
    result = Ingestor(settings).receive_ack_sync(wrap(nightly(), batch_id="B0316SYNC").encode(), transport="cli")
    file_id, batch_id = reply_ids(result.data)
    with get_sessionmaker(settings)() as session:
        rows = list(session.execute(select(InboxMessage).order_by(InboxMessage.id)).scalars())
    assert {(r.reply_file_control_id, r.reply_batch_control_id) for r in rows} == {(file_id, batch_id)}
    again = Ingestor(settings).receive_ack_sync(wrap(nightly(), batch_id="B0316SYNC").encode(), transport="cli")
    assert reply_ids(again.data) == (file_id, batch_id)
