"""Which message structures and trigger events the mapping library converts, and which structure a message is.

The conversion asks this of its compiled templates; ingestion asks it at receipt, so that a message no template
converts is answered AR at once (HL7 v2.5.1 §2.9.2, table 0357: 200 unsupported message type, 201 unsupported
event code) instead of AA for a conversion that can only fail. Ingestion must not compile the library for that
(seconds, and a hundred MiB, in the process that answers every sender): :func:`read_mapped` reads only the
``message``, ``events`` and ``refused`` keys of ``message/*.yaml``. A sender overlay patches the rules of message
templates, never their structures or events, so the answer is the same for every sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hub.errors import ConversionError, MappingTemplateError
from hub.hl7 import er7
from hub.hl7.header import derive_structure
from hub.mapping.yamlload import load_yaml

__all__ = ["Mapped", "choose_structure", "message_kind", "read_mapped", "refusal"]


@dataclass(frozen=True, slots=True)
class Mapped:
    """What one message template says of its structure's trigger events."""

    events: frozenset[str] | None  # the events it maps (upper case); None: every event of the structure
    refused: Mapping[str, str] = field(default_factory=dict)  # event → why it is refused on purpose

    def maps(self, event: str) -> bool:
        return self.events is None or event in self.events


def message_kind(message: er7.Message) -> tuple[str, str, str]:
    """(MSH-9.1, the trigger event, MSH-9.3) of a message, upper case: the event is MSH-9.2, or EVN-1 in v2.1, whose
    MSH-9 is the message type alone."""
    msh = message.msh
    code = message.get(msh, 9, 1).strip().upper()
    event = message.get(msh, 9, 2).strip().upper()
    if not event and message.get(msh, 12, 1).strip() == "2.1":
        evn = message.first("EVN")
        event = message.get(evn, 1, 1).strip().upper() if evn is not None else ""
    return code, event, message.get(msh, 9, 3).strip().upper()


def choose_structure(mapped: Mapping[str, Mapped], code: str, event: str, given: str) -> str:
    """The structure to convert a message as: MSH-9.3 (``given``) if a template has that name, else the structure
    of HL7 table 0354 for the code and event.

    A wrong MSH-9.3 (``ADT^A03^ADT_A01``, ``ORU^R01^ORM_O01``) gives way to table 0354's structure when that
    template maps the event and MSH-9.3's does not name it (neither among its events nor its refusals): the trigger
    event, not the structure field, says what happened (a discharge is not converted as an admission).

    Args:
        mapped: the templates by structure.
        code, event, given: MSH-9.1, MSH-9.2 (EVN-1 in v2.1) and MSH-9.3, upper case.
    """
    derived = derive_structure(code, event)
    named = mapped.get(given) if given else None
    if named is None:
        return derived or given
    if not event or derived == given or (named.events is not None and event in named.events):
        return given
    table = mapped.get(derived)
    if event in named.refused or table is None or not table.maps(event):
        return given
    return derived


def refusal(mapped: Mapping[str, Mapped], code: str, event: str, structure: str) -> ConversionError | None:
    """Why no template converts a message of this type, event and (chosen) structure, or None when one does."""
    template = mapped.get(structure)
    if template is not None and template.maps(event):
        return None
    if template is None and event and any(name.partition("_")[0] == code for name in mapped):
        # the type is mapped, not this event of it (ADT^Z99): unsupported event code
        return ConversionError(
            f"no mapping for trigger event {code}^{event} (no template for structure {structure})",
            hl7_code="201",
            location="MSH^1^9^2",
        )
    if template is None:
        what = f"{code}^{event}" if code else "(empty MSH-9)"
        return ConversionError(
            f"no mapping for message structure {structure or '?'} ({what})", hl7_code="200", location="MSH^1^9"
        )
    reason = template.refused.get(event)
    return ConversionError(
        f"no mapping for trigger event {code}^{event} of structure {structure}" + (f": {reason}" if reason else ""),
        hl7_code="201",
        location="MSH^1^9^2",
    )


def read_mapped(directory: Path) -> dict[str, Mapped]:
    """The structures and events of a mappings directory's message templates, read without compiling them.

    Raises:
        MappingTemplateError: a message template cannot be read, or its ``message``, ``events`` or ``refused`` key
            is not what a template has (the full check is the library's, at conversion).
    """
    found: dict[str, Mapped] = {}
    for path in sorted((Path(directory) / "message").glob("*.yaml")):
        data = load_yaml(path)
        name = data.get("message") if isinstance(data, dict) else None
        events = data.get("events") if isinstance(data, dict) else None
        refused = data.get("refused", {}) if isinstance(data, dict) else None
        if (
            not isinstance(name, str)
            or not (events is None or (isinstance(events, list) and all(isinstance(e, str) for e in events)))
            or not isinstance(refused, dict)
        ):
            raise MappingTemplateError("a message template needs 'message', and 'events' as a list", file=str(path))
        found[name.upper()] = Mapped(
            frozenset(e.upper() for e in events) if events is not None else None,
            {str(e).upper(): str(reason) for e, reason in refused.items()},
        )
    return found
