"""`hub inbox` and the batch a message came in: the batch column, `--batch ID` (BHS-11 or FHS-11) and the
`--id` detail, through the real command on a database filled by the real ingestor."""

from __future__ import annotations

import subprocess
import sys

from hub.config import Settings
from hub.hl7.ingest import Ingestor
from tests.support.batches import adt, nightly, oru, wrap


def _inbox(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HUB_DATA_DIR": str(settings.data_dir), "HUB_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "inbox", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _table(done: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    """The piped (tab-separated) listing as one dict per row."""
    assert done.returncode == 0, done.stderr
    header, *lines = [line.split("\t") for line in done.stdout.splitlines()]
    return [dict(zip(header, line, strict=True)) for line in lines]


def _fill(settings: Settings) -> None:
    ingestor = Ingestor(settings)
    ingestor.receive_ack_sync(adt("NR0316010", mrn="0077310", family="Zhou", given="Guohua").encode(), transport="cli")
    ingestor.receive_ack_sync(wrap(nightly()).encode(), transport="mllp")  # FHS-11 F20260316, BHS-11 B20260316
    other = [oru("NR0317001", mrn="0045190", family="Wang", given="Xiuying")]
    ingestor.receive_ack_sync(wrap(other, batch_id="B20260317", file_id="F20260317").encode(), transport="mllp")


def test_inbox_lists_the_messages_of_one_batch(settings):
    _fill(settings)
    everything = _table(_inbox(settings))
    assert [(r["control id"], r["batch"]) for r in everything] == [
        ("NR0317001", "F20260317/B20260317 #1"),
        ("NR0316003", "F20260316/B20260316 #3"),
        ("NR0316002", "F20260316/B20260316 #2"),
        ("NR0316001", "F20260316/B20260316 #1"),
        ("NR0316010", ""),  # sent alone
    ]
    by_batch = _table(_inbox(settings, "--batch", "B20260316"))
    assert [r["control id"] for r in by_batch] == ["NR0316003", "NR0316002", "NR0316001"]
    by_file = _table(_inbox(settings, "--batch", "F20260316"))  # the file control id finds them too
    assert [r["control id"] for r in by_file] == ["NR0316003", "NR0316002", "NR0316001"]
    assert _table(_inbox(settings, "--batch", "B20260316", "--status", "received", "--limit", "1"))[0][
        "control id"
    ] == ("NR0316003")
    assert _table(_inbox(settings, "--batch", "B20991231")) == []


def test_inbox_id_shows_the_batch_of_one_message(settings):
    _fill(settings)
    [second] = [r for r in _table(_inbox(settings)) if r["control id"] == "NR0316002"]
    done = _inbox(settings, "--id", second["id"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "control id: NR0316002" in lines
    assert lines[-6:-3] == ["file control id: F20260316", "batch control id: B20260316", "batch position: 2"]
    reply_file, reply_batch = second["reply"].split("/")  # the hub's answer to the batch: its FHS-11/BHS-11
    assert lines[-3:-1] == [f"reply file control id: {reply_file}", f"reply batch control id: {reply_batch}"]
    assert lines[-1].startswith("ack control id: H")  # MSH-10 of the message's own ACK in that answer
    [alone] = [r for r in _table(_inbox(settings)) if r["control id"] == "NR0316010"]
    lines = _inbox(settings, "--id", alone["id"]).stdout.splitlines()
    assert lines[-6:-1] == [
        "file control id: ",
        "batch control id: ",
        "batch position: ",
        "reply file control id: ",
        "reply batch control id: ",
    ]
    assert lines[-1].startswith("ack control id: H") and lines[-1] != done.stdout.splitlines()[-1]


def test_inbox_lists_a_whole_batch_unless_limited(settings):
    ingestor = Ingestor(settings)
    results = [oru(f"NR03180{n:02d}", mrn=f"00{n:05d}", family="Huang", given="Meiling") for n in range(1, 26)]
    ingestor.receive_ack_sync(wrap(results, batch_id="B20260318", file_id="F20260318").encode(), transport="mllp")
    ingestor.receive_ack_sync(adt("NR0318099", mrn="0099001", family="Sun", given="Lihua").encode(), transport="cli")
    assert len(_table(_inbox(settings))) == 20  # the newest twenty of everything
    whole = _table(_inbox(settings, "--batch", "B20260318"))
    assert [r["batch"] for r in whole] == [f"F20260318/B20260318 #{n}" for n in range(25, 0, -1)]
    assert len(_table(_inbox(settings, "--batch", "B20260318", "--limit", "5"))) == 5


def test_inbox_finds_a_batch_by_the_hubs_answer(settings):
    result = Ingestor(settings).receive_ack_sync(wrap(nightly()).encode(), transport="mllp")
    answer = {line[:3]: line.split("|")[10] for line in result.data.decode().split("\r") if line[:3] in ("FHS", "BHS")}
    rows = _table(_inbox(settings))
    assert {r["reply"] for r in rows} == {f"{answer['FHS']}/{answer['BHS']}"}
    for reply_id in (answer["BHS"], answer["FHS"]):  # the answer's BHS-11 or FHS-11 finds the batch it answered
        found = _table(_inbox(settings, "--batch", reply_id))
        assert [(r["control id"], r["batch"]) for r in found] == [
            ("NR0316003", "F20260316/B20260316 #3"),
            ("NR0316002", "F20260316/B20260316 #2"),
            ("NR0316001", "F20260316/B20260316 #1"),
        ]


def _two_hospitals(settings: Settings) -> None:
    """The same control id from two hospitals (control ids are unique per sender only), and a third sender."""
    ingestor = Ingestor(settings)
    ingestor.receive_ack_sync(adt("A0316001", mrn="0012873", family="Chen", given="Zhiqiang").encode(), transport="cli")
    other = adt("A0316001", mrn="5520117", family="Liu", given="Fang").replace("|SZ_PEOPLES_2|", "|SZ_TCM_1|", 1)
    ingestor.receive_ack_sync(other.encode(), transport="cli")
    # MSH-3 an HD with components: the sender is named as sent, 'HIS^2.16.840.1.113883.3.1^ISO'
    hd = adt("A0316001", mrn="0070042", family="Ma", given="Lan").replace("|HIS|", "|HIS^2.16.840.1.113883.3.1^ISO|")
    ingestor.receive_ack_sync(hd.encode(), transport="cli")
    ingestor.receive_ack_sync(oru("A0316002", mrn="0045190", family="Wang", given="Xiuying").encode(), transport="cli")


def test_inbox_sender_and_control_id_filters(settings):
    _two_hospitals(settings)
    senders = [r["sender"] for r in _table(_inbox(settings, "--control-id", "A0316001"))]
    assert senders == ["HIS^2.16.840.1.113883.3.1^ISO^SZ_PEOPLES_2", "HIS^SZ_TCM_1", "HIS^SZ_PEOPLES_2"]
    one = _table(_inbox(settings, "--sender", "HIS^SZ_TCM_1", "--control-id", "A0316001"))
    assert [(r["sender"], r["control id"]) for r in one] == [("HIS^SZ_TCM_1", "A0316001")]
    # MSH-3 alone names every facility of that application, as in HUB_SENDER_CHARSETS
    his = _table(_inbox(settings, "--sender", "HIS"))
    assert [r["sender"] for r in his] == ["HIS^SZ_TCM_1", "HIS^SZ_PEOPLES_2"]
    hd = _table(_inbox(settings, "--sender", "HIS^2.16.840.1.113883.3.1^ISO^SZ_PEOPLES_2", "--control-id", "A0316001"))
    assert [r["sender"] for r in hd] == ["HIS^2.16.840.1.113883.3.1^ISO^SZ_PEOPLES_2"]
    assert [r["control id"] for r in _table(_inbox(settings, "--sender", "LIS^SZ_PEOPLES_2"))] == ["A0316002"]
    assert _table(_inbox(settings, "--sender", "LIS", "--control-id", "A0316001")) == []
    assert _table(_inbox(settings, "--sender", "SZ_PEOPLES_2")) == []  # MSH-4 alone names no sender


def test_inbox_sender_combines_with_batch(settings):
    ingestor = Ingestor(settings)
    ingestor.receive_ack_sync(wrap(nightly()).encode(), transport="mllp")
    # another hospital's batch under the same BHS-11 and FHS-11
    theirs = wrap(
        [oru("NR0316001", mrn="7730021", family="Zhao", given="Min").replace("|SZ_PEOPLES_2|", "|SZ_TCM_1|", 1)]
    )
    ingestor.receive_ack_sync(theirs.encode(), transport="mllp")
    assert len(_table(_inbox(settings, "--batch", "B20260316"))) == 4
    ours = _table(_inbox(settings, "--batch", "B20260316", "--sender", "LIS^SZ_PEOPLES_2"))
    assert [(r["sender"], r["control id"]) for r in ours] == [("LIS^SZ_PEOPLES_2", "NR0316002")]
    tcm = _table(_inbox(settings, "--batch", "B20260316", "--sender", "LIS^SZ_TCM_1", "--control-id", "NR0316001"))
    assert [r["sender"] for r in tcm] == ["LIS^SZ_TCM_1"]
