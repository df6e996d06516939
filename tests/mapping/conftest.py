"""Fixtures for the mapping tests: the shipped converter, and helpers to convert and look into Bundles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR
from hub.fhir.validation import validate_bundle
from hub.hl7 import er7
from hub.mapping import Converter

from .derivations import Derivations


@pytest.fixture(scope="session")
def converter() -> Converter:
    return Converter.load(DEFAULT_MAPPINGS_DIR)


@pytest.fixture(scope="module", autouse=True)
def _derivations() -> Iterator[Derivations]:
    """Every conversion of a mapping test: each Observation.derivedFrom names a resource of its Bundle or one an
    earlier message of the test (or of the module's fixtures) made (tests/mapping/derivations.py)."""
    seen = Derivations()
    original = Converter.convert_with_report

    def checked(self: Converter, message: er7.Message, **options: Any) -> Any:
        result = original(self, message, **options)
        seen.check(result.bundle)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Converter, "convert_with_report", checked)
        yield seen


@pytest.fixture(autouse=True)
def _derivations_of_the_test(_derivations: Derivations) -> Iterator[None]:
    _derivations.start_test()
    yield
    _derivations.end_test()


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
