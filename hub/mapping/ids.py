"""Deterministic resource ids: the same key gives the same id in every message, on every machine.

``id = UUID(version 8) from the first 16 bytes of SHA-256("<ResourceType>" 0x1F "<part>" 0x1F "<part>" …)``.
Version 8 is RFC 9562's "custom" UUID: the hash bits are kept, only the version and variant bits are set.
The result is a valid FHIR id (``[A-Za-z0-9\\-.]{1,64}``) and a valid ``urn:uuid:`` for ``Bundle.entry.fullUrl``.

Key parts are strings; an Identifier counts as ``system|value`` (its type and period do not change the
identity of what it identifies), a Reference as its ``reference``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

_SEPARATOR = "\x1f"


def key_text(value: Any) -> str:
    """The text a key part contributes to the hash."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "value" in value and isinstance(value["value"], str):
            return f"{value.get('system', '')}|{value['value']}"
        if "reference" in value:
            return str(value["reference"])
    # A FhirDecimal counts as its float, as before decimals kept their text: the ids of resources stored then
    # stay the ids of the same resources converted now.
    return orjson.dumps(value, default=float, option=orjson.OPT_SORT_KEYS).decode()


def make_id(resource_type: str, parts: list[str]) -> str:
    """The id of a resource of ``resource_type`` with key ``parts``."""
    digest = hashlib.sha256(_SEPARATOR.join((resource_type, *parts)).encode("utf-8")).hexdigest()
    variant = "89ab"[int(digest[16], 16) & 0x3]
    return f"{digest[:8]}-{digest[8:12]}-8{digest[13:16]}-{variant}{digest[17:20]}-{digest[20:32]}"
