"""A resource template's `ref` marked `optional` (and a ref in only some id-key alternatives) lets a message without
that resource use the template: an Observation per OBX of an ADT, which has no report and no specimen."""

from __future__ import annotations

import pytest

from hub.errors import MappingTemplateError
from hub.mapping import Converter

from .conftest import convert, mappings_copy, one, resources

ADT = (
    "MSH|^~\\&|HIS|SZRMYY|HUB|CITY|20260315083000||ADT^A01^ADT_A01|C1|P|2.5.1\r"
    "EVN|A01|20260315083000\r"
    "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M\r"
    "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN\r"
    "OBX|1|NM|8302-2^Body height^LN||172|cm|||||F|||20260315083000\r"
    "OBX|2|NM|29463-7^Body weight^LN||65|kg|||||F|||20260315083000\r"
)


def test_an_adt_makes_observations_without_report_or_specimen(converter):
    # the shipped ADT_A01 maps each OBX (IG ADT_A01 row 22.1)
    bundle = convert(converter, ADT)
    observations = resources(bundle, "Observation")
    assert [o["code"]["coding"][0]["code"] for o in observations] == ["8302-2", "29463-7"]
    patient, encounter = one(bundle, "Patient"), one(bundle, "Encounter")
    for observation in observations:
        assert observation["subject"] == {"reference": f"Patient/{patient['id']}"}
        assert observation["encounter"] == {"reference": f"Encounter/{encounter['id']}"}
        assert "specimen" not in observation
    assert observations[0]["valueQuantity"] == {
        "value": 172,
        "unit": "cm",
        "system": "http://unitsofmeasure.org",
        "code": "cm",
    }
    # keyed without a report: the message and the OBX (the other key alternatives need the report)
    again = convert(converter, ADT)
    assert [o["id"] for o in resources(again, "Observation")] == [o["id"] for o in observations]


def test_a_required_ref_the_message_does_not_make_is_still_refused(tmp_path):
    root = mappings_copy(tmp_path)
    path = root / "resource" / "Observation.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    ref: specimen\n    optional: true\n", "    ref: specimen\n"), encoding="utf-8")
    # the shipped ADT_A01 uses Observation for its OBX, and makes no specimen
    with pytest.raises(MappingTemplateError, match="specimen"):
        Converter.load(root)


def test_an_oru_patient_observation_is_no_result_of_the_report(converter):
    text = (
        "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|C1|P|2.5.1\r"
        "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M\r"
        "OBX|1|NM|8302-2^Body height^LN||172|cm|||||F\r"  # about the patient (IG ORU_R01 row 4.1.7.1)
        "OBR|1|P100^HIS|F200^LIS|2345-7^Glucose^LN|||20260315090000\r"
        "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|3.9-6.1|N|||F\r"
    )
    bundle = convert(converter, text)
    by_code = {o["code"]["coding"][0]["code"]: o for o in resources(bundle, "Observation")}
    assert set(by_code) == {"8302-2", "2345-7"}
    report = one(bundle, "DiagnosticReport")
    assert report["result"] == [{"reference": f"Observation/{by_code['2345-7']['id']}"}]
    assert by_code["8302-2"]["subject"] == {"reference": f"Patient/{one(bundle, 'Patient')['id']}"}
