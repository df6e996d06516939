"""Every message of the development corpus converts to valid FHIR R4, or, for a structure without a template yet,
is refused with a ConversionError. ADT, SIU, MDM, PPR, BAR, DFT and REF (and ORU) are never refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import ConversionError
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from tests.support.paths import CORPUS, MALFORMED


def _messages() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".hl7", ".txt") and not p.name.startswith("LICENSE"))


MESSAGES = _messages()


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8-sig")


def _type(path: Path) -> str:
    message = er7.parse(_text(path))
    return message.get(message.msh, 9, 1)


def test_the_corpus_is_there():
    assert len(MESSAGES) >= 100, f"corpus not found at {CORPUS}"


@pytest.mark.parametrize("path", MESSAGES, ids=[f"{p.parent.name[:9]}/{p.name}" for p in MESSAGES])
def test_corpus_message(converter, path):
    message = er7.parse(_text(path))
    code, event, structure = converter.structure_of(message)
    if not converter.supports(structure, event):
        with pytest.raises(ConversionError) as caught:
            converter.convert(message)
        assert caught.value.location == ("MSH^1^9" if not converter.supports(structure) else "MSH^1^9^2")
        return
    if path.name in MALFORMED:
        with pytest.raises(ConversionError) as caught:
            converter.convert(message)
        assert caught.value.location == MALFORMED[path.name]
        return
    bundle = converter.convert(message)
    assert bundle["entry"], "no resources"
    assert validate_bundle(bundle, models=True) == []
    # a DELETE entry (A29 deletes the person) has no resource: its type is in its url
    types = {e["request"]["url"].split("/")[0] for e in bundle["entry"]}
    assert "Patient" in types
    if code == "ORU":
        assert {"DiagnosticReport", "Observation"} <= types
    expected = {
        "SIU": "Appointment",
        "MDM": "DocumentReference",
        "PPR": "Condition",
        "DFT": "ChargeItem",
        "BAR": "Account",
        "REF": "ServiceRequest",
    }
    if code in expected:
        assert expected[code] in types, (code, types)


# Message types whose every corpus file must convert (none refused).
NEVER_REFUSED = ("ADT", "ORU", "SIU", "MDM", "PPR", "BAR", "DFT", "REF")


def test_the_mapped_families_are_never_refused(converter):
    refused = []
    for path in MESSAGES:
        message = er7.parse(_text(path))
        code, event, structure = converter.structure_of(message)
        if code in NEVER_REFUSED and not converter.supports(structure, event):
            refused.append(f"{path.name} {code}^{event} ({structure})")
    assert refused == []


def test_the_first_version_covers_what_it_promises(converter):
    """ADT^A01/A04/A08 and ORU^R01 of the corpus all convert (and several other ADT events with them)."""
    converted = {}
    for path in MESSAGES:
        message = er7.parse(_text(path))
        code, event, structure = converter.structure_of(message)
        if code in ("ADT", "ORU") and converter.supports(structure, event):
            converted[f"{code}^{event}"] = converted.get(f"{code}^{event}", 0) + 1
    for wanted in ("ADT^A01", "ADT^A04", "ADT^A08", "ORU^R01"):
        assert converted.get(wanted, 0) >= 1, wanted
    assert sum(converted.values()) >= 40


# Orders, results, pharmacy and immunization: what each message type must make.
ORDER_FAMILIES = {
    "ORM": {"ServiceRequest", "MedicationRequest"},  # one of them: a lab order (OBR) or a pharmacy order (RXO)
    "OML": {"ServiceRequest"},
    "OMG": {"ServiceRequest"},
    "OUL": {"DiagnosticReport", "Observation", "Specimen"},
    "RDE": {"MedicationRequest", "Medication"},
    "RDS": {"MedicationDispense", "MedicationRequest", "Medication"},
    "VXU": {"Immunization"},
}


def test_order_result_pharmacy_and_immunization_messages_all_convert(converter):
    """None of these is refused as unsupported; all but the malformed ones convert to valid R4 with their resources."""
    refused, converted = [], {}
    for path in MESSAGES:
        message = er7.parse(_text(path))
        code, event, structure = converter.structure_of(message)
        if code not in ORDER_FAMILIES:
            continue
        if not converter.supports(structure, event):
            refused.append(f"{path.name} {code}^{event} ({structure})")
            continue
        if path.name in MALFORMED:
            continue
        bundle = converter.convert(message)
        assert validate_bundle(bundle, models=True) == [], path.name
        types = {e["request"]["url"].split("/")[0] for e in bundle["entry"]}
        wanted = ORDER_FAMILIES[code]
        if code == "ORM":
            assert wanted & types, (path.name, types)
        else:
            assert wanted <= types, (path.name, types)
        assert "Patient" in types, path.name
        converted[structure] = converted.get(structure, 0) + 1
    assert refused == []
    assert converted == {
        "OMG_O19": 1,
        "OML_O21": 5,  # and oml_o21_ex4 and ex6, malformed
        "ORM_O01": 6,  # OML-O21-02.hl7 is ORM^O01 in MSH-9
        "OUL_R22": 1,
        "OUL_R23": 1,
        "OUL_R24": 2,
        "RDE_O01": 2,
        "RDE_O11": 1,
        "RDE_O25": 1,
        "RDS_O13": 1,
        "VXU_V04": 2,
    }
