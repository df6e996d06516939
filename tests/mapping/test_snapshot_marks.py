"""Snapshot mode: the set marks the engine writes for a ``snapshot`` rule (hub.mapping.snapshots), and the checks of
the key. What the pipeline does with them (the stale members deleted) is in tests/test_snapshot_updates.py."""

from __future__ import annotations

import pytest

from hub.errors import MappingTemplateError
from hub.hl7.er7 import Segment
from hub.mapping import Converter
from hub.mapping.nulls import NULL_EXTENSION_URL
from hub.mapping.snapshots import SNAPSHOT_EXTENSION_URL, is_null_segment, parse_set

from .conftest import convert, mappings_copy, one, resources

HOSPITAL = "SZRMYY^2.16.156.10011.1.5.1^ISO"
PID = "PID|1||MRN0001^^^SZRMYY^MR||张三||19800101|M"
PV1 = "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN"
HYPERTENSION = "DG1|1||I10^原发性高血压^I10||20260315|F"
PENICILLIN = "AL1|1|DA|PCN^青霉素^L|SV|皮疹"


def adt(event: str, *segments: str, structure: str = "ADT_A01") -> str:
    msh = f"MSH|^~\\&|HIS|{HOSPITAL}|HUB|CITY|20260315083000||ADT^{event}^{structure}|C1|P|2.5.1"
    return "\r".join([msh, f"EVN|{event}|20260315083000", PID, *segments]) + "\r"


def marks(bundle: dict, rtype: str, url: str = SNAPSHOT_EXTENSION_URL) -> list[str]:
    [entry] = [e for e in bundle["entry"] if e["request"]["url"].startswith(f"{rtype}/")]
    return [x["valueString"] for x in entry.get("extension", []) if x["url"] == url]


def test_a_visits_diagnoses_and_a_patients_allergies_are_marked_on_their_scope(converter):
    bundle = convert(converter, adt("A08", PV1, PENICILLIN, HYPERTENSION))
    encounter, patient = one(bundle, "Encounter")["id"], one(bundle, "Patient")["id"]
    assert marks(bundle, "Encounter") == [f"Condition?encounter=Encounter/{encounter}&category=encounter-diagnosis"]
    assert marks(bundle, "Patient") == [f"AllergyIntolerance?patient=Patient/{patient}"]
    assert parse_set(marks(bundle, "Encounter")[0]) == (
        "Condition",
        [("encounter", f"Encounter/{encounter}"), ("category", "encounter-diagnosis")],
    )


def test_no_segment_of_the_set_no_mark(converter):
    bundle = convert(converter, adt("A08", PV1))
    assert marks(bundle, "Encounter") == [] and marks(bundle, "Patient") == []


def test_an_action_code_puts_the_set_in_action_code_mode(converter):
    coded = HYPERTENSION + "|" * 15 + "U"  # DG1-21 U (update)
    bundle = convert(converter, adt("A08", PV1, coded, "DG1|2||E11.9^2型糖尿病^I10||20260315|F"))
    assert marks(bundle, "Encounter") == []
    assert len(resources(bundle, "Condition")) == 2


def test_a_segment_of_nulls_makes_nothing_and_empties_the_set(converter):
    bundle = convert(converter, adt("A08", PV1, 'DG1|1|""|""|""|""|""|""', 'AL1|""|""|""'))
    assert resources(bundle, "Condition") == [] and resources(bundle, "AllergyIntolerance") == []
    assert len(marks(bundle, "Encounter")) == 1 and len(marks(bundle, "Patient")) == 1
    # Encounter.diagnosis lists the visit's diagnoses: none left
    assert "diagnosis" in marks(bundle, "Encounter", NULL_EXTENSION_URL)


def test_is_null_segment():
    assert is_null_segment(Segment('DG1|1|""|""|""', "|"))
    assert is_null_segment(Segment('AL1|""', "|"))
    assert not is_null_segment(Segment("DG1|1||I10^原发性高血压^I10", "|"))
    assert not is_null_segment(Segment('DG1|1|""|I10|""', "|"))
    assert not is_null_segment(Segment("DG1|1", "|"))  # says nothing, deletes nothing


def test_a_snapshot_scope_must_be_a_rule_made_before(tmp_path):
    mappings = mappings_copy(tmp_path)
    path = mappings / "message" / "ADT_A01.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("snapshot: {scope: patient, param: patient}", "snapshot: {scope: visit, param: x}"))
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(mappings)
    assert "message/ADT_A01.yaml" in (caught.value.file or "") and "snapshot.scope" in caught.value.message


@pytest.mark.parametrize(
    ("snapshot", "says"),
    [
        ("{scope: patient, param: subject-of}", "no reference search parameter 'subject-of'"),
        ("{scope: patient, param: code}", "no reference search parameter 'code'"),  # a token, not a reference
        ("{scope: patient, param: patient, where: {kind: drug}}", "no search parameter kind"),
    ],
)
def test_snapshot_search_parameters_are_checked_at_load(tmp_path, snapshot, says):
    # the hub searches its store with them: a typo would fail every message instead of the load
    mappings = mappings_copy(tmp_path)
    path = mappings / "message" / "ADT_A01.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("snapshot: {scope: patient, param: patient}", f"snapshot: {snapshot}"))
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(mappings)
    assert "message/ADT_A01.yaml" in (caught.value.file or "") and says in caught.value.message
