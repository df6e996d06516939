"""Problem messages (PPR) as real senders vary them: a Chinese EMR's problem with its status words, onset text, a
goal with its target date, a hospital's own diagnosis code, goals updated and deleted.

Each test is one message, converted by the shipped mappings and checked field by field (``convert`` validates
every Bundle against the R4 schema and the R4B models).
"""

from __future__ import annotations

from hub.fhir.validation import validate_bundle
from hub.hl7 import er7

from .conftest import convert, one, ref, resources

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def ppr(event: str, *segments: str) -> str:
    return "\r".join(
        [
            f"MSH|^~\\&|EMR|SZRMYY|HUB|CITY|20260315083000||PPR^{event}^PPR_PC1|P{event}|P|2.5",
            "PID|1||MRN001^^^SZRMYY^MR||李四||19700101|M",
            "PV1|1|O|内科门诊||||||||||||||||V001^^^SZRMYY^VN",
            *segments,
        ]
    )


# PRB-1 action AD, PRB-3 the problem (ICD-10), PRB-4 instance id, PRB-7 established, PRB-13 confirmation
# (C 确诊), PRB-14 life cycle status in Chinese (活动 active), PRB-16 onset, PRB-17 onset text
DIABETES = "PRB|AD|20260315|E11.9^2型糖尿病^I10|PRB-9^EMR|||20260301||||||C^确诊|活动||20240601|两年前体检发现"
# GOL-1 action, GOL-3 the goal, GOL-4 instance id, GOL-7 established, GOL-8 expected achievement, GOL-9
# classification, GOL-17 evaluation comment, GOL-18 life cycle status (进行中 in progress), GOL-19 its date
GOAL = (
    "GOL|AD|20260315|HBA1C^糖化血红蛋白控制在7%以下^L|GOL-1^EMR||1|20260315|20260615|TREAT^治疗目标^L"
    "||||||||每三月复查|进行中|20260316"
)


def test_a_chinese_problem_with_a_goal_field_by_field(converter):
    bundle = convert(converter, ppr("PC1", DIABETES, "NTE|1||饮食控制不佳", GOAL, "NTE|1||配合运动"))
    problem, goal = one(bundle, "Condition"), one(bundle, "Goal")
    assert problem["code"]["coding"] == [
        {"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11.9", "display": "2型糖尿病"}
    ]
    assert problem["clinicalStatus"]["coding"][0] == {"system": CLINICAL, "code": "active", "display": "Active"}
    assert problem["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert problem["onsetDateTime"] == "2024-06-01"
    assert problem["recordedDate"] == "2026-03-01"
    assert "abatementDateTime" not in problem
    assert problem["note"] == [{"text": "饮食控制不佳"}]
    assert goal["lifecycleStatus"] == "active"
    assert goal["description"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "HBA1C", "display": "糖化血红蛋白控制在7%以下"}],
        "text": "糖化血红蛋白控制在7%以下",
    }
    assert goal["identifier"] == [{"system": "urn:hub:id:EMR", "value": "GOL-1"}]
    assert goal["startDate"] == "2026-03-15"
    assert goal["target"] == [{"dueDate": "2026-06-15"}]
    assert goal["statusDate"] == "2026-03-16"
    assert goal["category"][0]["text"] == "治疗目标"
    assert goal["note"] == [{"text": "每三月复查"}, {"text": "配合运动"}]
    assert goal["subject"] == problem["subject"]
    assert goal["addresses"] == [ref(problem)]


def test_the_goal_s_status_and_its_update_and_delete(converter):
    achieved = GOAL.replace("|进行中|", "|已达成|")
    first = one(convert(converter, ppr("PC1", DIABETES, GOAL)), "Goal")
    updated = one(convert(converter, ppr("PC2", DIABETES.replace("PRB|AD", "PRB|UP"), achieved)), "Goal")
    assert updated["id"] == first["id"]
    assert updated["lifecycleStatus"] == "completed"
    deleted = convert(converter, ppr("PC2", DIABETES.replace("PRB|AD", "PRB|UP"), GOAL.replace("GOL|AD", "GOL|DE")))
    assert resources(deleted, "Goal") == []
    assert {"method": "DELETE", "url": f"Goal/{first['id']}"} in [e["request"] for e in deleted["entry"]]


def test_a_deleted_problem_makes_no_goal(converter):
    bundle = convert(converter, ppr("PC3", DIABETES, GOAL))
    assert resources(bundle, "Goal") == [] and resources(bundle, "Condition") == []


def test_chinese_status_words_and_a_resolution(converter):
    # 痊愈 (cured): resolved, with its resolution date PRB-9
    cured = DIABETES.replace("|20260301||||||C^确诊|活动|", "|20260301||20260310||||C^确诊|痊愈|")
    problem = one(convert(converter, ppr("PC2", cured)), "Condition")
    assert problem["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert problem["abatementDateTime"] == "2026-03-10"
    # 复发 (recurrence) goes on: a resolution date sent with it is left out (FHIR con-4)
    relapsed = DIABETES.replace("|20260301||||||C^确诊|活动|", "|20260301||20260310||||C^确诊|复发|")
    problem = one(convert(converter, ppr("PC2", relapsed)), "Condition")
    assert problem["clinicalStatus"]["coding"][0]["code"] == "recurrence"
    assert "abatementDateTime" not in problem


def test_a_hospital_diagnosis_code_is_reported(converter):
    local = DIABETES.replace("E11.9^2型糖尿病^I10", "TNB01^糖尿病^L")
    result = converter.convert_with_report(er7.parse(ppr("PC1", local)), sender_timezone="Asia/Shanghai")
    assert validate_bundle(result.bundle, models=True) == []
    assert one(result.bundle, "Condition")["code"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "TNB01", "display": "糖尿病"}],
        "text": "糖尿病",
    }
    assert {
        "code": "unmapped-local-code",
        "table": "local-diagnoses",
        "value": "TNB01",
        "system": "L",
        "display": "糖尿病",
        "location": "PRB^1^3",
    } in result.report


def test_chinese_confirmation_words(converter):
    for word, code in (("疑似", "provisional"), ("排除", "refuted"), ("确诊", "confirmed")):
        problem = one(convert(converter, ppr("PC1", DIABETES.replace("C^确诊", word))), "Condition")
        assert problem["verificationStatus"]["coding"][0]["code"] == code, word
        assert {"code": word} in problem["verificationStatus"]["coding"]
