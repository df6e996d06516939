"""R4 Period per-1 (start <= end) across messages: a visit's stored admission time (A01, PV1-44) and a later
discharge time (A03, PV1-45, PV1-44 left empty: "no change") before it make no inverted period in the store. The
end is left out, the start kept, as within one message (hub.mapping.periods), and the conversion report of the
message says so (invalid-value). Through the real pipeline (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

import orjson
from sqlalchemy import select

from hub.db.tables import InboxMessage
from tests.test_conversion_semantics import (
    convert,
    ids,
    message,
    mpi,  # noqa: F401  (the fixture)
    msh,
    pv1,
    read,
    rich_pid,
)


def admitted(session, settings) -> str:
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1())  # PV1-44 2026-03-15 08:30
    convert(session, settings, a01)
    return ids(settings, a01)["Encounter"]


def test_a_discharge_before_the_stored_admission_keeps_the_start_and_leaves_the_end_out(mpi, settings):  # noqa: F811
    eid = admitted(mpi, settings)
    a03 = message(msh("A03", "C2", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f44="", f45="20250320100000"))
    convert(mpi, settings, a03)
    encounter = read(mpi, "Encounter", eid)
    assert encounter["period"] == {"start": "2026-03-15T08:30:00+08:00"}
    assert encounter["status"] == "finished"
    row = mpi.scalars(select(InboxMessage).where(InboxMessage.control_id == "C2")).one()
    report = orjson.loads(row.report or "[]")
    assert {"code": "invalid-value", "location": "Encounter.period.end"} == {
        k: v for k, v in report[-1].items() if k in ("code", "location")
    }
    assert "2025" not in row.report  # never the values


def test_a_discharge_after_the_stored_admission_is_the_end(mpi, settings):  # noqa: F811
    eid = admitted(mpi, settings)
    a03 = message(msh("A03", "C2", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f44="", f45="20260320100000"))
    convert(mpi, settings, a03)
    assert read(mpi, "Encounter", eid)["period"] == {
        "start": "2026-03-15T08:30:00+08:00",
        "end": "2026-03-20T10:00:00+08:00",
    }
