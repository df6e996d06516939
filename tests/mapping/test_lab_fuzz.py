"""Results as unpredictable senders send them: any mix of value type, value, unit, range, flag and status converts
to valid FHIR R4 (or is refused with a ConversionError naming an OBX field), and never loses the result itself.

The pieces are drawn from what LIS actually put in these fields, well-formed or not, with HL7 delimiters inside.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.errors import ConversionError
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7

VALUE_TYPES = ["NM", "SN", "ST", "TX", "FT", "CE", "CWE", "DT", "DTM", "TS", "TM", "NR", "DR", "NA", "ED", "RP", ""]
VALUES = [
    "5.6", "<5", "> 1000", "-1.5", "+2", ".5", "5.", "1,000", "阴性", "阳性(+)", "2+", "^1^:^40", "<^0.05", "^3^-^5",
    "=^7", "<>^5", "^2^+", "1:40", "3-5", "5.6~7.2", "~", "a~b~c", '""', "POS^Positive^HL70078", "^阴性",
    "20260315", "202603150830", "20261340", "1230", "3.5^5.5", "20260101^20260201", "^IM^JPEG^Base64^VGVzdA==",
    "http://x/y^^IM^JPEG", "line\\.br\\two", "\\H\\bold\\N\\", "第一行\\.br\\第二行", "",
]  # fmt: skip
UNITS = ["mmol/L", "10^9/L", "x10^12/L", "个/HP", "%", "秒", "mmol/L^mmol/L^UCUM", "^^", "μmol/L", "", "U/l"]
RANGES = [
    "3.9-6.1", "3.9~6.1", "3.9--6.1", "(3.8-5.1)", "<5.2", "≤40", ">=110", "0-", "阴性", "<1:20", "6.1-3.9",
    "-3--1", "3.5-5.5mmol/L", "~", "-", "<", "1.2.3-4", "",
]  # fmt: skip
FLAGS = ["", "H", "h", "L", "HH", "LL", "A", "AA", "N", "<", ">", "↑", "↓", "↑↑", "高", "XYZ", "H~A", "^High"]
STATUSES = ["", "F", "P", "C", "D", "W", "X", "N", "I", "R", "U", "f", "Z"]


@st.composite
def observations(draw):
    return "|".join(
        [
            "OBX",
            "1",
            draw(st.sampled_from(VALUE_TYPES)),
            draw(st.sampled_from(["GLU^葡萄糖^L", "2345-7^Glucose^LN", "^无编码", ""])),
            draw(st.sampled_from(["", "1", "a"])),
            draw(st.sampled_from(VALUES)),
            draw(st.sampled_from(UNITS)),
            draw(st.sampled_from(RANGES)),
            draw(st.sampled_from(FLAGS)),
            "",
            "",
            draw(st.sampled_from(STATUSES)),
            "",
            "",
            draw(st.sampled_from(["", "20260315080000", "2026-03-15 08:00:00"])),
        ]
    )


HEADER = [
    "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|F1|P|2.5.1",
    "PID|1||MRN0001^^^SZRMYY^MR||李四||19750505|F",
    "OBR|1|P100^HIS|F200^LIS|BIO^生化^L|||20260315080000|||||||||||||||20260315091500||CH|F",
]


@pytest.mark.filterwarnings("ignore")
@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(obx=st.lists(observations(), min_size=1, max_size=4))
def test_any_result_converts_to_valid_fhir(converter, obx):
    text = "\r".join([*HEADER, *obx]) + "\r"
    try:
        bundle = converter.convert(er7.parse(text), sender_timezone="Asia/Shanghai")
    except ConversionError as error:
        # only a field FHIR requires may refuse a message, and the error names it
        assert error.location is not None and error.location.startswith("OBX^"), error.location
        return
    assert validate_bundle(bundle, models=True) == []
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"] if "resource" in e]
    assert kinds.count("DiagnosticReport") == 1
    for entry in bundle["entry"]:
        observation = entry.get("resource", {})
        if observation.get("resourceType") != "Observation":
            continue
        # an Observation has a status and a code, always (both required)
        assert observation["status"] and observation["code"]
        # FHIR obs-6: no dataAbsentReason beside a value
        assert not ("dataAbsentReason" in observation and any(k.startswith("value") for k in observation))
