"""An empty field keeps the stored *part* of an element the message gives (HL7 v2 ch. 2, "Null values in fields":
an empty field carries no information). Encounter.period is PV1-44 (start) and PV1-45 (end), hospitalization is
PV1-5, -13, -14, -15, -16, -36, -37, -38: a message that gives one of them and leaves another empty must not erase
the stored one (an A08 or a BAR after the discharge erased the discharge time and disposition). Through the real
pipeline: inbox row → convert_message → store (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from hub.mapping.nulls import KEEP_EXTENSION_URL
from hub.updates import merge_update
from tests.test_conversion_semantics import (
    convert,
    entry_marks,
    ids,
    message,
    mpi,  # noqa: F401  (the fixture)
    msh,
    pv1,
    read,
    rich_pid,
)

DISCHARGE = "2026-03-20T10:00:00+08:00"


def admit_and_discharge(session, settings) -> str:
    """A01 (PV1-14 admit source 1, PV1-44 admit time), A03 (PV1-36 disposition 01, PV1-45 discharge time); the
    Encounter's id."""
    convert(session, settings, message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1(f14="1")))
    a03 = message(msh("A03", "C2", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f14="1", f36="01^Home", f45="20260320100000"))
    convert(session, settings, a03)
    eid = ids(settings, a03)["Encounter"]
    stored = read(session, "Encounter", eid)
    assert stored["period"]["end"] == DISCHARGE
    assert stored["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "01"
    return eid


def test_an_a08_after_the_discharge_keeps_the_discharge_time_and_disposition(mpi, settings):  # noqa: F811
    eid = admit_and_discharge(mpi, settings)
    # A08: PV1-44 (admit time) and PV1-14 (admit source 7) given, PV1-45 and PV1-36 empty
    a08 = message(msh("A08", "C3", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f14="7"))
    marks = entry_marks(settings, a08, "Encounter", KEEP_EXTENSION_URL)
    assert "period.end" in marks and "hospitalization.dischargeDisposition" in marks
    convert(mpi, settings, a08)
    after = read(mpi, "Encounter", eid)
    assert after["period"] == {"start": "2026-03-15T08:30:00+08:00", "end": DISCHARGE}
    assert after["hospitalization"]["admitSource"]["coding"][0]["code"] == "7"
    assert after["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "01"


def test_a_bar_after_the_discharge_keeps_the_discharge_time(mpi, settings):  # noqa: F811
    eid = admit_and_discharge(mpi, settings)
    p05 = message(
        "MSH|^~\\&|HIS|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260321083000||BAR^P05^BAR_P05|B1|P|2.5.1",
        "EVN|P05|20260321083000",
        rich_pid(),
        pv1(),
    )
    convert(mpi, settings, p05)
    assert read(mpi, "Encounter", eid)["period"]["end"] == DISCHARGE


def test_the_hl7_null_of_a_part_still_deletes_it(mpi, settings):  # noqa: F811
    eid = admit_and_discharge(mpi, settings)
    # PV1-45 "" and PV1-36 "" with PV1-44 given: the discharge time and disposition go, the admit source stays
    a08 = message(msh("A08", "C3", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f36='""', f45='""'))
    assert entry_marks(settings, a08, "Encounter") == ["period.end", "hospitalization.dischargeDisposition"]
    assert "period.end" not in entry_marks(settings, a08, "Encounter", KEEP_EXTENSION_URL)
    convert(mpi, settings, a08)
    after = read(mpi, "Encounter", eid)
    assert after["period"] == {"start": "2026-03-15T08:30:00+08:00"}
    assert after["hospitalization"] == {
        "admitSource": {"coding": [after["hospitalization"]["admitSource"]["coding"][0]]}
    }
    # A13 (cancel discharge) deletes them by its rules, though the part's fields are empty
    a13 = message(msh("A13", "C4", "ADT_A01"), "EVN|A13", rich_pid(), pv1(f36="01^Home", f45="20260320100000"))
    convert(mpi, settings, a13)
    assert "end" not in read(mpi, "Encounter", eid)["period"]


def test_merge_update_keeps_a_stored_part_and_a_null_mark_deletes_one():
    stored = {"resourceType": "Encounter", "id": "e1", "period": {"start": "2026-03-15", "end": "2026-03-20"}}
    new = {"resourceType": "Encounter", "id": "e1", "period": {"start": "2026-03-16"}}
    assert merge_update(stored, new, kept=["period.end"])["period"] == {"start": "2026-03-16", "end": "2026-03-20"}
    assert new["period"] == {"start": "2026-03-16"}  # the converted resource is not changed
    assert merge_update(stored, new)["period"] == {"start": "2026-03-16"}  # without the mark: replaced whole
    # a part the converted resource gives is its own
    given = {"resourceType": "Encounter", "id": "e1", "period": {"start": "2026-03-16", "end": "2026-03-21"}}
    assert merge_update(stored, given, kept=["period.end"])["period"]["end"] == "2026-03-21"
    # a null mark of the part deletes it even when the message gives the element (and a keep mark put it back)
    merged = merge_update(stored, new, ["period.end"], kept=["period.end"])
    assert merged["period"] == {"start": "2026-03-16"}
