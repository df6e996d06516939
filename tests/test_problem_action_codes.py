"""PRB-1 / GOL-1 action codes (HL7 table 0287) of PPR^PC1/PC2 against the stored problem list, through the real
pipeline: inbox row → convert_message → store, read back (SQLite; PostgreSQL with HUB_TEST_DATABASE_URL).

UC (unchanged: the line is sent for context, the problem a goal belongs to) leaves the stored Condition as stored,
though the line says otherwise, and its goals address it; a hub that never stored the problem adds it as the line
describes it (as AD, UP or CO would), so that the goal under it addresses a problem the hub has; one deleted before
is not brought back. GOL-1 UC likewise. UN (unlink: no longer on this patient's problem list) deletes the stored
Condition (Goal) as DE does.
"""

from __future__ import annotations

import pytest

from hub import conversion
from hub.db import get_sessionmaker
from hub.errors import Gone
from hub.fhir import store
from tests.test_conversion_semantics import convert, ids, message, msh, read

PID = "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M"
# GOL-1 action, GOL-3 the goal, GOL-4 goal instance id
GOAL = "GOL|{action}|20260315|BP^血压控制在140/90以下^L|G-1"


def prb(action: str, status: str = "ACTIVE", instance: str = "P-77") -> str:
    # PRB-1 action, PRB-3 problem, PRB-4 problem instance id, PRB-7 established, PRB-14 life cycle status
    return f"PRB|{action}|20260315|I10^Essential hypertension^I10|{instance}|||20260315|||||||{status}"


def ppr(event: str, control: str, *segments: str) -> bytes:
    return message(msh(event, control, "PPR_PC1"), PID, *segments)


@pytest.mark.parametrize("instance", ["P-77", ""])
def test_prb_uc_keeps_the_stored_problem_as_stored_and_its_goal_addresses_it(session, settings, instance):
    pc1 = ppr("PC1", "C1", prb("AD", instance=instance))
    convert(session, settings, pc1)
    cid = ids(settings, pc1)["Condition"]
    stored = read(session, "Condition", cid)
    assert stored["clinicalStatus"]["coding"][0]["code"] == "active"
    # PC2: the problem is sent UC with another status (for context), a goal is added under it
    pc2 = ppr("PC2", "C2", prb("UC", "RESOLVED", instance), GOAL.format(action="AD"))
    convert(session, settings, pc2)
    assert read(session, "Condition", cid) == stored  # same content, same version
    goal = read(session, "Goal", ids(settings, pc2)["Goal"])
    assert goal["addresses"] == [{"reference": f"Condition/{cid}"}]


@pytest.mark.parametrize("instance", ["P-77", ""])
def test_prb_uc_of_a_problem_never_stored_adds_it_and_its_goal_addresses_it(session, settings, instance):
    # a clinic's first PC2 about this patient: the hypertension is sent UC (for context) with a goal under it
    pc2 = ppr("PC2", "C1", prb("UC", instance=instance), GOAL.format(action="AD"))
    convert(session, settings, pc2)
    cid = ids(settings, ppr("PC1", "C9", prb("AD", instance=instance)))["Condition"]
    assert ids(settings, pc2)["Condition"] == cid  # the id an AD line gives it
    problem = read(session, "Condition", cid)
    assert problem["clinicalStatus"]["coding"][0]["code"] == "active"
    assert problem["code"]["coding"][0]["code"] == "I10"
    goal = read(session, "Goal", ids(settings, pc2)["Goal"])
    assert goal["addresses"] == [{"reference": f"Condition/{cid}"}]


@pytest.mark.parametrize("action", ["UP", "CO"])
def test_prb_up_and_co_of_a_problem_never_stored_add_it_too(session, settings, action):
    pc2 = ppr("PC2", "C1", prb(action, "RESOLVED"))
    convert(session, settings, pc2)
    problem = read(session, "Condition", ids(settings, pc2)["Condition"])
    assert problem["clinicalStatus"]["coding"][0]["code"] == "resolved"


def test_prb_uc_does_not_bring_back_a_deleted_problem(session, settings):
    pc1 = ppr("PC1", "C1", prb("AD"))
    convert(session, settings, pc1)
    cid = ids(settings, pc1)["Condition"]
    convert(session, settings, ppr("PC2", "C2", prb("DE")))
    convert(session, settings, ppr("PC2", "C3", prb("UC")))
    with pytest.raises(Gone):
        store.read(session, "Condition", cid)


def test_gol_uc_of_a_goal_never_stored_adds_it(session, settings):
    pc2 = ppr("PC2", "C1", prb("UC"), GOAL.format(action="UC"))
    convert(session, settings, pc2)
    goal = read(session, "Goal", ids(settings, pc2)["Goal"])
    assert goal["description"]["text"] == "血压控制在140/90以下"
    assert goal["addresses"] == [{"reference": f"Condition/{ids(settings, pc2)['Condition']}"}]


def test_gol_uc_keeps_the_stored_goal_as_stored(session, settings):
    pc1 = ppr("PC1", "C1", prb("AD"), GOAL.format(action="AD"))
    convert(session, settings, pc1)
    gid = ids(settings, pc1)["Goal"]
    stored = read(session, "Goal", gid)
    changed = GOAL.format(action="UC").replace("血压控制在140/90以下", "血压控制在130/80以下")
    convert(session, settings, ppr("PC2", "C2", prb("UP", "RESOLVED"), changed))
    assert read(session, "Goal", gid) == stored
    cid = ids(settings, pc1)["Condition"]
    assert read(session, "Condition", cid)["clinicalStatus"]["coding"][0]["code"] == "resolved"


def test_prb_un_deletes_the_stored_problem_and_gol_un_the_stored_goal(session, settings):
    pc1 = ppr("PC1", "C1", prb("AD"), GOAL.format(action="AD"))
    convert(session, settings, pc1)
    cid, gid = ids(settings, pc1)["Condition"], ids(settings, pc1)["Goal"]
    convert(session, settings, ppr("PC2", "C2", prb("UC"), GOAL.format(action="UN")))
    with pytest.raises(Gone):
        store.read(session, "Goal", gid)
    assert read(session, "Condition", cid)["clinicalStatus"]["coding"][0]["code"] == "active"
    convert(session, settings, ppr("PC2", "C3", prb("UN")))
    with pytest.raises(Gone):
        store.read(session, "Condition", cid)


@pytest.mark.postgres
def test_prb_uc_checked_before_a_concurrent_first_ad_commits_does_not_overwrite_it(session, settings, monkeypatch):
    # Two workers: one converts a PC2 whose hypertension line is UC (never stored yet, so it would be added), the other
    # the clinic's PC1 that adds it (AD, active). The AD commits between the UC's "ever stored?" check and its write.
    pc1 = ppr("PC1", "C1", prb("AD"))
    ever_stored = conversion._ever_stored

    def ad_commits_meanwhile(s, keys):
        found = ever_stored(s, keys)
        other = get_sessionmaker(settings)()
        try:
            convert(other, settings, pc1)
        finally:
            other.close()
        return found

    monkeypatch.setattr(conversion, "_ever_stored", ad_commits_meanwhile)
    pc2 = ppr("PC2", "C2", prb("UC", "RESOLVED"), GOAL.format(action="AD"))
    convert(session, settings, pc2)
    cid = ids(settings, pc1)["Condition"]
    problem = read(session, "Condition", cid)
    assert problem["meta"]["versionId"] == "1"  # the AD's version, not overwritten by the UC line
    assert problem["clinicalStatus"]["coding"][0]["code"] == "active"
    goal = read(session, "Goal", ids(settings, pc2)["Goal"])
    assert goal["addresses"] == [{"reference": f"Condition/{cid}"}]
