"""The null mark: what one HL7 null (``""``) of a message deletes, written as a string on the Bundle entry.

The engine (:mod:`hub.mapping.nulls`) writes the marks, :func:`hub.updates.merge_update` applies them to the stored
resource. A mark is an element path, optionally followed by selectors::

    mark     = path *selector
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

The engine writes a selector only where the template tells the items of a list apart by constants (see
:mod:`hub.mapping.nulls`), so that a ``""`` in one of several fields that fill one list deletes the items of that
field only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_MARK_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)((?:\[[^\]=]+=[^\]]+\])*)$")
_SELECTOR_RE = re.compile(r"\[([^\]=]+)=([^\]]+)\]")


@dataclass(frozen=True, slots=True)
class NullMark:
    """One deletion: the element at ``path``, or (with ``where``) the items of that list that match it."""

    path: str
    where: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return self.path + "".join(f"[{leaf}={value}]" for leaf, value in self.where)

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
        return cls(found.group(1), tuple((m.group(1), m.group(2)) for m in _SELECTOR_RE.finditer(found.group(2))))

    def matches(self, item: Any) -> bool:
        """Whether ``item`` (one item of the list at ``path``) matches every selector."""
        return all(any(found == value for found in leaf_values(item, leaf)) for leaf, value in self.where)


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


__all__ = ["NullMark", "leaf_values", "selector_text"]
