"""Turning stored inbox rows into FHIR resources: the logic behind the ``hub.convert_messages`` task.

One inbox row is converted in one transaction: the Bundle's resources, the row's new status and the outbox
events commit together. Converting a row twice changes nothing (deterministic ids, a new version only when
content changed, and a converted row is skipped unless it is being replayed).

The Bundle is stored with HL7 v2 update semantics (:func:`apply_converted`):

* a resource a message describes only in part (:data:`hub.updates.MERGED_TYPES`: Patient, Encounter …) is merged
  into its stored version: what the message leaves empty is kept, what it sends as ``""`` (marked on the entry
  by the engine, :mod:`hub.mapping.nulls`) is deleted (:func:`hub.updates.merge_update`) — that field's value
  only: an element, or the items of a list that field made (:mod:`hub.mapping.nullmark`); a list the message
  gives keeps the stored items of the fields it leaves empty (the entry's keep marks, also the engine's); so is
  an Observation without its result (OBX-11 U: a status change), whose stored value stays;
* a Patient the Bundle marks ``replaced-by`` another Patient of the Bundle (A40 merge, A47 identifier change:
  resource template MergedPatient) is not written as such: the replacement goes through the master patient index
  (:func:`hub.identity.merging.merge`), which records ``replaced-by``/``replaces`` on both records and moves the
  replaced record under the survivor's master. A replaced record the hub has never seen is first stored as the
  message names it; a survivor the hub has never seen starts from the replaced record's content;
* a Patient marked ``replaced-by`` the Patient of the Bundle that has its record number (MRG naming the record PID
  names) is no replacement and is not stored;
* Patients of one Bundle that each mark their ``link`` deleted (A37 unlink, undoing an A24's ``seealso`` links)
  lose the ``seealso`` links between them, nothing else: the index's ``refer`` links and a merge's links stay;
* the index follows a hospital's link and unlink: two Patients of the Bundle linked ``seealso`` by the message
  (A24) are put under one master (:func:`hub.identity.linking.link_records`), two that unlink (A37) are recorded
  as distinct and the second leaves a shared master (:func:`hub.identity.linking.unlink_records`);
* DELETE entries (A29, PPR^PC3 …) delete;
* an entry marked *if absent* (a rule's ``if_absent``: PRB-1/GOL-1 ``UC``, :mod:`hub.mapping.ifabsent`) is written
  only when the hub has never stored a resource of its type and id; else it is dropped and the stored one stays;
* a visit marked *moved* (a rule's ``moved``: an A02 without PV1-6, :mod:`hub.mapping.moved`) keeps, once merged,
  each stored active location it does not list, completed: the ward the patient left;
* a set of repeating segments sent in snapshot mode (a visit's DG1, a patient's AL1: a ``snapshot`` rule, marked on
  the scope resource's entry by the engine, :mod:`hub.mapping.snapshots`) replaces the stored set: every stored
  resource of that set that the sending facility produced and that the Bundle does not write is deleted (a DELETE
  entry added to the Bundle). Another sender's resources are never in the set. The sender's Accounts that name a
  deleted Coverage are written again without that reference (:mod:`hub.referrers`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from hub import referrers, report_results, study_orders
from hub.config import Settings
from hub.db.tables import InboxMessage, Resource
from hub.errors import HubError, TransientError
from hub.fhir import jsoncodec, store
from hub.hl7 import charset, er7
from hub.identity import linking, merging, records
from hub.mapping import get_converter
from hub.mapping.ifabsent import entry_if_absent
from hub.mapping.moved import entry_moved
from hub.mapping.nulls import entry_keeps, entry_marks
from hub.mapping.snapshots import entry_sets, parse_set
from hub.security.access import PRODUCER_TAG_SYSTEM, producer_of
from hub.updates import complete_left_locations, is_merged, leave_locations, merge_update

log = logging.getLogger(__name__)

# What a survivor new to the hub does not take over from the record it replaces: that record's own identity.
_NOT_SEEDED = frozenset({"id", "meta", "identifier", "link", "active"})

RECEIVED = "received"
CONVERTED = "converted"
FAILED = "failed"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ConversionOutcome:
    inbox_id: int
    status: str  # converted | failed | skipped | missing
    resources: int = 0
    changed: int = 0
    error: str | None = None


def convert_message(session: Session, inbox_id: int, settings: Settings) -> ConversionOutcome:
    """Convert one inbox row and record the outcome on it; the caller commits.

    A row that is not ``received`` (already converted, failed or rejected) is skipped: replay first resets
    it. A mapping or content error marks the row ``failed`` with the reason and location.

    Args:
        session: the caller's session; its transaction holds the resources, the status and the outbox events.
        inbox_id: the row to convert.
        settings: mapping directory, charsets and timezones.

    Returns:
        What happened to the row.

    Raises:
        TransientError: the database failed in a way that a retry may cure.
    """
    query = select(InboxMessage).where(InboxMessage.id == inbox_id)
    if not settings.is_sqlite:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        return ConversionOutcome(inbox_id, "missing")
    if row.status != RECEIVED:
        return ConversionOutcome(inbox_id, "skipped")
    row.attempts = (row.attempts or 0) + 1  # in memory: written with the results, at the flush
    try:
        # The mapping first, writing nothing: on SQLite the first write takes the database's one write lock,
        # and every ACK waits for it (loading the templates, on a worker's first message, takes seconds).
        text, _codec = charset.decode(
            row.raw,
            row.charset or "",
            settings.charset_for(row.sending_application or "", row.sending_facility or ""),
        )
        message = er7.parse(text)
        timezone = settings.timezone_for(row.sending_application or "", row.sending_facility or "")
        conversion = get_converter(settings).convert_with_report(
            message,
            sender_timezone=timezone,
            default_timezone=settings.default_timezone,
            strict=settings.reject_invalid_values,
        )
        with session.begin_nested():
            results, merges = apply_converted(session, conversion.bundle, inbox_id=row.id, report=conversion.report)
    except (OperationalError, DBAPIError) as exc:
        raise TransientError(f"database error while converting inbox {inbox_id}: {type(exc).__name__}") from exc
    except HubError as exc:
        row.status = FAILED
        row.error = exc.message
        row.error_location = getattr(exc, "location", None) or exc.expression
        log.warning("inbox %s (%s) failed to convert: %s", inbox_id, row.message_type, type(exc).__name__)
        return ConversionOutcome(inbox_id, FAILED, error=exc.message)
    row.status = CONVERTED
    row.error = None
    row.error_location = None
    row.report = orjson.dumps(conversion.report).decode() if conversion.report else None
    row.converted_at = datetime.now(UTC)
    row.resource_count = len(results) + len(merges)
    changed = sum(1 for r in results if r.changed) + sum(1 for m in merges if not m.already)
    return ConversionOutcome(inbox_id, CONVERTED, resources=row.resource_count, changed=changed)


def apply_converted(
    session: Session,
    bundle: dict[str, Any],
    *,
    inbox_id: int | None = None,
    report: list[dict[str, Any]] | None = None,
) -> tuple[list[store.WriteResult], list[merging.MergeResult]]:
    """Store a converted Bundle with HL7 v2 update semantics and record its merges (see the module docstring).

    Args:
        session: the caller's session; the caller commits.
        bundle: the converter's transaction Bundle; its entries are changed in place (null and keep marks removed,
            merged contents, replaced records taken out).
        inbox_id: the message the Bundle comes from (kept on the versions written).
        report: the message's conversion report, which gets what the merge with the stored versions leaves out (a
            Period end before the stored start: ``invalid-value`` at the element's path, never the values).

    Returns:
        The store's result per entry written, and the result of each merge (A40, A47 …).

    Raises:
        InvalidInput: a malformed Bundle. NotFound, Conflict: a merge the index refuses (the replaced record was
            merged into another one before, the survivor was itself merged away …).
    """
    entries: list[dict[str, Any]] = bundle.get("entry") or []
    absent = [entry for entry in entries if entry_if_absent(entry)]
    only_new: set[tuple[str, str]] = set()
    if absent:
        # PRB-1 UC: written only if the hub never stored it (hub.mapping.ifabsent); the store checks again on the
        # row it claims, in case another conversion stores it between this read and the write
        only_new = {key for key in map(_entry_key, absent) if key is not None}
        known = _ever_stored(session, only_new)
        only_new -= known
        drop = {id(entry) for entry in absent if _entry_key(entry) in known}
        entries = [entry for entry in entries if id(entry) not in drop]
        bundle["entry"] = entries
    marked = [(entry, entry_marks(entry)) for entry in entries]
    moving = {id(entry) for entry in entries if entry_moved(entry)}  # hub.mapping.moved
    keeps = {id(entry): entry_keeps(entry) for entry in entries}  # by id(): entries are dicts
    sets = [(producer_of(_resource(entry)), text) for entry in entries for text in entry_sets(entry)]
    patients = {str(_resource(e).get("id")) for e in entries if _put_of(e, "Patient")}
    replacements: list[tuple[dict[str, Any], str]] = []
    kept: list[tuple[dict[str, Any], list[str]]] = []
    resources = {str(_resource(e).get("id")): _resource(e) for e in entries if _put_of(e, "Patient")}
    for entry, marks in marked:
        target = _replaced_by(entry, patients)
        if target is not None and _same_record(_resource(entry), resources[target]):
            # MRG names the record PID names (an A34 whose MRG-1 repeats PID-3): no record replaces itself, and the
            # engine's numbered twin of the patient is nobody.
            continue
        if target is not None:
            replacements.append((_resource(entry), target))
        else:
            kept.append((entry, marks))
    bundle["entry"] = [entry for entry, _ in kept]
    unlinks = _unlinks(kept)
    links = _linked_pairs(kept)  # read before the stored versions are merged in: the message's own links

    merging_ = [
        (entry, marks, str(entry["resource"]["resourceType"]), str(entry["resource"].get("id")))
        for entry, marks in kept
        if isinstance(entry.get("resource"), dict)
        and (entry.get("request") or {}).get("method") == "PUT"
        and is_merged(entry["resource"])
    ]
    keys = {(rtype, rid) for _, _, rtype, rid in merging_} | {("Patient", str(s["id"])) for s, _ in replacements}
    # the stored members of the message's snapshot sets that it does not send any more: deleted (a DELETE entry
    # each), and the sender's references to them with them (an Account's deleted Coverage: hub.referrers)
    stale, deleted = _stale_members(session, sets, bundle["entry"]) if sets else ([], [])
    dangling = referrers.Dangling(deleted)
    raw = _stored(session, keys, lock=False)
    stored = dangling.cleaned(raw)  # the base a merged Account of the message is merged with
    seeds: dict[str, dict[str, Any]] = {}
    for source, target in replacements:
        replaced = stored.get(("Patient", str(source["id"])))
        if replaced is not None:
            # what the replaced record knew, for a survivor the hub has not seen yet (A47 to a new number)
            seeds[target] = {k: v for k, v in replaced.items() if k not in _NOT_SEEDED}
    converted = {(rtype, rid): entry["resource"] for entry, _, rtype, rid in merging_}
    # a report sent whole lists its results (hub.report_results): its list is not united with the stored one
    whole = report_results.whole_resends(bundle["entry"])
    orders = _order_numbers(session, converted, stored)
    dropped: list[str] = []
    changing = _merge_entries(merging_, converted, stored, seeds, unlinks, keeps, whole, orders, dropped, moving)
    if dangling:  # a cleaned stored version changes too
        changing |= {key for key, resource in stored.items() if resource is not raw[key]}
    locking = session.get_bind().dialect.name != "sqlite"
    if changing and locking:
        # What will change is read again, locked until commit (PostgreSQL), and merged again: a concurrent
        # conversion of the same record waits, and neither loses the other's elements. What does not change is
        # not locked: a message sent again writes nothing.
        locked = dangling.cleaned(_stored(session, changing, lock=True))
        if any(rtype == "ImagingStudy" for rtype, _ in locked):  # the orders the locked study names
            orders = _order_numbers(session, converted, {**stored, **locked})
        _merge_entries(
            merging_, converted, locked, seeds, unlinks, keeps, whole, orders, dropped, moving, only=changing
        )
        stored = {**stored, **locked}
    if report is not None:
        for path in dict.fromkeys(dropped):
            said = {
                "code": "invalid-value",
                "location": path,
                "detail": f"{path}: before the period's start once merged with the stored version (R4 per-1): "
                "the end is left out",
            }
            if said not in report:
                report.append(said)
    # the stored results a report's update leaves: dropped by a whole resend, cancelled with the report
    left = report_results.left_results(
        (stored.get((rtype, rid)), converted[(rtype, rid)], entry["resource"])
        for entry, _, rtype, rid in merging_
        if rtype == "DiagnosticReport"
    )
    if left:
        bundle["entry"] += report_results.updates(
            left, {_entry_key(entry) for entry in bundle["entry"]}, lambda found: _stored(session, found, lock=locking)
        )
    bundle["entry"] += stale
    if dangling:
        bundle["entry"] += dangling.updates(
            session, bundle["entry"], lambda found: _stored(session, found, lock=locking)
        )
    results = store.apply_bundle(session, bundle, source_inbox_id=inbox_id, only_new=only_new)
    merges = [_replace(session, source, target, inbox_id) for source, target in replacements]
    # A24 / A37: the hospital says two of its records are (are no longer) the same person; the index follows.
    for first, second in links:
        linking.link_records(session, first, second, inbox_id=inbox_id)
    for first, second in _unlinked_pairs(kept, unlinks):
        linking.unlink_records(session, first, second, inbox_id=inbox_id)
    return results, merges


_PAGE = 200


def _stale_members(
    session: Session, sets: list[tuple[str | None, str]], entries: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """DELETE entries for the stored members of the message's snapshot sets that the Bundle does not write: the
    resources each set's search finds among those its sender produced (the producer tag of the set's scope
    resource; a set without one deletes nothing), each once; and those resources as stored."""
    written = {_entry_key(entry) for entry in entries}
    out: list[dict[str, Any]] = []
    deleted: list[dict[str, Any]] = []
    for producer, text in sets:
        parsed = parse_set(text)
        if producer is None or parsed is None:
            continue
        rtype, params = parsed
        params = [*params, ("_tag", f"{PRODUCER_TAG_SYSTEM}|{producer}")]
        offset = 0
        while True:
            page = store.search(session, rtype, params, count=_PAGE, offset=offset, expand_patients=False)
            for found in page.resources:
                key = (rtype, str(found.get("id")))
                if key in written or producer_of(found) != producer:
                    continue
                written.add(key)
                out.append({"request": {"method": "DELETE", "url": f"{rtype}/{key[1]}"}})
                deleted.append(found)
            if len(page.resources) < _PAGE:
                break
            offset += _PAGE
    return out, deleted


def _entry_key(entry: dict[str, Any]) -> tuple[str, str] | None:
    url = (entry.get("request") or {}).get("url")
    if not isinstance(url, str) or url.count("/") != 1:
        return None
    rtype, rid = url.split("/")
    return (rtype, rid)


def _resource(entry: Any) -> dict[str, Any]:
    resource = entry.get("resource") if isinstance(entry, dict) else None
    return resource if isinstance(resource, dict) else {}


def _put_of(entry: Any, rtype: str) -> bool:
    request = entry.get("request") if isinstance(entry, dict) else None
    return (
        isinstance(request, dict) and request.get("method") == "PUT" and _resource(entry).get("resourceType") == rtype
    )


def _replaced_by(entry: dict[str, Any], patients: set[str]) -> str | None:
    """The id of the Patient of the Bundle that this Patient entry is marked ``replaced-by``, if any."""
    if not _put_of(entry, "Patient"):
        return None
    resource = _resource(entry)
    for link in resource.get("link") or []:
        if not isinstance(link, dict) or link.get("type") != "replaced-by":
            continue
        target = records.ref_id(link.get("other"))
        if target is not None and target in patients and target != resource.get("id"):
            return target
    return None


def _unlinks(kept: list[tuple[dict[str, Any], list[str]]]) -> dict[str, set[str]]:
    """Patient id → the other Patients of the Bundle it is unlinked from (A37: each marks ``link`` deleted).

    The mark is taken off every Patient entry: it deletes the ``seealso`` links between the marked Patients of
    the Bundle, never every link (a record's ``refer`` to its master, a merge's ``replaces`` stay)."""
    marked = [(entry, marks) for entry, marks in kept if _put_of(entry, "Patient") and "link" in marks]
    ids = {str(_resource(entry).get("id")) for entry, _ in marked}
    for _, marks in marked:
        marks.remove("link")
    return {str(_resource(entry).get("id")): ids - {str(_resource(entry).get("id"))} for entry, _ in marked}


def _patient_ids(kept: list[tuple[dict[str, Any], list[str]]]) -> list[str]:
    return [str(_resource(entry).get("id")) for entry, _ in kept if _put_of(entry, "Patient")]


def _linked_pairs(kept: list[tuple[dict[str, Any], list[str]]]) -> list[tuple[str, str]]:
    """Pairs of Patients of the Bundle that the message links with ``seealso`` (A24), each pair once, in Bundle
    order: the links the message itself gives (read before the stored versions are merged in)."""
    ids = _patient_ids(kept)
    present = set(ids)
    pairs: list[tuple[str, str]] = []
    seen: set[frozenset[str]] = set()
    for entry, _ in kept:
        if not _put_of(entry, "Patient"):
            continue
        own = str(_resource(entry).get("id"))
        for other in records.links_of(_resource(entry), "seealso"):
            key = frozenset((own, other))
            if other in present and other != own and key not in seen:
                seen.add(key)
                pairs.append((own, other))
    return pairs


def _unlinked_pairs(
    kept: list[tuple[dict[str, Any], list[str]]], unlinks: dict[str, set[str]]
) -> list[tuple[str, str]]:
    """Pairs of Patients of the Bundle that the message unlinks (A37: each marks ``link`` deleted), in Bundle order."""
    ids = [pid for pid in _patient_ids(kept) if pid in unlinks]
    return [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :] if a != b and b in unlinks[a]]


def _without_seealso(resource: dict[str, Any], others: set[str]) -> dict[str, Any]:
    def unlinked(link: Any) -> bool:
        return isinstance(link, dict) and link.get("type") == "seealso" and records.ref_id(link.get("other")) in others

    links = [link for link in resource.get("link") or [] if not unlinked(link)]
    out = {k: v for k, v in resource.items() if k != "link"}
    if links:
        out["link"] = links
    return out


_RECORD_NUMBER_TYPES = ("MR", "MRN", "PI", "PT")


def _record_number(patient: dict[str, Any]) -> tuple[str, str] | None:
    """The identifier a hospital keys its record on, as the Patient templates choose it: the first of type MR (else
    MRN, PI, PT), else the first; as (system, value)."""
    identifiers = [i for i in patient.get("identifier") or [] if isinstance(i, dict) and i.get("value")]
    for identifier in identifiers:
        codings = (identifier.get("type") or {}).get("coding") or []
        if any(isinstance(c, dict) and c.get("code") in _RECORD_NUMBER_TYPES for c in codings):
            return (str(identifier.get("system", "")), str(identifier["value"]))
    return (str(identifiers[0].get("system", "")), str(identifiers[0]["value"])) if identifiers else None


def _same_record(replaced: dict[str, Any], survivor: dict[str, Any]) -> bool:
    number = _record_number(replaced)
    return number is not None and number == _record_number(survivor)


def _merge_entries(
    entries: list[tuple[dict[str, Any], list[str], str, str]],
    converted: dict[tuple[str, str], dict[str, Any]],
    stored: dict[tuple[str, str], dict[str, Any]],
    seeds: dict[str, dict[str, Any]],
    unlinks: dict[str, set[str]],
    keeps: dict[int, list[str]],
    whole: set[tuple[str, str]],
    orders: study_orders.Orders,
    dropped: list[str],
    moving: set[int],
    only: set[tuple[str, str]] | None = None,
) -> set[tuple[str, str]]:
    """Put the merge of each converted resource with its stored version in its entry; return the keys of the
    stored versions it changes. A visit whose patient moved (``moving``, by entry id) keeps the stored active
    locations it does not list, completed (:func:`hub.updates.complete_left_locations`); a finished one is at none
    of its locations (:func:`hub.updates.leave_locations`)."""
    changing: set[tuple[str, str]] = set()
    for entry, marks, rtype, rid in entries:
        key = (rtype, rid)
        if only is not None and key not in only:
            continue
        current = stored.get(key)
        base = current if current is not None else (seeds.get(rid) if rtype == "Patient" else None)
        if base is not None:
            entry["resource"] = merge_update(
                base,
                converted[key],
                marks,
                kept=keeps.get(id(entry), ()),
                results_whole=key in whole,
                orders=orders if rtype == "ImagingStudy" else None,
                dropped=dropped,
            )
            if id(entry) in moving and current is not None:
                entry["resource"] = complete_left_locations(entry["resource"], current)
        else:
            entry["resource"] = converted[key]
        if rtype == "Encounter":
            entry["resource"] = leave_locations(entry["resource"])
        if rtype == "Patient" and rid in unlinks:
            entry["resource"] = _without_seealso(entry["resource"], unlinks[rid])
        # a new resource cannot be locked (it has no row yet): the store's insert decides between two writers
        if current is not None and _content(current) != _content(entry["resource"]):
            changing.add(key)
    return changing


def _order_numbers(
    session: Session, converted: dict[tuple[str, str], dict[str, Any]], stored: dict[tuple[str, str], dict[str, Any]]
) -> study_orders.Orders:
    """What tells a study's order named by placer number from one named by reference (:mod:`hub.study_orders`):
    the placer numbers of the ServiceRequests the message's stored ImagingStudies name."""
    return study_orders.placer_numbers(
        ((stored.get(key), resource) for key, resource in converted.items() if key[0] == "ImagingStudy"),
        [resource for key, resource in (*converted.items(), *stored.items()) if key[0] == "ServiceRequest"],
        lambda found: _stored(session, found, lock=False),
    )


def _content(resource: dict[str, Any]) -> bytes:
    """A resource's content without what the store stamps, comparable byte for byte."""
    meta = resource.get("meta")
    if isinstance(meta, dict) and ("versionId" in meta or "lastUpdated" in meta):
        meta = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        resource = {**resource, "meta": meta} if meta else {k: v for k, v in resource.items() if k != "meta"}
    return jsoncodec.dumps(resource, option=orjson.OPT_SORT_KEYS)


_RESOURCE = cast(Table, Resource.__table__)  # Core, not ORM: this runs once per message


def _ever_stored(session: Session, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of ``keys`` (type, id) the hub has stored, deleted since or not."""
    if not keys:
        return set()
    by_type: dict[str, list[str]] = {}
    for rtype, rid in sorted(keys):
        by_type.setdefault(rtype, []).append(rid)
    query = select(_RESOURCE.c.resource_type, _RESOURCE.c.id).where(
        or_(*(and_(_RESOURCE.c.resource_type == t, _RESOURCE.c.id.in_(ids)) for t, ids in by_type.items()))
    )
    return {(str(rtype), str(rid)) for rtype, rid in session.execute(query)}


def _stored(session: Session, keys: set[tuple[str, str]], lock: bool) -> dict[tuple[str, str], dict[str, Any]]:
    """The stored current versions of ``keys`` (type, id); locked until commit (PostgreSQL) with ``lock``, so that
    what the merge reads is what it overwrites.

    The keys are asked for as ``type = :t AND id IN (:ids)``, one term per resource type, so that both databases
    find them through the primary key: a row-value ``(type, id) IN (…)`` of several rows makes SQLite scan the
    whole table, a cost that grows with every resource stored.
    """
    if not keys:
        return {}
    by_type: dict[str, list[str]] = {}
    for rtype, rid in sorted(keys):
        by_type.setdefault(rtype, []).append(rid)
    query = select(_RESOURCE.c.resource_type, _RESOURCE.c.id, _RESOURCE.c.content).where(
        or_(*(and_(_RESOURCE.c.resource_type == t, _RESOURCE.c.id.in_(ids)) for t, ids in by_type.items())),
        _RESOURCE.c.deleted.is_(False),
    )
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for rtype, rid, content in session.execute(query.with_for_update() if lock else query):
        resource = jsoncodec.loads(content)
        if isinstance(resource, dict):
            out[(rtype, rid)] = resource
    return out


def _replace(session: Session, source: dict[str, Any], target: str, inbox_id: int | None) -> merging.MergeResult:
    """Record that Patient ``source`` is replaced by ``target`` (stored already) in the master patient index."""
    source_id = str(source["id"])
    if records.read_patient(session, source_id) is None:
        # A record the hub never saw: store it as the message names it, so that the index can mark it replaced.
        store.put(session, {k: v for k, v in source.items() if k not in ("link", "active")}, source_inbox_id=inbox_id)
    return merging.merge(session, source_id, target, inbox_id=inbox_id)


def reset_for_replay(session: Session, *, ids: list[int] | None = None, failed: bool = False) -> list[int]:
    """Put rows back to ``received`` so that they are converted again; the caller commits and enqueues.

    Args:
        ids: these rows (any status but ``rejected``).
        failed: every ``failed`` row.

    Returns:
        The ids reset, in order.
    """
    query = select(InboxMessage.id).where(InboxMessage.status != REJECTED)
    if ids:
        query = query.where(InboxMessage.id.in_(ids))
    elif failed:
        query = query.where(InboxMessage.status == FAILED)
    else:
        return []
    found = sorted(session.execute(query).scalars())
    if found:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id.in_(found))
            .values(status=RECEIVED, error=None, error_location=None, report=None)
        )
    return found
