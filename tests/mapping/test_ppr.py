"""PPR^PC1/PC2/PC3 → problem-list Conditions: added, updated, deleted, keyed on the problem instance id."""

from __future__ import annotations

import pytest

from tests.support.paths import CORPUS

from .conftest import convert, one, ref, resources

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def ppr(event: str, *problems: str) -> str:
    segments = [
        f"MSH|^~\\&|EMR|SZRMYY^2.16.156.10011.1.5.1^ISO|HUB|CITY|20260315083000||PPR^{event}^PPR_PC1|P{event}|P|2.5.1",
        "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M",
        "PV1|1|O|||||||||||||||||V0001^^^SZRMYY^VN",
        *problems,
    ]
    return "\r".join(segments) + "\r"


# PRB-1 action, PRB-2 action time, PRB-3 problem, PRB-4 instance id, PRB-7 established, PRB-9 resolved,
# PRB-10 classification, PRB-13 confirmation, PRB-14 life cycle status, PRB-16 onset
HYPERTENSION = "PRB|AD|20260315|I10^Essential hypertension^I10|P-77^EMR|||20260301||||||C|ACTIVE||20250101"


def test_pc1_adds_a_problem_field_by_field(converter):
    bundle = convert(converter, ppr("PC1", HYPERTENSION, "NTE|1||家族史阳性"))
    problem, patient = one(bundle, "Condition"), one(bundle, "Patient")
    assert problem["identifier"] == [{"system": "urn:hub:id:EMR", "value": "P-77"}]
    assert problem["clinicalStatus"]["coding"] == [
        {"system": CLINICAL, "code": "active", "display": "Active"},
        {"code": "ACTIVE"},
    ]
    assert problem["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert problem["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert problem["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/icd-10",
        "code": "I10",
        "display": "Essential hypertension",
    }
    assert problem["subject"] == ref(patient) and problem["encounter"] == ref(one(bundle, "Encounter"))
    assert problem["onsetDateTime"] == "2025-01-01"
    assert problem["recordedDate"] == "2026-03-01"
    assert problem["note"] == [{"text": "家族史阳性"}]


def test_pc2_updates_the_same_problem(converter):
    added = one(convert(converter, ppr("PC1", HYPERTENSION)), "Condition")
    resolved = HYPERTENSION.replace("AD|", "UP|", 1).replace("|||||C|ACTIVE|", "|20260310||||C|RESOLVED|")
    updated = one(convert(converter, ppr("PC2", resolved)), "Condition")
    assert updated["id"] == added["id"]
    assert updated["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert updated["abatementDateTime"] == "2026-03-10"


@pytest.mark.parametrize(("event", "action"), [("PC3", "DE"), ("PC3", "AD"), ("PC2", "DE")])
def test_pc3_or_action_de_deletes_it(converter, event, action):
    added = one(convert(converter, ppr("PC1", HYPERTENSION)), "Condition")
    bundle = convert(converter, ppr(event, HYPERTENSION.replace("PRB|AD|", f"PRB|{action}|")))
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith("Condition/")]
    assert entry["request"] == {"method": "DELETE", "url": f"Condition/{added['id']}"}
    assert "resource" not in entry


def test_an_unknown_life_cycle_status_is_active_and_several_problems_are_several_conditions(converter):
    second = "PRB|AD|20260315|E11^Type 2 diabetes^I10|P-78^EMR|||||||||||慢性"
    bundle = convert(converter, ppr("PC1", HYPERTENSION, second))
    problems = {p["identifier"][0]["value"]: p for p in resources(bundle, "Condition")}
    assert set(problems) == {"P-77", "P-78"}
    assert problems["P-78"]["clinicalStatus"]["coding"] == [{"system": CLINICAL, "code": "active", "display": "Active"}]


def test_the_corpus_problems(converter):
    statuses = {}
    for path in sorted(CORPUS.rglob("PC1-Problem-*.hl7")):
        bundle = convert(converter, path.read_bytes().decode("utf-8-sig"))
        methods = [e["request"]["method"] for e in bundle["entry"] if e["request"]["url"].startswith("Condition/")]
        statuses[path.name.split("-")[2]] = methods
    assert statuses == {"Add": ["PUT"], "Update": ["PUT"], "Delete": ["DELETE"]}


def test_the_observations_of_a_problem_are_its_evidence(converter):
    # PROBLEM_OBSERVATION: each OBX an Observation, the evidence of its own problem only
    bundle = convert(
        converter,
        ppr(
            "PC1",
            HYPERTENSION,
            "OBX|1|NM|8480-6^Systolic blood pressure^LN||165|mm[Hg]|90-140|H|||F|||20260301",
            "PRB|AD|20260315|E11^Type 2 diabetes^I10|P-78^EMR",
        ),
    )
    hypertension, diabetes = resources(bundle, "Condition")
    [pressure] = resources(bundle, "Observation")
    assert pressure["valueQuantity"]["value"] == 165 and pressure["subject"] == ref(one(bundle, "Patient"))
    assert hypertension["evidence"] == [{"detail": [ref(pressure)]}]
    assert "evidence" not in diabetes
