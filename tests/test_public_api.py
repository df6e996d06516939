"""The hub's public API (hub/__init__.py) resolves every name it promises, lazily."""

from __future__ import annotations

import subprocess
import sys

import hub


def test_every_public_name_resolves() -> None:
    for name in hub.__all__:
        assert getattr(hub, name) is not None, name


def test_import_hub_stays_light() -> None:
    code = "import sys, hub; print(sorted(m for m in sys.modules if m.startswith('hub')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['hub', 'hub.config']"


def test_unknown_names_are_attribute_errors() -> None:
    try:
        hub.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
