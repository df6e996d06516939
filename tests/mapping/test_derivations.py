"""The check tests/mapping/conftest.py runs on every conversion of the mapping tests (tests/mapping/derivations.py):
each Observation.derivedFrom names a resource of its Bundle or one an earlier message of the same test made."""

from __future__ import annotations

import pytest

from .derivations import Derivations


def bundle(*entries: tuple[str, str, list[str]]) -> dict:
    return {
        "entry": [
            {"resource": {"resourceType": t, "id": i, **({"derivedFrom": [{"reference": r} for r in d]} if d else {})}}
            for t, i, d in entries
        ]
    }


def test_a_derivation_within_the_bundle_or_from_an_earlier_message_passes():
    seen = Derivations()
    seen.check(bundle(("Observation", "org", []), ("Observation", "amk", ["Observation/org"])))
    seen.start_test()
    seen.check(bundle(("Observation", "org2", [])))
    seen.check(bundle(("Observation", "ipm", ["Observation/org2"]), ("Observation", "cip", ["Observation/org"])))
    assert seen.checked == 3


def test_a_derivation_naming_no_resource_fails():
    seen = Derivations()
    seen.start_test()
    seen.check(bundle(("Observation", "org", [])))
    seen.end_test()
    # a message of another test made it: not this test's
    seen.start_test()
    with pytest.raises(AssertionError, match="Observation/org"):
        seen.check(bundle(("Observation", "amk", ["Observation/org"])))
