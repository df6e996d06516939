"""Entries of a visit whose patient has moved (a message rule's ``moved``): the ward left is completed.

A transfer (A02) names the new location (PV1-3) and should name the one left (PV1-6, v2.5.1 §3.3.2); many HIS leave
PV1-6 empty. The location the patient left is then the stored visit's active one, which the message's list would
replace: the visit would forget a ward the patient was in. The engine marks such an entry with the extension
:data:`MOVED_EXTENSION_URL`; :func:`hub.conversion.apply_converted` removes the mark and, once the entry is merged
with the stored visit, :func:`hub.updates.complete_left_locations` puts back each stored active location the message
does not list, completed.
"""

from __future__ import annotations

from typing import Any

from hub.mapping.entrymarks import take_mark

MOVED_EXTENSION_URL = "urn:hub:fhir:StructureDefinition:hl7v2-moved"

MARK: dict[str, Any] = {"url": MOVED_EXTENSION_URL, "valueBoolean": True}


def entry_moved(entry: dict[str, Any]) -> bool:
    """Whether a Bundle entry is marked as a visit whose patient moved (the mark is removed)."""
    return take_mark(entry, MOVED_EXTENSION_URL)


__all__ = ["MARK", "MOVED_EXTENSION_URL", "entry_moved"]
