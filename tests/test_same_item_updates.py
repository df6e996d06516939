"""One person in one role is one participant across messages too, through the real pipeline.

An A01 whose PV1-7 names the attending doctor and whose ROL line AT names them again with the time the role began
(ROL-5) stores one participant with that period (hub.mapping.merging, within the message). A later A08 whose PV1-7
names the same doctor and that has no ROL says nothing about the period ("no change", v2.5.1 §2.5.3): the item of
the A08 with the same key (the rule's ``unique`` leaves: role and identifier value) as the stored one is merged
with it, the message's values first, what only the stored item has (the period, the identifier's authority)
kept. Inbox row → convert_message → store, read back (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

from typing import Any

import pytest

from hub.mapping.nulls import KEEP_EXTENSION_URL, parse_same
from hub.updates import merge_update
from tests.test_conversion_semantics import (
    convert,
    doctors,
    entry_marks,
    ids,
    message,
    mpi,  # noqa: F401  (the fixture)
    msh,
    pv1,
    read,
    rich_pid,
)
from tests.test_role_action_codes import a08, participant, role

SAME_PARTICIPANT = (
    "=participant[type.coding.system][type.coding.code][individual.identifier.value]"  # the key of Encounter's rules
)


def admit_with_rol_start(session: Any, settings: Any) -> str:
    """An A01: PV1-7 names 王一 (D001, authority SZRMYY), a ROL AT line names him again with ROL-5 (the start of
    the role); the Encounter's id."""
    a01 = message(
        msh("A01", "C1", "ADT_A01"),
        "EVN|A01",
        rich_pid(),
        pv1(f7="D001^王^一^^^^^^SZRMYY", f17="D004^孙^四"),
        "ROL|1|AD|AT^Attending^HL70443|D001^王^一|20260315083000",
    )
    convert(session, settings, a01)
    eid = ids(settings, a01)["Encounter"]
    encounter = read(session, "Encounter", eid)
    assert doctors(encounter) == {"ATND": "D001", "ADM": "D004"}
    attending = participant(encounter, "ATND")
    assert attending["period"]["start"].startswith("2026-03-15T08:30:00")
    assert attending["individual"]["identifier"]["system"]
    return eid


def test_an_a08_naming_the_same_attending_keeps_the_period_of_the_role(mpi, settings):  # noqa: F811
    eid = admit_with_rol_start(mpi, settings)
    stored = participant(read(mpi, "Encounter", eid), "ATND")
    # A08: PV1-7 names the same doctor without his authority, no ROL; PV1-17 the same admitting doctor
    raw = a08("C2", pv1_segment=pv1(f7="D001^王^一", f17="D004^孙^四"))
    convert(mpi, settings, raw)
    after = read(mpi, "Encounter", eid)
    assert [p["type"][0]["coding"][0]["code"] for p in after["participant"]] == ["ATND", "ADM"]  # one attending
    attending = participant(after, "ATND")
    assert attending["period"] == stored["period"]  # the A08 said nothing about it
    assert attending["individual"]["identifier"] == stored["individual"]["identifier"]  # nor about the authority
    assert SAME_PARTICIPANT in entry_marks(settings, raw, "Encounter", KEEP_EXTENSION_URL)


def test_an_a08_with_a_new_period_end_completes_the_stored_one(mpi, settings):  # noqa: F811
    eid = admit_with_rol_start(mpi, settings)
    # A08: the ROL line CO (correct) gives the end of the role (ROL-6) and no start: the start stays
    raw = a08("C2", "ROL|1|CO|AT^Attending^HL70443|D001^王^一||20260320170000", pv1_segment=pv1(f17="D004^孙^四"))
    convert(mpi, settings, raw)
    attending = participant(read(mpi, "Encounter", eid), "ATND")
    assert attending["period"]["start"].startswith("2026-03-15T08:30:00")
    assert attending["period"]["end"].startswith("2026-03-20T17:00:00")


def test_an_a08_naming_another_attending_replaces_the_stored_one(mpi, settings):  # noqa: F811
    # Unchanged by the key: PV1-7 names the attending doctor of the visit; another doctor there is the new
    # attending, and the former one is no participant any more (no period of his is carried over)
    eid = admit_with_rol_start(mpi, settings)
    convert(mpi, settings, a08("C2", pv1_segment=pv1(f7="D011^周^一", f17="D004^孙^四")))
    after = read(mpi, "Encounter", eid)
    assert doctors(after) == {"ATND": "D011", "ADM": "D004"}
    assert "period" not in participant(after, "ATND")


def test_an_a08_withdrawing_the_attending_by_rol_de_deletes_him(mpi, settings):  # noqa: F811
    # Unchanged by the key: ROL-2 DE deletes the stored item of that role and person, period and all; PV1-17's
    # admitting doctor (given again) stays
    eid = admit_with_rol_start(mpi, settings)
    raw = a08("C2", "ROL|1|DE|AT^Attending^HL70443|D001^王^一", pv1_segment=pv1(f17="D004^孙^四"))
    assert role("ATND", "D001") in entry_marks(settings, raw, "Encounter")
    convert(mpi, settings, raw)
    assert doctors(read(mpi, "Encounter", eid)) == {"ADM": "D004"}


def test_a_null_attending_and_an_unchanged_line_stay_exact(mpi, settings):  # noqa: F811
    eid = admit_with_rol_start(mpi, settings)
    stored = participant(read(mpi, "Encounter", eid), "ATND")
    # ROL UC with another start time: the stored item wins whole (the key merge does not let the message's start in)
    convert(mpi, settings, a08("C2", "ROL|1|UC|AT^Attending^HL70443|D001^王^一|20260316080000"))
    assert participant(read(mpi, "Encounter", eid), "ATND") == stored
    # PV1-7 "": the attending doctor goes, the admitting doctor stays
    convert(mpi, settings, a08("C3", pv1_segment=pv1(f7='""')))
    assert doctors(read(mpi, "Encounter", eid)) == {"ADM": "D004"}


def _doctor(code: str, who: str, **more: Any) -> dict[str, Any]:
    return {
        "type": [{"coding": [{"system": V3, "code": code}]}],
        "individual": {"identifier": {"value": who}},
        **more,
    }


def test_merge_update_merges_by_the_key_mark_and_deletes_exactly():
    start = {"start": "2026-03-15T08:30:00+08:00"}
    stored = {
        "resourceType": "Encounter",
        "id": "e1",
        "participant": [_doctor("ATND", "D001", period=start), _doctor("CON", "D003", period=start)],
    }
    new = {"resourceType": "Encounter", "id": "e1", "participant": [_doctor("ATND", "D001"), _doctor("ADM", "D004")]}
    # without the key mark the message's list stands as it is (the list of a rule without 'unique' leaves)
    assert merge_update(stored, new)["participant"] == new["participant"]
    merged = merge_update(stored, new, kept=[SAME_PARTICIPANT])
    assert merged["participant"] == [_doctor("ATND", "D001", period=start), _doctor("ADM", "D004")]
    assert new["participant"][0] == _doctor("ATND", "D001")  # the converted resource is not changed
    # the message's values win: its period's end is added, its start would replace the stored one
    ended = {**new, "participant": [_doctor("ATND", "D001", period={"end": "2026-03-20T17:00:00+08:00"})]}
    [one] = merge_update(stored, ended, kept=[SAME_PARTICIPANT])["participant"]
    assert one["period"] == {"start": start["start"], "end": "2026-03-20T17:00:00+08:00"}
    # a null mark of another role still deletes only that role's stored items; the merged item is the message's
    kept = merge_update(stored, {**new, "participant": [_doctor("ATND", "D001")]}, [role("CON", "D003")])
    assert kept["participant"] == [_doctor("ATND", "D001")]
    both = merge_update(stored, new, [role("ATND", "D001")], kept=[SAME_PARTICIPANT])
    assert both["participant"] == merged["participant"]  # the message gives that item: not deleted


V3 = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


@pytest.mark.parametrize("text", ["participant", "participant[]", "participant[type.coding.code=ATND]", "[code]"])
def test_a_text_that_is_no_key_mark_is_refused(text):
    with pytest.raises(ValueError):
        parse_same(text)
    stored = {"resourceType": "Encounter", "id": "e1", "participant": [_doctor("ATND", "D001", period={"start": "x"})]}
    new = {"resourceType": "Encounter", "id": "e1", "participant": [_doctor("ATND", "D001")]}
    assert merge_update(stored, new, kept=["=" + text])["participant"] == new["participant"]  # read as no mark


def test_parse_same_reads_the_list_and_its_leaves():
    assert parse_same(SAME_PARTICIPANT[1:]) == (
        "participant",
        ("type.coding.system", "type.coding.code", "individual.identifier.value"),
    )


def test_an_a08_naming_the_same_general_practitioner_keeps_what_only_the_stored_one_has(mpi, settings):  # noqa: F811
    # A01: PD1-4 names the patient's doctor with his authority (XCN.9); A08: PD1-4 names him without it
    a01 = message(
        msh("A01", "C1", "ADT_A01"), "EVN|A01", rich_pid(), "PD1||||D009^钱^九^^^^^^SZRMYY", pv1(f7="D001^王^一")
    )
    convert(mpi, settings, a01)
    pid = ids(settings, a01)["Patient"]
    [stored] = read(mpi, "Patient", pid)["generalPractitioner"]
    assert stored["identifier"]["system"]
    raw = message(msh("A08", "C2", "ADT_A01"), "EVN|A08", rich_pid(), "PD1||||D009^钱^九", pv1())
    convert(mpi, settings, raw)
    assert read(mpi, "Patient", pid)["generalPractitioner"] == [stored]
    assert "=generalPractitioner[type][identifier.value]" in entry_marks(settings, raw, "Patient", KEEP_EXTENSION_URL)
