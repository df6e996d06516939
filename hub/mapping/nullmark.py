"""The null mark: what one HL7 null (``""``) of a message deletes, written as a string on the Bundle entry.

The engine (:mod:`hub.mapping.nulls`) writes the marks, :func:`hub.updates.merge_update` applies them to the stored
resource. A mark is an element path, optionally followed by selectors::

    mark     = path *selector ["|" 1*selector]
    path     = name *("." name)        ; an element path of the resource, as templates write it
    selector = "[" leaf "=" value "]"   ; leaf: a dotted path inside one item of the list at ``path``
    value    = 1*(any character but "]")

* ``period.end``, ``address``: the element is deleted whole.
* ``participant[type.coding.system=http://terminology.hl7.org/CodeSystem/v3-ParticipationType][type.coding.code=ATND]``:
  ``path`` names a list, and only its items that match every selector are deleted (here the attending doctor;
  the admitter and the referrer stay). An item matches ``[leaf=value]`` when some value reached by following
  ``leaf`` through the item (through every item of a list on the way) equals ``value``: a string as it is, a
  boolean as ``true``/``false``, a number as JSON writes it. Selectors are matched one by one: two selectors on
  ``type.coding`` need not hold for the same Coding.
* ``participant[extension.valueIdentifier.system=urn:hub:id:SZRMYY_HIS][extension.valueIdentifier.value=RL5001]|``
  ``[type.coding.system=…][type.coding.code=CON][individual.identifier.value=D003]``: the selectors after ``|``
  (``otherwise``) are for a stored list none of whose items matches the ones before: then the items deleted are
  those that match them and have no value at any leaf of the ones before (a ``DE`` line with a role instance id,
  ROL-1: the participant of that id, else one of that role and person stored without an id, from before the
  sender sent ids; :meth:`NullMark.deleting`).

The engine writes a selector only where the template tells the items of a list apart by constants (see
:mod:`hub.mapping.nulls`), so that a ``""`` in one of several fields that fill one list deletes the items of that
field only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

# Types whose stored version an update is merged into (hub.updates.merge_update: where the marks of a message apply);
# every other type is replaced by the converted version.
MERGED_TYPES = frozenset(
    {
        "Patient",
        "Encounter",
        "Account",
        "RelatedPerson",
        "Practitioner",
        "Organization",
        # orders: a status message (a bare ORC) describes the order in part
        "ServiceRequest",
        "MedicationRequest",
        # documents: a status change or cancel without content (MDM T03, T07, T11) describes the document in part;
        # its placeholder content (marked data-absent-reason) must not replace the stored text
        "DocumentReference",
        # an imaging study: its order (OMI IPC, ORM ZDS) says what is scheduled, its report (ORU) that the images
        # exist; each describes the study in part
        "ImagingStudy",
        # a report: a correction (OBR-25 C) or a status change may send only the results it changes
        "DiagnosticReport",
    }
)

# Types merged only sometimes: an Observation without its result (a status change, hub.updates.is_merged).
SOMETIMES_MERGED_TYPES = frozenset({"Observation"})
# Lists the merge unites with the stored list (every stored item stays unless a null mark deletes it).
UNITED_ELEMENTS = frozenset({"identifier", "link"})

_MARK_RE = re.compile(
    r"^([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)((?:\[[^\]=]+=[^\]]+\])*)(?:\|((?:\[[^\]=]+=[^\]]+\])+))?$"
)
_SELECTOR_RE = re.compile(r"\[([^\]=]+)=([^\]]+)\]")


@dataclass(frozen=True, slots=True)
class NullMark:
    """One deletion: the element at ``path``, or (with ``where``) the items of that list that match it."""

    path: str
    where: tuple[tuple[str, str], ...] = ()
    # the selectors for a stored list none of whose items matches ``where`` (written after "|"; see the module)
    otherwise: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        text = self.path + "".join(f"[{leaf}={value}]" for leaf, value in self.where)
        if self.otherwise:
            text += "|" + "".join(f"[{leaf}={value}]" for leaf, value in self.otherwise)
        return text

    @property
    def element(self) -> str:
        """The top-level element the mark is in (``period`` for ``period.end``)."""
        return self.path.split(".", 1)[0]

    @classmethod
    def parse(cls, text: str) -> NullMark:
        """The mark written as ``text`` (see the module docstring).

        Raises:
            ValueError: ``text`` is not a mark.
        """
        found = _MARK_RE.match(text)
        if found is None:
            raise ValueError(f"not a null mark: {text!r}")
        where = tuple((m.group(1), m.group(2)) for m in _SELECTOR_RE.finditer(found.group(2)))
        if found.group(3) is None:
            return cls(found.group(1), where)
        return cls(
            found.group(1), where, tuple((m.group(1), m.group(2)) for m in _SELECTOR_RE.finditer(found.group(3)))
        )

    def matches(self, item: Any) -> bool:
        """Whether ``item`` (one item of the list at ``path``) matches every selector."""
        for leaf, value in reversed(self.where):  # the last selector is the most telling (a code after its system)
            if not reaches_value(item, _steps(leaf), 0, value):
                return False
        return True

    def deleting(self, stored: list[Any]) -> Callable[[Any], bool]:
        """What tells the items the mark deletes from the ``stored`` items of its list: :meth:`matches`; with
        ``otherwise`` selectors and no stored item that matches, the items that match those and have no value at
        a leaf of ``where`` (the participants stored without a role instance id)."""
        if not self.otherwise or any(self.matches(item) for item in stored):
            return self.matches
        instead = NullMark(self.path, self.otherwise)
        leaves = [_steps(leaf) for leaf, _ in self.where]
        return lambda item: instead.matches(item) and all(first_value(item, steps) is None for steps in leaves)


def selector_text(value: Any) -> str | None:
    """A constant as a selector writes it (``true`` for True), or None for one it cannot hold (an object, a
    list, an empty text, a text with ``]``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value and "]" not in value:
        return value
    return None


@cache
def _steps(leaf: str) -> tuple[str, ...]:
    return tuple(leaf.split("."))


def reaches_value(node: Any, steps: tuple[str, ...], depth: int, value: str) -> bool:
    """Whether ``value`` is among the values at ``steps[depth:]`` of ``node`` (as :func:`leaf_values` finds them;
    this runs for every resource of every message, so it stops at the first match)."""
    while True:
        if isinstance(node, list):
            if len(node) == 1:
                node = node[0]  # one item (most lists: a coding, a participant's type): on in the loop, no call
                continue
            for item in node:
                if reaches_value(item, steps, depth, value):
                    return True
            return False
        if depth == len(steps):
            # a text that selector_text refuses (empty, with "]") never equals a value, which has neither
            return node == value if isinstance(node, str) else selector_text(node) == value
        if not isinstance(node, dict):
            return False
        node = node.get(steps[depth])
        if node is None:
            return False
        depth += 1


def first_value(node: Any, steps: tuple[str, ...] | list[str], at: int = 0) -> str | None:
    """The first value (in document order, as a selector reads it) at ``steps[at:]`` of ``node``, through lists: the
    key of a participant (hub.mapping.merging), a withdrawn item's selectors (hub.mapping.nulls). Down through dicts
    in a loop, a call only for the items of a list: it runs for every participant a message adds."""
    while True:
        if isinstance(node, list):
            if len(node) == 1:
                node = node[0]  # one item: on in the loop, no call
                continue
            for item in node:
                found = first_value(item, steps, at)
                if found is not None:
                    return found
            return None
        if at == len(steps):
            return selector_text(node)
        if not isinstance(node, dict):
            return None
        node = node.get(steps[at])
        if node is None:
            return None
        at += 1


def leaf_values(node: Any, leaf: str) -> Iterator[str]:
    """The values at the dotted ``leaf`` path of ``node``, through every item of a list on the way."""
    stack: list[tuple[Any, int]] = [(node, 0)]
    steps = leaf.split(".")
    while stack:
        current, depth = stack.pop()
        if isinstance(current, list):
            stack.extend((item, depth) for item in current)
        elif depth == len(steps):
            text = selector_text(current)
            if text is not None:
                yield text
        elif isinstance(current, dict) and steps[depth] in current:
            stack.append((current[steps[depth]], depth + 1))


__all__ = [
    "MERGED_TYPES",
    "SOMETIMES_MERGED_TYPES",
    "UNITED_ELEMENTS",
    "NullMark",
    "leaf_values",
    "reaches_value",
    "selector_text",
]
