"""Every conversion's output is its own: no object of a Bundle is another Bundle's, nor twice in one Bundle.

A template's constants (a Coding, a participant's type) are read from YAML as dict and list subclasses that know
their lines; the copy made for each output tested the exact type and handed those out as they were. Every
Encounter of every message then held the same ``type`` object: a reader that changed one in place (the merge with a
stored version, a service adding a coding) changed it in every later conversion too, and an object written twice in
one Bundle (a resident id's type on the Patient and on the next of kin) changed both places at once. Before the
fix, 102 of the 104 corpus messages that convert leaked a change of their output into the next conversion, and 38
had an object twice in one Bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hub.errors import ConversionError
from hub.fhir import jsoncodec
from hub.hl7 import er7
from hub.mapping import Converter
from tests.support.paths import CORPUS


def _corpus() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".hl7", ".txt") and not p.name.startswith("LICENSE"))


PATHS = _corpus()


def _scribble(node: Any) -> None:
    """Change every object of ``node`` in place, as a careless reader of the Bundle might."""
    if isinstance(node, dict):
        for value in list(node.values()):
            _scribble(value)
        node["scribbled"] = True
    elif isinstance(node, list):
        for value in node:
            _scribble(value)
        node.append("scribbled")


def _twice(root: Any) -> list[Any]:
    """The dicts and lists that appear more than once in ``root``."""
    seen: set[int] = set()
    again = []
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            if id(node) in seen:
                again.append(node)
                continue
            seen.add(id(node))
            stack.extend(node.values() if isinstance(node, dict) else node)
    return again


def test_there_are_messages():
    assert len(PATHS) >= 100, f"corpus not found at {CORPUS}"


@pytest.mark.parametrize("path", PATHS, ids=[f"{p.parent.name[:9]}/{p.name}" for p in PATHS])
def test_a_conversion_shares_nothing(converter: Converter, path: Path):
    text = path.read_bytes().decode("utf-8-sig")
    try:
        first = converter.convert_with_report(er7.parse(text))
    except ConversionError:
        pytest.skip("refused")
    assert _twice([first.bundle, first.report]) == []
    expected = jsoncodec.dumps([first.bundle, first.report])
    _scribble(first.bundle)
    _scribble(first.report)
    again = converter.convert_with_report(er7.parse(text))
    assert jsoncodec.dumps([again.bundle, again.report]) == expected
