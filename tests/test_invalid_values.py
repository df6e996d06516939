"""An invalid value in a message, through the real pipeline: the element is left out and the inbox row says where
and why (``hub inbox --id``), or — HUB_REJECT_INVALID_VALUES, an id key, a FHIR-required element, or a segment
run into the one before it — the message is refused with the location, kept, and nothing of it is stored.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
from sqlalchemy.orm import Session

from hub.conversion import CONVERTED, FAILED, convert_message
from hub.db.tables import InboxMessage
from hub.fhir import store
from hub.hl7 import er7
from hub.mapping import get_converter
from tests.test_conversion_semantics import message, msh, pv1, receive, rich_pid


def _patient_id(settings: Any, raw: bytes) -> str:
    bundle = get_converter(settings).convert(er7.parse(raw.decode("utf-8")))
    return next(e["request"]["url"].split("/")[1] for e in bundle["entry"] if e["request"]["url"].startswith("Pat"))


def test_an_impossible_birth_date_is_left_out_and_reported_on_the_row(session: Session, settings: Any) -> None:
    raw = message(msh("A01", "BAD1"), "EVN|A01|20260315083000", rich_pid().replace("|19800101|", "|19801301|"), pv1())
    inbox_id = receive(session, raw)
    outcome = convert_message(session, inbox_id, settings)
    assert outcome.status == CONVERTED, outcome.error
    session.commit()
    row = session.get(InboxMessage, inbox_id)
    assert row is not None and row.report is not None
    assert orjson.loads(row.report) == [
        {"code": "invalid-value", "location": "PID^1^7", "detail": "PID-7 → birthDate: month out of range"}
    ]
    patient = store.read(session, "Patient", _patient_id(settings, raw))
    assert "birthDate" not in patient and patient["gender"] == "male" and patient["name"][0]["text"] == "张三"

    # the operator sees it: one line per report entry, no patient data
    env = {"HUB_DATA_DIR": str(settings.data_dir), "HUB_DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "inbox", "--id", str(inbox_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "status: converted" in done.stdout
    assert '"code":"invalid-value","location":"PID^1^7"' in done.stdout
    assert "19801301" not in done.stdout and "张三" not in done.stdout
    listing = subprocess.run(
        [sys.executable, "-m", "hub.cli", "inbox"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert listing.returncode == 0, listing.stderr
    header, *rows = [line.split("\t") for line in listing.stdout.splitlines()]
    report = header.index("report")
    assert any(row[0] == str(inbox_id) and row[report] == "1 invalid-value" for row in rows)


def test_strict_settings_refuse_the_message(session: Session, settings: Any) -> None:
    strict = settings.model_copy(update={"reject_invalid_values": True})
    raw = message(msh("A01", "BAD2"), "EVN|A01|20260315083000", rich_pid().replace("|19800101|", "|19801301|"), pv1())
    inbox_id = receive(session, raw)
    outcome = convert_message(session, inbox_id, strict)
    assert outcome.status == FAILED
    session.commit()
    row = session.get(InboxMessage, inbox_id)
    assert row is not None and row.error_location == "PID^1^7" and "month out of range" in (row.error or "")
    assert store.search(session, "Patient", [("_id", _patient_id(settings, raw))]).resources == []


def test_a_segment_glued_to_the_one_before_is_refused_where_the_glue_is(session: Session, settings: Any) -> None:
    # PV1's terminator lost: "…20260315083000PV2|…" would put PV2's fields into PV1-45 and on
    glued = pv1() + "PV2|||R10.9^腹痛^I10"
    inbox_id = receive(session, message(msh("A01", "BAD3"), "EVN|A01|20260315083000", rich_pid(), glued))
    outcome = convert_message(session, inbox_id, settings)
    assert outcome.status == FAILED
    session.commit()
    row = session.get(InboxMessage, inbox_id)
    assert row is not None and row.error_location == "PV1^1^44"
    assert "PV2 segment runs into PV1-44" in (row.error or "")


def test_a_field_whose_value_ends_in_a_segment_name_is_no_glue(session: Session, settings: Any) -> None:
    # a component may be "ORC" (a code), a name may end in a segment id ("CAROL": ROL is an ADT segment): no glue
    raw = message(
        msh("A01", "OK1"),
        "EVN|A01|20260315083000",
        rich_pid().replace("||张三||", "||SMITH^CAROL||").replace("|M|||", "|M||ORC|"),
        pv1(),
    )
    inbox_id = receive(session, raw)
    assert convert_message(session, inbox_id, settings).status == CONVERTED
