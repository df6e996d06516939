"""Every ADT and ORU message of the development corpus converts to valid FHIR R4, or, for a structure without a
template yet, is refused with a ConversionError; every other message type is refused the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import ConversionError
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from tests.support.paths import CORPUS


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
    bundle = converter.convert(message)
    assert bundle["entry"], "no resources"
    assert validate_bundle(bundle, models=True) == []
    types = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert "Patient" in types
    if code == "ORU":
        assert {"DiagnosticReport", "Observation"} <= types


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
