"""Templates are data: an invalid one is rejected at load with file, line and reason; a new message type or a
changed mapping needs no Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import ConversionError, MappingTemplateError
from hub.hl7 import er7
from hub.mapping import Converter

from .conftest import convert, mappings_copy, one


def _replace(path: Path, old: str, new: str) -> int:
    """Replace ``old`` once in ``path``; return the 1-based line where the replacement starts."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    index = text.index(old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[:index].count("\n") + 1 + (len(new) - len(new.lstrip("\n")))


def _load_error(mappings: Path) -> MappingTemplateError:
    with pytest.raises(MappingTemplateError) as caught:
        Converter.load(mappings)
    return caught.value


@pytest.mark.parametrize(
    ("file", "old", "new", "reason"),
    [
        # an unknown key (a typo of 'path')
        ("resource/Patient.yaml", "  - path: gender\n", "  - pth: gender\n", "pth"),
        # an element R4 does not have
        ("resource/Patient.yaml", "  - path: birthDate\n", "  - path: birthdate\n", "no element 'birthdate'"),
        # a path through a repeating element
        ("resource/Patient.yaml", "  - path: gender\n", "  - path: name.family\n", "repeating element"),
        # a constant outside a required value set
        ("resource/Encounter.yaml", "    value: finished\n", "    value: done\n", "not one of the codes"),
        # an unknown datatype template or built-in
        ("resource/Patient.yaml", "    type: XPN\n", "    type: XPNN\n", "unknown type 'XPNN'"),
        # a datatype that does not make the element's type
        (
            "resource/Patient.yaml",
            "    from: PID-7\n    type: date\n",
            "    from: PID-7\n    type: XPN\n",
            "makes HumanName",
        ),
        # an unknown terminology table
        ("resource/Patient.yaml", "    table: v2-0001\n", "    table: v2-9999\n", "unknown terminology table"),
        # a table that could put a code outside a required value set
        (
            "resource/Patient.yaml",
            "    from: PID-8\n    table: v2-0001\n",
            "    from: PID-8\n    table: v2-0004\n",
            "can produce",
        ),
        # a malformed source path
        ("resource/Patient.yaml", "    from: PID-7\n", "    from: PID7\n", "not a source path"),
        # a relative path where a segment is needed
        ("resource/Patient.yaml", "    from: PID-7\n", '    from: "7"\n', "relative"),
        # a condition with two operators
        (
            "message/ADT_A01.yaml",
            "    when: {from: PV1-2, not_in: [N]}\n",
            "    when: {from: PV1-2, not_in: [N], in: [I]}\n",
            "exactly one operator",
        ),
        # a bad regular expression
        ("datatype/HD_uri.yaml", "matches: '^[0-2](\\.(0|[1-9][0-9]*))+$'", "matches: '^[0-2(('", "regular expression"),
        # an unknown validator
        ("datatype/CX.yaml", "valid: resident-id", "valid: resident-passport", "unknown validator"),
        # a segment the structure does not have
        (
            "message/ORU_R01.yaml",
            "    for: PATIENT_RESULT.ORDER_OBSERVATION.OBR\n",
            "    for: PATIENT_RESULT.OBR\n",
            "not a segment of the structure",
        ),
        # a structure item that is neither a segment nor a group
        ("message/ADT_A01.yaml", "  - SFT*\n", "  - sft*\n", "structure"),
        # invalid YAML
        ("terminology/v2-0001.yaml", "  F: female\n", "  F: female\n   M: [\n", "invalid YAML"),
        # a duplicate key
        ("terminology/v2-0001.yaml", "  F: female\n", "  F: female\n  F: other\n", "duplicate key"),
    ],
)
def test_an_invalid_template_is_rejected_with_file_and_line(tmp_path, file, old, new, reason):
    mappings = mappings_copy(tmp_path)
    line = _replace(mappings / file, old, new)
    error = _load_error(mappings)
    assert error.file is not None and error.file.endswith(file)
    assert error.line is not None and abs(error.line - line) <= 2, (error.line, line, error.message)
    assert reason in error.message
    assert error.message.startswith(f"{error.file}:{error.line}: ")


def test_a_reference_to_a_resource_the_message_does_not_make(tmp_path):
    mappings = mappings_copy(tmp_path)
    _replace(mappings / "message/ADT_A01.yaml", "  - name: patient\n", "  - name: person\n")
    error = _load_error(mappings)
    assert error.file is not None and error.file.endswith("message/ADT_A01.yaml")
    assert "patient" in error.message and error.line is not None


def test_datatypes_that_refer_to_each_other_in_a_cycle(tmp_path):
    mappings = mappings_copy(tmp_path)
    _replace(
        mappings / "datatype/EI_system.yaml",
        "  - from: MSH-3\n    type: HD_uri\n",
        "  - from: MSH-3\n    type: EI_uri\n",
    )
    (mappings / "datatype/EI_uri.yaml").write_text(
        "datatype: EI_uri\nfhir: uri\nrules:\n  - type: EI_system\n", encoding="utf-8"
    )
    error = _load_error(mappings)
    assert "cycle" in error.message


def test_a_template_file_must_be_named_after_its_template(tmp_path):
    mappings = mappings_copy(tmp_path)
    (mappings / "datatype/XPN.yaml").rename(mappings / "datatype/Name.yaml")
    error = _load_error(mappings)
    assert "XPN.yaml" in error.message


def test_ignore_case_tables_reject_colliding_codes(tmp_path):
    mappings = mappings_copy(tmp_path)
    _replace(mappings / "terminology/v2-0001.yaml", "  F: female\n", "  F: female\n  f: male\n")
    assert "collides" in _load_error(mappings).message


def test_a_changed_mapping_needs_no_python(tmp_path):
    """A hospital sends its class as 'Z' for day surgery; one table line maps it."""
    mappings = mappings_copy(tmp_path)
    _replace(
        mappings / "terminology/v2-0004.yaml",
        "  E: {code: EMER",
        "  Z: {code: SS, display: short stay}\n  E: {code: EMER",
    )
    converter = Converter.load(mappings)
    text = (
        "MSH|^~\\&|HIS|H|HUB|CITY|20260315083000||ADT^A01|1|P|2.5.1\rEVN|A01\rPID|1||M1^^^H^MR||Li^Si\r"
        "PV1|1|Z|||||||||||||||||V1\r"
    )
    assert one(convert(converter, text), "Encounter")["class"]["code"] == "SS"


def test_a_new_message_type_needs_no_python(tmp_path):
    """MDM^T02 (a document notification) made to give its Patient, by two small YAML files."""
    mappings = mappings_copy(tmp_path)
    (mappings / "message/MDM_T02.yaml").write_text(
        """# MDM_T02: original document notification and content (only the patient, for this test)
message: MDM_T02
structure:
  - MSH
  - EVN
  - PID
  - PV1
  - TXA
  - OBSERVATION*:
      - OBX
      - NTE*
resources:
  - name: patient
    template: Patient
    for: PID
    required: true
  - name: encounter
    template: Encounter
    for: PV1
""",
        encoding="utf-8",
    )
    converter = Converter.load(mappings)
    assert converter.supports("MDM_T02")
    text = (
        "MSH|^~\\&|EMR|H|HUB|CITY|20260315083000||MDM^T02^MDM_T02|1|P|2.5.1\rEVN|T02\r"
        "PID|1||M1^^^H^MR||王^芳||19900202|F\rPV1|1|O|||||||||||||||||V7\rTXA|1|CN\rOBX|1|TX|||note\r"
    )
    bundle = convert(converter, text)
    assert one(bundle, "Patient")["name"] == [{"family": "王", "given": ["芳"], "text": "王芳"}]
    assert one(bundle, "Encounter")["subject"]["reference"].startswith("Patient/")


def test_a_required_element_without_a_value_is_a_conversion_error(tmp_path):
    mappings = mappings_copy(tmp_path)
    _replace(
        mappings / "resource/Patient.yaml",
        "    from: PID-7\n    type: date\n",
        "    from: PID-7\n    type: date\n    required: true\n",
    )
    converter = Converter.load(mappings)
    text = "MSH|^~\\&|HIS|H|HUB|CITY|20260315083000||ADT^A01|1|P|2.5.1\rEVN|A01\rPID|1||M1^^^H^MR||Li^Si\r"
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(text))
    assert caught.value.location == "PID^1^7"
    assert "birthDate is required" in caught.value.message


def test_unsupported_structures_and_events(converter):
    mfn = "MSH|^~\\&|HIS|H|HUB|CITY|20260315083000||MFN^M02^MFN_M02|1|P|2.5.1\rMFI|PRA\r"
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(mfn))
    assert caught.value.location == "MSH^1^9" and "MFN_M02" in caught.value.message
    # An event that a template's events list leaves out (A19 does not have the structure ADT_A21), and that has
    # no template of its own by table 0354 (ADT^A01^ADT_A21 is converted as ADT_A01: test_version_variants.py)
    a19 = "MSH|^~\\&|HIS|H|HUB|CITY|20260315083000||ADT^A19^ADT_A21|1|P|2.5.1\rEVN|A19\rPID|1||M1\rPV1|1|I\r"
    with pytest.raises(ConversionError) as caught:
        converter.convert(er7.parse(a19))
    assert caught.value.location == "MSH^1^9^2"
    assert not converter.supports("MFN_M02") and converter.supports("ADT_A21")
    assert not converter.supports("ADT_A21", "A01") and converter.supports("ADT_A21", "A21")
    empty = "MSH|^~\\&|HIS|H|HUB|CITY|20260315083000|||1|P|2.5.1\r"
    with pytest.raises(ConversionError):
        converter.convert(er7.parse(empty))


def test_the_structure_comes_from_msh_9_3_or_the_event_table(converter):
    message = er7.parse("MSH|^~\\&|HIS|H|HUB|CITY|20260315083000||ADT^A04|1|P|2.3\r")
    assert converter.structure_of(message) == ("ADT", "A04", "ADT_A01")
    # An event-named MSH-9.3 that is not a structure (ADT_A04) falls back to the table too.
    message = er7.parse("MSH|^~\\&|HIS|H|HUB|CITY|20260315083000||ADT^A08^ADT_A08|1|P|2.8\r")
    assert converter.structure_of(message) == ("ADT", "A08", "ADT_A01")
