"""The batch a message came in, on its inbox row: FHS-11, BHS-11 and its position, over MLLP, HTTP and the
synchronous path, into a real database; NULL for a message sent alone; a retransmission keeps the first row."""

from __future__ import annotations

from sqlalchemy import select

from hub.db import get_sessionmaker
from hub.db.tables import InboxMessage
from hub.hl7.ingest import Ingestor
from tests.support.batches import adt, nightly, oru, wrap


def places(rows) -> list[tuple[str | None, str | None, str | None, int | None]]:
    return [(r.control_id, r.file_control_id, r.batch_control_id, r.batch_position) for r in rows]


def test_mllp_rows_name_their_file_batch_and_position(hub):
    single = adt("NR0316010", mrn="0077310", family="Zhou", given="Guohua")
    hub.send(single)
    hub.send(wrap(nightly()))
    assert places(hub.rows()) == [
        ("NR0316010", None, None, None),  # sent alone
        ("NR0316001", "F20260316", "B20260316", 1),
        ("NR0316002", "F20260316", "B20260316", 2),
        ("NR0316003", "F20260316", "B20260316", 3),
    ]


def test_several_batches_in_one_file_each_count_from_one(hub):
    first = wrap(nightly()[:2], fhs=False, batch_id="B20260316A")
    second = wrap(nightly()[2:], fhs=False, batch_id="B20260316B")
    hub.send(f"FHS|^~\\&|LIS|SZ_PEOPLES_2|HUB|CITY|20260316020000||||F20260316N\r{first}{second}FTS|2\r")
    assert places(hub.rows()) == [
        ("NR0316001", "F20260316N", "B20260316A", 1),
        ("NR0316002", "F20260316N", "B20260316A", 2),
        ("NR0316003", "F20260316N", "B20260316B", 1),
    ]


def test_without_control_ids_only_the_position_is_kept(hub):
    # BHS without BHS-11 and no FHS: nothing names the batch, the position still says where each message stood
    hub.send(wrap(nightly(), fhs=False, batch_id=""))
    assert places(hub.rows()) == [
        ("NR0316001", None, None, 1),
        ("NR0316002", None, None, 2),
        ("NR0316003", None, None, 3),
    ]


def test_a_rejected_message_of_a_batch_keeps_its_place(http_hub):
    good_a, _b, good_c = nightly()
    unknown_type = oru("NR0316021", mrn="0058214", family="Huang", given="Meiling", msh9="QQQ^Q01")
    assert http_hub.post(wrap([good_a, unknown_type, good_c])).status_code == 200
    rows = http_hub.rows()
    assert [(r.status, r.file_control_id, r.batch_control_id, r.batch_position) for r in rows] == [
        ("received", "F20260316", "B20260316", 1),
        ("rejected", "F20260316", "B20260316", 2),  # kept for the operator, control_id NULL
        ("received", "F20260316", "B20260316", 3),
    ]


def test_a_retransmission_keeps_the_row_of_the_first_arrival(http_hub):
    alone = adt("NR0316030", mrn="0029518", family="Sun", given="Lihua")
    http_hub.post(alone)
    http_hub.post(wrap(nightly(), batch_id="B20260316", file_id="F20260316"))
    # The hospital resends the night's batch under new control ids, with the lone message and one new result.
    new = oru("NR0316004", mrn="0045190", family="Wang", given="Xiuying")
    http_hub.post(wrap([*nightly(), alone, new], batch_id="B20260316R", file_id="F20260316R"))
    assert places(http_hub.rows()) == [
        ("NR0316030", None, None, None),  # first came alone: stays so
        ("NR0316001", "F20260316", "B20260316", 1),  # the first batch, not the resent one
        ("NR0316002", "F20260316", "B20260316", 2),
        ("NR0316003", "F20260316", "B20260316", 3),
        ("NR0316004", "F20260316R", "B20260316R", 5),  # new in the resent batch, fifth in it
    ]


def test_the_synchronous_path_keeps_the_places_too(settings):
    result = Ingestor(settings).receive_ack_sync(wrap(nightly(), batch_id="B0316SYNC").encode(), transport="cli")
    assert [p.code for p in result.parts] == ["AA"] * 3
    with get_sessionmaker(settings)() as session:
        rows = list(session.execute(select(InboxMessage).order_by(InboxMessage.id)).scalars())
    assert places(rows) == [
        ("NR0316001", "F20260316", "B0316SYNC", 1),
        ("NR0316002", "F20260316", "B0316SYNC", 2),
        ("NR0316003", "F20260316", "B0316SYNC", 3),
    ]
