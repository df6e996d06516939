"""Snapshot mode: a set of repeating segments that replaces the stored set (HL7 v2.5.1 ch. 2, "Snapshot mode update
definition").

HL7 v2 offers two ways to update what repeating segments (DG1, AL1, PR1, IN1 …) describe: *snapshot mode* — the
segments sent are the whole set; what was stored and is not sent any more is gone, and a single segment whose fields
are all the HL7 null ``""`` deletes the whole set — and *action code / unique identifier mode* — each segment says
what to do with its own item (DG1-21, IAM-6: table 0206 ``A``, ``D``, ``U``, ``X``), and items not sent stay. Which
one an interface uses is agreed per site; the hub tells them apart per message: a set in which a segment carries an
action code is in action code mode.

A message template says which rules make such a set (``snapshot`` on a resource rule, see mappings/README.md):

.. code-block:: yaml

    snapshot:
      scope: encounter             # the set belongs to the resource of this rule (a visit's diagnoses)
      param: encounter             # the set's search parameter that names it
      where: {category: encounter-diagnosis}   # and what else every member of the set is
      listed_in: diagnosis         # the scope resource's element that lists the members
      unless: {from: DG1-21, present: true}    # a segment with an action code: action code mode

For each scope resource that segments of the set belong to, when none of them meets ``unless``, the engine writes
the set on the scope resource's Bundle entry (an extension, as the null marks are, :mod:`hub.mapping.nulls`)::

    {"url": "urn:hub:fhir:StructureDefinition:hl7v2-snapshot",
     "valueString": "Condition?encounter=Encounter/<id>&category=encounter-diagnosis"}

:mod:`hub.conversion` then deletes every stored resource that the search finds, that the sending facility produced
(its producer tag, the scope resource's), and that the Bundle does not write. A message without any segment of the
set writes no such mark (the stored set stays); a set of segments all ``""`` makes no resource and deletes the
stored set (and, with ``listed_in``, that element of the scope resource: a null mark).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from hub.hl7.er7 import Segment

SNAPSHOT_EXTENSION_URL = "urn:hub:fhir:StructureDefinition:hl7v2-snapshot"
HL7_NULL = '""'


def is_null_segment(seg: Segment) -> bool:
    """True for a segment that says "delete the whole set": every field but the set id (field 1, which a sender may
    number) is empty or the HL7 null ``""``, and one of them at least is ``""``."""
    nulled = False
    for text in seg.fields[2:]:
        if text == HL7_NULL:
            nulled = True
        elif text.strip():
            return False
    return nulled or seg[1] == HL7_NULL


def set_text(rtype: str, param: str, scope: str, where: dict[str, str]) -> str:
    """The search that finds the stored members of a set (``Condition?encounter=Encounter/1&category=…``)."""
    prefix, suffix = set_parts(rtype, param, where)
    return f"{prefix}{scope}{suffix}"


def set_parts(rtype: str, param: str, where: dict[str, str]) -> tuple[str, str]:
    """The text of a set's search before and after the scope reference (worked out once per rule: the scope, a
    ``Type/id`` of the engine's, needs no escaping)."""
    suffix = urlencode(list(where.items()), safe="/|:")
    return f"{rtype}?{param}=", f"&{suffix}" if suffix else ""


def parse_set(text: str) -> tuple[str, list[tuple[str, str]]] | None:
    """(type, search parameters) of a set's text; None for text that is none."""
    rtype, sep, query = text.partition("?")
    if not sep or not rtype.isalpha() or not query:
        return None
    return rtype, parse_qsl(query, keep_blank_values=False, strict_parsing=False)


def entry_sets(entry: dict[str, Any]) -> list[str]:
    """The snapshot sets marked on a Bundle entry (and remove them from it)."""
    extensions = entry.get("extension")
    if not extensions:
        return []
    found = [e["valueString"] for e in extensions if e.get("url") == SNAPSHOT_EXTENSION_URL and "valueString" in e]
    if not found:
        return []
    rest = [e for e in extensions if e.get("url") != SNAPSHOT_EXTENSION_URL]
    if rest:
        entry["extension"] = rest
    else:
        del entry["extension"]
    return found


__all__ = ["SNAPSHOT_EXTENSION_URL", "entry_sets", "is_null_segment", "parse_set", "set_parts", "set_text"]
