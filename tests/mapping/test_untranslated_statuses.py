"""A status, flag or other code of a table read once per element, that the table does not have, is reported
(untranslated-code: the table and where, never the code) and the message still converts: a result status read as
unknown, an abnormal flag kept without its system, an order status that gives way to what the order control
implies, a completion status read as the v2 default (completed), a participant's filler status read as accepted …
would otherwise pass unnoticed (terminology/*.yaml, report_unknown)."""

from __future__ import annotations

from .conftest import one, resources, with_report
from .order_messages import obr as order_obr
from .order_messages import orc, orm, tq1
from .test_adt_events import PV1 as ADT_PV1
from .test_adt_events import adt as adt_event
from .test_chinese import message as adt
from .test_immunization import rxa, vxu
from .test_mdm import mdm
from .test_oru import HEADER, SPECIMEN, obx
from .test_pharmacy import ROUTE, rde, rxe
from .test_ppr_action_codes import DIABETES, GOAL, ppr
from .test_ref import ref_message
from .test_siu import siu
from .test_untranslated_codes import untranslated


def a60(iam: str) -> str:
    return adt_event("A60", "ADT_A60", ADT_PV1, iam)


def where(report: list[dict]) -> set[tuple[str, str]]:
    return {(entry["table"], entry["location"]) for entry in untranslated(report)}


def oru(*segments: str) -> str:
    return "\r".join([*HEADER, *segments]) + "\r"


def test_a_result_status_and_an_abnormal_flag_no_table_has(converter):
    # OBX-8 危急 (critical, in words no table has), OBX-11 已审核 (verified, in words): a Chinese LIS's own
    text = oru(obx(1, "NM", "2823-3^Potassium^LN", "6.8", "mmol/L", "3.5-5.3", "危急", status="已审核"))
    bundle, report = with_report(converter, text)
    observation = one(bundle, "Observation")
    assert observation["status"] == "unknown"
    assert observation["interpretation"] == [{"coding": [{"code": "危急"}]}]  # kept, without a system
    assert where(report) == {("v2-0085", "OBX^1^11"), ("v2-0078", "OBX^1^8")}
    assert "危急" not in str(report) and "已审核" not in str(report)


def test_the_codes_of_table_0085_and_0078_are_not_reported(converter):
    # every OBX-11 code of v2 table 0085 (those the IG leaves unmapped are unknown, as before), flags of 0078
    statuses = "ABCDFINOPRSUVWX"
    flags = ["H", "LL", "↑", "阳性", "n"]
    lines = [
        obx(i + 1, "NM", "2823-3^Potassium^LN", "4.1", "mmol/L", "3.5-5.3", flags[i % len(flags)], status=code)
        for i, code in enumerate(statuses)
    ]
    bundle, report = with_report(converter, oru(*lines))
    assert untranslated(report) == []
    assert [o["status"] for o in resources(bundle, "Observation")].count("unknown") == 7  # B I N O R S V


def test_a_report_status_and_a_specimen_availability_no_table_has(converter):
    # OBR-25 审核中 (being verified), SPM-20 U (neither Y nor N)
    header = [*HEADER[:-1], HEADER[-1][: -len("CH|F")] + "CH|审核中"]
    segments = [*header, obx(1, "NM", "2823-3^Potassium^LN", "4.1", "mmol/L", "3.5-5.3"), SPECIMEN + "||U"]
    bundle, report = with_report(converter, "\r".join(segments) + "\r")
    assert one(bundle, "DiagnosticReport")["status"] == "unknown"
    assert "status" not in one(bundle, "Specimen")
    assert where(report) == {("v2-0123", "OBR^1^25"), ("specimen-availability", "SPM^1^20")}


def test_an_order_status_no_table_has_gives_way_to_the_order_control(converter):
    # ORC-5 NW: an order control code sent as the order status (as a corpus message does)
    bundle, report = with_report(converter, orm(orc(f5="NW"), tq1(), order_obr()))
    assert one(bundle, "ServiceRequest")["status"] == "active"  # what NW implies
    assert where(report) == {("v2-0038", "ORC^1^5")}
    bundle, report = with_report(converter, rde(orc(f2="RX100^HIS", f3="", f5="已发药"), rxe(), tq1(), ROUTE))
    assert one(bundle, "MedicationRequest")["status"] == "active"
    assert where(report) == {("v2-0038-medicationrequest", "ORC^1^5")}
    _bundle, report = with_report(converter, orm(orc(f5="SC"), tq1(), order_obr()))
    assert untranslated(report) == []


def test_a_completion_status_no_table_has(converter):
    # RXA-20 已接种 (given, in words): read as the v2 default, completed, and reported
    order = (orc(f1="RE", f2="", f3="IZ-1001^SZRMYY"), rxa(f20="已接种"), "RXR|IM^肌肉注射^HL70162")
    bundle, report = with_report(converter, vxu(*order))
    assert one(bundle, "Immunization")["status"] == "completed"
    assert where(report) == {("v2-0322", "RXA^1^20")}


def test_a_referral_status_and_priority_no_table_has(converter):
    # RF1-1 已受理 (accepted, in words), RF1-2 急 (urgent, in words)
    rf1 = "RF1|已受理|急|Med^Medical^HL70281|||R-1^HIS|20260315"
    bundle, report = with_report(converter, ref_message("I12", rf1))
    referral = one(bundle, "ServiceRequest")
    assert referral["status"] == "unknown" and "priority" not in referral
    assert where(report) == {("v2-0283", "RF1^1^1"), ("v2-0280", "RF1^1^2")}


def test_a_goal_status_no_table_has(converter):
    # GOL-18 待评估 (to be assessed): not read as active without a word
    goal = GOAL + "|" * 14 + "待评估"
    bundle, report = with_report(converter, ppr("PC1", DIABETES, goal))
    assert one(bundle, "Goal")["lifecycleStatus"] == "active"
    assert where(report) == {("goal-status", "GOL^1^18")}


def test_an_allergy_severity_and_a_diagnosis_type_no_table_has(converter):
    # AL1-4 严重 (severe, a word table 0128 lacks: it has 重度), DG1-6 初步 (preliminary, in words)
    text = adt() + "AL1|1|DA^药物过敏^HL70127|青霉素|严重\rDG1|1||I10^原发性高血压^I10|||初步\r"
    bundle, report = with_report(converter, text)
    assert "criticality" not in one(bundle, "AllergyIntolerance")
    assert "verificationStatus" not in one(bundle, "Condition")
    assert where(report) == {("v2-0128", "AL1^1^4"), ("v2-0052", "DG1^1^6")}


def test_a_document_completion_and_availability_no_table_has(converter):
    # TXA-17 已签名 (signed, in words), TXA-19 归档 (archived)
    txa = "TXA|1|PN|TX|||||||||DOC-2^EMR|||||已签名||归档"
    bundle, report = with_report(converter, mdm("T01", txa=txa))
    document = one(bundle, "DocumentReference")
    assert "docStatus" not in document and document["status"] == "current"
    assert where(report) == {("v2-0271", "TXA^1^17"), ("v2-0273", "TXA^1^19")}


def test_an_appointment_and_participant_filler_status_no_table_has(converter):
    # SCH-8 急诊 (emergency, no code of table 0277), SCH-25 已确认 (confirmed); AIL-12 已确认 too
    sch = "SCH|P77^HIS|F88^RIS||||复诊^Follow-up|FOLLOWUP^Follow up^HL70276|急诊|30|min|||||||||||||||已确认"
    services = ("AIS|1||73030^X-ray shoulder^C4|202604010900|||30|min^Minutes^ISO||Booked",)
    text = siu("S12", sch=sch, services=services).replace("|||||||||Cancelled", "|||||||||已确认")
    bundle, report = with_report(converter, text)
    appointment = one(bundle, "Appointment")
    assert appointment["status"] == "booked"
    assert where(report) >= {("v2-0278", "SCH^1^25"), ("v2-0277", "SCH^1^8"), ("v2-0278-participation", "AIL^1^12")}


def test_a_problem_status_and_confirmation_no_table_has(converter):
    # PRB-13 待定 (pending, in words problem-confirmation lacks), PRB-14 稳定 (stable): were dropped without a word
    # behind the tables' in_table guards (required bindings); the problem stays active (a problem-list item needs a
    # clinical status), its verification left out
    problem = "PRB|AD|20260315|E11.9^2型糖尿病^I10|PRB-9^EMR|||||||||待定|稳定"
    bundle, report = with_report(converter, ppr("PC1", problem))
    condition = one(bundle, "Condition")
    assert condition["clinicalStatus"]["coding"][0]["code"] == "active"
    assert "verificationStatus" not in condition
    assert where(report) == {("problem-status", "PRB^1^14"), ("problem-confirmation", "PRB^1^13")}


def test_an_allergy_clinical_status_no_table_has(converter):
    # IAM-17 待确认 (to be confirmed, in words table 0438 lacks)
    text = a60("IAM|1|DA^药物过敏^HL70127|青霉素||皮疹|A|A-1^HIS||||||||||待确认")
    bundle, report = with_report(converter, text)
    assert "verificationStatus" not in one(bundle, "AllergyIntolerance")
    assert ("v2-0438", "IAM^1^17") in where(report)


def test_known_problem_and_allergy_statuses_are_not_reported(converter):
    problem = "PRB|AD|20260315|E11.9^2型糖尿病^I10|PRB-9^EMR|||||||||C|ACTIVE"
    _bundle, report = with_report(converter, ppr("PC1", problem))
    assert where(report) == set()
    _bundle, report = with_report(converter, a60("IAM|1|DA^药物过敏^HL70127|青霉素||皮疹|A|A-1^HIS||||||||||C"))
    assert not {table for table, _ in where(report)} & {"v2-0438"}
