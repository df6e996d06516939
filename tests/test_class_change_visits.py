"""A06 (outpatient/emergency → inpatient) and A07 (the reverse) that give the visit a new number: the prior visit
(MRG-5, v2.5.1 §3.3.6: "the old visit number in MRG-5") is over. 急诊转住院: the emergency visit registered by an A04
(急诊号) becomes a stay with its own number (住院号). The MRG was read by nothing, so the emergency visit stayed as
stored (planned, or in progress) for ever beside the stay, and nothing was reported. Now it is finished, at the time
of the event (EVN-6, else EVN-2), and keeps what it was (class, location, start); the stay is its own Encounter.
Through the real pipeline (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).
"""

from __future__ import annotations

import pytest

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

EMERGENCY = pv1(f2="E", f3="急诊科^E01^^SZRMYY", f19="E0001^^^SZRMYY^VN", f44="20260315083000")


@pytest.mark.parametrize(("event", "first", "new_class"), [("A06", "A04", "I"), ("A07", "A01", "O")])
def test_the_visit_left_for_a_new_number_is_finished(mpi, settings, event, first, new_class):  # noqa: F811
    before = message(msh(first, "M1", "ADT_A01"), f"EVN|{first}", rich_pid(), EMERGENCY)
    convert(mpi, settings, before)
    # EVN-6 the patient was admitted at 12:00; MRG-1 the MRN, MRG-5 the prior visit number; PV1-19 the new one
    stay_pv1 = pv1(f2=new_class, f3="心内科^0301^02^SZRMYY", f6="急诊科^E01^^SZRMYY", f19="V0002^^^SZRMYY^VN")
    change = message(
        msh(event, "M2", "ADT_A06"),
        f"EVN|{event}|20260315121500||||20260315120000",
        rich_pid(),
        "MRG|MRN0001^^^SZRMYY^MR||||E0001^^^SZRMYY^VN",
        stay_pv1,
    )
    convert(mpi, settings, change)
    prior = read(mpi, "Encounter", ids(settings, before)["Encounter"])
    assert prior["status"] == "finished"
    assert prior["period"] == {"start": "2026-03-15T08:30:00+08:00", "end": "2026-03-15T12:00:00+08:00"}
    assert prior["class"]["code"] == "EMER"  # what it was stays
    assert [i["value"] for i in prior["identifier"]] == ["E0001"]
    stay = read(mpi, "Encounter", ids(settings, change)["Encounter"])
    assert stay["id"] != prior["id"] and stay["status"] == "in-progress"
    assert [i["value"] for i in stay["identifier"]] == ["V0002"]


def test_a_class_change_that_keeps_the_number_is_one_visit(mpi, settings):  # noqa: F811
    # no MRG-5 (or the same number): the visit goes on with its new class, nothing is finished
    before = message(msh("A04", "N1", "ADT_A01"), "EVN|A04", rich_pid(), EMERGENCY)
    convert(mpi, settings, before)
    for control, mrg in (("N2", "MRG|MRN0001^^^SZRMYY^MR"), ("N3", "MRG|MRN0001^^^SZRMYY^MR||||E0001^^^SZRMYY^VN")):
        same = pv1(f2="I", f3="心内科^0301^02^SZRMYY", f19="E0001^^^SZRMYY^VN", f44="20260315083000")
        convert(mpi, settings, message(msh("A06", control, "ADT_A06"), "EVN|A06|20260315120000", rich_pid(), mrg, same))
        visit = read(mpi, "Encounter", ids(settings, before)["Encounter"])
        assert visit["status"] == "in-progress" and visit["class"]["code"] == "IMP" and "end" not in visit["period"]


def test_the_visit_left_is_at_none_of_its_locations(mpi, settings):  # noqa: F811
    # a finished visit has no location the patient is at: the emergency room the A04 put the patient in is
    # completed when the A06 finishes the emergency visit (its location history stays)
    before = message(msh("A04", "L1", "ADT_A01"), "EVN|A04", rich_pid(), EMERGENCY)
    convert(mpi, settings, before)
    assert [i["status"] for i in read(mpi, "Encounter", ids(settings, before)["Encounter"])["location"]] == ["active"]
    stay_pv1 = pv1(f2="I", f3="心内科^0301^02^SZRMYY", f19="V0002^^^SZRMYY^VN")
    change = message(
        msh("A06", "L2", "ADT_A06"),
        "EVN|A06|20260315121500||||20260315120000",
        rich_pid(),
        "MRG|MRN0001^^^SZRMYY^MR||||E0001^^^SZRMYY^VN",
        stay_pv1,
    )
    convert(mpi, settings, change)
    prior = read(mpi, "Encounter", ids(settings, before)["Encounter"])
    assert [(i["location"]["display"], i["status"]) for i in prior["location"]] == [("SZRMYY 急诊科 E01", "completed")]
    stay = read(mpi, "Encounter", ids(settings, change)["Encounter"])
    assert [i["status"] for i in stay["location"]] == ["active"]


def test_a_visit_stored_finished_is_at_none_of_its_locations(mpi, settings):  # noqa: F811
    # an update that gives the discharge time (PV1-45) of a visit the hub has not seen: finished, and the ward it
    # names is where the patient was, not is
    done = pv1(f2="I", f3="心内科^0301^02^SZRMYY", f19="V0009^^^SZRMYY^VN", f44="20260310083000", f45="20260315100000")
    update = message(msh("A08", "L9", "ADT_A01"), "EVN|A08|20260315101500", rich_pid(), done)
    convert(mpi, settings, update)
    visit = read(mpi, "Encounter", ids(settings, update)["Encounter"])
    assert visit["status"] == "finished"
    assert [i["status"] for i in visit["location"]] == ["completed"]
