"""Sender overlays: a hospital's variant merged over the library at load, compiled once, chosen by MSH-3/MSH-4.

The overlay of mappings/README.md is the one tested here (read out of the README), so the documentation cannot
drift from what works.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR
from hub.errors import MappingTemplateError
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from hub.mapping import Converter

from .conftest import mappings_copy, one, resources

README = (DEFAULT_MAPPINGS_DIR / "README.md").read_text(encoding="utf-8")
RESIDENT_ID_SYSTEM = "urn:oid:2.16.156.10011.1.3"
VALID_RESIDENT_ID = "11010519491231002X"  # GB 11643 example number (check character X)
HUKOU = "urn:hub:fhir:StructureDefinition:szrmyy-hukou"


def _readme_overlay() -> str:
    match = re.search(r"```yaml\n(overlay: szrmyy.*?)```", README, re.S)
    assert match, "the README shows an overlay for szrmyy"
    return match.group(1)


def _msh(facility: str, app: str = "HIS", kind: str = "ADT^A01^ADT_A01") -> str:
    return f"MSH|^~\\&|{app}|{facility}|HUB|CITY|20260315083000||{kind}|C1|P|2.5.1||||||UNICODE UTF-8"


def adt(facility: str = "SZRMYY", app: str = "HIS") -> str:
    return (
        "\r".join(
            [
                _msh(facility, app),
                "EVN|A01|20260315083000",
                # PID-4: this HIS puts the resident identity card number there
                f"PID|1||MRN0001^^^SZRMYY^MR|{VALID_RESIDENT_ID}|王^五||19491231|M",
                # ZPI-2: the household registration (a Z-segment, after the PID it extends)
                "ZPI|1|广东省深圳市",
                "PV1|1|I|内科^301^2||||||||||||||||V0001^^^SZRMYY^VN",
            ]
        )
        + "\r"
    )


def oru(facility: str = "SZRMYY", code: str = "GLU^血糖^L") -> str:
    return (
        "\r".join(
            [
                _msh(facility, "LIS", "ORU^R01^ORU_R01"),
                "PID|1||MRN0001^^^SZRMYY^MR||王^五||19491231|M",
                "OBR|1|P100^HIS|F200^LIS|LAB01^生化^L|||20260315090000",
                f"OBX|1|NM|{code}||5.6|mmol/L|3.9-6.1|N|||F|||20260315093000",
            ]
        )
        + "\r"
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = mappings_copy(tmp_path_factory.mktemp("overlays"))
    (root / "overlays").mkdir(exist_ok=True)
    (root / "overlays" / "szrmyy.yaml").write_text(_readme_overlay(), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def converter(library: Path) -> Converter:
    return Converter.load(library)


def _convert(converter: Converter, text: str, **kwargs: str) -> dict:
    result = converter.convert_with_report(er7.parse(text), **kwargs)
    assert validate_bundle(result.bundle, models=True) == []
    return {"bundle": result.bundle, "report": result.report, "overlay": result.overlay}


def test_the_readme_overlay_loads(converter):
    assert converter.overlays == ["szrmyy"]


def test_the_sender_gets_its_national_id_field_and_its_z_segment(converter):
    done = _convert(converter, adt())
    assert done["overlay"] == "szrmyy"
    patient = one(done["bundle"], "Patient")
    national = [i for i in patient["identifier"] if i.get("system") == RESIDENT_ID_SYSTEM]
    assert [i["value"] for i in national] == [VALID_RESIDENT_ID]
    assert national[0]["type"]["coding"][0]["code"] == "NNCHN"
    assert patient["extension"] == [{"url": HUKOU, "valueString": "广东省深圳市"}]


def test_another_sender_gets_the_library(converter):
    done = _convert(converter, adt(facility="OTHERHOSP"))
    assert done["overlay"] is None
    patient = one(done["bundle"], "Patient")
    assert "extension" not in patient
    # PID-4 is that sender's alternate patient id, read by the library's CX: without a type, the number is the
    # card's only because it passes GB 11643 (the overlay's ResidentID would also flag one that fails it)
    alternate = next(i for i in patient["identifier"] if i["value"] == VALID_RESIDENT_ID)
    assert alternate["system"] == RESIDENT_ID_SYSTEM and "extension" not in alternate


def test_the_local_code_table_translates_and_keeps_the_local_coding(converter):
    done = _convert(converter, oru())
    observation = one(done["bundle"], "Observation")
    assert observation["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "2345-7",
        "display": "Glucose [Mass or Moles/volume] in Serum or Plasma",
    }
    assert {"system": "urn:hub:code:szrmyy:lab", "code": "GLU", "display": "血糖"} in observation["code"]["coding"]
    assert not [r for r in done["report"] if r["value"] == "GLU"]
    # the order code LAB01 is a local code the table does not have: kept, in the sender's local code system, and
    # reported
    report = one(done["bundle"], "DiagnosticReport")
    assert report["code"]["coding"] == [{"system": "urn:hub:code:szrmyy:lab", "code": "LAB01", "display": "生化"}]
    assert {
        "code": "unmapped-local-code",
        "table": "local-lab-tests",
        "value": "LAB01",
        "location": "OBR^1^4",
        "system": "L",
        "display": "生化",
    } in done["report"]


def test_an_unmapped_local_code_is_kept_and_reported(converter):
    done = _convert(converter, oru(code="GLU2^血糖2^L"))
    observation = one(done["bundle"], "Observation")
    # kept with the system the overlay gives the sender's local codes, as a translated one's local coding is: a
    # local code without a system is anybody's (GLU2 at one hospital is not GLU2 at another)
    assert observation["code"] == {
        "coding": [{"system": "urn:hub:code:szrmyy:lab", "code": "GLU2", "display": "血糖2"}],
        "text": "血糖2",
    }
    entry = next(r for r in done["report"] if r["value"] == "GLU2")
    assert entry == {
        "code": "unmapped-local-code",
        "table": "local-lab-tests",
        "value": "GLU2",
        "location": "OBX^1^3",
        "system": "L",
        "display": "血糖2",
    }


def test_a_standard_code_is_never_looked_up_as_a_local_one(converter):
    done = _convert(converter, oru(code="GLU^Glucose^LN"))
    observation = one(done["bundle"], "Observation")
    assert observation["code"]["coding"] == [{"system": "http://loinc.org", "code": "GLU", "display": "Glucose"}]
    assert not [r for r in done["report"] if r["value"] == "GLU"]


def test_a_message_patch_adds_element_rules(converter):
    report = one(_convert(converter, oru())["bundle"], "DiagnosticReport")
    v2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
    assert report["category"][0]["coding"] == [{"system": v2_0074, "code": "LAB"}]
    other = one(_convert(converter, oru(facility="OTHERHOSP"))["bundle"], "DiagnosticReport")
    assert "category" not in other


def test_an_overlay_can_be_forced_for_any_sender(converter):
    done = _convert(converter, adt(facility="OTHERHOSP"), overlay="szrmyy")
    assert done["overlay"] == "szrmyy"
    assert one(done["bundle"], "Patient")["extension"][0]["url"] == HUKOU
    with pytest.raises(KeyError):
        converter.convert(er7.parse(adt()), overlay="nosuch")


def test_the_more_specific_overlay_wins(tmp_path):
    root = mappings_copy(tmp_path)
    (root / "overlays").mkdir()
    tag = "urn:hub:fhir:StructureDefinition:overlay-test"
    for name, sender in (("byfacility", "{facility: SZRMYY}"), ("byboth", "{application: HIS, facility: SZRMYY}")):
        (root / "overlays" / f"{name}.yaml").write_text(
            f"overlay: {name}\nsenders: [{sender}]\nresources:\n  Patient:\n    elements:\n"
            f"      - {{path: extension, value: {{url: '{tag}', valueString: {name}}}}}\n",
            encoding="utf-8",
        )
    converter = Converter.load(root)
    assert sorted(converter.overlays) == ["byboth", "byfacility"]
    assert converter.overlay_for(er7.parse(adt(app="HIS"))) == "byboth"
    assert converter.overlay_for(er7.parse(adt(app="LIS"))) == "byfacility"
    assert converter.overlay_for(er7.parse(adt(facility="OTHERHOSP"))) is None
    patient = one(converter.convert(er7.parse(adt(app="HIS"))), "Patient")
    assert patient["extension"] == [{"url": tag, "valueString": "byboth"}]


def _broken(tmp_path: Path, body: str) -> MappingTemplateError:
    root = mappings_copy(tmp_path)
    (root / "overlays").mkdir()
    (root / "overlays" / "broken.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(root)
    return caught.value


def test_a_bad_rule_is_reported_with_the_overlay_file_and_line(tmp_path):
    error = _broken(
        tmp_path,
        "overlay: broken\nsenders: [{facility: X}]\nresources:\n  Patient:\n    elements:\n"
        "      - path: identifer\n        from: PID-4\n",
    )
    assert error.file is not None and error.file.endswith("overlays/broken.yaml")
    assert error.line == 6
    assert "identifer" in error.message


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        ("overlay: broken\nsenders: []\n", 2, "senders"),
        ("overlay: broken\nsenders: [{facility: X}]\nresources:\n  Nosuch:\n    elements: []\n", 4, "Nosuch"),
        (
            "overlay: broken\nsenders: [{facility: X}]\n"
            "tables:\n  v2-0001:\n    unmapped: keep\n    codes: {X: oops}\n",
            4,
            "v2-0001",
        ),
        ("overlay: other\nsenders: [{facility: X}]\n", 1, "broken.yaml"),
        ("overlay: broken\nsenders: [{}]\n", 2, "application"),
    ],
)
def test_overlay_mistakes_name_file_and_line(tmp_path, body, line, words):
    error = _broken(tmp_path, body)
    assert error.file is not None and error.file.endswith("broken.yaml")
    assert error.line == line
    assert words in error.message


def test_two_overlays_may_not_claim_one_sender(tmp_path):
    root = mappings_copy(tmp_path)
    (root / "overlays").mkdir()
    for name in ("one", "two"):
        (root / "overlays" / f"{name}.yaml").write_text(
            f"overlay: {name}\nsenders: [{{facility: SZRMYY}}]\n", encoding="utf-8"
        )
    with pytest.raises(MappingTemplateError, match="already names this sender"):
        Converter.load(root)


def test_overlays_are_compiled_once_at_load(converter):
    # the same overlay object serves every message: converting does not compile anything
    first = converter._select(er7.parse(adt()))
    second = converter._select(er7.parse(oru()))
    assert first is second and first is not None
    assert len(resources(converter.convert(er7.parse(adt())), "Patient")) == 1
