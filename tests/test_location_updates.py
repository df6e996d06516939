"""Encounter.location through a visit's events, in the real store. FHIR R4 Encounter.location.status
``completed``: "the patient was at this location during the period; not to be used when the patient is currently
at the location"; ``active``: the patient is there. After a discharge (A03) the patient is at no location of the
visit, so the assigned (PV1-3) and temporary (PV1-11) locations are completed; a stored prior location (PV1-6,
from a transfer) stays, though the A03 leaves PV1-6 empty ("no change"); A13 (cancel discharge) makes the
location active again. Through the real pipeline (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

from hub.mapping.nulls import KEEP_EXTENSION_URL
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

WARD = "内科 301 2"  # pv1()'s PV1-3
NEW_WARD = "外科^201^1"
NEW = "外科 201 1"
TEMPORARY = "放射科^001^1"


def where(encounter: dict[str, Any]) -> list[tuple[str, str]]:
    return [(loc["location"]["display"], loc["status"]) for loc in encounter.get("location", [])]


def admitted_and_transferred(session, settings) -> str:
    """A01 in 内科, A02 to 外科 (PV1-6 the ward left): the new location active, the prior one completed."""
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1())
    convert(session, settings, a01)
    eid = ids(settings, a01)["Encounter"]
    a02 = message(msh("A02", "C2", "ADT_A02"), "EVN|A02", rich_pid(), pv1(f3=NEW_WARD, f6="内科^301^2"))
    convert(session, settings, a02)
    assert where(read(session, "Encounter", eid)) == [(NEW, "active"), (WARD, "completed")]
    return eid


def test_a03_completes_the_current_location(mpi, settings):  # noqa: F811
    a01 = message(msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), pv1())
    convert(mpi, settings, a01)
    eid = ids(settings, a01)["Encounter"]
    assert where(read(mpi, "Encounter", eid)) == [(WARD, "active")]
    a03 = message(msh("A03", "C2", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f45="20260320100000"))
    convert(mpi, settings, a03)
    ended = read(mpi, "Encounter", eid)
    assert ended["status"] == "finished"
    assert ended["period"]["end"] == "2026-03-20T10:00:00+08:00"
    assert where(ended) == [(WARD, "completed")]


def test_a03_completes_the_temporary_location_too(mpi, settings):  # noqa: F811
    a03 = message(msh("A03", "C2", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f11=TEMPORARY, f45="20260320100000"))
    convert(mpi, settings, a03)
    ended = read(mpi, "Encounter", ids(settings, a03)["Encounter"])
    assert where(ended) == [(WARD, "completed"), ("放射科 001 1", "completed")]


def test_a03_without_pv1_6_keeps_the_stored_prior_location(mpi, settings):  # noqa: F811
    eid = admitted_and_transferred(mpi, settings)
    a03 = message(msh("A03", "C3", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f3=NEW_WARD, f45="20260320100000"))
    convert(mpi, settings, a03)
    assert where(read(mpi, "Encounter", eid)) == [(NEW, "completed"), (WARD, "completed")]
    # sent again: nothing doubles
    again = message(msh("A03", "C4", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f3=NEW_WARD, f45="20260320100000"))
    convert(mpi, settings, again)
    assert where(read(mpi, "Encounter", eid)) == [(NEW, "completed"), (WARD, "completed")]


def test_a03_with_the_prior_location_fields_null_deletes_the_prior_location_only(mpi, settings):  # noqa: F811
    eid = admitted_and_transferred(mpi, settings)
    # PV1-6 and PV1-43 (both prior locations) "": the stored completed locations go, the message's stays
    a03 = message(
        msh("A03", "C3", "ADT_A03"),
        "EVN|A03",
        rich_pid(),
        pv1(f3=NEW_WARD, f6='""', f43='""', f45="20260320100000"),
    )
    convert(mpi, settings, a03)
    assert where(read(mpi, "Encounter", eid)) == [(NEW, "completed")]


def test_an_a08_without_pv1_6_keeps_the_stored_prior_location(mpi, settings):  # noqa: F811
    eid = admitted_and_transferred(mpi, settings)
    a08 = message(msh("A08", "C3", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f3=NEW_WARD))
    assert "location[status=completed]" in entry_marks(settings, a08, "Encounter", KEEP_EXTENSION_URL)
    convert(mpi, settings, a08)
    assert where(read(mpi, "Encounter", eid)) == [(NEW, "active"), (WARD, "completed")]


def test_a13_makes_the_location_active_again(mpi, settings):  # noqa: F811
    eid = admitted_and_transferred(mpi, settings)
    convert(
        mpi,
        settings,
        message(msh("A03", "C3", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f3=NEW_WARD, f45="20260320100000")),
    )
    a13 = message(msh("A13", "C4", "ADT_A01"), "EVN|A13", rich_pid(), pv1(f3=NEW_WARD))
    convert(mpi, settings, a13)
    reopened = read(mpi, "Encounter", eid)
    assert reopened["status"] == "in-progress"
    assert "end" not in reopened["period"]
    # the location is current again, once; the ward left before stays completed
    assert where(reopened) == [(NEW, "active"), (WARD, "completed")]


def test_a_message_after_the_discharge_leaves_the_locations_completed(mpi, settings):  # noqa: F811
    eid = admitted_and_transferred(mpi, settings)
    convert(
        mpi,
        settings,
        message(msh("A03", "C3", "ADT_A03"), "EVN|A03", rich_pid(), pv1(f3=NEW_WARD, f45="20260320100000")),
    )
    # an A08 (and a BAR, an ORU …) describes the visit; its PV1-3 does not put the patient back there: the stored
    # item of that location wins, nothing doubles
    convert(mpi, settings, message(msh("A08", "C4", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f3=NEW_WARD)))
    after = read(mpi, "Encounter", eid)
    assert after["status"] == "finished"
    assert where(after) == [(NEW, "completed"), (WARD, "completed")]
