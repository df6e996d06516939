"""The Ingestor against a real database: store-then-ACK, dedup, rejected messages, group commit, failures."""

from __future__ import annotations

import asyncio
import gc
import threading
import tracemalloc

import pytest
from sqlalchemy import event, func, select

from hub.db import get_engine, get_sessionmaker
from hub.db.tables import InboxMessage
from hub.hl7 import er7
from hub.hl7.ingest import Ingestor
from tests.support.messages import adt_a01, oru_r01


def enhanced(control_id: str, msh15: str, msh16: str = "AL") -> str:
    # adt_a01 with MSH-15/16 set: MSH-13, 14 empty, then the ack types, MSH-17 empty, MSH-18 kept
    return adt_a01(control_id).replace("|P|2.5.1||||||UNICODE UTF-8", f"|P|2.5.1|||{msh15}|{msh16}||UNICODE UTF-8")


def rows(settings) -> list[InboxMessage]:
    with get_sessionmaker(settings)() as session:
        return list(session.execute(select(InboxMessage).order_by(InboxMessage.id)).scalars())


def run_async(ingestor: Ingestor, coro_factory):
    async def main():
        await ingestor.start()
        try:
            return await coro_factory()
        finally:
            await ingestor.stop()

    return asyncio.run(main())


def test_stores_the_raw_bytes_then_answers_aa(settings, acks):
    raw = b"\xef\xbb\xbf" + adt_a01("S1", sep="\n").encode()  # BOM and LF line ends, as some senders do
    stored: list[int] = []
    ingestor = Ingestor(settings, on_stored=stored.extend)
    result = ingestor.receive_ack_sync(raw, transport="cli", peer="127.0.0.1:5000")
    assert acks.msa(result.data) == ("AA", "S1")
    [row] = rows(settings)
    assert row.raw == raw  # the bytes as received, BOM and all
    assert (row.status, row.transport, row.peer) == ("received", "cli", "127.0.0.1:5000")
    assert (row.sending_application, row.sending_facility, row.control_id) == ("HIS", "HOSP_A", "S1")
    assert (row.message_type, row.structure, row.version, row.charset) == ("ADT^A01", "ADT_A01", "2.5.1", "utf-8")
    assert row.ack.encode() == result.data and row.ack_code == "AA"
    assert result.inbox_id == row.id and stored == [row.id]


def test_a_retransmission_is_stored_once_and_gets_the_same_ack(settings):
    stored: list[int] = []
    ingestor = Ingestor(settings, on_stored=stored.extend)
    first = ingestor.receive_ack_sync(adt_a01("DUP1").encode(), transport="mllp")
    again = ingestor.receive_ack_sync(adt_a01("DUP1").encode(), transport="mllp")
    assert again.data == first.data  # the very ACK, its own MSH-10 included
    assert again.duplicate and not first.duplicate and again.inbox_id == first.inbox_id
    assert len(rows(settings)) == 1 and stored == [first.inbox_id]


def test_same_control_id_from_another_facility_is_another_message(settings):
    ingestor = Ingestor(settings)
    a = ingestor.receive_ack_sync(adt_a01("C1", facility="HOSP_A").encode(), transport="mllp")
    b = ingestor.receive_ack_sync(adt_a01("C1", facility="HOSP_B").encode(), transport="mllp")
    assert a.inbox_id != b.inbox_id and not b.duplicate
    assert len(rows(settings)) == 2


def test_duplicates_in_one_batch(settings, acks):
    stored: list[int] = []
    ingestor = Ingestor(settings, on_stored=stored.extend)
    messages = [adt_a01("SAME").encode()] * 5 + [adt_a01(f"OTHER{i}").encode() for i in range(20)]

    async def go():
        return await asyncio.gather(*(ingestor.receive_ack(m, transport="mllp") for m in messages))

    results = run_async(ingestor, go)
    same = results[:5]
    assert len({r.data for r in same}) == 1 and acks.msa(same[0].data) == ("AA", "SAME")
    assert [r.duplicate for r in same] == [False, True, True, True, True]
    assert len(rows(settings)) == 21
    assert sorted(stored) == sorted(r.inbox_id for r in results if not r.duplicate)
    assert len(set(stored)) == 21


def test_group_commit_uses_few_transactions(settings):
    statements = 0  # each batch is one INSERT statement (its own transaction on PostgreSQL)

    def count(_conn, _cursor, statement, *_args):
        nonlocal statements
        if statement.startswith("INSERT INTO inbox"):
            statements += 1

    engine = get_engine(settings)
    event.listen(engine, "before_cursor_execute", count)
    try:
        ingestor = Ingestor(settings)
        messages = [adt_a01(f"G{i}").encode() for i in range(300)]

        async def go():
            return await asyncio.gather(*(ingestor.receive_ack(m, transport="mllp") for m in messages))

        results = run_async(ingestor, go)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert all(r.code == "AA" for r in results)
    assert len(rows(settings)) == 300
    stats = ingestor.stats
    assert (stats.messages, stats.stored, stats.failed) == (300, 300, 0)
    assert 1 <= stats.batches <= 10, stats  # 300 messages, all waiting at once: a handful of batches
    assert statements <= 10 * stats.batches  # SQLite: a few power-of-two chunks per batch, one transaction


@pytest.mark.parametrize(
    ("raw", "code", "location"),
    [
        (adt_a01("R1").replace("ADT^A01^ADT_A01", "XYZ^Z01").encode(), "200", "MSH^1^9^1^1"),
        (adt_a01("R2").replace("|2.5.1|", "|9.9|").encode(), "203", "MSH^1^12"),
        (adt_a01("R3").replace("|ADT^A01^ADT_A01|R3|", "||R3|").encode(), "101", "MSH^1^9"),
        (adt_a01("R4").replace("|R4|", "||").encode(), "101", "MSH^1^10"),
        # an accepted type whose event no mapping template converts: AR 201 now, not AA and a failed conversion
        (adt_a01("R5").replace("ADT^A01^ADT_A01", "ADT^Z99").encode(), "201", "MSH^1^9^2"),
        (adt_a01("R6").replace("ADT^A01^ADT_A01", "ORU^R99^ORU_R99").encode(), "201", "MSH^1^9^2"),
    ],
)
def test_rejected_messages_are_kept_for_the_operator(settings, acks, raw, code, location):
    stored: list[int] = []
    ingestor = Ingestor(settings, on_stored=stored.extend)
    result = ingestor.receive_ack_sync(raw, transport="mllp")
    assert result.code == "AR" and acks.err(result.data) == (code, location)
    [row] = rows(settings)
    assert row.status == "rejected" and row.control_id is None  # no dedup key: a resend is kept again
    assert row.raw == raw and row.ack_code == "AR" and row.error_location == location
    assert stored == []  # nothing to convert


def test_the_mapping_librarys_events_decide_what_is_accepted(settings, acks):
    # ADT^A04 shares ADT_A01's template; A20 (bed status) has a template of its own; an ACK is never judged
    ingestor = Ingestor(settings)
    for control_id, msh9 in (("M1", "ADT^A04"), ("M2", "ADT^A20^ADT_A20"), ("M3", "ADT^A04^ADT_A01")):
        result = ingestor.receive_ack_sync(
            adt_a01(control_id).replace("ADT^A01^ADT_A01", msh9).encode(), transport="mllp"
        )
        assert result.code == "AA", (msh9, acks.err(result.data))
    result = ingestor.receive_ack_sync(adt_a01("M4").replace("ADT^A01^ADT_A01", "ADT^Z99").encode(), transport="mllp")
    assert result.code == "AR"
    assert acks.err(result.data) == ("201", "MSH^1^9^2")
    assert "no mapping for trigger event ADT\\S\\Z99" in acks.parse(result.data).segments[2].line  # ERR-8, escaped
    assert [r.status for r in rows(settings)] == ["received"] * 3 + ["rejected"]


def test_a_v2_1_message_is_judged_by_its_evn_1(settings, acks):
    # v2.1's MSH-9 is the message type alone; the trigger event is EVN-1
    def v21(control_id: str, event: str) -> bytes:
        text = adt_a01(control_id, sep="\n").replace("ADT^A01^ADT_A01", "ADT").replace("|2.5.1|", "|2.1|")
        return text.replace("EVN|A01|", f"EVN|{event}|").encode()

    ingestor = Ingestor(settings)
    assert ingestor.receive_ack_sync(v21("V1", "A01"), transport="mllp").code == "AA"
    result = ingestor.receive_ack_sync(v21("V2", "Z99"), transport="mllp")
    assert result.code == "AR"  # a v2.1 ACK has no ERR-2/ERR-3 to say where: the row does
    assert [(r.status, r.error_location) for r in rows(settings)] == [("received", None), ("rejected", "MSH^1^9^2")]


def test_an_accepted_type_without_templates_is_an_unsupported_message_type(settings, acks):
    # a site that lets master files in (HUB_ALLOWED_MESSAGE_TYPES) before any template maps them: AR 200
    ingestor = Ingestor(settings.model_copy(update={"allowed_message_types": [*settings.allowed_message_types, "MFN"]}))
    result = ingestor.receive_ack_sync(
        adt_a01("F1").replace("ADT^A01^ADT_A01", "MFN^M02^MFN_M02").encode(), transport="mllp"
    )
    assert result.code == "AR" and acks.err(result.data) == ("200", "MSH^1^9")
    assert [r.status for r in rows(settings)] == ["rejected"]


def test_unmapped_messages_can_be_stored_for_a_later_template(settings, acks):
    # HUB_REFUSE_UNMAPPED_MESSAGES=false: kept (AA) for a template yet to come; its conversion fails until then
    ingestor = Ingestor(settings.model_copy(update={"refuse_unmapped_messages": False}))
    result = ingestor.receive_ack_sync(adt_a01("K1").replace("ADT^A01^ADT_A01", "ADT^Z99").encode(), transport="mllp")
    assert result.code == "AA"
    assert [r.status for r in rows(settings)] == ["received"]


def test_unreadable_and_oversize_messages_are_answered_but_not_stored(settings, acks):
    small = settings.model_copy(update={"max_message_bytes": 400})
    ingestor = Ingestor(small)
    garbage = ingestor.receive_ack_sync(b"\x00\x01 not hl7 at all", transport="mllp")
    assert acks.msa(garbage.data) == ("AR", "") and acks.err(garbage.data) == ("100", "MSH^1")
    big = oru_r01("BIG1", observations=20).encode()
    assert len(big) > 400
    oversize = ingestor.receive_ack_sync(big, transport="mllp")
    assert acks.msa(oversize.data) == ("AR", "BIG1")  # MSH-10 still echoed from the first bytes
    assert acks.err(oversize.data)[0] == "207"  # 104 "value too long" exists from v2.7 on
    assert rows(settings) == []


def test_oversize_in_v2_7_is_value_too_long(settings, acks):
    ingestor = Ingestor(settings.model_copy(update={"max_message_bytes": 200}))
    result = ingestor.receive_ack_sync(adt_a01("BIG2").replace("|2.5.1|", "|2.7|").encode(), transport="http")
    assert acks.err(result.data)[0] == "104"


def test_undecodable_message_is_rejected_and_its_ack_repeats_the_senders_bytes(settings):
    raw = adt_a01("GB1").replace("HOSP_A", "张医院").encode("gb18030")  # MSH-18 says UTF-8: it is not
    result = Ingestor(settings).receive_ack_sync(raw, transport="mllp")
    assert result.code == "AR" and result.codec == "latin-1"
    assert "张医院".encode("gb18030") in result.data  # MSH-5 of the ACK: the sender's own bytes
    ack = er7.parse(result.data.decode("latin-1"))
    assert ack.get(ack.first("ERR"), 3, 1) == "102"
    [row] = rows(settings)
    assert row.status == "rejected" and row.raw == raw


def test_gb18030_message_gets_a_gb18030_ack(settings, acks):
    raw = adt_a01("GB2", facility="深圳医院").replace("UNICODE UTF-8", "GB18030").encode("gb18030")
    result = Ingestor(settings).receive_ack_sync(raw, transport="mllp")
    assert result.codec == "gb18030"
    assert acks.msa(result.data, "gb18030") == ("AA", "GB2")
    assert acks.parse(result.data, "gb18030").msh[6] == "深圳医院"
    [row] = rows(settings)
    assert row.charset == "gb18030" and row.sending_facility == "深圳医院"


@pytest.mark.parametrize(
    ("facility", "declared", "codec"),
    [
        ("臺大醫院", "BIG5", "big5"),  # 院 is B0 7C in Big5: its second byte is the field separator
        ("廣東醫院", "GBK", "gb18030"),  # 東 is 96 7C in GBK (a traditional character of GBK's extension)
    ],
)
def test_a_double_byte_hospital_name_does_not_hide_msh_18(settings, acks, facility, declared, codec):
    raw = adt_a01("DB1", facility=facility).replace("UNICODE UTF-8", declared).encode(codec)
    assert b"|" in facility.encode(codec)  # the trap this test is about
    result = Ingestor(settings).receive_ack_sync(raw, transport="mllp")
    assert (result.code, result.codec) == ("AA", codec)
    [row] = rows(settings)
    assert row.sending_facility == facility and row.charset == codec


def test_big5_declared_utf8_sent_is_read_as_utf8(settings, acks):
    # an interface engine re-encoded a Big5 sender's message in UTF-8 and left MSH-18 as it was
    raw = adt_a01("DB2", facility="臺大醫院", family="陳").replace("UNICODE UTF-8", "BIG5").encode("utf-8")
    result = Ingestor(settings).receive_ack_sync(raw, transport="mllp")
    assert (result.code, result.codec) == ("AA", "utf-8")
    assert rows(settings)[0].sending_facility == "臺大醫院"


def test_ascii_declared_utf8_sent_is_read_as_utf8(settings, acks):
    # ASCII is a subset of UTF-8: a name beyond ASCII is read, not refused; bytes valid in neither still are
    raw = adt_a01("AS1", family="Müller", given="张").replace("UNICODE UTF-8", "ASCII").encode("utf-8")
    result = Ingestor(settings).receive_ack_sync(raw, transport="mllp")
    assert (result.code, result.codec) == ("AA", "utf-8")
    bad = adt_a01("AS2").replace("UNICODE UTF-8", "ASCII").replace("Zhang", "Zh\xe4ng").encode("latin-1")
    result = Ingestor(settings).receive_ack_sync(bad, transport="mllp")
    assert result.code == "AR" and acks.err(result.data) == ("102", "MSH^1^18")


def test_a_single_byte_letter_before_a_separator_stays_a_letter(settings, acks):
    # ä is E4 in 8859/1: read as the first byte of a double-byte character it would swallow the separator after it
    raw = adt_a01("L1", facility="KLINIKUM-BÄ").replace("UNICODE UTF-8", "8859/1").encode("latin-1")
    result = Ingestor(settings).receive_ack_sync(raw, transport="mllp")
    assert (result.code, result.codec) == ("AA", "iso8859-1")
    assert rows(settings)[0].sending_facility == "KLINIKUM-BÄ"


@pytest.mark.parametrize("declared", ["8859/1", "8859/15", "8859/5"])
def test_single_byte_declared_utf8_sent_is_read_as_utf8(settings, acks, declared):
    # a single-byte charset reads any bytes without an error: UTF-8 sent under it would be stored as mojibake
    # (张 as å¼ ). Bytes that are valid UTF-8 beyond ASCII are read as UTF-8; true single-byte text almost never is
    raw = adt_a01("SB1", facility="深圳医院", family="Müller").replace("UNICODE UTF-8", declared).encode("utf-8")
    result = Ingestor(settings).receive_ack_sync(raw, transport="mllp")
    assert (result.code, result.codec) == ("AA", "utf-8")
    assert rows(settings)[0].sending_facility == "深圳医院"


def test_single_byte_text_that_is_not_utf8_stays_single_byte(settings, acks):
    # Müller in 8859/1 is 4D FC 6C …: FC starts no UTF-8 sequence; Ж in 8859/5 is B6, a lone continuation byte
    raw = adt_a01("SB2", family="Müller").replace("UNICODE UTF-8", "8859/1").encode("latin-1")
    assert Ingestor(settings).receive_ack_sync(raw, transport="mllp").codec == "iso8859-1"
    cyrillic = adt_a01("SB3", family="Жуков").replace("UNICODE UTF-8", "8859/5").encode("iso8859-5")
    assert Ingestor(settings).receive_ack_sync(cyrillic, transport="mllp").codec == "iso8859-5"


def test_sender_default_charset(settings, acks):
    custom = settings.model_copy(update={"sender_charsets": {"HIS": "GB18030"}})
    raw = adt_a01("GB3", family="王").replace("||||||UNICODE UTF-8", "").encode("gb18030")  # no MSH-18
    result = Ingestor(custom).receive_ack_sync(raw, transport="mllp")
    assert result.codec == "gb18030" and acks.msa(result.data, "gb18030") == ("AA", "GB3")


def test_on_stored_runs_off_the_event_loop_and_its_failure_never_spoils_an_aa(settings, acks, caplog):
    threads: list[str] = []

    def broken(ids):
        threads.append(threading.current_thread().name)
        raise RuntimeError("broker down")

    ingestor = Ingestor(settings, on_stored=broken)

    async def go():
        loop_thread = threading.current_thread().name
        results = [await ingestor.receive_ack(adt_a01(f"N{i}").encode(), transport="mllp") for i in range(3)]
        return loop_thread, results

    with caplog.at_level("WARNING", logger="hub.hl7.ingest"):
        loop_thread, results = run_async(ingestor, go)
    assert [acks.msa(r.data)[0] for r in results] == ["AA"] * 3
    reports = [r.getMessage() for r in caplog.records if "on_stored failed" in r.getMessage()]
    assert len(reports) == 1 and "broker down" in reports[0]  # one report per interval, not one per batch
    assert threads and all(name != loop_thread and name.startswith("hub-ingest-notify") for name in threads)
    assert len(rows(settings)) == 3
    # receive_sync has the same rule
    assert acks.msa(ingestor.receive_sync(adt_a01("N9").encode(), transport="cli"))[0] == "AA"


def test_enhanced_mode_accept_acks(settings, acks):
    ingestor = Ingestor(settings)
    al = ingestor.receive_ack_sync(enhanced("E1", "AL").encode(), transport="mllp")
    assert acks.msa(al.data) == ("CA", "E1")
    ne = ingestor.receive_ack_sync(enhanced("E2", "NE").encode(), transport="mllp")
    assert ne.data == b"" and ne.code == "CA" and ne.inbox_id is not None  # stored, no accept ACK wanted
    er = ingestor.receive_ack_sync(enhanced("E3", "ER").encode(), transport="mllp")
    assert er.data == b""  # ER: only errors are acknowledged
    er_bad = ingestor.receive_ack_sync(enhanced("E4", "ER").replace("|2.5.1|", "|9.9|").encode(), transport="mllp")
    assert acks.msa(er_bad.data) == ("CR", "E4")
    su_bad = ingestor.receive_ack_sync(enhanced("E5", "SU").replace("|2.5.1|", "|9.9|").encode(), transport="mllp")
    assert su_bad.data == b"" and su_bad.code == "CR"
    # a retransmission of the NE message gets what the first got: nothing
    assert ingestor.receive_ack_sync(enhanced("E2", "NE").encode(), transport="mllp").data == b""
    assert [r.status for r in rows(settings)] == ["received"] * 3 + ["rejected"] * 2


def test_an_incoming_ack_is_stored_and_not_answered(settings):
    ack = adt_a01("APPACK1").replace("ADT^A01^ADT_A01", "ACK^A01^ACK") + "MSA|AA|HUB00042\r"
    result = Ingestor(settings).receive_ack_sync(ack.encode(), transport="mllp")
    assert result.data == b"" and result.code == "AA" and result.inbox_id is not None
    [row] = rows(settings)
    assert (row.message_type, row.structure, row.status) == ("ACK^A01", "ACK", "received")


def test_database_unreachable_means_no_aa(settings, acks):
    down = settings.model_copy(update={"database_url": acks.unreachable_database_url})
    stored: list[int] = []
    ingestor = Ingestor(down, on_stored=stored.extend)
    sync = ingestor.receive_ack_sync(adt_a01("DOWN1").encode(), transport="cli")
    assert sync.transient and acks.msa(sync.data) == ("AR", "DOWN1") and acks.err(sync.data)[0] == "206"

    async def go():
        return await asyncio.gather(
            ingestor.receive_ack(adt_a01("DOWN2").encode(), transport="mllp"),
            ingestor.receive_ack(enhanced("DOWN3", "AL").encode(), transport="mllp"),
        )

    plain, enhanced_result = run_async(ingestor, go)
    assert acks.msa(plain.data) == ("AR", "DOWN2") and plain.transient
    assert acks.msa(enhanced_result.data) == ("CE", "DOWN3") and enhanced_result.transient
    assert stored == []
    assert rows(settings) == []  # and the real database did not get them either


def test_after_stop_messages_get_a_transient_ar(settings, acks):
    ingestor = Ingestor(settings)

    async def go():
        await ingestor.start()
        await ingestor.stop()
        return await ingestor.receive_ack(adt_a01("LATE1").encode(), transport="mllp")

    result = asyncio.run(go())
    assert result.transient and acks.msa(result.data) == ("AR", "LATE1")
    assert rows(settings) == []


def test_stop_stores_what_is_queued(settings):
    ingestor = Ingestor(settings)

    async def go():
        await ingestor.start()
        tasks = [
            asyncio.create_task(ingestor.receive_ack(adt_a01(f"Q{i}").encode(), transport="mllp")) for i in range(50)
        ]
        await asyncio.sleep(0)  # let them queue
        await ingestor.stop()
        return await asyncio.gather(*tasks)

    results = asyncio.run(go())
    aa = [r for r in results if r.code == "AA"]
    assert len(aa) == len(rows(settings))  # every AA is stored; the rest were told to resend
    assert all(r.transient for r in results if r.code != "AA")


def test_a_long_stream_leaves_nothing_behind(settings):
    """Bounded queues and no per-message leftovers: memory after 3,000 more messages is what it was."""
    ingestor = Ingestor(settings, on_stored=lambda ids: None)
    body = adt_a01("{}").encode()

    async def go():
        async def burst(prefix, n):
            for start in range(0, n, 250):
                await asyncio.gather(
                    *(
                        ingestor.receive_ack(body.replace(b"{}", f"{prefix}{i}".encode()), transport="mllp")
                        for i in range(start, start + 250)
                    )
                )

        await burst("W", 1000)  # warm up caches (SQLAlchemy statement cache, codecs …)
        tracemalloc.start()
        await burst("X", 1000)  # the last batch stays referenced until the next one: measure from here
        gc.collect()
        before = tracemalloc.take_snapshot()
        await burst("M", 3000)
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        assert ingestor._queue is not None and ingestor._queue.qsize() == 0
        return sum(stat.size_diff for stat in after.compare_to(before, "filename"))

    growth = run_async(ingestor, go)
    assert growth < 150_000, growth  # 3,000 leaked messages would be > 1.5 MB of raw bytes alone
    with get_sessionmaker(settings)() as session:
        assert session.execute(select(func.count()).select_from(InboxMessage)).scalar_one() == 5000


@pytest.mark.postgres
def test_database_outage_and_recovery_mid_stream(settings, acks):
    """PostgreSQL reached through a TCP proxy that is cut and restored: AR while down, AA after; every
    AA'd message is in the database exactly once."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_url)
    proxy = _Proxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = settings.model_copy(update={"database_url": url.set(port=proxy.port).render_as_string(False)})
    ingestor = Ingestor(proxied)

    async def go():
        answers: dict[str, str] = {}
        for i in range(10):
            answers[f"UP{i}"] = acks.msa(await ingestor.receive(adt_a01(f"UP{i}").encode(), transport="mllp"))[0]
        # A database restart between two messages: the writer's connection is dead, the retry on a new
        # one succeeds, and the sender never sees the blip.
        connection_before = ingestor._inbox.connection
        await asyncio.to_thread(proxy.cut)
        await asyncio.to_thread(proxy.restore)
        answers["BLIP"] = acks.msa(await ingestor.receive(adt_a01("BLIP").encode(), transport="mllp"))[0]
        assert ingestor._inbox.connection is not None and ingestor._inbox.connection is not connection_before
        await asyncio.to_thread(proxy.cut)
        down = [await ingestor.receive_ack(adt_a01(f"DN{i}").encode(), transport="mllp") for i in range(10)]
        await asyncio.to_thread(proxy.restore)
        for i in range(10):  # the sender resends what was not acknowledged
            answers[f"DN{i}"] = acks.msa(await ingestor.receive(adt_a01(f"DN{i}").encode(), transport="mllp"))[0]
        return answers, down

    try:
        answers, down = run_async(ingestor, go)
    finally:
        proxy.close()
    assert all(r.code == "AR" and r.transient for r in down)
    assert set(answers.values()) == {"AA"}
    stored = [r.control_id for r in rows(settings)]
    assert sorted(stored) == sorted(answers)


class _Proxy:
    """A TCP forwarder in a thread of its own; ``cut`` drops the listener and every connection."""

    def __init__(self, host: str, port: int) -> None:
        import socket

        self.target = (host, port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.restore()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader, writer):
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _start(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def _stop(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for w in self.writers:
            w.close()
        self.writers.clear()
        await asyncio.sleep(0.05)

    def restore(self) -> None:
        self._call(self._start())

    def cut(self) -> None:
        self._call(self._stop())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_a_row_the_database_refuses_does_not_fail_its_batch(settings, acks, monkeypatch):
    from hub.hl7 import receipt

    original = receipt.Pending.row

    def row(self):
        values = original(self)
        if values[5] == "POISON":  # control_id; raw (index 10) is NOT NULL: the database refuses this row
            return (*values[:10], None, *values[11:])
        return values

    monkeypatch.setattr(receipt.Pending, "row", row)
    ingestor = Ingestor(settings)
    names = ["OK1", "POISON", "OK2", "OK3"]

    async def go():
        return await asyncio.gather(*(ingestor.receive_ack(adt_a01(n).encode(), transport="mllp") for n in names))

    results = dict(zip(names, run_async(ingestor, go), strict=True))
    assert [acks.msa(results[n].data)[0] for n in names] == ["AA", "AR", "AA", "AA"]
    assert not results["POISON"].transient and acks.err(results["POISON"].data)[0] == "207"
    assert sorted(r.control_id for r in rows(settings)) == ["OK1", "OK2", "OK3"]
    assert all(r.received_at is not None and r.received_at.year >= 2024 for r in rows(settings))


def test_a_conversion_in_progress_does_not_hold_up_the_next_ack(settings, acks, monkeypatch):
    # Seen live on the default SQLite store: the first ACKs after `hub serve` started took 10 s, the time the
    # worker's first conversion spent loading the templates while holding SQLite's one write lock (it had
    # written the row's attempt count first), and an MLLP sender's ACK timeout is often 5-10 s. The mapping
    # (templates, parsing, conversion: no database) now runs before the conversion writes anything.
    from hub import conversion

    ingestor = Ingestor(settings)
    first = ingestor.receive_ack_sync(adt_a01("SLOW1", family="张", given="三").encode(), transport="mllp")
    assert first.code == "AA"
    converting, release = threading.Event(), threading.Event()
    real = conversion.get_converter

    class SlowToLoad:
        def __getattr__(self, name):
            converting.set()
            release.wait(30)  # the templates loading, or a long report being mapped
            return getattr(real(settings), name)

    monkeypatch.setattr(conversion, "get_converter", lambda s: SlowToLoad())
    outcome: list[conversion.ConversionOutcome] = []

    def convert() -> None:
        with get_sessionmaker(settings)() as session:
            outcome.append(conversion.convert_message(session, first.inbox_id, settings))
            session.commit()

    worker = threading.Thread(target=convert)
    worker.start()
    try:
        assert converting.wait(10)
        answered: list[bytes] = []
        sender = threading.Thread(
            target=lambda: answered.append(
                ingestor.receive_ack_sync(
                    adt_a01("SLOW2", mrn="MRN0002", family="李", given="四").encode(), transport="mllp"
                ).data
            )
        )
        sender.start()
        sender.join(5)
        assert answered and acks.msa(answered[0]) == ("AA", "SLOW2"), "the ACK waited for the conversion"
    finally:
        release.set()
        worker.join(30)
        sender.join(40)
    assert outcome[0].status == "converted"
    assert [r.status for r in rows(settings)] == ["converted", "received"]
