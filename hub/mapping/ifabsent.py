"""Entries written only when the hub has never stored their resource (a message rule's ``if_absent``).

A v2 line sent "unchanged" (PRB-1/GOL-1 ``UC``, HL7 table 0287) carries the problem or goal only to say which one the
lines after it are about; what it says of it is not news. A receiver that has the problem keeps it as stored; one
that has never had it adds it, as the line describes it (the sender's problem list has it), so that the goal sent
under it addresses a problem the hub has. The engine marks such an entry with the extension
:data:`IF_ABSENT_EXTENSION_URL`; :func:`hub.conversion.apply_converted` drops the entry when a resource of that type
and id was ever stored (also one deleted since: an unchanged line does not bring back a problem deleted before).
"""

from __future__ import annotations

from typing import Any

from hub.mapping.entrymarks import take_mark

IF_ABSENT_EXTENSION_URL = "urn:hub:fhir:StructureDefinition:hl7v2-if-absent"

MARK: dict[str, Any] = {"url": IF_ABSENT_EXTENSION_URL, "valueBoolean": True}


def entry_if_absent(entry: dict[str, Any]) -> bool:
    """Whether a Bundle entry is marked to be written only if its resource was never stored (the mark is removed)."""
    return take_mark(entry, IF_ABSENT_EXTENSION_URL)


__all__ = ["IF_ABSENT_EXTENSION_URL", "MARK", "entry_if_absent"]
