"""A12 cancel transfer in the real store: the transfer did not happen, so the visit is back where it was and the
location the cancelled transfer named is not part of its history.

v2.5.1 §3.3.12: in an A12, PV1-3 is the patient's location before the transfer and PV1-6 the location of the
cancelled transfer. After A01 (内科) and A02 (to 外科), an A12 left 外科 in Encounter.location as completed ("the
patient was at this location", FHIR R4) and 内科 twice (completed by the A02, active again by the A12). Now the
A12 withdraws the transfer's own items (外科 active, 内科 completed) and adds none for PV1-6. Through the real
pipeline (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from hub.hl7 import er7
from hub.mapping import get_converter
from hub.mapping.nulls import NULL_EXTENSION_URL
from tests.test_conversion_semantics import (
    convert,
    message,
    mpi,  # noqa: F401  (the fixture)
    msh,
    pv1,
    read,
    rich_pid,
)
from tests.test_location_updates import NEW, NEW_WARD, WARD, admitted_and_transferred, where

OLD_WARD = "内科^301^2"


def test_a12_takes_the_cancelled_transfer_out_of_the_visit(mpi, settings):  # noqa: F811
    eid = admitted_and_transferred(mpi, settings)  # 内科 completed, 外科 active
    a12 = message(msh("A12", "C3", "ADT_A12"), "EVN|A12", rich_pid(), pv1(f3=OLD_WARD, f6=NEW_WARD))
    convert(mpi, settings, a12)
    encounter = read(mpi, "Encounter", eid)
    assert encounter["status"] == "in-progress"
    assert where(encounter) == [(WARD, "active")]
    assert (NEW, "completed") not in where(encounter)  # the patient never was in 外科


def test_the_a12_message_adds_no_item_for_the_cancelled_location(settings):
    # the conversion alone: PV1-6 of an A12 is withdrawn (null mark), never a completed location of the visit
    a12 = message(msh("A12", "C3", "ADT_A12"), "EVN|A12", rich_pid(), pv1(f3=OLD_WARD, f6=NEW_WARD))
    bundle = get_converter(settings).convert(er7.parse(a12.decode("utf-8")))
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith("Encounter/")]
    assert where(entry["resource"]) == [(WARD, "active")]
    nulls = [x["valueString"] for x in entry.get("extension", []) if x["url"] == NULL_EXTENSION_URL]
    assert f"location[status=active][location.display={NEW}]" in nulls
    assert f"location[status=completed][location.display={WARD}]" in nulls
