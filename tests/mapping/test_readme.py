"""mappings/README.md documents every key, built-in, finisher, validator and filter the engine accepts."""

from __future__ import annotations

import re

import pytest

from hub.config import DEFAULT_MAPPINGS_DIR
from hub.mapping.builtins import BUILTINS, FINISHERS, VALIDATORS
from hub.mapping.compiler import _FORMAT_FILTERS
from hub.mapping.templates import (
    Condition,
    DatatypeTemplate,
    KeyRef,
    MessagePatch,
    MessageTemplate,
    NotCarriedList,
    OverlayTemplate,
    ResourcePatch,
    ResourceRule,
    ResourceTemplate,
    SenderMatch,
    TableEntry,
    TablePatch,
    TablePattern,
    TerminologyTable,
    UnmappedRule,
    ValueSpec,
)

README = (DEFAULT_MAPPINGS_DIR / "README.md").read_text(encoding="utf-8")
MODELS = [
    Condition,
    DatatypeTemplate,
    KeyRef,
    MessagePatch,
    MessageTemplate,
    NotCarriedList,
    OverlayTemplate,
    ResourcePatch,
    ResourceRule,
    ResourceTemplate,
    SenderMatch,
    TableEntry,
    TablePatch,
    TablePattern,
    TerminologyTable,
    UnmappedRule,
    ValueSpec,
]


def _keys() -> list[str]:
    keys = set()
    for model in MODELS:
        for name, info in model.model_fields.items():
            keys.add(info.alias or name)
    return sorted(keys)


@pytest.mark.parametrize("key", _keys())
def test_every_key_is_documented(key):
    assert re.search(rf"`(?:[\w\[\]*.]*\.)?{re.escape(key)}(?::[^`]*)?`", README), key


@pytest.mark.parametrize("name", sorted([*BUILTINS, *FINISHERS, *VALIDATORS, *_FORMAT_FILTERS]))
def test_every_builtin_finisher_validator_and_filter_is_documented(name):
    assert f"`{name}`" in README, name


def test_every_shipped_message_template_is_in_the_table():
    for path in (DEFAULT_MAPPINGS_DIR / "message").glob("*.yaml"):
        assert path.stem in README, path.stem
