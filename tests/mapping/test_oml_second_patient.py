"""OML^O21 with a second patient's block after the first order (PID, PV1, ORC, OBR), as OMG^O19 (see
test_omg_second_patient.py): OML_O21 has one PATIENT; a later PID or PV1 opens a PRIOR_RESULT, context for the order
that is not converted, and an order there without results has no place in the grammar. The conversion report names
their segments rather than dropping them without a word."""

from __future__ import annotations

from .conftest import one, resources, with_report
from .test_omg_second_patient import SECOND, unmapped

HEAD = (
    "MSH|^~\\&|HIS|SZRMYY|LIS|SZRMYY|20261127080000||OML^O21^OML_O21|HIS9101|P|2.5.1",
    "PID|1||0012345^^^SZRMYY^MR||王小明||19900315|M",
    "PV1|1|O|内科^^^SZRMYY||||||||||||||||V01^^^SZRMYY^VN",
    "ORC|NW|ORD300^HIS|||||||20261127080000|||1234^李^医生",
    "OBR|1|ORD300^HIS||GLU^血糖^L",
)


def oml(*segments: str) -> str:
    return "\r".join((*HEAD, *segments)) + "\r"


def test_a_second_patient_s_orders_are_reported_not_dropped_silently(converter):
    bundle, report = with_report(converter, oml(*SECOND))
    assert one(bundle, "Patient")["identifier"][0]["value"] == "0012345"
    assert [r["identifier"][0]["value"] for r in resources(bundle, "ServiceRequest")] == ["ORD300"]
    assert unmapped(report) == ["PID^2", "PV1^2", "ORC^2", "OBR^2"]
    assert all("李四" not in entry.get("detail", "") for entry in report)


def test_a_prior_result_stays_context_its_patient_reported(converter):
    bundle, report = with_report(converter, oml(*SECOND, "OBX|1|ST|X^结论^L||正常||||||F"))
    assert [r["identifier"][0]["value"] for r in resources(bundle, "ServiceRequest")] == ["ORD300"]
    assert resources(bundle, "Observation") == []
    assert unmapped(report) == ["PID^2", "PV1^2"]


def test_one_patient_with_two_orders_reports_nothing(converter):
    bundle, report = with_report(converter, oml(*SECOND[2:]))
    assert [r["identifier"][0]["value"] for r in resources(bundle, "ServiceRequest")] == ["ORD300", "ORD301"]
    assert unmapped(report) == []
