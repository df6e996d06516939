"""HL7 v2 update semantics for stored resources: an empty field keeps what is stored, the HL7 null deletes it.

A v2 message describes what it knows. A PID inside an ORU carries the identifiers and the name, not the address,
the contacts or the general practitioner; an A08 may leave the admit reason empty because it did not change.
HL7 v2 (v2.5.1 §2.5.3) says so: an empty field means "no information: keep what you have", and ``""`` (the HL7
null) means "delete what you have". The mapping engine writes a whole resource per segment, and marks on the
Bundle entry the elements the message deleted with ``""`` (:mod:`hub.mapping.nulls`). :func:`merge_update` then
makes the version to store from the stored one and the converted one:

1. every top-level element the converted resource has replaces the stored one, except
   * ``identifier``: the lists are united (the converted identifiers first, then the stored ones whose
     ``system|value`` it does not have): a thin PID must not lose the resident ID number of a richer one;
   * ``link`` (Patient): the lists are united likewise, by type and target: an A24's ``seealso`` does not drop
     the ``refer`` link the master patient index put on the record, nor a merge's ``replaces``;
   * ``basedOn`` (ImagingStudy): the lists are united likewise, by order: the second order of a study two orders
     share (the same Study Instance UID) does not drop the first; an order message names its ServiceRequest by
     reference, a report by placer number, and the two are one order when the ServiceRequest has that number
     (``orders``, :mod:`hub.study_orders`): listed once, by its reference, and a report of one order keeps the
     other;
   * ``result`` (DiagnosticReport): the lists are united likewise, by reference: a correction (OBR-25 ``C``) or
     a cancel (``X``) that sends only the results it changes, or none, leaves the report's other results in it
     (v2 deletes a result with OBX-11 ``D``/``W``, which keeps it listed as entered-in-error, never by leaving
     it out) — unless the message sends the whole report again (a result listed as final or preliminary,
     ``results_whole``): then its list is the report's (:mod:`hub.report_results`);
   * a value that only says "unknown" (a ``status`` of ``unknown``; a Coding or CodeableConcept of the v3
     NullFlavor or data-absent-reason code systems; a list whose every item carries the data-absent-reason
     extension, such as the placeholder content of a document notification without content): the stored value
     stays (an ORU's PV1 without an admit time does not turn a visit in progress into a visit of unknown status;
     an MDM^T03 status change does not erase the text its T02 brought);
   * a variant of a choice element (``deceasedBoolean``) replaces every stored variant (``deceasedDateTime``);
   * ``meta.security`` (the labels of ARV, the access restrictions): stays as stored when the converted
     resource has none, as a top-level element would (``meta`` itself is always given: the producer tag);
   * a primitive (``birthDate``) replaces its stored ``_element`` too (its id and extensions, R4 JSON §2.6.2.7:
     the birth time of another date) unless the converted resource has one;
2. every top-level element the converted resource does not have stays as stored;
3. every element path marked deleted (``gender``, ``period.end``) is removed, unless the converted resource has
   a value there; a mark with selectors
   (``participant[type.coding.code=ATND]``, :class:`hub.mapping.nullmark.NullMark`) removes only the items of that
   list that match it and that the converted resource does not give — the attending doctor an A08 deletes with
   PV1-7 ``""`` goes, the admitter and the referrer stored from PV1-17 and PV1-8 stay; a mark with ``otherwise``
   selectors (a ROL-2 ``DE`` line with a role instance id) whose selectors no stored item matches removes the items
   its ``otherwise`` selectors match that carry no id (:meth:`hub.mapping.nullmark.NullMark.deleting`); a mark
   with selectors on a single-valued element (``requester[identifier.value=D001]``: a withdrawn ordering provider,
   PRT-2 ``DE``) removes the stored value when it matches them and the converted resource has none there.

Before 3., a list the converted resource gives (1. replaced it) gets back the stored items its *keep marks*
(``participant[type.coding.code=REF]``, written by the engine for the fields of that list the message left empty)
match, after its own items: an A08 whose PV1-17 names the admitting doctor and whose PV1-8 is empty keeps the
stored referring doctor. A keep mark of a part of a single-valued element (``period.end``,
``hospitalization.dischargeDisposition``: the message gives ``period`` from PV1-44 and leaves PV1-45 empty) puts
back the stored part when the converted element has none. A keep mark that matches items of the converted
resource too (a ROL-2 ``UC`` line, "unchanged":
``participant[…][type.coding.code=ATND][individual.identifier.value=D001]``) puts the stored items in their
place: the stored version wins (when something is stored; else the converted items stand); a keep mark written
``+mark`` puts them beside the converted items instead (A03's completed PV1-3 location: the stored prior
locations, completed too, stay beside it; an item the converted resource has is not doubled; a ROL-2 ``AD`` line's
role ``+participant[…][type.coding.code=CON]``: the stored consultants beside the one it adds, but none whose key,
the list's key mark, or whose role instance id (ROL-1, PRT-1), an item of the converted resource has: the key mark
merged the two). A list without keep
marks is the message's (its fields cannot be told apart). A keep mark of a whole top-level element (``status``,
written when a ``stored_wins`` rule gave its value: the status Encounter guesses from the patient class) keeps the
stored value of that element.

Before the other keep marks, a *key mark* (written ``=path[leaf]…``:
``=participant[type.coding.system][type.coding.code][individual.identifier.value]``, the ``unique`` leaves of the
rules that fill the list) merges each item of the message's list with the stored item that has the same first
value at each leaf (:func:`hub.mapping.merging.with_stored`): the message's values win where it gives them, what
only the stored item has stays — an A08 whose PV1-7 names the attending doctor the A01's PV1-7 and ROL AT named
keeps the start of the role (ROL-5) and the identifier's system. Stored items no item of the message has the key
of are left to the rest (keep marks, or gone with the message's list); a merged item is the message's for the null
marks, and a keep mark that matches it (ROL-2 ``UC``) still puts the stored item in its place.

This applies to the resource types a message only ever describes in part (:data:`MERGED_TYPES`), and to an
Observation that comes without its result (a status change, :func:`is_merged`); the others (results,
appointments, charges …) are sent whole and replaced whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from hub import study_orders
from hub.config import get_settings
from hub.fhir import jsoncodec
from hub.mapping import datetimes
from hub.mapping.fhirschema import FhirSchema
from hub.mapping.merging import Leaves, same_item, with_stored
from hub.mapping.nullmark import MERGED_TYPES, NullMark
from hub.mapping.nulls import BESIDE, SAME, parse_same
from hub.mapping.periods import drop_inverted_ends

DATA_ABSENT_REASON_URL = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

_UNKNOWN_SYSTEMS = frozenset(
    {
        "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
        "http://terminology.hl7.org/CodeSystem/data-absent-reason",
    }
)
_KEPT = ("resourceType", "id")

ChoiceOf = Callable[[str, str], tuple[str, ...]]


@cache
def _schema() -> FhirSchema:
    return FhirSchema()


def choice_variants(resource_type: str, element: str) -> tuple[str, ...]:
    """Every variant of the choice element ``element`` belongs to (``deceasedBoolean`` → ``deceasedDateTime``, …),
    or () for an element that is not a choice."""
    info = _schema().element(resource_type, element)
    return tuple(info.choice) if info is not None else ()


def uninformative(element: str, value: Any) -> bool:
    """True for a value that only says "unknown": a ``status`` of ``unknown``, or a Coding / CodeableConcept whose
    codings are all of v3-NullFlavor or data-absent-reason (and that has no text), or an element made of nothing but
    the data-absent-reason extension."""
    if element == "status":
        return isinstance(value, str) and value == "unknown"
    if isinstance(value, list):
        # a list of placeholders only (each item marked data-absent-reason: a document's content a notification
        # without content describes)
        return bool(value) and all(_marked_absent(item) for item in value)
    if not isinstance(value, Mapping):
        return False
    if "coding" in value:
        codings = value.get("coding") or []
        unknown = all(isinstance(c, Mapping) and c.get("system") in _UNKNOWN_SYSTEMS for c in codings)
        return bool(codings) and unknown and not value.get("text")
    if value.keys() == {"extension"}:
        # an element that only says it is absent (an ImagingStudy's subject a report without PID cannot name)
        return _marked_absent(value)
    return bool(value.get("system") in _UNKNOWN_SYSTEMS)


def _marked_absent(item: Any) -> bool:
    """True for an element that carries the data-absent-reason extension."""
    if not isinstance(item, Mapping):
        return False
    extensions = item.get("extension")
    if not isinstance(extensions, list):
        return False
    return any(isinstance(e, Mapping) and e.get("url") == DATA_ABSENT_REASON_URL for e in extensions)


def _identifier_key(identifier: Any) -> tuple[str, str] | None:
    if not isinstance(identifier, Mapping) or not isinstance(identifier.get("value"), str):
        return None
    return (str(identifier.get("system", "")), identifier["value"])


def _united(
    new: list[Any], stored: Iterable[Any], key_of: Callable[[Any], tuple[str, str] | None] = _identifier_key
) -> list[Any]:
    """``new``, then what is stored that ``new`` does not have (by ``key_of``; keyless items are kept)."""
    seen = {key_of(item) for item in new}
    out = list(new)
    for item in stored:
        key = key_of(item)
        if key is None or key not in seen:
            out.append(item)
            seen.add(key)
    return out


def _results_united(new: list[Any], stored: Any, whole: bool = False) -> list[Any]:
    """A report's results: the message's list when it sends the whole report (``whole``) or names every stored
    result (its order, the lab's), else the stored list in its order, with the message's results the store does not
    have after it."""
    if whole or not isinstance(stored, list):
        return new
    given = {_reference_key(item) for item in new}
    if all(_reference_key(item) in given for item in stored):
        return new
    return _united(stored, new, _reference_key)


def _reference_key(reference: Any) -> tuple[str, str] | None:
    if not isinstance(reference, Mapping) or not isinstance(reference.get("reference"), str):
        return None
    return ("", reference["reference"])


def _link_key(link: Any) -> tuple[str, str] | None:
    if not isinstance(link, Mapping) or not isinstance(link.get("other"), Mapping):
        return None
    return (str(link.get("type", "")), str(link["other"].get("reference", "")))


def _remove_path(resource: dict[str, Any], path: str) -> None:
    steps = path.split(".")
    parents: list[tuple[dict[str, Any], str]] = []
    node: Any = resource
    for step in steps[:-1]:
        child = node.get(step) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            return
        parents.append((node, step))
        node = child
    if isinstance(node, dict):
        node.pop(steps[-1], None)
    # an object left empty goes too (FHIR elements must have a value or children)
    for parent, step in reversed(parents):
        if parent.get(step) == {}:
            del parent[step]


def _parse_mark(text: str) -> NullMark:
    try:
        return NullMark.parse(text)
    except ValueError:
        return NullMark(text)  # a path the grammar does not know: removed whole, as it names it


def _value_at(resource: Mapping[str, Any], path: str) -> Any:
    node: Any = resource
    for step in path.split("."):
        node = node.get(step) if isinstance(node, Mapping) else None
    return node


def _list_at(resource: Mapping[str, Any], path: str) -> list[Any]:
    node: Any = resource
    for step in path.split("."):
        node = node.get(step) if isinstance(node, Mapping) else None
    return node if isinstance(node, list) else []


def _remove_items(resource: dict[str, Any], mark: NullMark, given: list[Any], stored: list[Any]) -> None:
    """Remove the items of the list at ``mark.path`` that match its selectors, except those in ``given`` (the
    converted resource's own); a list left empty goes, and so does an object it leaves empty. ``stored``: the
    stored items of the list, which tell whether a mark's ``otherwise`` selectors apply (no stored item of the
    role instance id a ``DE`` line names: the one of its role and person stored without an id goes)."""
    items = _list_at(resource, mark.path)
    matches = mark.deleting(stored)
    kept = [item for item in items if not matches(item) or item in given]
    if len(kept) == len(items):
        return
    if kept:
        parent: Any = resource
        steps = mark.path.split(".")
        for step in steps[:-1]:
            parent = parent[step]
        parent[steps[-1]] = kept
    else:
        _remove_path(resource, mark.path)


def _keep_items(
    out: dict[str, Any], base: Mapping[str, Any], mark: NullMark, beside: bool = False, leaves: Leaves = ()
) -> None:
    """Put back the stored items (of ``base``) of the list at ``mark.path`` that match the keep mark: in place of
    the converted resource's items that match it (the stored version wins: a ROL-2 ``UC`` line, "unchanged"), else
    after its items (the field of those items was empty: the converted resource has none). ``beside`` (a keep mark
    written ``+mark``): after its items always, those it has not (A03's completed PV1-3 location beside the
    stored prior ones; a ROL-2 ``AD`` line's role: the stored people of the role beside the one it adds) — with
    the list's key ``leaves`` (a key mark), not a stored item whose key one of its items has (the key mark merged
    the two: an ``AD`` line of a person already stored). The objects on the way are copied, not changed (they may
    be the converted resource's)."""
    items = _list_at(out, mark.path)
    back = [item for item in _list_at(base, mark.path) if mark.matches(item)]
    if not items or not back:
        return  # nothing stored that the mark names: the converted resource's items stand
    if beside and leaves:
        # not a stored item the key mark merged with one of the message's: the same key, or the same role
        # instance id (ROL-1, PRT-1; hub.mapping.merging.same_item)
        back = [b for b in back if not any(same_item(b, item, leaves) for item in items)]
    merged: list[Any] = []
    placed = False
    for item in items:
        if beside or not mark.matches(item):
            merged.append(item)
        elif not placed:
            merged += [b for b in back if b not in merged]
            placed = True
    if not placed:
        merged += [b for b in back if b not in merged]
    node = out
    steps = mark.path.split(".")
    for step in steps[:-1]:
        node[step] = node = dict(node[step])
    node[steps[-1]] = merged


def _has_path(resource: Mapping[str, Any], path: str) -> bool:
    node: Any = resource
    for step in path.split("."):
        node = node.get(step) if isinstance(node, Mapping) else None
        if node is None:
            return False
    return True


def _keep_part(out: dict[str, Any], base: Mapping[str, Any], path: str) -> None:
    """Put back the stored value at ``path`` (``period.end``) into the element the converted resource gives
    (``period``), when it has none there; the objects on the way are copied, not changed."""
    stored: Any = base
    for step in path.split("."):
        stored = stored.get(step) if isinstance(stored, Mapping) else None
        if stored is None:
            return
    steps = path.split(".")
    node = out
    for step in steps[:-1]:
        child = node.get(step)
        if not isinstance(child, dict):
            return
        node[step] = node = dict(child)
    node.setdefault(steps[-1], stored)


def _merge_same(
    out: dict[str, Any],
    base: Mapping[str, Any],
    new: Mapping[str, Any],
    text: str,
    given: dict[str, list[Any]],
    keys: dict[str, Leaves],
) -> None:
    """Merge each item of the converted resource's list at the key mark's path with the stored item of the same
    key (:func:`hub.mapping.merging.with_stored`); record the merged items in ``given`` (they are the message's)
    and the list's key leaves in ``keys``. The objects on the way are copied, not changed (they may be the
    converted resource's)."""
    try:
        path, names = parse_same(text)
    except ValueError:
        return  # a mark this version does not read: the message's list stands, as without it
    if path.split(".", 1)[0] not in new:
        return  # the message does not give the list: the stored one stays whole
    leaves = tuple(tuple(leaf.split(".")) for leaf in names)
    keys[path] = leaves
    merged = with_stored(_list_at(out, path), _list_at(base, path), leaves)
    if merged is None:
        return
    steps = path.split(".")
    node = out
    for step in steps[:-1]:
        node[step] = node = dict(node[step])
    node[steps[-1]] = merged
    given[path] = given.get(path, []) + merged


def _keep_security(out: dict[str, Any], base: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Put back the stored ``meta.security`` when ``new`` gives none: ``meta`` is always given (the producer tag),
    but its security labels come from ARV segments only, and a message without ARV says nothing about the
    restrictions (an access restriction is lifted by ARV-2 ``D``, a null mark, never by silence)."""
    stored = base.get("meta")
    meta = out.get("meta")
    if not isinstance(stored, Mapping) or "security" not in stored or not isinstance(meta, dict):
        return
    given = new.get("meta")
    if isinstance(given, Mapping) and "security" in given:
        return
    out["meta"] = {**meta, "security": stored["security"]}


def _spare(out: dict[str, Any], base: Mapping[str, Any], path: str, kept: Iterable[str]) -> None:
    """Put back, into a list a null mark deleted whole, the stored items of the groups a keep mark written ``+``
    keeps beside (a GT1-11 ``""`` deletes the guarantor's relationship to the patient, not the contact roles, NK1-7,
    an NK1 gave the same RelatedPerson: mappings/README.md, "One person, many segments")."""
    groups = [_parse_mark(text[len(BESIDE) :]) for text in kept if text.startswith(BESIDE)]
    groups = [mark for mark in groups if mark.path == path and mark.where]
    if not groups or "." in path:
        return
    stored = base.get(path)
    spared = [item for item in stored if any(g.matches(item) for g in groups)] if isinstance(stored, list) else []
    if spared:
        out[path] = spared


def merge_update(
    stored: Mapping[str, Any],
    new: Mapping[str, Any],
    deleted: Iterable[str] = (),
    choice_of: ChoiceOf = choice_variants,
    *,
    kept: Iterable[str] = (),
    results_whole: bool = False,
    orders: study_orders.Orders | None = None,
    dropped: list[str] | None = None,
) -> dict[str, Any]:
    """The version to store when ``new`` (converted from a message) updates ``stored`` (see the module docstring).

    Args:
        stored: the current stored version (``meta.versionId``/``lastUpdated`` are the store's to set).
        new: the converted resource (same type and id).
        deleted: the null marks of the message (element paths, or list items by selector) it deleted with the
            HL7 null.
        choice_of: the variants of a choice element (from the R4 schema by default).
        kept: the keep marks of the message (list items by selector): the stored items of a list it gives that
            belong to fields it left empty.
        results_whole: a DiagnosticReport whose message sends the whole report
            (:func:`hub.report_results.whole_resends`): its result list is the message's, not united with the
            stored one.
        orders: the placer numbers of the ServiceRequests an ImagingStudy's orders name by reference
            (:func:`hub.study_orders.placer_numbers`): what tells an order named by number from one named by
            reference.
        dropped: gets the path of each Period end left out because the merge put it before its start (an A03's
            discharge time before the stored admission time; R4 per-1, :func:`hub.mapping.periods.drop_inverted_ends`).

    Returns:
        A new dict; neither argument is changed (the result shares the values it takes from ``new``).
    """
    rtype = str(new.get("resourceType"))
    # a JSON copy: several times faster than copy.deepcopy, and stored resources are JSON
    base = jsoncodec.copy(stored)
    out = {key: value for key, value in base.items() if key not in _KEPT}
    meta = out.get("meta")
    if isinstance(meta, dict):
        meta.pop("versionId", None)
        meta.pop("lastUpdated", None)
        if not meta:
            del out["meta"]
    for key in _KEPT:
        if key in new:
            out[key] = new[key]
    for key, value in new.items():
        if key in _KEPT:
            continue
        if key in out and uninformative(key, value):
            continue
        if "_" + key in out and "_" + key not in new:
            # a primitive is its value and its _element (id, extensions) as one: a birth date given without a time
            # replaces the stored date and its time (extension patient-birthTime)
            del out["_" + key]
        for variant in choice_of(rtype, key):
            if variant != key:
                out.pop(variant, None)
        if key == "identifier" and isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = _united(value, out[key])
        elif key == "link" and isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = _united(value, out[key], _link_key)
        elif key == "basedOn" and rtype == "ImagingStudy" and isinstance(value, list):
            out[key] = study_orders.united(value, out.get(key), orders or {})
        elif key == "result" and rtype == "DiagnosticReport" and isinstance(value, list):
            out[key] = _results_united(value, out.get(key), results_whole)
        else:
            out[key] = value
    _keep_security(out, base, new)
    given: dict[str, list[Any]] = {}  # list path → the items merged from the message's (its own, for null marks)
    keys: dict[str, Leaves] = {}  # list path → its key leaves (a key mark)
    for text in kept:
        if text.startswith(SAME):
            _merge_same(out, base, new, text[len(SAME) :], given, keys)
    for text in kept:
        if text.startswith(SAME):
            continue
        beside = text.startswith(BESIDE)
        mark = _parse_mark(text[len(BESIDE) :] if beside else text)
        if mark.element not in new:
            continue  # the stored element stays whole anyway
        if mark.where:
            _keep_items(out, base, mark, beside, keys.get(mark.path, ()))
        elif mark.path != mark.element:
            _keep_part(out, base, mark.path)
        elif mark.element in base:
            out[mark.element] = base[mark.element]  # a value only for what is not stored (stored_wins)
    for text in deleted:
        mark = _parse_mark(text)
        if mark.where and not _has_path(new, mark.path) and isinstance(_value_at(out, mark.path), Mapping):
            if mark.matches(_value_at(out, mark.path)):
                _remove_path(out, mark.path)  # a single-valued element: the stored value the mark names
        elif mark.where:
            _remove_items(out, mark, _list_at(new, mark.path) + given.get(mark.path, []), _list_at(base, mark.path))
        elif not _has_path(new, mark.path):
            _remove_path(out, mark.path)
            _spare(out, base, mark.path, kept)
    merged = {"resourceType": out.pop("resourceType", rtype), "id": out.pop("id", new.get("id")), **out}
    # one message's end and another's start may be out of order (R4 per-1): the end goes, as within one message
    merged, ends = drop_inverted_ends(merged, _schema(), datetimes.zone(get_settings().default_timezone))
    if dropped is not None:
        dropped.extend(ends)
    return merged


def complete_left_locations(merged: dict[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The visit ``merged`` (a message whose patient moved, :mod:`hub.mapping.moved`) with each location ``stored`` had
    active that it does not list put back after its own, ``completed``: the ward the patient left, which a transfer
    without PV1-6 does not name. A location the message lists (by its reference, else its display) is its own."""
    items = merged.get("location")
    left = [
        item
        for item in stored.get("location") or []
        if isinstance(item, Mapping) and item.get("status") == "active" and isinstance(item.get("location"), Mapping)
    ]
    if not isinstance(items, list) or not left:
        return merged
    listed = {_location_key(item) for item in items if isinstance(item, Mapping)}
    back = [{**item, "status": "completed"} for item in left if _location_key(item) not in listed]
    return {**merged, "location": [*items, *back]} if back else merged


def leave_locations(visit: dict[str, Any]) -> dict[str, Any]:
    """A finished visit (an Encounter) at none of its locations: each location still active is completed. The
    message that finishes a visit need not name where the patient was (an A06 finishing the emergency visit MRG-5
    names, an A03 that names the ward but not the stored temporary location); the patient is at none of them."""
    items = visit.get("location")
    if visit.get("status") != "finished" or not isinstance(items, list):
        return visit
    if not any(isinstance(item, Mapping) and item.get("status") == "active" for item in items):
        return visit
    left = [
        {**item, "status": "completed"} if isinstance(item, Mapping) and item.get("status") == "active" else item
        for item in items
    ]
    return {**visit, "location": left}


def _location_key(item: Mapping[str, Any]) -> tuple[str, str]:
    location = item.get("location")
    if not isinstance(location, Mapping):
        return ("", "")
    return (str(location.get("reference") or ""), str(location.get("display") or ""))


def is_merged(resource: Mapping[str, Any]) -> bool:
    """Whether a converted resource is merged into its stored version rather than replacing it: the types of
    :data:`MERGED_TYPES`, and an Observation without a result — an OBX that changes only the status of a result
    already sent (OBX-11 ``U``: "results status change to final without retransmitting results already sent as
    preliminary", v2.5.1 table 0085), whose stored value must stay."""
    rtype = resource.get("resourceType")
    if rtype in MERGED_TYPES:
        return True
    if rtype != "Observation":
        return False
    return not any(key.startswith("value") or key in ("component", "dataAbsentReason") for key in resource)


__all__ = [
    "MERGED_TYPES",
    "choice_variants",
    "complete_left_locations",
    "is_merged",
    "leave_locations",
    "merge_update",
    "uninformative",
]
