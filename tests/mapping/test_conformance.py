"""The conformance comparison: fields, normalisations, resource pairing, documented differences."""

from __future__ import annotations

import copy
import json

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR
from hub.errors import MappingTemplateError
from hub.hl7 import er7
from hub.mapping import compare, conformance, differences
from tests.support.paths import CORPUS, MALFORMED

MESSAGE = (
    "MSH|^~\\&|LIS|SZRMYY|HUB|CITY|20260315093000||ORU^R01^ORU_R01|C1|P|2.5.1\r"
    "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M\r"
    "OBR|1|P100^HIS|F200^LIS|2345-7^Glucose^LN|||20260315090000||||||||||||||||||F\r"
    "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|3.9-6.1|N|||F\r"
    "OBX|2|NM|2823-3^Potassium^LN||3.2|mmol/L|3.5-5.3|L|||F\r"
)


def _when(text: str) -> compare.When:
    found = compare.when(text)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("a", "b", "how"),
    [
        ("2002-02-15T07:30:00+02:15", "2002-02-15T11:00:00+05:45", "instant"),
        ("2026-03-15T08:30:00+10:00", "2026-03-15T08:30:00+08:00", "local-time"),  # no offset sent: each its zone
        ("2026-03-15T08:30:00.100+08:00", "2026-03-15T08:30:00.1+08:00", "instant"),
        ("1980-01-01", "1980-01-01", ""),
        ("1980-01-01", "1980-01-01T00:00:00+08:00", None),  # precision differs: not equal
        ("2026-03-15T08:30:00+08:00", "2026-03-15T09:30:00+08:00", None),
    ],
)
def test_date_times(a, b, how):
    assert compare.same_when(_when(a), _when(b)) == how


def _concept(*codings: tuple[str | None, str], text: str | None = None) -> compare.Concept:
    raw = {"coding": [{"code": c, **({"system": s} if s else {})} for s, c in codings]}
    if text:
        raw["text"] = text
    found = compare.concept(raw)
    assert found is not None
    return found


def test_codes_systems_and_aliases():
    loinc = ("http://loinc.org", "2345-7")
    assert compare.same_concept(_concept(loinc), _concept(("urn:oid:2.16.840.1.113883.6.1", "2345-7"))) == ""
    invented = ("http://example.com/v2-to-fhir-converter/CodeSystem/ACR", "X")
    assert compare.same_concept(_concept(invented), _concept((None, "X"))) == "local-system"
    assert compare.same_concept(_concept(("WinPath", "X")), _concept((None, "X"))) == "local-system"
    # a CWE.3 copied as the system: a table 0396 name of a standard code system is that system, not a local one
    assert compare.same_concept(_concept(("LN", "2345-7")), _concept(loinc)) == ""
    assert compare.same_concept(_concept(("sct", "44054006")), _concept(("http://snomed.info/sct", "44054006"))) == ""
    assert compare.same_concept(_concept(("LN", "2345-7")), _concept((None, "2345-7"))) is None
    # an expected coding without a system agrees with ours of the same code; ours without a standard one never
    assert compare.same_concept(_concept((None, "DL")), _concept(("http://x/v2-0203", "DL"))) == (
        "expected-without-system"
    )
    assert compare.same_concept(_concept(loinc), _concept((None, "2345-7"))) is None
    assert compare.same_concept(_concept(loinc), _concept(("http://loinc.org", "2346-5"))) is None


def test_other_normalisations():
    assert compare.same_number(5.0, 5) == "number"
    assert compare.same_location(("ICU", "[active]"), ("Hospital ICU Bed 3", "[active]")) == "location-name"
    assert compare.same_location(("ICU", "[active]"), ("Hospital ICU Bed 3", "[planned]")) is None
    assert compare.same_range((None, None, "3.9-6.1"), (3.9, 6.1, "3.9-6.1")) == ""
    assert compare.same_range((3.9, 6.1, "3.9 - 6.1"), (3.9, 6.1, "3.9-6.1")) == "range-text"
    assert compare.text("  Ann   Arbor ") == "Ann Arbor"


@pytest.fixture
def ours(converter):
    return converter.convert(er7.parse(MESSAGE))


def test_resources_pair_by_content_not_by_id_or_order(ours):
    text = json.dumps(ours)
    for entry in ours["entry"]:  # other ids (references follow)
        text = text.replace(entry["resource"]["id"], "x" + entry["resource"]["id"][1:])
    expected = json.loads(text)
    expected["entry"].reverse()  # another order
    outcomes = conformance.compare_bundles(expected, ours)
    assert outcomes and {o.result for _, o in outcomes} == {"agree"}
    fields = {(rtype, o.field) for rtype, o in outcomes}
    assert {("Observation", "value"), ("Observation", "referenceRange"), ("DiagnosticReport", "result")} <= fields


def test_a_changed_value_is_one_disagreement_of_its_field(ours):
    expected = copy.deepcopy(ours)
    for entry in expected["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation" and resource["code"]["coding"][0]["code"] == "2823-3":
            resource["valueQuantity"]["value"] = 3.3
            resource["interpretation"] = [{"coding": [{"code": "N"}]}]
    bad = [(r, o) for r, o in conformance.compare_bundles(expected, ours) if o.result != "agree"]
    assert [(r, o.field, o.result, o.expected, o.ours) for r, o in bad] == [
        ("Observation", "value", "different", "quantity 3.3", "quantity 3.2"),
        (
            "Observation",
            "interpretation",
            "different",
            "N",
            "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation|L, "
            "http://terminology.hl7.org/CodeSystem/v2-0078|L",
        ),
    ]


TABLE = """
| id | resource | field | result | value | found only in | messages | reason |
|---|---|---|---|---|---|---|---|
| X1 | Observation | value | different | quantity 3.3 | * | */a.hl7 | the sample disagrees |
| X2 | Patient | * | missing | * | GT1 !PID | * | from the guarantor |
| X3 | Observation | * | extra | * | * | nothing/* | matches nothing |
"""


def test_differences_exclude_what_they_cover_and_say_what_matched_nothing(tmp_path, converter, ours):
    rules_file = tmp_path / "DIFFERENCES.md"
    rules_file.write_text("# Differences\n" + TABLE, encoding="utf-8")
    rules = differences.load(rules_file)
    assert [r.id for r in rules] == ["X1", "X2", "X3"]
    corpus = tmp_path / "corpus" / "lab"
    corpus.mkdir(parents=True)
    (corpus / "a.hl7").write_text(MESSAGE, encoding="utf-8")
    expected = copy.deepcopy(ours)
    for entry in expected["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Observation" and resource["code"]["coding"][0]["code"] == "2823-3":
            resource["valueQuantity"]["value"] = 3.3
    (corpus / "a.expected.json").write_text(json.dumps(expected), encoding="utf-8")
    report = conformance.run(tmp_path / "corpus", converter, differences=rules)
    assert report.overall.excluded == 1 and report.exclusions == {"X1": 1}
    assert report.overall.disagree == 0 and report.overall.score == 100.0
    assert report.as_json()["exclusions"]["X3"]["count"] == 0


def test_found_only_in():
    rule = differences.load_rows(TABLE)[1]
    lines = ["PID|1||MRN1||EVERYMAN^ADAM", "GT1|1||RADIANT^LUCY", "PRT|1||RADIANT"]
    assert rule.covers("Patient", "name.family", "missing", "RADIANT", "x", "ADT_A01", "RADIANT", lines)
    assert not rule.covers("Patient", "name.family", "missing", "EVERYMAN", "x", "ADT_A01", "EVERYMAN", lines)
    assert not rule.covers("Patient", "name.family", "extra", "RADIANT", "x", "ADT_A01", "RADIANT", lines)


def test_a_malformed_row_names_its_line(tmp_path):
    path = tmp_path / "DIFFERENCES.md"
    path.write_text(TABLE.replace("| different |", "| wrong |"), encoding="utf-8")
    with pytest.raises(MappingTemplateError) as caught:
        differences.load(path)
    assert caught.value.line == 4
    assert "result must be one of" in caught.value.message


def test_deleted_resources_are_not_compared(ours):
    expected = copy.deepcopy(ours)
    for entry in expected["entry"]:
        entry["request"] = {"method": "DELETE", "url": entry["request"]["url"]}
    mine = {"entry": [e for e in ours["entry"] if e["resource"]["resourceType"] == "Organization"]}
    assert conformance.compare_bundles(expected, mine) == []


def test_the_development_corpus_stays_at_the_target(converter):
    # The product's target (mappings/README.md): ≥ 95 % agreement with the other converters' expected outputs,
    # every message converted but those refused for a missing segment terminator (MALFORMED); a mapping change
    # that loses agreement, or a documented difference that no longer matches anything, shows up here and not
    # only in a report nobody reads.
    if not CORPUS.is_dir():
        pytest.skip(f"no HL7 v2 corpus at {CORPUS}")
    rows = differences.load(DEFAULT_MAPPINGS_DIR / "DIFFERENCES.md")
    report = conformance.run(CORPUS, converter, differences=rows)
    refused = {r.path.rsplit("/", 1)[-1]: r.error for r in report.results if r.error is not None}
    assert set(refused) <= set(MALFORMED), refused
    assert report.overall.score >= 95.0, report.overall.as_json()
    assert {row.id for row in rows} <= set(report.exclusions), "DIFFERENCES rows that match nothing"
