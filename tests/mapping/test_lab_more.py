"""Results messages the hub used to refuse or convert with losses: ORU^R01 without an order (OBR), and OBX values of
every type of HL7 table 0125.

The expectations follow the v2 standard (ch. 7, OBX; table 0125) and the v2-to-FHIR IG (ORU_R01 rows 4.1.7.1 and
4.2.4, OBX[Observation] row 5 per value type); where the IG gives no FHIR value for a type, the value is kept as
text and reported (`value-as-text`).
"""

from __future__ import annotations

import pytest

from hub.errors import ConversionError, MappingTemplateError
from hub.hl7 import er7
from hub.mapping import Converter

from .conftest import convert, mappings_copy, one, ref, resources, with_report

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


def test_results_after_the_visit_keep_their_own_comments(converter):
    # MSH, PID, PV1, OBX, NTE, OBX: each OBX after the visit (out of grammar order: PATIENT_OBSERVATION comes before
    # VISIT) is a result of its own, the NTE the first one's comment only; the second OBX used to join the first's
    # group and take its comment too
    bundle = convert(converter, message(PID, PV1, GLU, "NTE|1||标本轻度溶血", K, "NTE|1||复查"))
    assert by_code(bundle, "GLU")["note"] == [{"text": "标本轻度溶血"}]
    assert by_code(bundle, "K")["note"] == [{"text": "复查"}]


def test_a_patients_comment_is_a_note_of_each_of_the_patients_results_without_a_report(converter):
    # MSH, PID, NTE, OBX, NTE, OBX: the NTE right after the PID is the patient's (ORU_R01 PATIENT.NTE), not the
    # first result's comment; R4's Patient has no note and no report carries it (no OBR), so each of the
    # patient's results does, before its own comments (IG NTE[Observation]: Observation.note)
    bundle = convert(converter, message(PID, "NTE|1||患者空腹|||20260315070000", GLU, "NTE|1||标本轻度溶血", K))
    fasting = {"text": "患者空腹", "time": "2026-03-15T07:00:00+08:00"}
    assert by_code(bundle, "GLU")["note"] == [fasting, {"text": "标本轻度溶血"}]
    assert by_code(bundle, "K")["note"] == [fasting]
    assert "note" not in one(bundle, "Patient")


def test_a_patients_comment_before_the_visit_is_a_note_of_the_results_after_it(converter):
    # MSH, PID, NTE, PV1, OBX, OBX (results after the visit, no OBR)
    bundle = convert(converter, message(PID, "NTE|1||患者空腹", PV1, GLU, K))
    assert by_code(bundle, "GLU")["note"] == [{"text": "患者空腹"}]
    assert by_code(bundle, "K")["note"] == [{"text": "患者空腹"}]


def test_a_patients_comment_that_nothing_carries_is_reported(converter):
    # a second patient sent with a note and no result (outside the grammar: ORDER_OBSERVATION is required): no
    # report nor result of that patient carries the note, and the conversion report says so (never its text)
    second = ("PID|2||MRN0002^^^SZRMYY^MR||王^五", "NTE|1||患者空腹", "NTE|2")
    bundle, report = with_report(converter, message(PID, "NTE|1||溶血", OBR, GLU, *second))
    assert [e for e in report if e["code"] == "unmapped-segment"] == [
        {
            "code": "unmapped-segment",
            "location": "NTE^2",  # the message's second NTE; the third has no text: nothing lost
            "detail": "the patient's note (PATIENT_RESULT.PATIENT.NTE): no report or result of the patient carries it",
        }
    ]
    assert len(resources(bundle, "Patient")) == 2
    # carried by a report, or by the results without one: nothing to report
    for carried in (message(PID, "NTE|1||患者空腹", OBR, GLU), message(PID, "NTE|1||患者空腹", GLU)):
        assert not [e for e in with_report(converter, carried)[1] if e["code"] == "unmapped-segment"]


def test_a_patients_comment_is_not_another_patients(converter):
    other = "PID|2||MRN0002^^^SZRMYY^MR||王^五"
    bundle = convert(converter, message(PID, "NTE|1||患者空腹", GLU, other, K.replace("K^", "NA^")))
    assert by_code(bundle, "GLU")["note"] == [{"text": "患者空腹"}]
    assert "note" not in by_code(bundle, "NA")


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
    obr = "OBR|1|P100^HIS|F200^LIS|CBC^血常规^L|||20260315080000|||||||||||||||||HM|F"
    wbc = obx(1, "WBC^白细胞^L", "6.1", units="10*9/L")
    bundle = convert(converter, message(PID, GLU, obr, wbc))
    report = one(bundle, "DiagnosticReport")
    assert report["status"] == "final"
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


# OBX-5 by OBX-2: every type of HL7 table 0125 -------------------------------------------------------------

OBR = "OBR|1|P100^HIS|F200^LIS|PANEL^检验^L|||20260315080000|||||||||||||||||CH|F"
MMOL = {"unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"}
UNKNOWN_PERIOD = {
    "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}]
}
ISO_4217 = "urn:iso:std:iso:4217"


def typed(converter, kind: str, value: str, units: str = ""):
    """The value elements of the Observation of one OBX of this type, and the report's entries other than codes."""
    segment = obx(1, f"T{kind}^{kind}^L", value, kind=kind, units=units)
    bundle, report = with_report(converter, message(PID, OBR, segment))
    observation = one(bundle, "Observation")
    values = {k: v for k, v in observation.items() if k.startswith("value") or k in ("component", "extension")}
    return values, [entry for entry in report if entry["code"] != "unmapped-local-code"]


def as_text(kind: str) -> list[dict]:
    return [
        {
            "code": "value-as-text",
            "location": "OBX^1^5",
            "detail": f"OBX-2 {kind}: no FHIR value of this type, kept as text",
        }
    ]


def unreadable(kind: str) -> list[dict]:
    return [
        {
            "code": "value-as-text",
            "location": "OBX^1^5",
            "detail": f"OBX-2 {kind}: the value cannot be read as its type, kept as text",
        }
    ]


CODED = {"coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "POS", "display": "阳性"}], "text": "阳性"}
ATTACHMENT = "http://hl7.org/fhir/5.0/StructureDefinition/extension-Observation.value"

# (OBX-2, OBX-5, OBX-6, the Observation's value elements, whether it is reported as text): one message per type
TABLE_0125 = [
    ("AD", "中山路1号^^深圳^广东^518000^CHN", "", {"valueString": "中山路1号 深圳 广东 518000 CHN"}, True),
    ("CE", "POS^阳性^L", "", {"valueCodeableConcept": CODED}, False),
    ("CF", "POS^阳性^L", "", {"valueCodeableConcept": CODED}, False),
    ("CK", "123^4^M10^SZRMYY", "", {"valueString": "123 4 M10 SZRMYY"}, True),
    ("CN", "1001^张^三", "", {"valueString": "张三 (1001)"}, True),
    (
        "CP",
        "12.50&CNY",
        "",
        {"valueQuantity": {"value": 12.5, "unit": "CNY", "system": ISO_4217, "code": "CNY"}},
        False,
    ),
    ("CWE", "POS^阳性^L", "", {"valueCodeableConcept": CODED}, False),
    ("CX", "MRN9^^^SZRMYY^MR", "", {"valueString": "MRN9 SZRMYY MR"}, True),
    ("DT", "20260301", "", {"valueDateTime": "2026-03-01"}, False),
    ("DTM", "20260301120000", "", {"valueDateTime": "2026-03-01T12:00:00+08:00"}, False),
    (
        "ED",
        "SZRMYY^application^pdf^Base64^SGVsbG8=",
        "",
        {"extension": [{"url": ATTACHMENT, "valueAttachment": {"contentType": "application/pdf", "data": "SGVsbG8="}}]},
        False,
    ),
    ("FT", "第一行\\.br\\第二行", "", {"valueString": "第一行\n第二行"}, False),
    ("ID", "POS", "", {"valueString": "POS"}, False),
    ("IS", "POS", "", {"valueCodeableConcept": {"coding": [{"code": "POS"}]}}, False),
    (
        "MO",
        "12.50^CNY",
        "",
        {"valueQuantity": {"value": 12.5, "unit": "CNY", "system": ISO_4217, "code": "CNY"}},
        False,
    ),
    ("NM", "5.6", "mmol/L", {"valueQuantity": {"value": 5.6, **MMOL}}, False),
    ("PN", "张^三", "", {"valueString": "张三"}, True),
    (
        "RP",
        "http://pacs.szrmyy/wado?study=1.2.3^SZRMYY^image^jpeg",
        "",
        {"extension": [{"url": ATTACHMENT, "valueAttachment": {"url": "http://pacs.szrmyy/wado?study=1.2.3"}}]},
        False,
    ),
    ("SN", "<^5", "mmol/L", {"valueQuantity": {"value": 5, "comparator": "<", **MMOL}}, False),
    ("ST", "微浑", "", {"valueString": "微浑"}, False),
    ("TM", "1230", "", {"valueTime": "12:30:00"}, False),
    ("TN", "(0755)88888888", "", {"valueString": "(0755)88888888"}, True),
    ("TS", "202603011200", "", {"valueDateTime": "2026-03-01T12:00:00+08:00"}, False),
    ("TX", "镜下可见红细胞", "", {"valueString": "镜下可见红细胞"}, False),
    ("XAD", "中山路1号^^深圳^广东^518000^CHN", "", {"valueString": "中山路1号 深圳 广东 518000 CHN"}, True),
    ("XCN", "1001^张^三^^^^^^SZRMYY", "", {"valueString": "张三 (1001)"}, True),
    ("XON", "深圳市人民医院^^12345", "", {"valueString": "深圳市人民医院 12345"}, True),
    ("XPN", "Everyman^Adam^A^III^Dr.", "", {"valueString": "Dr. Adam A Everyman III"}, True),
    ("XTN", "^PRN^PH^^86^755^88888888", "", {"valueString": "+86 755 88888888"}, True),
    # and the others of table 0125 in later versions
    ("CNE", "POS^阳性^L", "", {"valueCodeableConcept": CODED}, False),
    ("NR", "3.5^5.5", "mmol/L", {"valueRange": {"low": {"value": 3.5, **MMOL}, "high": {"value": 5.5, **MMOL}}}, False),
    ("DR", "20260301^20260302", "", {"valuePeriod": {"start": "2026-03-01", "end": "2026-03-02"}}, False),
    ("VR", "10^20", "", {"valueString": "10-20"}, False),
    (
        "NA",
        "1.2^3.4^5.6",
        "mmol/L",
        {
            "valueSampledData": {
                "origin": {"value": 0, **MMOL},
                "_period": UNKNOWN_PERIOD,
                "dimensions": 1,
                "data": "1.2 3.4 5.6",
            }
        },
        False,
    ),
    (
        "MA",
        "1^2~3^4~5^6",
        "mV^^UCUM",
        {
            "valueSampledData": {
                "origin": {"value": 0, "unit": "mV", "system": "http://unitsofmeasure.org", "code": "mV"},
                "_period": UNKNOWN_PERIOD,
                "dimensions": 2,
                "data": "1 2 3 4 5 6",
            }
        },
        False,
    ),
]


@pytest.mark.parametrize(("kind", "value", "units", "expected", "reported"), TABLE_0125, ids=[t[0] for t in TABLE_0125])
def test_every_value_type_converts_to_a_valid_value_or_reported_text(converter, kind, value, units, expected, reported):
    values, report = typed(converter, kind, value, units)
    assert values == expected
    assert report == (as_text(kind) if reported else [])


def test_a_numeric_array_with_a_missing_or_unreadable_value_is_kept_as_text(converter):
    values, report = typed(converter, "NA", "1.2^^5.6")
    assert values == {"valueString": "1.2 5.6"}
    assert report == unreadable("NA")
    values, report = typed(converter, "NA", "1.2^阳性^5.6")
    assert values == {"valueString": "1.2 阳性 5.6"}
    assert report == unreadable("NA")


def test_a_numeric_table_is_a_point_per_row(converter):
    # v2 NA example: a 3 x 3 table, one row per repetition
    values, report = typed(converter, "NA", "1.2^-3.5^5.2~2.0^3.1^-6.2~3.5^7.8^-1.3")
    sampled = values["valueSampledData"]
    assert (sampled["dimensions"], sampled["data"]) == (3, "1.2 -3.5 5.2 2.0 3.1 -6.2 3.5 7.8 -1.3")
    assert report == []
    # an empty row, or a row shorter than the others (values left out at its end): kept as text
    for table in ("1^2~~5^6", "1^2~3~5^6"):
        values, report = typed(converter, "NA", table)
        assert "valueSampledData" not in values
        assert report == unreadable("NA")


def test_a_multiplexed_array_with_samples_of_different_widths_is_kept_as_text_one_sample_a_line(converter):
    values, report = typed(converter, "MA", "1^2~3~5^6")
    assert values == {"valueString": "1 2\n3\n5 6"}
    assert report == unreadable("MA")


def test_an_array_keeps_its_numbers_as_written_and_ignores_padding(converter):
    # '+1.20' is the FHIR decimal 1.20 (its precision kept), '.5' is 0.5; a trailing empty component is padding
    values, _report = typed(converter, "NA", "+1.20^.5^-3^")
    assert values["valueSampledData"]["data"] == "1.20 0.5 -3"
    assert values["valueSampledData"]["dimensions"] == 1
    assert values["valueSampledData"]["origin"] == {"value": 0}  # no OBX-6: no unit


@pytest.mark.parametrize("currency", ["CNY", "cny", "RMB", "元", "人民币"])
def test_money_in_renminbi_is_cny(converter, currency):
    values, report = typed(converter, "MO", f"1280^{currency}")
    assert values == {"valueQuantity": {"value": 1280, "unit": "CNY", "system": ISO_4217, "code": "CNY"}}
    assert report == []


def test_money_in_a_currency_no_code_names_keeps_its_word_and_money_without_a_number_is_text(converter):
    values, _report = typed(converter, "MO", "30^港币")
    assert values == {"valueQuantity": {"value": 30, "unit": "港币"}}
    values, report = typed(converter, "MO", "免费^CNY")
    assert values == {"valueString": "免费 CNY"}
    assert report == unreadable("MO")


def test_a_price_with_its_type_or_range_is_kept_whole_as_text(converter):
    # CP.1 price (MO: amount&currency), CP.2 price type (UP unit price): the qualifier would be lost in a Quantity
    values, report = typed(converter, "CP", "12.50&CNY^UP")
    assert values == {"valueString": "12.50 CNY UP"}
    assert report == as_text("CP")


def test_a_value_range_without_both_ends_is_reported_text(converter):
    values, report = typed(converter, "VR", "10")
    assert values == {"valueString": "10"}
    assert report == unreadable("VR")


def test_repeating_names_are_one_per_line(converter):
    values, report = typed(converter, "XCN", "1001^张^三~1002^欧阳^娜娜")
    assert values == {"valueString": "张三 (1001)\n欧阳娜娜 (1002)"}
    assert report == as_text("XCN")


# Other variations of results messages -----------------------------------------------------------------------

SUB_ID = "http://hl7.org/fhir/StructureDefinition/observation-v2-subid"


def test_the_sub_id_that_groups_results_is_kept_for_the_receiver(converter):
    # a culture: the organism (isolate 1) and its susceptibilities share OBX-4 1; a v2.8.2 OG sub-id in full
    culture = "OBR|1|P1|F1|CUL^尿培养^L|||20260315080000|||||||||||||||||MB|F"
    organism = "OBX|1|CWE|ORG^细菌^L|1|ECO^大肠埃希菌^L||||||F"
    amikacin = "OBX|2|ST|AMK^阿米卡星^L|1|S||||||F"
    grouped = "OBX|3|ST|GEN^庆大霉素^L|1^2^3^ISO-1|R||||||F"
    bundle = convert(converter, message(PID, culture, organism, amikacin, grouped))
    (sub_id,) = by_code(bundle, "ORG")["extension"]
    assert sub_id == {"url": SUB_ID, "extension": [{"url": "original-sub-identifier", "valueString": "1"}]}
    assert by_code(bundle, "AMK")["extension"] == [sub_id]
    assert by_code(bundle, "GEN")["extension"] == [
        {
            "url": SUB_ID,
            "extension": [
                {"url": "original-sub-identifier", "valueString": "1"},
                {"url": "group", "valueDecimal": 2},
                {"url": "sequence", "valueDecimal": 3},
                {"url": "identifier", "valueString": "ISO-1"},
            ],
        }
    ]
    # without OBX-4, no extension
    assert "extension" not in by_code(convert(converter, message(PID, culture, GLU)), "GLU")


def test_results_of_two_patients_in_one_message_stay_each_patients(converter):
    # two PATIENT_RESULT groups, with orders, and without (OBX right after each PID)
    other = "PID|2||MRN0002^^^SZRMYY^MR||王^五||19800101|M"
    for first, second in (
        (["OBR|1|P1|F1|GLU^血糖^L|||20260315080000|||||||||||||||||CH|F", GLU], ["OBR|1|P2|F2|K^钾^L", K]),
        ([GLU], [K]),
    ):
        bundle = convert(converter, message(PID, *first, other, *second))
        li, wang = sorted(resources(bundle, "Patient"), key=lambda p: p["identifier"][0]["value"])
        assert by_code(bundle, "GLU")["subject"] == ref(li)
        assert by_code(bundle, "K")["subject"] == ref(wang)
        for report in resources(bundle, "DiagnosticReport"):
            (result,) = report["result"]
            observation = by_code(bundle, "GLU" if report["subject"] == ref(li) else "K")
            assert result == ref(observation)


def test_an_order_without_results_is_a_report_without_results(converter):
    # a preliminary report whose results are not out yet (OBR-25 I: in process)
    bundle = convert(converter, message(PID, "OBR|1|P1|F1|CBC^血常规^L|||20260315080000|||||||||||||||||HM|I"))
    report = one(bundle, "DiagnosticReport")
    assert report["status"] == "registered"
    assert report["category"][0]["coding"][0]["code"] == "HM"
    assert "result" not in report
    assert resources(bundle, "Observation") == []


PATIENT_NOTE = "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note"


def test_a_patients_comment_is_a_note_of_the_results_of_an_order_without_its_obr(converter):
    # PID, NTE, ORC, OBX (no OBR: no report), ORC, OBR, OBX: the report carries the patient's note (a91165a), and
    # the results that no report carries do themselves, as results sent without any OBR
    bundle = convert(
        converter,
        message(PID, "NTE|1||患者空腹", "ORC|RE|P1^HIS|F1^LIS", GLU, "ORC|RE|P2^HIS", OBR.replace("P100", "P2"), K),
    )
    assert by_code(bundle, "GLU")["note"] == [{"text": "患者空腹"}]
    assert "note" not in by_code(bundle, "K")  # its report's note
    assert one(bundle, "DiagnosticReport")["extension"] == [
        {"url": PATIENT_NOTE, "valueAnnotation": {"text": "患者空腹"}}
    ]


def test_a_patients_comment_is_not_a_note_of_an_observation_about_the_patient_beside_a_report(converter):
    # v2.8 PATIENT_OBSERVATION (the weight, right after the PID) beside an order with its OBR: the report carries
    # the patient's note; the weight is no result without a report
    weight = "OBX|1|NM|29463-7^体重^LN||62.5|kg|||||F"
    bundle = convert(converter, message(PID, "NTE|1||患者空腹", weight, OBR, GLU))
    assert "note" not in by_code(bundle, "29463-7")
    assert "note" not in by_code(bundle, "GLU")
    assert one(bundle, "DiagnosticReport")["extension"] == [
        {"url": PATIENT_NOTE, "valueAnnotation": {"text": "患者空腹"}}
    ]


def test_results_of_an_order_sent_without_its_obr_name_the_order(converter):
    # ORC, OBX (no OBR): no report, so each result names the order by its placer number (ORC-2)
    bundle = convert(
        converter, message(PID, "ORC|RE|P1^HIS|F1^LIS", GLU, "ORC|RE|P2^HIS", OBR.replace("P100", "P2"), K)
    )
    assert by_code(bundle, "GLU")["basedOn"] == [
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "P1"}}
    ]
    # a result with its OBR is its report's; the report names the order
    assert "basedOn" not in by_code(bundle, "K")
    report = one(bundle, "DiagnosticReport")
    assert report["result"] == [ref(by_code(bundle, "K"))]
    assert {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "P2"}} in report["basedOn"]


def test_a_report_without_order_numbers_is_the_patients_test_at_its_collection_time(converter):
    # OBR-2, OBR-3 empty and no ORC: keyed on the patient, OBR-4 and OBR-7, so the correction sent later replaces
    bare = "OBR|1|||GLU^血糖^L|||20260315080000|||||||||||||||||CH|{status}"
    first = convert(converter, message(PID, bare.format(status="P"), GLU, control="B1"))
    corrected = obx(1, "GLU^血糖^L", "5.9", units="mmol/L", status="C", when="20260315080000")
    second = convert(converter, message(PID, bare.format(status="C"), corrected, control="B2"))
    assert one(second, "DiagnosticReport")["id"] == one(first, "DiagnosticReport")["id"]
    assert one(second, "DiagnosticReport")["status"] == "corrected"
    assert by_code(second, "GLU")["id"] == by_code(first, "GLU")["id"]
    # another collection time, or another patient: another report
    later = convert(converter, message(PID, bare.format(status="F").replace("20260315", "20260316"), control="B3"))
    assert one(later, "DiagnosticReport")["id"] != one(first, "DiagnosticReport")["id"]
    other = convert(converter, message("PID|1||MRN0002^^^SZRMYY^MR", bare.format(status="F"), control="B4"))
    assert one(other, "DiagnosticReport")["id"] != one(first, "DiagnosticReport")["id"]
    # no collection time either: the report stays its message's
    untimed = "OBR|1|||GLU^血糖^L||||||||||||||||||||CH|F"
    one_message = one(convert(converter, message(PID, untimed, control="B5")), "DiagnosticReport")
    another = one(convert(converter, message(PID, untimed, control="B6")), "DiagnosticReport")
    assert one_message["id"] != another["id"]


def test_a_result_message_without_an_order_or_a_result_is_refused(converter):
    # MSH, PID, PV1 and nothing else: nothing to report (message template key 'requires: [OBR, OBX]')
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(message(PID, PV1)))
    assert caught.value.location == "OBR^1"
    assert "OBR, OBX" in caught.value.message


def test_requires_names_segments(tmp_path):
    mappings = mappings_copy(tmp_path)
    template = mappings / "message" / "ORU_R01.yaml"
    template.write_text(template.read_text(encoding="utf-8").replace("requires: [OBR, OBX]", "requires: [obr]"))
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(mappings)
    assert "'requires' lists segment ids" in str(caught.value)


@pytest.mark.parametrize(
    ("sent", "changed", "error"),
    [
        ("carried_by: [report, observation,", "carried_by: [reports, observation,", "names no resource rule: reports"),
        ("within: PATIENT_RESULT", "within: ORDER_OBSERVATION", "'within: ORDER_OBSERVATION' is no group of"),
        ("- for: PATIENT_RESULT.PATIENT.NTE", "- for: PATIENT_RESULT.NTE", "PATIENT_RESULT.NTE' is not a segment"),
    ],
)
def test_unmapped_names_a_segment_its_group_and_rules(tmp_path, sent, changed, error):
    mappings = mappings_copy(tmp_path)
    template = mappings / "message" / "ORU_R01.yaml"
    text = template.read_text(encoding="utf-8")
    assert text.count(sent) == 1
    template.write_text(text.replace(sent, changed))
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(mappings)
    assert error in str(caught.value)
