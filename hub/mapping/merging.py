"""One list item per thing: `unique` with leaves (`unique: [type.coding.code, individual.identifier.value]`).

Several fields can name the same person in the same role: PV1-7 names the attending doctor, and a ROL (v2.4+)
or PRT (v2.7+) line with role AT names them again, with the start of their role (ROL-5, PRT-11). Written as two
items, the Encounter would say the visit has two attending doctors. An item whose first value at each of the
rule's leaves equals that of an item already in the list (every leaf valued on both) is the same thing: the two
are merged into one, in the earlier item's place. The richer of the two (more values) is kept, completed by the
elements of the other it lacks (the system of an identifier one line leaves out, the display name), so nothing
either said is lost; where both give an element, the richer one's stands. An item without a value at one of the
leaves (a doctor named without an identifier) is told apart by nothing and is only not added twice whole, as with
``unique: true``.

Across messages (:func:`with_stored`, called by :func:`hub.updates.merge_update` for the key marks the engine
writes, :mod:`hub.mapping.nulls`): an item of the message with the same key as a stored item is merged with it the
same way, except that the message's item is the base whatever its size — the message's values win where it gives
them, what only the stored item has (the start of the role, an identifier's system, a display) stays.

An item that carries the role instance id (:data:`INSTANCE_URL`: ROL-1, PRT-1, an EI the sender keeps for that
line across messages) is told apart by it before its leaves: two items that both carry one are the same thing when
the ids are equal, whatever their leaves (a ``CO`` line that corrects the person, or names a doctor without an
identifier differently), and different things when they are not; an item without one is matched by the leaves, as
before. Merged by the id, the leaves' elements (the role, the person) are the later item's whole, not completed by
the other's (the corrected person keeps no display of the one before).
"""

from __future__ import annotations

from typing import Any

from hub.mapping.nullmark import first_value

Leaves = tuple[tuple[str, ...], ...]

# the extension that carries a role line's instance id (ROL-1, PRT-1) on the list item it makes (valueIdentifier)
INSTANCE_URL = "urn:hub:fhir:StructureDefinition:hl7v2-role-instance-id"


def instance_of(item: Any) -> tuple[str, str] | None:
    """The role instance id an item carries (its system, or "", and its value), or None: the common case, one
    dict look-up."""
    extensions = item.get("extension") if isinstance(item, dict) else None
    if not extensions:
        return None
    for extension in extensions:
        if isinstance(extension, dict) and extension.get("url") == INSTANCE_URL:
            identifier = extension.get("valueIdentifier")
            if isinstance(identifier, dict) and identifier.get("value"):
                return str(identifier.get("system", "")), str(identifier["value"])
    return None


def same_item(one: Any, other: Any, leaves: Leaves) -> bool:
    """Whether two items are one thing: by their instance ids when both carry one, else by the leaves' values
    (every leaf valued on both)."""
    mine, theirs = instance_of(one), instance_of(other)
    if mine is not None and theirs is not None:
        return mine == theirs
    key = key_of(one, leaves)
    return key is not None and key == key_of(other, leaves)


def merge_into(items: list[Any], value: Any, leaves: Leaves) -> None:
    """Add ``value`` to ``items``, merged with the item already there that has the same key.

    Args:
        items: the list being built (changed in place).
        value: the item a rule made.
        leaves: the dotted paths, split, whose first values are the key.
    """
    if not items:
        # the list's first item (most lists get one): nothing to merge with, no key to work out
        items.append(value)
        return
    if isinstance(value, dict) and "extension" in value and (instance := instance_of(value)) is not None:
        for index, item in enumerate(items):
            theirs = instance_of(item)
            if theirs == instance:
                items[index] = _by_instance(item, value, leaves)
                return
            if theirs is None and same_item(item, value, leaves):
                items[index] = _merged(item, value)
                return
        items.append(value)
        return
    key = key_of(value, leaves)
    if key is not None:
        for index, item in enumerate(items):
            # leaf by leaf, to the first that differs (the role's code system is every participant's)
            for steps, wanted in zip(leaves, key, strict=True):
                if first_value(item, steps) != wanted:
                    break
            else:
                items[index] = _merged(item, value)
                return
    if value not in items:
        items.append(value)


def with_stored(items: list[Any], stored: list[Any], leaves: Leaves) -> list[Any] | None:
    """The message's ``items``, each completed by the first stored item with the same key; None when none has one
    (the caller keeps its list as it is).

    Args:
        items: the message's items of a list (not changed).
        stored: the stored items of that list (not changed; the result may share their values).
        leaves: the dotted paths, split, whose first values are the key.
    """
    keys: dict[tuple[str, ...], Any] = {}
    instances: dict[tuple[str, str], Any] = {}
    for old in stored:
        instance = instance_of(old)
        if instance is not None:
            instances.setdefault(instance, old)
        key = key_of(old, leaves)
        if key is not None:
            keys.setdefault(key, old)
    if not keys and not instances:
        return None
    out: list[Any] = []
    changed = False
    for item in items:
        instance = instance_of(item)
        if instance is not None and instance in instances:
            merged = _by_instance(instances[instance], item, leaves)
            changed = changed or merged != item
            out.append(merged)
            continue
        key = key_of(item, leaves)
        old = keys.get(key) if key is not None else None
        if old is not None and instance is not None and instance_of(old) is not None:
            old = None  # another instance of that role and person (both ids given, not equal): another item
        if old is None:
            out.append(item)
            continue
        merged = _completed(item, old)
        changed = changed or merged != item
        out.append(merged)
    return out if changed else None


def key_of(item: Any, leaves: Leaves) -> tuple[str, ...] | None:
    """The first value of ``item`` at each of the ``leaves``; None when one has none (the item has no key)."""
    out: list[str] = []
    for steps in leaves:
        found = first_value(item, steps)
        if found is None:
            return None
        out.append(found)
    return tuple(out)


def _by_instance(earlier: Any, later: Any, leaves: Leaves) -> Any:
    """``later`` completed by ``earlier`` (the same role instance), but for the leaves' top elements (the role, the
    person), which are ``later``'s whole when it has them: a corrected person keeps nothing of the one before."""
    heads = {steps[0] for steps in leaves}
    return _completed(later, {name: value for name, value in earlier.items() if name not in heads or name not in later})


def _merged(earlier: Any, later: Any) -> Any:
    """The richer item (more values; the earlier on a tie), completed by what the other has and it lacks."""
    if _size(later) > _size(earlier):
        return _completed(later, earlier)
    return _completed(earlier, later)


def _completed(base: Any, extra: Any) -> Any:
    if not isinstance(base, dict) or not isinstance(extra, dict):
        return base
    out = dict(base)
    for name, value in extra.items():
        out[name] = _completed(out[name], value) if name in out else value
    return out


def _size(node: Any) -> int:
    if isinstance(node, dict):
        return sum(_size(v) for v in node.values())
    if isinstance(node, list):
        return sum(_size(v) for v in node)
    return 1
