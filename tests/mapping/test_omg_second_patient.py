"""OMG^O19 with a second patient's block after the first order (PID, PV1, ORC, OBR).

v2.5.1 OMG_O19 has one PATIENT (0..1) and repeats only ORDER; a PID after an order can only be the patient of a
PRIOR_RESULT, whose orders (ORDER_PRIOR) carry their results (OBSERVATION_PRIOR 1..*). A prior result is context
for the order and is not converted; orders without results there have no place in the grammar (another patient's
orders sent in one message). Neither is dropped without a word: the conversion report names their segments.
"""

from __future__ import annotations

from .conftest import one, resources, with_report

HEAD = (
    "MSH|^~\\&|HIS|SZRMYY|RIS|SZRMYY|20261127080000||OMG^O19^OMG_O19|HIS9001|P|2.5.1",
    "PID|1||0012345^^^SZRMYY^MR||王小明||19900315|M",
    "PV1|1|O|内科^^^SZRMYY||||||||||||||||V01^^^SZRMYY^VN",
    "ORC|NW|ORD300^HIS|||||||20261127080000|||1234^李^医生",
    "OBR|1|ORD300^HIS||ECG^心电图^L",
)
SECOND = (
    "PID|1||0099999^^^SZRMYY^MR||李四||19800101|F",
    "PV1|1|O|外科^^^SZRMYY||||||||||||||||V02^^^SZRMYY^VN",
    "ORC|NW|ORD301^HIS|||||||20261127080000|||1234^李^医生",
    "OBR|1|ORD301^HIS||XR^胸片^L",
)


def omg(*segments: str) -> str:
    return "\r".join((*HEAD, *segments)) + "\r"


def unmapped(report):
    return [entry["location"] for entry in report if entry["code"] == "unmapped-segment"]


def test_a_second_patient_s_orders_are_reported_not_dropped_silently(converter):
    bundle, report = with_report(converter, omg(*SECOND))
    # the first patient's order converts as before; the second block is not converted (no place in the grammar)
    assert one(bundle, "Patient")["identifier"][0]["value"] == "0012345"
    assert [r["identifier"][0]["value"] for r in resources(bundle, "ServiceRequest")] == ["ORD300"]
    assert unmapped(report) == ["PID^2", "PV1^2", "ORC^2", "OBR^2"]
    assert all("李四" not in entry["detail"] for entry in report)  # never the segment's text


def test_a_prior_result_stays_context_its_patient_reported(converter):
    # the same block with a result: a valid PRIOR_RESULT (context for the order), not an order of its own
    bundle, report = with_report(converter, omg(*SECOND, "OBX|1|ST|X^结论^L||正常||||||F"))
    assert [r["identifier"][0]["value"] for r in resources(bundle, "ServiceRequest")] == ["ORD300"]
    assert resources(bundle, "Observation") == []
    assert unmapped(report) == ["PID^2", "PV1^2"]


def test_one_patient_with_two_orders_reports_nothing(converter):
    bundle, report = with_report(converter, omg(*SECOND[2:]))
    assert [r["identifier"][0]["value"] for r in resources(bundle, "ServiceRequest")] == ["ORD300", "ORD301"]
    assert unmapped(report) == []
