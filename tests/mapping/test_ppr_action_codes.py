"""PRB-1 and GOL-1 action codes (HL7 table 0287) in PPR^PC1/PC2: UN (unlink) deletes the problem or goal as DE
does; UC (unchanged) writes it marked *if absent* (hub.mapping.ifabsent: the store writes it only when it never
stored it, so a stored one stays as stored and a hub that lacks it adds it), with the id its AD gave it, and the
goals of a UC problem address it."""

from __future__ import annotations

import pytest

from hub.mapping.ifabsent import IF_ABSENT_EXTENSION_URL

from .conftest import convert, one, ref, resources


def ppr(event: str, *segments: str) -> str:
    return "\r".join(
        [
            f"MSH|^~\\&|EMR|SZRMYY|HUB|CITY|20260315083000||PPR^{event}^PPR_PC1|P{event}|P|2.5",
            "PID|1||MRN001^^^SZRMYY^MR||李四||19700101|M",
            "PV1|1|O|内科门诊||||||||||||||||V001^^^SZRMYY^VN",
            *segments,
        ]
    )


# PRB-1 action, PRB-3 the problem, PRB-4 instance id, PRB-14 life cycle status
DIABETES = "PRB|AD|20260315|E11.9^2型糖尿病^I10|PRB-9^EMR|||||||||||活动"
NO_INSTANCE_ID = "PRB|AD|20260315|I10^高血压^I10||||||||||||活动"
# GOL-1 action, GOL-3 the goal, GOL-4 instance id
GOAL = "GOL|AD|20260315|HBA1C^糖化血红蛋白控制在7%以下^L|GOL-1^EMR"


def requests(bundle, rtype):
    return [e["request"] for e in bundle["entry"] if e["request"]["url"].startswith(f"{rtype}/")]


def if_absent(bundle, rtype):
    """Whether each entry of that type is marked to be written only if the hub never stored it."""
    marked = [
        any(x.get("url") == IF_ABSENT_EXTENSION_URL for x in e.get("extension", []))
        for e in bundle["entry"]
        if e["request"]["url"].startswith(f"{rtype}/")
    ]
    return marked


@pytest.mark.parametrize("event", ["PC1", "PC2"])
def test_prb_un_deletes_the_problem_as_de_does(converter, event):
    added = one(convert(converter, ppr("PC1", DIABETES)), "Condition")
    for action in ("DE", "UN"):
        bundle = convert(converter, ppr(event, DIABETES.replace("PRB|AD", f"PRB|{action}")))
        assert requests(bundle, "Condition") == [{"method": "DELETE", "url": f"Condition/{added['id']}"}]
        assert resources(bundle, "Condition") == []


def test_an_unlinked_problem_takes_no_goal_with_it(converter):
    bundle = convert(converter, ppr("PC2", DIABETES.replace("PRB|AD", "PRB|UN"), GOAL))
    assert requests(bundle, "Goal") == []


def test_gol_un_deletes_the_goal_as_de_does(converter):
    first = one(convert(converter, ppr("PC1", DIABETES, GOAL)), "Goal")
    for action in ("DE", "UN"):
        bundle = convert(
            converter, ppr("PC2", DIABETES.replace("PRB|AD", "PRB|UC"), GOAL.replace("GOL|AD", f"GOL|{action}"))
        )
        assert requests(bundle, "Goal") == [{"method": "DELETE", "url": f"Goal/{first['id']}"}]


def test_prb_uc_writes_the_problem_if_absent_and_its_goal_addresses_it(converter):
    added = one(convert(converter, ppr("PC1", DIABETES)), "Condition")
    bundle = convert(converter, ppr("PC2", DIABETES.replace("PRB|AD", "PRB|UC"), GOAL))
    assert requests(bundle, "Condition") == [{"method": "PUT", "url": f"Condition/{added['id']}"}]
    assert if_absent(bundle, "Condition") == [True]
    assert one(bundle, "Condition") == added  # as the AD line would make it
    assert if_absent(bundle, "Goal") == [False]
    assert one(bundle, "Goal")["addresses"] == [ref(added)]


def test_prb_uc_without_an_instance_id_its_goal_addresses_the_problem_by_patient_and_code(converter):
    added = one(convert(converter, ppr("PC1", NO_INSTANCE_ID)), "Condition")
    bundle = convert(converter, ppr("PC2", NO_INSTANCE_ID.replace("PRB|AD", "PRB|UC"), GOAL))
    assert requests(bundle, "Condition") == [{"method": "PUT", "url": f"Condition/{added['id']}"}]
    assert if_absent(bundle, "Condition") == [True]
    assert one(bundle, "Goal")["addresses"] == [ref(added)]


def test_a_goal_of_a_uc_problem_does_not_address_another_problem_of_the_message(converter):
    hypertension = "PRB|AD|20260315|I10^高血压^I10|PRB-7^EMR"
    stored = one(convert(converter, ppr("PC1", DIABETES)), "Condition")
    bundle = convert(converter, ppr("PC2", hypertension, DIABETES.replace("PRB|AD", "PRB|UC"), GOAL))
    other, uc = resources(bundle, "Condition")
    assert other["id"] != stored["id"]
    assert uc["id"] == stored["id"]
    assert if_absent(bundle, "Condition") == [False, True]
    assert one(bundle, "Goal")["addresses"] == [ref(stored)]


def test_gol_uc_writes_the_goal_if_absent(converter):
    bundle = convert(converter, ppr("PC2", DIABETES.replace("PRB|AD", "PRB|UP"), GOAL.replace("GOL|AD", "GOL|UC")))
    assert [r["method"] for r in requests(bundle, "Goal")] == ["PUT"]
    assert if_absent(bundle, "Goal") == [True]
    assert if_absent(bundle, "Condition") == [False]


def test_pc3_deletes_a_uc_problem_too(converter):
    added = one(convert(converter, ppr("PC1", DIABETES)), "Condition")
    bundle = convert(converter, ppr("PC3", DIABETES.replace("PRB|AD", "PRB|UC")))
    assert requests(bundle, "Condition") == [{"method": "DELETE", "url": f"Condition/{added['id']}"}]


@pytest.mark.parametrize("action", ["AD", "CO", "LI", "UP"])
def test_the_other_action_codes_write_the_problem_and_the_goal(converter, action):
    bundle = convert(
        converter, ppr("PC2", DIABETES.replace("PRB|AD", f"PRB|{action}"), GOAL.replace("GOL|AD", f"GOL|{action}"))
    )
    assert [r["method"] for r in requests(bundle, "Condition")] == ["PUT"]
    assert if_absent(bundle, "Condition") == if_absent(bundle, "Goal") == [False]
    goal = one(bundle, "Goal")
    assert goal["addresses"] == [ref(one(bundle, "Condition"))]
