"""A visit's completed locations are its history: each transfer (A02) adds its prior location (PV1-6) to the stored
ones. FHIR R4 Encounter.location: "list of locations where the patient has been"; a patient moved 心内科 → 内科 →
外科 had only 外科 (active) and 内科 (completed) after the second A02: the first stay was lost. The rule's
``keep_history`` keeps the stored completed items beside the message's ("+location[status=completed]"); a prior
location sent again is not doubled, and PV1-6 and PV1-43 "" (the fields of that group) still delete them. Through
the real pipeline (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

import pytest

from hub.errors import MappingTemplateError
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from hub.mapping import get_converter
from hub.mapping.engine import Converter
from hub.mapping.moved import MOVED_EXTENSION_URL
from hub.mapping.nulls import KEEP_EXTENSION_URL
from tests.mapping.conftest import mappings_copy
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
from tests.test_location_updates import where

CARDIO, MEDICINE, SURGERY = "心内科^101^1", "内科^301^2", "外科^201^1"


def transfers(session, settings, *moves: tuple[str, str]) -> str:
    """A01 in 心内科, then one A02 per (to, from); the Encounter's id."""
    a01 = message(msh("A01", "H0", "ADT_A01"), "EVN|A01", rich_pid(), pv1(f3=CARDIO))
    convert(session, settings, a01)
    for n, (to, left) in enumerate(moves, start=1):
        a02 = message(msh("A02", f"H{n}", "ADT_A02"), "EVN|A02", rich_pid(), pv1(f3=to, f6=left))
        convert(session, settings, a02)
    return ids(settings, a01)["Encounter"]


def test_a_second_transfer_keeps_the_first_stay(mpi, settings):  # noqa: F811
    eid = transfers(mpi, settings, (MEDICINE, CARDIO), (SURGERY, MEDICINE))
    assert sorted(where(read(mpi, "Encounter", eid))) == sorted(
        [("外科 201 1", "active"), ("内科 301 2", "completed"), ("心内科 101 1", "completed")]
    )


def test_a_prior_location_sent_again_is_not_doubled(mpi, settings):  # noqa: F811
    # an A08 after the transfer that repeats PV1-6: one completed 心内科
    eid = transfers(mpi, settings, (MEDICINE, CARDIO))
    a08 = message(msh("A08", "H9", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f3=MEDICINE, f6=CARDIO))
    convert(mpi, settings, a08)
    assert where(read(mpi, "Encounter", eid)) == [("内科 301 2", "active"), ("心内科 101 1", "completed")]


def test_pv1_6_and_pv1_43_null_still_delete_the_history(mpi, settings):  # noqa: F811
    eid = transfers(mpi, settings, (MEDICINE, CARDIO), (SURGERY, MEDICINE))
    a08 = message(msh("A08", "H9", "ADT_A01"), "EVN|A08", rich_pid(), pv1(f3=SURGERY, f6='""', f43='""'))
    convert(mpi, settings, a08)
    assert where(read(mpi, "Encounter", eid)) == [("外科 201 1", "active")]


def test_a12_after_two_transfers_keeps_the_first_stay(mpi, settings):  # noqa: F811
    # the second transfer is cancelled: back in 内科, 外科 never happened, 心内科 stays in the history
    eid = transfers(mpi, settings, (MEDICINE, CARDIO), (SURGERY, MEDICINE))
    a12 = message(msh("A12", "H9", "ADT_A12"), "EVN|A12", rich_pid(), pv1(f3=MEDICINE, f6=SURGERY))
    convert(mpi, settings, a12)
    assert sorted(where(read(mpi, "Encounter", eid))) == sorted(
        [("内科 301 2", "active"), ("心内科 101 1", "completed")]
    )


def test_the_transfer_message_marks_its_history_kept_beside(settings):
    a02 = message(msh("A02", "H1", "ADT_A02"), "EVN|A02", rich_pid(), pv1(f3=MEDICINE, f6=CARDIO))
    bundle = get_converter(settings).convert(er7.parse(a02.decode("utf-8")))
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith("Encounter/")]
    keeps = [x["valueString"] for x in entry.get("extension", []) if x["url"] == KEEP_EXTENSION_URL]
    assert "+location[status=completed]" in keeps


def test_a_transfer_without_its_prior_location_completes_the_stored_one(mpi, settings):  # noqa: F811
    # Many HIS send A02 with the new ward (PV1-3) only, PV1-6 empty: the ward the patient left was the stored active
    # location, and the message's list replaced it (the patient had never been in 心内科). It is completed now.
    a01 = message(msh("A01", "L0", "ADT_A01"), "EVN|A01", rich_pid(), pv1(f3=CARDIO))
    convert(mpi, settings, a01)
    eid = ids(settings, a01)["Encounter"]
    convert(mpi, settings, message(msh("A02", "L1", "ADT_A02"), "EVN|A02", rich_pid(), pv1(f3=MEDICINE)))
    assert where(read(mpi, "Encounter", eid)) == [("内科 301 2", "active"), ("心内科 101 1", "completed")]
    convert(mpi, settings, message(msh("A02", "L2", "ADT_A02"), "EVN|A02", rich_pid(), pv1(f3=SURGERY)))
    assert sorted(where(read(mpi, "Encounter", eid))) == sorted(
        [("外科 201 1", "active"), ("内科 301 2", "completed"), ("心内科 101 1", "completed")]
    )
    # the same A02 sent again changes nothing; an A02 to the bed the patient is in completes nothing
    for control in ("L3", "L4"):
        convert(mpi, settings, message(msh("A02", control, "ADT_A02"), "EVN|A02", rich_pid(), pv1(f3=SURGERY)))
    assert sorted(where(read(mpi, "Encounter", eid))) == sorted(
        [("外科 201 1", "active"), ("内科 301 2", "completed"), ("心内科 101 1", "completed")]
    )


def test_moved_is_for_a_visit(tmp_path):
    mappings = mappings_copy(tmp_path)
    path = mappings / "message" / "ADT_A02.yaml"
    text = path.read_text(encoding="utf-8")
    moved = "    template: Patient\n    for: PID\n    required: true\n"
    assert moved in text
    path.write_text(text.replace(moved, moved + "    moved: {from: PV1-6, present: false}\n", 1), encoding="utf-8")
    with pytest.raises(MappingTemplateError, match="'moved' is for rules that make an Encounter"):
        Converter.load(mappings)


def test_the_moved_mark_leaves_the_converted_bundle_valid(settings):
    a02 = message(msh("A02", "H1", "ADT_A02"), "EVN|A02", rich_pid(), pv1(f3=MEDICINE))
    bundle = get_converter(settings).convert(er7.parse(a02.decode("utf-8")))
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith("Encounter/")]
    assert {"url": MOVED_EXTENSION_URL, "valueBoolean": True} in entry["extension"]
    assert validate_bundle(bundle) == []
