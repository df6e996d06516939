"""Fixtures for the mapping tests: the shipped converter, and helpers to convert and look into Bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from hub.mapping import Converter


@pytest.fixture(scope="session")
def converter() -> Converter:
    return Converter.load(DEFAULT_MAPPINGS_DIR)


def convert(converter: Converter, text: str, tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """Convert, and check the output is valid R4 (schema) and accepted by the R4B models."""
    bundle = converter.convert(er7.parse(text), sender_timezone=tz)
    errors = validate_bundle(bundle, models=True)
    assert errors == [], errors
    return bundle


def with_report(converter: Converter, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The Bundle (valid R4, R4B models too) and the conversion report of one message."""
    result = converter.convert_with_report(er7.parse(text), sender_timezone="Asia/Shanghai")
    assert validate_bundle(result.bundle, models=True) == []
    return result.bundle, result.report


def resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    # DELETE entries (A29, PPR^PC3 …) have no resource
    return [e["resource"] for e in bundle["entry"] if "resource" in e and e["resource"]["resourceType"] == rtype]


def one(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    found = resources(bundle, rtype)
    assert len(found) == 1, f"{len(found)} {rtype} resources"
    return found[0]


def ref(resource: dict[str, Any]) -> dict[str, str]:
    return {"reference": f"{resource['resourceType']}/{resource['id']}"}


def mappings_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped mappings directory."""
    import shutil

    target = tmp_path / "mappings"
    shutil.copytree(DEFAULT_MAPPINGS_DIR, target)
    return target


def dosage_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """The one dosage instruction of the Bundle's one MedicationRequest."""
    (dosage,) = one(bundle, "MedicationRequest")["dosageInstruction"]
    return dosage
