"""Results messages the hub used to refuse or convert with losses: ORU^R01 without an order (OBR), and OBX values of
every type of HL7 table 0125.

The expectations follow the v2 standard (ch. 7, OBX; table 0125) and the v2-to-FHIR IG (ORU_R01 rows 4.1.7.1 and
4.2.4, OBX[Observation] row 5 per value type); where the IG gives no FHIR value for a type, the value is kept as
text and reported (`value-as-text`).
"""

from __future__ import annotations

from hub.hl7 import er7

from .conftest import convert, one, ref, resources, with_report

MSH = "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01|{control}|P|2.3"
PID = "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F"
PV1 = "PV1|1|O|NK^^^SZRMYY||||||||||||||||V100^^^SZRMYY^VN"


def message(*segments: str, control: str = "N1") -> str:
    return "\r".join([MSH.format(control=control), *segments]) + "\r"


def obx(n: int, code: str, value: str, *, kind: str = "NM", units: str = "", status: str = "F", when: str = "") -> str:
    # OBX-2 value type, OBX-3 code, OBX-5 value, OBX-6 units, OBX-11 status, OBX-14 observed
    return f"OBX|{n}|{kind}|{code}||{value}|{units}|||||{status}|||{when}"


def by_code(bundle, code):
    (found,) = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == code]
    return found


GLU = obx(1, "GLU^血糖^L", "5.6", units="mmol/L", when="20260315080000")
K = obx(2, "K^钾^L", "4.1", units="mmol/L", when="20260315080000")


# ORU^R01 without an OBR -----------------------------------------------------------------------------------


def test_results_without_an_order_are_observations_of_the_patient_and_visit(converter):
    # v2.3, minimal LIS: MSH, PID, PV1, OBX, OBX and no OBR
    bundle = convert(converter, message(PID, PV1, GLU, K))
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    assert resources(bundle, "DiagnosticReport") == []  # no order, no report (IG ORU_R01 row 4.2.4)
    glucose, potassium = by_code(bundle, "GLU"), by_code(bundle, "K")
    for observation in (glucose, potassium):
        assert observation["subject"] == ref(patient)
        assert observation["encounter"] == ref(encounter)
        assert observation["status"] == "final"
        assert observation["effectiveDateTime"] == "2026-03-15T08:00:00+08:00"
        assert "specimen" not in observation
    assert glucose["valueQuantity"]["value"] == 5.6
    assert glucose["valueQuantity"]["unit"] == "mmol/L"
    assert potassium["valueQuantity"]["value"] == 4.1


def test_results_right_after_the_pid_have_no_visit_and_keep_their_comments(converter):
    # MSH, PID, OBX, NTE, OBX: the NTE after an OBX is its comment, not the patient's
    bundle = convert(converter, message(PID, GLU, "NTE|1||标本轻度溶血", K))
    assert resources(bundle, "Encounter") == []
    assert resources(bundle, "DiagnosticReport") == []
    glucose, potassium = by_code(bundle, "GLU"), by_code(bundle, "K")
    assert "encounter" not in glucose
    assert glucose["note"] == [{"text": "标本轻度溶血"}]
    assert "note" not in potassium


def test_a_patients_comment_before_the_results_stays_the_patients(converter):
    bundle = convert(converter, message(PID, "NTE|1||患者空腹", GLU))
    assert "note" not in by_code(bundle, "GLU")


def test_results_without_an_order_have_ids_of_their_patient_test_and_time(converter):
    first = convert(converter, message(PID, PV1, GLU, K, control="N1"))
    again = convert(converter, message(PID, PV1, GLU, K, control="N1"))
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in again["entry"]]  # deterministic
    # the next day's glucose of the same patient, in another message: another Observation
    later = obx(1, "GLU^血糖^L", "6.2", units="mmol/L", when="20260316080000")
    next_day = convert(converter, message(PID, PV1, later, control="N2"))
    assert by_code(next_day, "GLU")["id"] != by_code(first, "GLU")["id"]
    # the same glucose corrected (OBX-11 C) in a message of its own: the same Observation, its next version
    corrected = obx(1, "GLU^血糖^L", "5.9", units="mmol/L", status="C", when="20260315080000")
    correction = convert(converter, message(PID, PV1, corrected, control="N3"))
    glucose = by_code(correction, "GLU")
    assert glucose["id"] == by_code(first, "GLU")["id"]
    assert glucose["status"] == "corrected"
    assert glucose["valueQuantity"]["value"] == 5.9
    # another patient's glucose at the same time: not the same Observation
    other = convert(converter, message("PID|1||MRN0002^^^SZRMYY^MR||王^五", GLU, control="N4"))
    assert by_code(other, "GLU")["id"] != by_code(first, "GLU")["id"]


def test_results_without_an_order_or_a_time_are_kept_apart_by_their_message(converter):
    untimed = obx(1, "GLU^血糖^L", "5.6", units="mmol/L")
    one_message = by_code(convert(converter, message(PID, untimed, control="N1")), "GLU")
    another = by_code(convert(converter, message(PID, untimed, control="N2")), "GLU")
    assert one_message["id"] != another["id"]
    assert by_code(convert(converter, message(PID, untimed, control="N1")), "GLU")["id"] == one_message["id"]


def test_the_same_test_twice_at_one_time_without_an_order_is_two_observations(converter):
    # OBX-4 sub-ids tell them apart; without them both are still kept (numbered in message order)
    first = obx(1, "GLU^血糖^L", "5.6", when="20260315080000")
    second = obx(2, "GLU^血糖^L", "5.8", when="20260315080000")
    bundle = convert(converter, message(PID, first, second))
    values = sorted(o["valueQuantity"]["value"] for o in resources(bundle, "Observation"))
    assert values == [5.6, 5.8]
    assert len({o["id"] for o in resources(bundle, "Observation")}) == 2
    with_sub_ids = [f.replace("|GLU^血糖^L||", f"|GLU^血糖^L|{n}|") for n, f in ((1, first), (2, second))]
    ids = {o["id"] for o in resources(convert(converter, message(PID, *with_sub_ids)), "Observation")}
    assert len(ids) == 2


def test_a_result_after_the_pid_beside_an_order_is_no_result_of_its_report(converter):
    obr = "OBR|1|P100^HIS|F200^LIS|CBC^血常规^L|||20260315080000||||||||||||||||HM|F"
    wbc = obx(1, "WBC^白细胞^L", "6.1", units="10*9/L")
    bundle = convert(converter, message(PID, GLU, obr, wbc))
    report = one(bundle, "DiagnosticReport")
    assert report["result"] == [ref(by_code(bundle, "WBC"))]
    assert by_code(bundle, "GLU")["subject"] == ref(one(bundle, "Patient"))


def test_a_result_message_without_an_order_says_nothing_unmapped_but_its_local_codes(converter):
    _bundle, report = with_report(converter, message(PID, PV1, GLU))
    assert [entry["code"] for entry in report] == ["unmapped-local-code"]
    assert report[0]["location"] == "OBX^1^3"


def test_a_result_message_without_an_order_parses_as_the_sender_wrote_it(converter):
    # \n line ends and a v2.3.1 MSH-9 without the structure: still ORU_R01
    text = message(PID, GLU).replace("\r", "\n").replace("2.3", "2.3.1")
    bundle = converter.convert(er7.parse(text), sender_timezone="Asia/Shanghai")
    assert by_code(bundle, "GLU")["valueQuantity"]["value"] == 5.6
