"""The orders an imaging study is based on (ImagingStudy.basedOn), across the messages that name them.

An order message names the order it schedules a study for by reference (the ServiceRequest it makes, OMI^O23 IPC,
ORM^O01 ZDS); a report names the order of the study it reports by placer number (OBR-2: ``type`` ServiceRequest and
the ``identifier``, as DiagnosticReport.basedOn; the order's ServiceRequest is the placer's, made from its own
message). A study two orders share is based on both, so a message's orders are united with the stored ones
(:func:`hub.updates.merge_update`), and the two forms must be told apart: a placer number and a reference name one
order when the referenced ServiceRequest has that placer number (an identifier typed ``PLAC`` of the same value,
EI.1). The system is not compared: a number sent with its issuer (EI.2, EI.3) in one message and without it in
another (the sending facility's system then, ``datatype/EI_placer_system.yaml``) has two systems; among the orders
of one study, one number is one order (also two numbers a message and the store give). The hub reads those
numbers from the message's own ServiceRequests and from the stored ones the stored study names
(:func:`placer_numbers`), so that

* a report of one of a study's two orders keeps the other order, stored by reference;
* an order named both ways is listed once, by its reference: a literal reference resolves (``ImagingStudy?basedon=
  ServiceRequest/…`` finds the study), where the placer number says no more;
* an order message after a report of another order of the study keeps that report's placer number.

A stored order whose number cannot be told (a reference to a ServiceRequest the hub does not have) may be one the
message names the other way: the message's list stands for it, as the store cannot say it is another order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

Key = tuple[str, str]
#: the placer numbers (their values, EI.1) of ServiceRequests by reference (``ServiceRequest/<id>``)
Orders = Mapping[str, Collection[str]]
#: Reads the current stored versions of resources by key.
Reader = Callable[[set[Key]], dict[Key, dict[str, Any]]]

_PLACER = "PLAC"
_PREFIX = "ServiceRequest/"


def _number(identifier: Any) -> str | None:
    """An order number's value (its system is not compared: see the module docstring)."""
    if not isinstance(identifier, Mapping) or not isinstance(identifier.get("value"), str):
        return None
    return str(identifier["value"])


def _placer(identifier: Mapping[str, Any]) -> bool:
    codings = (identifier.get("type") or {}).get("coding") if isinstance(identifier.get("type"), Mapping) else None
    return isinstance(codings, list) and any(
        isinstance(coding, Mapping) and coding.get("code") == _PLACER for coding in codings
    )


def _numbers(order: Mapping[str, Any]) -> set[str]:
    """A ServiceRequest's placer numbers."""
    identifiers = order.get("identifier")
    if not isinstance(identifiers, list):
        return set()
    return {
        number
        for identifier in identifiers
        if isinstance(identifier, Mapping) and _placer(identifier) and (number := _number(identifier)) is not None
    }


def _references(study: Mapping[str, Any] | None) -> set[str]:
    items = study.get("basedOn") if study is not None else None
    if not isinstance(items, list):
        return set()
    return {
        item["reference"]
        for item in items
        if isinstance(item, Mapping)
        and isinstance(item.get("reference"), str)
        and item["reference"].startswith(_PREFIX)
        and "/" not in item["reference"][len(_PREFIX) :]
    }


def placer_numbers(
    studies: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any]]],
    orders: Iterable[Mapping[str, Any]],
    read: Reader,
) -> dict[str, set[str]]:
    """The placer numbers of the orders the studies a message updates name by reference.

    Args:
        studies: per ImagingStudy the message updates, (its stored version or None, the message's version).
        orders: the message's ServiceRequests (as converted) and the stored versions of those it updates.
        read: reads the stored ServiceRequests the message does not give (one query, none when all are given).

    Returns:
        Reference (``ServiceRequest/<id>``) → its placer numbers (values); empty when no stored study is
        updated (no list to unite with).
    """
    named: set[str] = set()
    for stored, converted in studies:
        if stored is not None:
            named |= _references(stored) | _references(converted)
    if not named:
        return {}
    out: dict[str, set[str]] = {}
    for order in orders:
        reference = f"{_PREFIX}{order.get('id')}"
        if reference in named:
            out.setdefault(reference, set()).update(_numbers(order))
    missing = {("ServiceRequest", reference[len(_PREFIX) :]) for reference in named - out.keys()}
    for (_, rid), order in read(missing).items() if missing else ():
        out.setdefault(f"{_PREFIX}{rid}", set()).update(_numbers(order))
    return out


def _names(item: Any, orders: Orders) -> set[str]:
    """What names an order of the study: its reference and the placer numbers the hub knows of it, or the number a
    report gives."""
    if not isinstance(item, Mapping):
        return set()
    names: set[str] = set()
    reference = item.get("reference")
    if isinstance(reference, str):
        names.add(reference)
        names |= {f"#{number}" for number in orders.get(reference, ())}
    number = _number(item.get("identifier"))
    if number is not None:
        names.add(f"#{number}")
    return names


def _told(item: Any, orders: Orders) -> bool:
    """Whether the hub can compare the item with an order named the other way: a number, or a reference whose
    numbers it knows."""
    if not isinstance(item, Mapping):
        return False
    reference = item.get("reference")
    if isinstance(reference, str):
        return bool(orders.get(reference)) or _number(item.get("identifier")) is not None
    return True


def united(new: list[Any], stored: Any, orders: Orders) -> list[Any]:
    """A study's orders: the message's (an order it names by number that is stored by reference, as the stored
    reference), then the stored ones that are none of them. A stored one the hub cannot compare with one of the
    message's named the other way (see the module docstring) is left out, as the message's list stands for it."""
    if not isinstance(stored, list):
        return new
    kept = [(item, _names(item, orders)) for item in stored]
    out: list[Any] = []
    seen: set[str] = set()
    for item in new:
        names = _names(item, orders)
        if isinstance(item, Mapping) and not isinstance(item.get("reference"), str):
            same = next(
                (old for old, known in kept if names & known and isinstance(old.get("reference"), str)),
                None,
            )
            if same is not None:
                item, names = same, _names(same, orders)
        if names and names <= seen:
            continue
        out.append(item)
        seen |= names
    for item, names in kept:
        if names & seen:
            continue
        if names and _untold(item, new, orders):
            continue
        out.append(item)  # another order (or an item without reference or number: nothing to compare it by)
        seen |= names
    return out


def _untold(item: Mapping[str, Any], new: list[Any], orders: Orders) -> bool:
    """Whether a stored order may be one the message names the other way, the hub unable to compare the two."""
    by_reference = isinstance(item.get("reference"), str)
    return any(
        isinstance(other, Mapping)
        and isinstance(other.get("reference"), str) != by_reference
        and not (_told(item, orders) and _told(other, orders))
        for other in new
    )


__all__ = ["Orders", "placer_numbers", "united"]
