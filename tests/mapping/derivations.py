"""Every Observation.derivedFrom a conversion makes names a resource: an entry of its own Bundle, or one that an
earlier message of the same test made (a susceptibility panel sent after its culture), never an id no resource has.

tests/mapping/conftest.py checks it on every conversion of the mapping tests (the corpus test, the microbiology
tests in ORU^R01 and OUL^R21 … R24, and all others): a module's fixtures count as earlier messages of each of its
tests.
"""

from __future__ import annotations

from typing import Any


def made(bundle: dict[str, Any]) -> set[str]:
    """``Type/id`` of every resource the Bundle writes (DELETE entries write none)."""
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"] if "resource" in e}


def derivations(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    """(the deriving Observation's id, the reference) of every Observation.derivedFrom of the Bundle."""
    return [
        (e["resource"]["id"], d["reference"])
        for e in bundle["entry"]
        if e.get("resource", {}).get("resourceType") == "Observation"
        for d in e["resource"].get("derivedFrom", [])
    ]


class Derivations:
    """What the messages converted so far made: outside any test (a module's fixtures) and in the current one."""

    def __init__(self) -> None:
        self.outside: set[str] = set()
        self.in_test: set[str] | None = None  # None: no test is running (a fixture converts)
        self.checked = 0

    def start_test(self) -> None:
        self.in_test = set()

    def end_test(self) -> None:
        self.in_test = None

    def check(self, bundle: dict[str, Any]) -> None:
        """Fail unless each derivedFrom of ``bundle`` names one of its entries or a resource made earlier."""
        here = made(bundle)
        earlier = self.outside | (self.in_test or set())
        dangling = [(obs, target) for obs, target in derivations(bundle) if target not in here | earlier]
        assert not dangling, f"derivedFrom names a resource no message of this test made: {dangling}"
        self.checked += len(derivations(bundle))
        (self.outside if self.in_test is None else self.in_test).update(here)
