"""Lab results as real senders write them: value types, reference ranges, units and flags beyond the textbook.

Each message is small; the comment on an OBX says what about it varies. The expectations follow the v2 standard
(OBX field definitions, tables 0078, 0085, 0125) and the v2-to-FHIR IG (OBX[Observation] row 5 per value type,
row 7 reference range text with low/high "if sufficiently parseable").
"""

from __future__ import annotations

import pytest

from hub.config import Settings
from hub.hl7 import er7
from hub.mapping import convert_bytes_with_report
from hub.mapping.builtins import reference_bounds

from .conftest import convert, one, ref, resources

UCUM = "http://unitsofmeasure.org"

MSH = "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|V{n}|P|2.5.1"
PID = "PID|1||MRN0001^^^SZRMYY^MR||李^四||19750505|F"
OBR = "OBR|1|P100^HIS|F200^LIS|24323-8^CMP^LN|||20260315080000|||||||||||||||20260315091500||CH|F"


def oru(*segments: str, n: int = 1) -> str:
    return "\r".join([MSH.format(n=n), PID, OBR, *segments]) + "\r"


def observation(bundle, code):
    (found,) = [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == code]
    return found


def units(text, code=None):
    unit = {"unit": text}
    if code is not None:
        unit.update(system=UCUM, code=code)
    return unit


# Reference ranges (OBX-7) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("3.9-6.1", (3.9, 6.1)),
        ("3.9 - 6.1", (3.9, 6.1)),
        ("3.9～6.1", (3.9, 6.1)),  # full-width tilde
        ("3.9--6.1", (3.9, 6.1)),  # a doubled separator, not a negative upper limit
        ("-3.0-+3.0", (-3.0, 3.0)),  # base excess
        ("-3--1", (-3, -1)),  # two negative limits
        ("3.5-5.5mmol/L", (3.5, 5.5)),  # the unit glued on
        ("(3.8-5.1)", (3.8, 5.1)),
        ("<5.2", (None, 5.2)),
        ("≤40", (None, 40)),
        ("<= 40 U/L", (None, 40)),
        (">1.0", (1.0, None)),
        ("≥110", (110, None)),
        ("0-", (0, None)),  # no upper limit given
        ("阴性", None),  # negative: text only
        ("<1:20", None),  # a titre: not a number with a unit ":20"
        ("1:20-1:40", None),
        ("6.1-3.9", None),  # low above high: not guessed
        ("", None),
    ],
)
def test_reference_range_texts(text, bounds):
    assert reference_bounds(text) == bounds


def test_a_range_with_an_unescaped_tilde_is_one_range(converter):
    # "3.9~6.1": Chinese LIS write the tilde unescaped, which v2 reads as two repetitions of a field that does not
    # repeat. It is one range, its text as the sender wrote it.
    bundle = convert(
        converter,
        oru(
            "OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|3.9~6.1|N|||F",
            "OBX|2|NM|RBC-U^尿红细胞^L||2.1|个/HP|0~5||||F",
        ),
    )
    mmol = units("mmol/L", "mmol/L")
    assert observation(bundle, "GLU")["referenceRange"] == [
        {"low": {"value": 3.9, **mmol}, "high": {"value": 6.1, **mmol}, "text": "3.9~6.1"}
    ]
    # a unit UCUM does not know stays text, on the range as on the value
    urine = observation(bundle, "RBC-U")
    assert urine["valueQuantity"] == {"value": 2.1, "unit": "个/HP"}
    assert urine["referenceRange"] == [
        {"low": {"value": 0, "unit": "个/HP"}, "high": {"value": 5, "unit": "个/HP"}, "text": "0~5"}
    ]


def test_ranges_that_are_not_numbers_stay_text(converter):
    bundle = convert(
        converter,
        oru(
            "OBX|1|ST|HBSAG^乙肝表面抗原^L||阴性||阴性|N|||F",
            "OBX|2|SN|ANA^抗核抗体^L||^1^:^40||<1:20|A|||F",
        ),
    )
    assert observation(bundle, "HBSAG")["referenceRange"] == [{"text": "阴性"}]
    assert observation(bundle, "ANA")["referenceRange"] == [{"text": "<1:20"}]
    assert observation(bundle, "ANA")["valueRatio"] == {"numerator": {"value": 1}, "denominator": {"value": 40}}


# Units (OBX-6) ---------------------------------------------------------------------------------------------


def test_a_power_of_ten_unit_sent_with_its_caret_unescaped(converter):
    # 10^9/L is OBX-6.1 "10", OBX-6.2 "9/L" to a v2 parser; read together it is UCUM 10*9/L
    bundle = convert(
        converter,
        oru(
            "OBX|1|NM|WBC^白细胞^L||6.5|10^9/L|3.5-9.5||||F",
            "OBX|2|NM|RBC^红细胞^L||4.5|x10^12/L|3.8-5.1||||F",
            "OBX|3|NM|PLT^血小板^L||210|10\\S\\9/L|125-350||||F",  # escaped, as v2 wants it
            "OBX|4|NM|CD4^CD4^L||500|10^6/uL|||||F",
        ),
    )
    wbc = observation(bundle, "WBC")
    assert wbc["valueQuantity"] == {"value": 6.5, **units("10^9/L", "10*9/L")}
    assert wbc["referenceRange"][0]["low"] == {"value": 3.5, **units("10^9/L", "10*9/L")}
    assert observation(bundle, "RBC")["valueQuantity"] == {"value": 4.5, **units("x10^12/L", "10*12/L")}
    assert observation(bundle, "PLT")["valueQuantity"] == {"value": 210, **units("10^9/L", "10*9/L")}
    assert observation(bundle, "CD4")["valueQuantity"] == {"value": 500, **units("10^6/uL", "10*6/uL")}


# Value types (OBX-2, OBX-5) -------------------------------------------------------------------------------


def test_structured_numerics_in_every_form(converter):
    bundle = convert(
        converter,
        oru(
            "OBX|1|SN|A^A^L||>^5|mmol/L|||||F",
            "OBX|2|SN|B^B^L||<=^0.1|mmol/L|||||F",
            "OBX|3|SN|C^C^L||^3^-^5|/HP|||||F",  # a range
            "OBX|4|SN|D^D^L||^1^:^40|||||F",  # a ratio (a titre)
            "OBX|5|SN|E^E^L||=^7.2|mmol/L|||||F",
            "OBX|6|SN|F^F^L||^2^+|||||F",  # "2+": text
            "OBX|7|SN|G^G^L||5.6|mmol/L|||||F",  # an SN sent as a plain number
            "OBX|8|SN|H^H^L||>5|mmol/L|||||F",  # … with its comparator in the same component
            "OBX|9|SN|I^I^L||1:40|||||F",  # … a ratio in one component
            "OBX|10|SN|J^J^L||阳性|||||F",  # not a number at all: text
        ),
    )
    mmol = units("mmol/L", "mmol/L")
    assert observation(bundle, "A")["valueQuantity"] == {"value": 5, "comparator": ">", **mmol}
    assert observation(bundle, "B")["valueQuantity"] == {"value": 0.1, "comparator": "<=", **mmol}
    assert observation(bundle, "C")["valueRange"] == {
        "low": {"value": 3, "unit": "/HP"},
        "high": {"value": 5, "unit": "/HP"},
    }
    assert observation(bundle, "D")["valueRatio"] == {"numerator": {"value": 1}, "denominator": {"value": 40}}
    assert observation(bundle, "E")["valueQuantity"] == {"value": 7.2, **mmol}
    assert observation(bundle, "F")["valueString"] == "2+"
    assert observation(bundle, "G")["valueQuantity"] == {"value": 5.6, **mmol}
    assert observation(bundle, "H")["valueQuantity"] == {"value": 5, "comparator": ">", **mmol}
    assert observation(bundle, "I")["valueRatio"] == {"numerator": {"value": 1}, "denominator": {"value": 40}}
    assert observation(bundle, "J")["valueString"] == "阳性"


def test_numbers_with_comparators_sent_as_nm(converter):
    bundle = convert(
        converter,
        oru(
            "OBX|1|NM|A^A^L||>1000|U/L|||||F",
            "OBX|2|NM|B^B^L||< 0.5|U/L|||||F",
            "OBX|3|NM|C^C^L||-1.5|mmol/L|-3.0-+3.0||||F",
        ),
    )
    assert observation(bundle, "A")["valueQuantity"] == {"value": 1000, "comparator": ">", **units("U/L", "U/L")}
    assert observation(bundle, "B")["valueQuantity"] == {"value": 0.5, "comparator": "<", **units("U/L", "U/L")}
    c = observation(bundle, "C")
    assert c["valueQuantity"]["value"] == -1.5
    assert (c["referenceRange"][0]["low"]["value"], c["referenceRange"][0]["high"]["value"]) == (-3.0, 3.0)


def test_a_value_without_its_value_type_says_what_it_is(converter):
    # OBX-2 is required when OBX-5 is valued; senders leave it out, or put something that is no v2 type
    bundle = convert(
        converter,
        oru(
            "OBX|1||A^A^L||5.2|mmol/L|3.9-6.1||||F",
            "OBX|2||B^B^L||<0.5|mmol/L|||||F",
            "OBX|3||C^C^L||阴性||||||F",
            "OBX|4|NUM|D^D^L||7|||||F",
        ),
    )
    assert observation(bundle, "A")["valueQuantity"] == {"value": 5.2, **units("mmol/L", "mmol/L")}
    assert observation(bundle, "A")["referenceRange"][0]["high"]["value"] == 6.1
    assert observation(bundle, "B")["valueQuantity"]["comparator"] == "<"
    assert observation(bundle, "C")["valueString"] == "阴性"
    assert observation(bundle, "D")["valueQuantity"] == {"value": 7}


def test_numeric_and_date_ranges(converter):
    # IG OBX[Observation] row 5: NR → valueRange, DR → valuePeriod
    bundle = convert(
        converter,
        oru(
            "OBX|1|NR|A^A^L||3.5^5.5|mmol/L|||||F",
            "OBX|2|DR|B^B^L||20260101^20260201|||||F",
        ),
    )
    mmol = units("mmol/L", "mmol/L")
    assert observation(bundle, "A")["valueRange"] == {"low": {"value": 3.5, **mmol}, "high": {"value": 5.5, **mmol}}
    assert observation(bundle, "B")["valuePeriod"] == {"start": "2026-01-01", "end": "2026-02-01"}


def test_text_values_and_the_hl7_null(converter):
    bundle = convert(
        converter,
        oru(
            "OBX|1|FT|A^A^L||第一行\\.br\\第二行|||||F",
            "OBX|2|TX|B^B^L||line one~line two|||||F",
            'OBX|3|ST|C^C^L||""|||||F',
            "OBX|4|ST|D^D^L||阳性(+)||阴性|↑|||F",
        ),
    )
    assert observation(bundle, "A")["valueString"] == "第一行\n第二行"
    assert observation(bundle, "B")["valueString"] == "line one\nline two"
    assert not any(key.startswith("value") for key in observation(bundle, "C"))
    d = observation(bundle, "D")
    assert d["valueString"] == "阳性(+)"
    assert d["interpretation"][0]["coding"][0]["code"] == "H"
    # the report still lists all four
    assert len(one(bundle, "DiagnosticReport")["result"]) == 4


# Participations (v2.7+ PRT), OBX-16/18/25, OBR-34 ------------------------------------------------------------


def practitioner(ident, name):
    return {"type": "Practitioner", "identifier": {"system": "urn:hub:id:SZRMYY", "value": ident}, "display": name}


PARTICIPATIONS = [
    # the patient's primary care provider (a patient PRT) is no observer of the patient's OBX
    "PRT|1|AD||PP^Primary Care Provider^HL70443|D100^王^医生^^^^^^SZRMYY",
    "OBX|1|NM|29463-7^Body weight^LN||62.5|kg|||||F|||20260315080000",
    "PRT|2|AD||RO^Responsible Observer^HL70443|N200^护士^甲^^^^^^SZRMYY",
    "ORC|RE|P100^HIS|F200^LIS",
    "PRT|3|AD||OP^Ordering Provider^HL70443|D300^张^医生^^^^^^SZRMYY",
    # OBR-34 technician (NDL: a CNN in the first component)
    "OBR|1|P100^HIS|F200^LIS|24323-8^CMP^LN|||20260315080000|||||||||||||||20260315091500||CH|F||||||||||T01&技师&甲",
    "PRT|4|AD||PRI^Principal Result Interpreter^HL70443|D400^李^主任^^^^^^SZRMYY",
    "PRT|5|AD||TN^Technician^HL70443|T500^赵^技师^^^^^^SZRMYY",
    "PRT|6|AD||PO^Performing Organization^HL70443||||检验科^^^^^SZRMYY&2.16.156.1&ISO^^^^LAB01",
    "PRT|7|AD||SC^Specimen Collector^HL70443|N600^钱^护士^^^^^^SZRMYY",
    # OBX-18 equipment instance, OBX-25 performing organization medical director
    "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|3.9-6.1|N|||F|||20260315083000||||ANALYZER-7^LIS|||||||"
    "D900^孙^主任^^^^^^SZRMYY",
    "PRT|8|AD||RO^Responsible Observer^HL70443|T800^周^技师^^^^^^SZRMYY",
    "PRT|9|D||VP^Verifying Provider^HL70443|T801^吴^技师",  # PRT-2 D: withdrawn
    "PRT|10|DE||RO^Responsible Observer^HL70443|T802^郑^技师",  # PRT-2 DE (table 0287 delete): withdrawn
    "SPM|1|S1^S9001&LIS||SER^Serum^HL70487|||||||||||||20260315080000|202603150830",
]


def v28_oru():
    segments = [MSH.format(n=9).replace("|2.5.1", "|2.8"), PID, *PARTICIPATIONS]
    return "\r".join(segments) + "\r"


def test_participations_of_a_result(converter):
    bundle = convert(converter, v28_oru())
    report = one(bundle, "DiagnosticReport")
    # IG ORU_R01 row 4.2.4: PRI → resultsInterpreter; TN → performer; PO → the performing organisation
    assert report["resultsInterpreter"] == [practitioner("D400", "李主任")]
    assert report["performer"] == [
        {"identifier": {"value": "T01"}, "display": "技师甲"},
        practitioner("T500", "赵技师"),
        {
            "type": "Organization",
            "identifier": {"system": "urn:oid:2.16.156.1", "value": "LAB01"},
            "display": "检验科",
        },
    ]
    glucose = observation(bundle, "2345-7")
    # OBX-25 (medical director), then the OBX's own PRT (IG row 4.2.4.3.2); the withdrawn one is left out
    assert glucose["performer"] == [
        {"identifier": {"system": "urn:hub:id:SZRMYY", "value": "D900"}, "display": "孙主任"},
        practitioner("T800", "周技师"),
    ]
    assert glucose["device"] == {"type": "Device", "identifier": {"system": "urn:hub:id:LIS", "value": "ANALYZER-7"}}
    assert observation(bundle, "29463-7")["performer"] == [practitioner("N200", "护士甲")]
    # IG ORU_R01 row 4.2.4: SC → the specimen's collector
    assert one(bundle, "Specimen")["collection"]["collector"] == practitioner("N600", "钱护士")


def test_the_ordering_provider_participation_of_an_order(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315093000||OML^O21^OML_O21|O1|P|2.8",
            PID,
            "ORC|NW|P100^HIS||G1^HIS|||||20260315080000",
            "PRT|1|AD||OP^Ordering Provider^HL70443|D300^张^医生^^^^^^SZRMYY",
            "TQ1|1||||||20260315090000|20260315100000|S^Stat^HL70485",
            "OBR|1|P100^HIS||24323-8^CMP^LN",
            "PRT|2|AD||SC^Specimen Collector^HL70443|N600^钱^护士^^^^^^SZRMYY",
            "SPM|1|S1^||SER^Serum^HL70487|||||||||||||20260315080000",
            "ORC|CA|P101^HIS",
            "PRT|3|AD||OP^Ordering Provider^HL70443|D301^孙^医生^^^^^^SZRMYY",
        ]
    )
    bundle = convert(converter, text + "\r")
    placed, cancelled = resources(bundle, "ServiceRequest")
    # IG OML_O21 row 6.4.4: OP → requester
    assert placed["requester"] == practitioner("D300", "张医生")
    assert placed["status"] == "active"
    assert placed["priority"] == "stat"
    assert placed["occurrencePeriod"] == {"start": "2026-03-15T09:00:00+08:00", "end": "2026-03-15T10:00:00+08:00"}
    assert one(bundle, "Specimen")["collection"]["collector"] == practitioner("N600", "钱护士")
    # a cancel sent as ORC (+ PRT) alone
    assert cancelled["status"] == "revoked"
    assert cancelled["requester"] == practitioner("D301", "孙医生")


# Result status (OBX-11) ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "status"),
    [
        # IG ConceptMap table-hl70085-to-observation-status
        ("F", "final"),
        ("P", "preliminary"),
        ("C", "corrected"),
        ("A", "amended"),
        ("D", "entered-in-error"),
        ("W", "entered-in-error"),
        ("X", "cancelled"),
        ("f", "final"),
        # v2 table 0085: U changes a result sent before to final (not mapped by the IG; its meaning is plain)
        ("U", "final"),
        # codes the IG does not map: the status is required, so it is unknown
        ("R", "unknown"),
        ("I", "unknown"),
        ("", "unknown"),
    ],
)
def test_result_statuses(converter, sent, status):
    bundle = convert(converter, oru(f"OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|||||{sent}"))
    assert observation(bundle, "GLU")["status"] == status


def test_a_correction_replaces_and_a_deletion_withdraws_the_same_observation(converter):
    # the same order (filler number) and test: the same resource, version after version
    first = convert(converter, oru("OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|3.9-6.1|N|||F", n=1))
    corrected = convert(converter, oru("OBX|1|NM|GLU^葡萄糖^L||7.2|mmol/L|3.9-6.1|H|||C", n=2))
    deleted = convert(converter, oru("OBX|1|NM|GLU^葡萄糖^L||||||||D", n=3))
    cancelled = convert(converter, oru("OBX|1|NM|GLU^葡萄糖^L||||||||X", n=4))
    versions = [observation(b, "GLU") for b in (first, corrected, deleted, cancelled)]
    assert len({v["id"] for v in versions}) == 1
    assert [v["status"] for v in versions] == ["final", "corrected", "entered-in-error", "cancelled"]
    assert versions[1]["valueQuantity"]["value"] == 7.2
    assert versions[1]["interpretation"][0]["coding"][0]["code"] == "H"
    assert not any(key.startswith("value") for key in versions[2])
    assert not any(key.startswith("value") for key in versions[3])
    assert one(deleted, "DiagnosticReport")["result"] == [{"reference": f"Observation/{versions[2]['id']}"}]


def test_an_observation_not_asked_says_why_it_has_no_value(converter):
    # OBX-11 N (IG OBX[Observation] row 11): dataAbsentReason not-asked, only when there is no value
    bundle = convert(converter, oru("OBX|1|NM|A^A^L||||||||N", "OBX|2|NM|B^B^L||5|||||N"))
    not_asked = observation(bundle, "A")
    assert not_asked["dataAbsentReason"]["coding"][0]["code"] == "not-asked"
    assert not_asked["status"] == "unknown"
    assert "dataAbsentReason" not in observation(bundle, "B")


# Abnormal flags (OBX-8) and units as Chinese LIS send them ----------------------------------------------


@pytest.mark.parametrize(
    ("flag", "code"),
    [
        ("H", "H"),
        ("h", "H"),  # lower case
        ("HH", "HH"),
        ("LL", "LL"),
        ("A", "A"),
        ("AA", "AA"),
        ("N", "N"),
        ("<", "<"),
        (">", ">"),
        ("↑", "H"),
        ("↓", "L"),
        ("↑↑", "HH"),
        ("↓↓", "LL"),
        ("高", "H"),
        ("低", "L"),
        ("异常", "A"),
        ("阳性", "POS"),
    ],
)
def test_abnormal_flags(converter, flag, code):
    bundle = convert(converter, oru(f"OBX|1|NM|GLU^葡萄糖^L||9.9|mmol/L|3.9-6.1|{flag}|||F"))
    (interpretation,) = observation(bundle, "GLU")["interpretation"]
    translated = interpretation["coding"][0]
    assert translated["system"] == "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    assert translated["code"] == code
    # as sent; a table code sent in lower case in its system's spelling (v2-0078 has H, not h)
    assert interpretation["coding"][1]["code"] == ("H" if flag == "h" else flag)


def test_an_unknown_flag_is_kept_as_sent(converter):
    bundle = convert(converter, oru("OBX|1|NM|GLU^葡萄糖^L||9.9|mmol/L|3.9-6.1|XYZ|||F"))
    assert observation(bundle, "GLU")["interpretation"] == [{"coding": [{"code": "XYZ"}]}]


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ("秒", "s"),
        ("克/升", "g/L"),
        ("毫摩尔/升", "mmol/L"),
        ("微摩尔/升", "umol/L"),
        ("单位/升", "U/L"),
        ("国际单位/毫升", "[IU]/mL"),
        ("μg/L", "ug/L"),
        ("mmol/l", "mmol/L"),
        ("g/l", "g/L"),
    ],
)
def test_units_written_in_chinese_or_loosely(converter, sent, code):
    bundle = convert(converter, oru(f"OBX|1|NM|X^X^L||1.5|{sent}|||||F"))
    assert observation(bundle, "X")["valueQuantity"] == {"value": 1.5, "unit": sent, "system": UCUM, "code": code}


def test_a_unit_ucum_does_not_have_is_kept_as_text(converter):
    bundle = convert(converter, oru("OBX|1|NM|X^X^L||2|个/HP|||||F", "OBX|2|NM|Y^Y^L||5|分|||||F"))
    assert observation(bundle, "X")["valueQuantity"] == {"value": 2, "unit": "个/HP"}
    assert observation(bundle, "Y")["valueQuantity"] == {"value": 5, "unit": "分"}  # a score's points, not minutes


# Message structure: several patients, notes at every level, a specimen in several containers, GB18030 -----


CHINESE_LIS = [
    "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|C9|P|2.5.1||||||GB18030",
    "PID|1||MRN0001^^^SZRMYY^MR||李四||19750505|F",
    "NTE|1||患者备注",  # a note on the patient: the IG maps it to nothing; the notes of the patient's reports
    "PV1|1|O|||||||||||||||||V0001^^^SZRMYY^VN",
    "ORC|RE|P100^HIS|F200^LIS",
    "OBR|1|P100^HIS|F200^LIS|BIO^生化全套^L|||20260315080000|||||||||||||||20260315091500||CH|F",
    "NTE|1||标本轻度溶血",  # a note on the order: R4's DiagnosticReport has no note; the IG maps it to nothing
    "OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|3.9~6.1|N|||F",
    "NTE|1||空腹",
    "NTE|2||复查",
    "OBX|2|NM|WBC^白细胞计数^L||12.5|10^9/L|3.5-9.5|↑|||F",
    # SPM-27 container type, repeating: the specimen in two tubes
    "SPM|1|S1^S9001&LIS||SER^血清^HL70487|||||||||||||20260315080000|202603150830|||||||||"
    "SST^促凝管^HL70785~EDTA^紫帽管^HL70785",
    "OBX|1|NM|VOL^标本量^L||5|mL|||||F",  # an observation about the specimen: not a result of the report
    # a second patient, with an order and a result of their own
    "PID|1||MRN0002^^^SZRMYY^MR||王五||19800101|M",
    "ORC|RE|P101^HIS|F201^LIS",
    "OBR|1|P101^HIS|F201^LIS|HGB^血红蛋白^L|||20260315081000|||||||||||||||20260315092000||HM|P",
    "OBX|1|NM|HGB^血红蛋白^L||135|g/L|130-175|N|||P",
]


def test_a_chinese_lis_message_with_two_patients(tmp_path):
    raw = ("\r".join(CHINESE_LIS) + "\r").encode("gb18030")
    conversion = convert_bytes_with_report(raw, Settings(data_dir=tmp_path))
    bundle = conversion.bundle
    first, second = resources(bundle, "Patient")
    assert [p["name"][0]["text"] for p in (first, second)] == ["李四", "王五"]
    chemistry, blood_count = resources(bundle, "DiagnosticReport")
    glucose, wbc, hgb = (observation(bundle, code) for code in ("GLU", "WBC", "HGB"))
    volume = observation(bundle, "VOL")
    specimen = one(bundle, "Specimen")
    # each patient's report has its own results, subject and (for the first) visit
    assert chemistry["result"] == [ref(glucose), ref(wbc)]
    assert blood_count["result"] == [ref(hgb)]
    assert chemistry["subject"] == glucose["subject"] == specimen["subject"] == ref(first)
    assert blood_count["subject"] == hgb["subject"] == ref(second)
    assert "encounter" not in blood_count and "encounter" not in hgb
    assert (chemistry["status"], blood_count["status"], hgb["status"]) == ("final", "preliminary", "preliminary")
    # local codes kept, with their Chinese names, and reported unmapped
    assert chemistry["code"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "BIO", "display": "生化全套"}],
        "text": "生化全套",
    }
    assert glucose["code"] == {
        "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "GLU", "display": "葡萄糖"}],
        "text": "葡萄糖",
    }
    unmapped = {(r["value"], r["location"]) for r in conversion.report if r["code"] == "unmapped-local-code"}
    assert {("BIO", "OBR^1^4"), ("GLU", "OBX^1^3"), ("WBC", "OBX^2^3"), ("HGB", "OBR^2^4")} <= unmapped
    # notes: the OBX's own, in order; none from the patient's or the order's NTE
    assert glucose["note"] == [{"text": "空腹"}, {"text": "复查"}]
    assert "note" not in wbc and "note" not in hgb
    # the order's note is the report's, as R5's DiagnosticReport.note (R4 has none; the IG maps it to nothing), after
    # the patient's (R4's Patient has no note): the second patient's report has neither
    assert chemistry["extension"] == [
        {
            "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note",
            "valueAnnotation": {"text": "患者备注"},
        },
        {
            "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note",
            "valueAnnotation": {"text": "标本轻度溶血"},
        },
    ]
    assert "extension" not in blood_count
    # values as the Chinese LIS sent them
    assert glucose["referenceRange"][0]["low"]["value"] == 3.9
    assert wbc["valueQuantity"]["code"] == "10*9/L"
    assert wbc["interpretation"][0]["coding"][0]["code"] == "H"
    # the specimen, its two containers, its own observation (not a result)
    assert [c["type"]["text"] for c in specimen["container"]] == ["促凝管", "紫帽管"]
    assert specimen["type"]["text"] == "血清"
    assert chemistry["specimen"] == [ref(specimen)]
    assert volume["specimen"] == ref(specimen)
    assert ref(volume) not in chemistry["result"]
    assert "specimen" not in blood_count


def test_the_patient_s_notes_are_not_notes_of_the_patient_s_observations(converter):
    # v2.8 PATIENT_OBSERVATION is OBX and its PRT; an NTE of the PATIENT group is the patient's (the IG maps it to
    # nothing), not a note on every OBX about the patient
    text = "\r".join(
        [
            MSH.format(n=10),
            PID,
            "NTE|1||patient note",
            "OBX|1|NM|29463-7^Body weight^LN||62.5|kg|||||F|||20260315080000",
            "PRT|1|AD||RO^Responsible Observer^HL70443|N200^护士^甲^^^^^^SZRMYY",
            "OBX|2|NM|8302-2^Body height^LN||170|cm|||||F|||20260315080000",
            "PV1|1|O|||||||||||||||||V0001^^^SZRMYY^VN",
            OBR,
            "OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|||||F",
            "NTE|1||obx note",
        ]
    )
    bundle = convert(converter, text + "\r")
    weight, height, glucose = (observation(bundle, code) for code in ("29463-7", "8302-2", "GLU"))
    assert "note" not in weight and "note" not in height
    assert weight["performer"] == [practitioner("N200", "护士甲")]
    assert "performer" not in height
    assert glucose["note"] == [{"text": "obx note"}]
    assert one(bundle, "DiagnosticReport")["result"] == [ref(glucose)]


def test_the_time_of_the_analysis(converter):
    # OBX-19 (v2.5+): IG OBX[Observation] row 19, the extension observation-analysis-date-time; OBX-14 stays the
    # time of the observation (the specimen's collection)
    bundle = convert(converter, oru("OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|||||F|||20260315080000|||||20260315084500"))
    glucose = observation(bundle, "GLU")
    assert glucose["effectiveDateTime"] == "2026-03-15T08:00:00+08:00"
    assert glucose["extension"] == [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/observation-analysis-date-time",
            "valueDateTime": "2026-03-15T08:45:00+08:00",
        }
    ]


def test_a_report_names_its_order_by_the_placer_s_number(converter):
    # the ServiceRequest the order message made carries the identifier the result's report is based on
    order = convert(
        converter,
        "\r".join(
            [
                "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315070000||ORM^O01^ORM_O01|O9|P|2.5.1",
                PID,
                "ORC|NW|P100^HIS||||||||||D001^张^医生",
                "OBR|1|P100^HIS||24323-8^CMP^LN",
            ]
        )
        + "\r",
    )
    placed = one(order, "ServiceRequest")
    report = one(convert(converter, oru("OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|||||F")), "DiagnosticReport")
    assert report["basedOn"] == [
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:HIS", "value": "P100"}}
    ]
    assert report["basedOn"][0]["identifier"] == {k: placed["identifier"][0][k] for k in ("system", "value")}


def test_a_note_says_who_wrote_it_and_when(converter):
    # IG NTE[Observation]: NTE-3 text (repetitions are lines), NTE-5 entered by, NTE-6 entered date/time (v2.6+)
    bundle = convert(
        converter,
        oru(
            "OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|||||F",
            "NTE|1|L|标本溶血~请复查|RE|T01^赵^技师^^^^^^SZRMYY|20260315090000",
        ),
    )
    assert observation(bundle, "GLU")["note"] == [
        {
            "text": "标本溶血\n请复查",
            "authorReference": {"identifier": {"system": "urn:hub:id:SZRMYY", "value": "T01"}, "display": "赵技师"},
            "time": "2026-03-15T09:00:00+08:00",
        }
    ]


def spm(**fields: str) -> str:
    values = [""] * 32
    for name, value in fields.items():
        values[int(name[1:])] = value
    values[0], values[1] = "SPM", values[1] or "1"
    return "|".join(values).rstrip("|")


def test_a_specimen_field_by_field(converter):
    # IG SPM[Specimen]: 2 ids, 3 parent, 4 type, 6 additive, 7 method, 8 site, 12 amount (CQ), 17 collected,
    # 18 received, 27 container, 30 accession, 31 other ids
    aliquot = spm(
        f2="S1A^S9001A&LIS",
        f3="^S9001&LIS",
        f4="SER^Serum^HL70487",
        f6="HEPL^Lithium heparin^HL70371",
        f7="VENIP^Venipuncture^HL70488",
        f8="LACF^Left antecubital fossa^HL70163",
        f12="5^mL&mL&UCUM",
        f17="20260315080000",
        f18="202603150830",
        f27="GRN^Green top^HL70785",
        f30="ACC001^^^LIS^ACSN",
        f31="OTHER1^^^LIS",
    )
    urine = spm(f1="2", f2="S2^S9002&LIS", f4="UR^Urine^HL70487", f6="NONE^None^HL70371", f12="10^毫升")
    bundle = convert(converter, oru("OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|||||F", aliquot, urine))
    first, second = resources(bundle, "Specimen")
    assert [i["value"] for i in first["identifier"]] == ["S9001A", "S1A", "OTHER1"]
    assert first["accessionIdentifier"]["value"] == "ACC001"
    assert first["parent"] == [{"type": "Specimen", "identifier": {"system": "urn:hub:id:LIS", "value": "S9001"}}]
    assert first["collection"]["quantity"] == {"value": 5, "unit": "mL", "system": UCUM, "code": "mL"}
    assert first["collection"]["collectedDateTime"] == "2026-03-15T08:00:00+08:00"
    assert first["collection"]["method"]["coding"][0]["code"] == "VENIP"
    assert first["collection"]["bodySite"]["coding"][0]["code"] == "LACF"
    assert first["receivedTime"] == "2026-03-15T08:30:00+08:00"
    (container,) = first["container"]
    assert container["type"]["coding"][0]["code"] == "GRN"
    assert container["additiveCodeableConcept"]["coding"][0]["code"] == "HEPL"
    # no container type: the additive still makes a container; the amount in a unit written in Chinese
    assert [c["additiveCodeableConcept"]["coding"][0]["code"] for c in second["container"]] == ["NONE"]
    assert second["collection"]["quantity"] == {"value": 10, "unit": "毫升", "system": UCUM, "code": "mL"}
    assert one(bundle, "DiagnosticReport")["specimen"] == [ref(first), ref(second)]


def test_a_v2_4_order_names_its_specimen_in_obr_15(converter):
    # no SPM before v2.5: OBR-15 specimen source (SPS), OBR-7 collected, OBR-9 volume, OBR-10 collector make the
    # order's Specimen (IG ORU_R01 row 4.2.2, OBR[Specimen]); an order that names none has none
    text = "\r".join(
        [
            "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01|R14|P|2.4",
            PID,
            "OBR|1|P100^HIS|F200^LIS|GLU^葡萄糖^L|||20260315080000||2^mL|N600^钱^护士|||||"
            "SER&血清&HL70070^^^LA&Left arm&HL70163|||||||20260315091500||CH|F",
            "OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|3.9-6.1|N|||F",
            "OBR|2|P101^HIS|F201^LIS|HGB^血红蛋白^L|||20260315080000|||||||||||||||20260315091500||HM|F",
            "OBX|1|NM|HGB^血红蛋白^L||135|g/L|||||F",
        ]
    )
    bundle = convert(converter, text + "\r")
    specimen = one(bundle, "Specimen")
    assert specimen["type"] == {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0070", "code": "SER", "display": "血清"}],
        "text": "血清",
    }
    assert specimen["collection"] == {
        "collectedDateTime": "2026-03-15T08:00:00+08:00",
        "quantity": {"value": 2, "unit": "mL", "system": UCUM, "code": "mL"},
        "collector": {"identifier": {"value": "N600"}, "display": "钱护士"},
        "bodySite": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v2-0163", "code": "LA", "display": "Left arm"}
            ],
            "text": "Left arm",
        },
    }
    chemistry, blood_count = resources(bundle, "DiagnosticReport")
    assert chemistry["specimen"] == [ref(specimen)]
    assert observation(bundle, "GLU")["specimen"] == ref(specimen)
    assert "specimen" not in blood_count and "specimen" not in observation(bundle, "HGB")
    # the same result sent again names the same Specimen
    assert one(convert(converter, text.replace("|R14|", "|R15|") + "\r"), "Specimen")["id"] == specimen["id"]


def test_a_v2_3_order_message_s_specimen(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315070000||ORM^O01|O10|P|2.3",
            PID,
            "ORC|NW|P100^HIS",
            "OBR|1|P100^HIS||GLU^葡萄糖^L" + "|" * 11 + "UR&尿液",  # OBR-15
        ]
    )
    bundle = convert(converter, text + "\r")
    specimen = one(bundle, "Specimen")
    assert specimen["type"] == {"coding": [{"code": "UR", "display": "尿液"}], "text": "尿液"}
    assert one(bundle, "ServiceRequest")["specimen"] == [ref(specimen)]


def test_a_reflex_order_names_its_parent_order(converter):
    # OBR-11 G: a reflex test the laboratory added; OBR-29 the parent's order (EIP placer^filler), OBR-53 an
    # alternate placer number (IG OBR[ServiceRequest] rows 11, 29, 53)
    obr = [""] * 54
    obr[:5] = ["OBR", "1", "P300^HIS", "F300^LIS", "87186^Susceptibility^CPT"]
    obr[11] = "G"
    obr[29] = "^F200&LIS"
    obr[53] = "HIS-ALT-9^^^HIS2"
    text = "\r".join(
        [
            "MSH|^~\\&|LIS|SZRMYY|HIS|SZRMYY|20260315093000||OML^O21^OML_O21|O15|P|2.5.1",
            PID,
            "ORC|NW|P300^HIS|F300^LIS",
            "|".join(obr),
        ]
    )
    request = one(convert(converter, text + "\r"), "ServiceRequest")
    assert request["intent"] == "reflex-order"
    assert request["basedOn"] == [
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:LIS", "value": "F200"}}
    ]
    assert request["identifier"][-1]["value"] == "HIS-ALT-9"
    assert request["identifier"][-1]["type"]["coding"][0]["code"] == "PLAC"


def seg(name: str, **fields: str) -> str:
    values = [""] * (max(int(k[1:]) for k in fields) + 1)
    values[0] = name
    for key, value in fields.items():
        values[int(key[1:])] = value
    return "|".join(values)


def test_repeating_and_one_time_orders(converter):
    # TQ1 (v2.5+): a repeat pattern other than once is occurrenceTiming (IG TQ1[ServiceRequest] rows 2, 3, 7, 8, 9,
    # 11, 14); once (or none) keeps occurrenceDateTime/Period
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315093000||OML^O21^OML_O21|O16|P|2.5.1",
            PID,
            "ORC|NW|P400^HIS",
            seg(
                "TQ1",
                f1="1",
                f2="2^次",
                f3="QID^Four times a day^HL70335",
                f7="20260315080000",
                f8="20260317080000",
                f9="R",
                f11="空腹",
                f14="8",
            ),
            "OBR|1|P400^HIS||GLU^血糖^L",
            "ORC|NW|P401^HIS",
            seg("TQ1", f1="1", f3="ONCE", f7="20260315090000", f9="S"),
            "OBR|1|P401^HIS||HGB^血红蛋白^L",
            "ORC|NW|P402^HIS",
            seg("TQ1", f1="1", f3="每日三次"),
            "OBR|1|P402^HIS||K^钾^L",
        ]
    )
    repeating, once, chinese = resources(convert(converter, text + "\r"), "ServiceRequest")
    assert repeating["occurrenceTiming"]["repeat"] == {
        "frequency": 4,
        "period": 1,
        "periodUnit": "d",
        "boundsPeriod": {"start": "2026-03-15T08:00:00+08:00", "end": "2026-03-17T08:00:00+08:00"},
        "count": 8,
    }
    assert repeating["occurrenceTiming"]["code"]["coding"][0]["code"] == "QID"
    assert repeating["quantityQuantity"] == {"value": 2, "unit": "次"}
    assert repeating["priority"] == "routine"
    assert repeating["note"] == [{"text": "空腹"}]
    assert "occurrenceTiming" not in once
    assert once["occurrenceDateTime"] == "2026-03-15T09:00:00+08:00"
    assert once["priority"] == "stat"
    assert chinese["occurrenceTiming"]["repeat"] == {"frequency": 3, "period": 1, "periodUnit": "d"}


def test_a_v2_3_order_s_timing_in_orc_7(converter):
    # TQ: 1 quantity, 2 interval (repeat pattern), 4 start, 5 end, 6 priority
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315070000||ORM^O01|O17|P|2.3",
            PID,
            seg("ORC", f1="NW", f2="P500^HIS", f7="1^Q6H^^20260315080000^20260316080000^A"),
            "OBR|1|P500^HIS||GLU^血糖^L",
            seg("ORC", f1="NW", f2="P501^HIS", f7="1^^^20260315080000^^S"),
            "OBR|1|P501^HIS||HGB^血红蛋白^L",
        ]
    )
    every_six_hours, stat = resources(convert(converter, text + "\r"), "ServiceRequest")
    assert every_six_hours["occurrenceTiming"]["repeat"] == {
        "frequency": 1,
        "period": 6,
        "periodUnit": "h",
        "boundsPeriod": {"start": "2026-03-15T08:00:00+08:00", "end": "2026-03-16T08:00:00+08:00"},
    }
    assert every_six_hours["priority"] == "asap"
    assert stat["occurrenceDateTime"] == "2026-03-15T08:00:00+08:00"
    assert stat["priority"] == "stat"


def test_an_order_s_cancel_reason_parent_and_other_numbers(converter):
    # IG ORC[ServiceRequest] rows 8 (parent order), 16 (order control code reason, when ORC-5 is empty: extension
    # request-statusReason), 33 (alternate placer numbers), 38 (filler order group number)
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315093000||ORM^O01|O18|P|2.5.1",
            PID,
            seg(
                "ORC",
                f1="CA",
                f2="P600^HIS",
                f8="P599^HIS",
                f9="20260315090000",
                f16="RF^患者拒绝^L",
                f33="ALT-600^^^HIS2",
                f38="FG-77^LIS",
            ),
            "OBR|1|P600^HIS||GLU^血糖^L",
        ]
    )
    request = one(convert(converter, text + "\r"), "ServiceRequest")
    assert request["status"] == "revoked"
    assert request["extension"] == [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/request-statusReason",
            "valueCodeableConcept": {
                "coding": [{"system": "urn:hub:code:SZRMYY:L", "code": "RF", "display": "患者拒绝"}],
                "text": "患者拒绝",
            },
        }
    ]
    assert request["basedOn"] == [
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:SZRMYY", "value": "P599"}}
    ]
    codes = [(i["type"]["coding"][0]["code"], i["value"]) for i in request["identifier"]]
    assert codes == [("PLAC", "P600"), ("PLAC", "ALT-600"), ("FGN", "FG-77")]


def test_a_cancel_sent_as_orc_alone_says_why(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315093000||ORM^O01|O19|P|2.5.1",
            PID,
            seg("ORC", f1="CA", f2="P600^HIS", f16="RF^患者拒绝^L"),
        ]
    )
    request = one(convert(converter, text + "\r"), "ServiceRequest")
    assert request["status"] == "revoked"
    assert request["extension"][0]["valueCodeableConcept"]["text"] == "患者拒绝"


def test_an_untyped_repeating_value_is_text(converter):
    bundle = convert(converter, oru("OBX|1||A^A^L||阴性~弱阳性|||||F"))
    assert observation(bundle, "A")["valueString"] == "阴性\n弱阳性"


def test_text_keeps_the_sender_s_unescaped_carets_and_ampersands(converter):
    # ST, TX, FT have no components: '^' and '&' in them are the sender's characters, not separators
    bundle = convert(
        converter,
        oru(
            "OBX|1|FT|A^A^L||白细胞 12.5 10^9/L，肝功能&肾功能正常\\.br\\建议复查|||||F",
            "NTE|1||WBC 10^9/L & RBC",
            "OBX|2|ST|B^B^L||^阴性^|||||F",  # padding at either end
        ),
    )
    a = observation(bundle, "A")
    assert a["valueString"] == "白细胞 12.5 10^9/L，肝功能&肾功能正常\n建议复查"
    assert a["note"] == [{"text": "WBC 10^9/L & RBC"}]
    assert observation(bundle, "B")["valueString"] == "阴性"


def test_a_value_its_type_cannot_read_is_kept_as_text(converter):
    bundle = convert(
        converter,
        oru(
            "OBX|1|DT|A^A^L||20261340||||||F",  # no date
            "OBX|2|NR|B^B^L||阴性||||||F",  # no range
            "OBX|3|NA|C^C^L||1^^3||||||F",  # a numeric array with a value absent (SampledData cannot say so)
            "OBX|4||D^D^L||^1^:^40||||||F",  # untyped, first component empty
            "OBX|5|RP|E^E^L||http://pacs/view?id=1\\.br\\2^^IM^JPEG||||||F",  # a line break in a URL
        ),
    )
    assert observation(bundle, "A")["valueString"] == "20261340"
    assert observation(bundle, "B")["valueString"] == "阴性"
    assert observation(bundle, "C")["valueString"] == "1 3"  # a whole array is SampledData (test_lab_more.py)
    assert observation(bundle, "D")["valueString"] == "1^:^40"  # as sent, the padding caret dropped
    (attachment,) = observation(bundle, "E")["extension"]
    assert attachment["valueAttachment"]["url"] == "http://pacs/view?id=1%0A2"


def test_coding_systems_named_by_oid_or_uri(converter):
    # CDA/IHE-minded senders name LOINC, SNOMED CT and HL7 tables by OID (or by their FHIR URI); a sender's own URI
    # is no standard system: its code, in that system, stays local, reported
    text = "\r".join(
        [
            MSH.format(n=19),
            PID,
            "OBR|1|P100^HIS|F200^LIS|24323-8^CMP^2.16.840.1.113883.6.1|||20260315080000|||||||||||||||"
            "20260315091500||CH|F",
            "OBX|1|CWE|882-1^ABO^http://loinc.org||A^Group A^2.16.840.1.113883.6.96|||"
            "H^High^2.16.840.1.113883.12.78|||F",
            "OBX|2|NM|GLU^葡萄糖^http://lis.szrmyy.cn/codes||5.6|mmol/L|||||F",
        ]
    )
    conversion = converter.convert_with_report(er7.parse(text + "\r"), sender_timezone="Asia/Shanghai")
    bundle = conversion.bundle
    assert one(bundle, "DiagnosticReport")["code"]["coding"][0]["system"] == "http://loinc.org"
    abo = observation(bundle, "882-1")
    assert abo["code"]["coding"][0]["system"] == "http://loinc.org"
    assert abo["valueCodeableConcept"]["coding"][0]["system"] == "http://snomed.info/sct"
    assert abo["interpretation"][0]["coding"][1]["system"] == "http://terminology.hl7.org/CodeSystem/v2-0078"
    assert observation(bundle, "GLU")["code"]["coding"] == [
        {"system": "http://lis.szrmyy.cn/codes", "code": "GLU", "display": "葡萄糖"}
    ]
    assert [r["value"] for r in conversion.report if r["code"] == "unmapped-local-code"] == ["GLU"]


@pytest.mark.parametrize(
    ("name", "system"),
    [
        # HL7 Terminology (THO) NamingSystem ACR: OID 2.16.840.1.113883.6.76, URI CodeSystem/ACR
        ("ACR", "http://terminology.hl7.org/CodeSystem/ACR"),
        # THO NamingSystem E5 (Euclides quantity codes): OID 2.16.840.1.113883.6.35, URI CodeSystem/E5
        ("E5", "http://terminology.hl7.org/CodeSystem/E5"),
        # THO NamingSystem icd-o (ICD for Oncology): OID 2.16.840.1.113883.6.43, URI CodeSystem/icd-o
        ("ICDO", "http://terminology.hl7.org/CodeSystem/icd-o"),
        ("2.16.840.1.113883.6.43", "http://terminology.hl7.org/CodeSystem/icd-o"),  # ICDO by its OID
    ],
)
def test_registered_coding_system_names_with_a_published_uri(converter, name, system):
    # a table 0396 name whose FHIR URI HL7 publishes is that system, not the sender's local one (urn:hub:code:…)
    text = "\r".join([MSH.format(n=20), PID, OBR, f"OBX|1|CWE|X1^Finding^{name}||A1^Value^{name}||||||F"])
    conversion = converter.convert_with_report(er7.parse(text + "\r"), sender_timezone="Asia/Shanghai")
    found = observation(conversion.bundle, "X1")
    assert found["code"]["coding"][0]["system"] == system
    assert found["valueCodeableConcept"]["coding"][0]["system"] == system
    assert [r for r in conversion.report if r["code"] == "unmapped-local-code"] == []


@pytest.mark.parametrize(
    ("header", "order"),
    [
        ("OML^O21^OML_O21", "ORC|NW|P700^HIS"),
        ("OMG^O19^OMG_O19", "ORC|NW|P700^HIS"),
    ],
)
def test_an_order_message_s_obr_15_specimen(converter, header, order):
    obr = "OBR|1|P700^HIS||GLU^血糖^L" + "|" * 11 + "BLD&全血"
    text = "\r".join([f"MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20260315070000||{header}|O20|P|2.5.1", PID, order, obr])
    bundle = convert(converter, text + "\r")
    specimen = one(bundle, "Specimen")
    assert specimen["type"]["text"] == "全血"
    assert one(bundle, "ServiceRequest")["specimen"] == [ref(specimen)]


def test_a_point_of_care_result_s_obr_15_specimen(converter):
    text = "\r".join(
        [
            "MSH|^~\\&|POC|SZRMYY|HUB|CITY|20260315093000||ORU^R30^ORU_R30|P30|P|2.5.1",
            PID,
            "ORC|NW|P800^POC",
            "OBR|1|P800^POC||GLU^血糖^L|||20260315080000" + "|" * 8 + "BLDC&末梢血",
            "OBX|1|NM|GLU^血糖^L||6.1|mmol/L|3.9-6.1|N|||F",
        ]
    )
    bundle = convert(converter, text + "\r")
    specimen = one(bundle, "Specimen")
    assert specimen["type"]["text"] == "末梢血"
    assert specimen["collection"]["collectedDateTime"] == "2026-03-15T08:00:00+08:00"
    assert one(bundle, "DiagnosticReport")["specimen"] == [ref(specimen)]
    assert observation(bundle, "GLU")["specimen"] == ref(specimen)


def test_a_patient_note_is_a_note_of_each_report_of_the_patient_s_results(tmp_path):
    # NTE right after the PID (ORU_R01 PATIENT_RESULT.PATIENT.NTE): the IG maps it to nothing and R4's Patient has
    # no note; each report of the patient's results carries it (R5 DiagnosticReport.note), none of the results
    raw = "\r".join(
        [
            "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|C10|P|2.5.1",
            "PID|1||MRN0001^^^SZRMYY^MR||李四||19750505|F",
            "NTE|1||患者空腹采血|||20260315080000",
            "ORC|RE|P100^HIS|F200^LIS",
            "OBR|1|P100^HIS|F200^LIS|BIO^生化全套^L|||20260315080000|||||||||||||||20260315091500||CH|F",
            "OBX|1|NM|GLU^葡萄糖^L||5.6|mmol/L|3.9-6.1|N|||F",
            "NTE|1||复查",
            "ORC|RE|P101^HIS|F201^LIS",
            "OBR|2|P101^HIS|F201^LIS|HGB^血红蛋白^L|||20260315081000|||||||||||||||20260315092000||HM|F",
            "OBX|1|NM|HGB^血红蛋白^L||135|g/L|130-175|N|||F",
        ]
    ).encode()
    bundle = convert_bytes_with_report(raw, Settings(data_dir=tmp_path)).bundle
    patient_note = {
        "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note",
        "valueAnnotation": {"text": "患者空腹采血", "time": "2026-03-15T08:00:00+08:00"},
    }
    assert [report["extension"] for report in resources(bundle, "DiagnosticReport")] == [[patient_note]] * 2
    assert observation(bundle, "GLU")["note"] == [{"text": "复查"}]
    assert "note" not in observation(bundle, "HGB") and "note" not in one(bundle, "Patient")


def test_a_parent_order_named_by_orc_8_and_obr_29_in_two_forms_is_named_once(converter):
    # ORC-8 names the parent's placer number with its issuer (P200&EMR), OBR-29 the same number without one (the
    # sending facility's system): one parent order, ORC-8's; another number in OBR-29 is a second item
    def parent_orders(obr29: str, field: int = 29) -> list[dict]:
        obr = [""] * 55
        obr[:5] = ["OBR", "1", "P300^HIS", "F300^LIS", "87186^Susceptibility^CPT"]
        obr[11] = "G"
        obr[field] = obr29  # OBR-29 parent result's order, or OBR-54 parent order (v2.7+)
        text = "\r".join(
            [
                "MSH|^~\\&|LIS|SZRMYY|HIS|SZRMYY|20260315093000||OML^O21^OML_O21|O16|P|2.5.1",
                PID,
                "ORC|NW|P300^HIS|F300^LIS|||||P200&EMR",
                "|".join(obr),
            ]
        )
        return one(convert(converter, text + "\r"), "ServiceRequest")["basedOn"]

    emr = {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:EMR", "value": "P200"}}
    assert parent_orders("P200") == [emr]
    assert parent_orders("P200&EMR^F200&LIS") == [emr]
    assert parent_orders("P200", field=54) == [emr]
    assert parent_orders("P201") == [
        emr,
        {"type": "ServiceRequest", "identifier": {"system": "urn:hub:id:SZRMYY", "value": "P201"}},
    ]
