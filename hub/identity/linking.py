"""Master records and links: every hospital Patient belongs to exactly one hub-owned master Patient.

A hospital record that arrives (or changes) is *synced*: its matching profile and blocking keys are stored, then

1. if it carries a checksum-valid resident ID that records under exactly one other master carry too, it joins
   that master (basis ``resident-id``); an invalid check digit never links;
2. otherwise it keeps its master, or gets a master of its own (basis ``single``);
3. weaker evidence (name, birth date, sex, phone, address, unverified numbers) scores candidates from other
   masters; pairs at or above the review threshold become review Tasks (:mod:`hub.identity.review`) — never links.

Operators decide: :func:`link` (two records are the same person: their masters fold into one), :func:`unlink`
(a record is not who its master says: it gets its own master, and is marked distinct from the others so that no
automatic rule links it back), :func:`resolve_review`. A40 merges are in :mod:`hub.identity.merging`. Every
change is a new version of the FHIR Patients concerned (the store keeps history).

Concurrency: on PostgreSQL the resident IDs being linked are locked (transaction advisory locks) before the index
is read, so two hospitals' records of one person arriving at once cannot create two masters. SQLite has one
writer at a time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from uuid import uuid4

from sqlalchemy import and_, delete, or_, select, text
from sqlalchemy.orm import Session

from hub.errors import Conflict, InvalidInput, NotFound
from hub.identity import matching, records, review
from hub.identity.matching import Match, Profile
from hub.identity.tables import MpiKey, MpiMaster, MpiSource

log = logging.getLogger(__name__)

MAX_CANDIDATES = 200  # records scored per sync or $match, at most (blocks are small; this bounds a bad key)
# Open review Tasks a record takes part in at most (its likeliest matches are asked first): a record that resembles
# many people (a common name and birth date, a placeholder address) asks the operator about a few, not a crowd.
MAX_REVIEWS_PER_RECORD = 5


def _now() -> datetime:
    return datetime.now(UTC)


def new_master_id() -> str:
    return f"mpi-{uuid4().hex}"


@dataclass(frozen=True, slots=True)
class SyncResult:
    """What syncing one hospital record did."""

    patient_id: str
    master_id: str | None
    basis: str | None  # resident-id | single | operator | merge
    reviews: tuple[str, ...] = ()  # Task ids opened


@dataclass(frozen=True, slots=True)
class Candidate:
    """A scored candidate person for $match: the master, and the best-matching record under it."""

    master_id: str
    patient_id: str
    match: Match


# -- index helpers -------------------------------------------------------------------------------------------


def _lock_resident_ids(session: Session, values: Iterable[str]) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    for value in sorted(set(values)):
        key = int.from_bytes(hashlib.blake2b(f"mpi:{value}".encode(), digest_size=8).digest(), "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _set_keys(session: Session, patient_id: str, keys: set[tuple[matching.KeyKind, str]]) -> None:
    rows = session.execute(select(MpiKey.pk, MpiKey.kind, MpiKey.value).where(MpiKey.patient_id == patient_id))
    have: dict[tuple[str, str], int] = {}
    stale: list[int] = []
    for pk, kind, value in rows:
        if (kind, value) in keys and (kind, value) not in have:
            have[(kind, value)] = pk
        else:
            stale.append(pk)
    if stale:
        session.execute(delete(MpiKey).where(MpiKey.pk.in_(stale)))
    for kind, value in sorted(keys - set(have)):
        session.add(MpiKey(patient_id=patient_id, kind=kind, value=value))


def _sources_with_keys(session: Session, keys: Iterable[tuple[str, str]], exclude: str | None) -> list[MpiSource]:
    key_list = sorted(set(keys))
    if not key_list:
        return []
    cond = or_(*(and_(MpiKey.kind == k, MpiKey.value == v) for k, v in key_list))
    ids = select(MpiKey.patient_id).where(cond)
    if exclude is not None:
        ids = ids.where(MpiKey.patient_id != exclude)
    ids = ids.distinct().limit(MAX_CANDIDATES)
    return list(session.scalars(select(MpiSource).where(MpiSource.patient_id.in_(ids))))


def _profile(src: MpiSource) -> Profile:
    return Profile.from_json(json.loads(src.profile))


def _members(session: Session, master_id: str, *, status: str = "linked") -> list[MpiSource]:
    return list(
        session.scalars(
            select(MpiSource)
            .where(MpiSource.master_id == master_id, MpiSource.status == status)
            .order_by(MpiSource.patient_id)
        )
    )


def _final_master(session: Session, master_id: str) -> MpiMaster | None:
    row = session.get(MpiMaster, master_id)
    seen: set[str] = set()
    while row is not None and row.status == "replaced" and row.replaced_by and row.id not in seen:
        seen.add(row.id)
        row = session.get(MpiMaster, row.replaced_by)
    return row


def _new_master(session: Session, src: MpiSource, basis: str, touched: set[str]) -> str:
    now = _now()
    mid = new_master_id()
    session.add(MpiMaster(id=mid, status="active", replaced_by=None, created_at=now, updated_at=now))
    move_record(session, src, mid, basis, touched)
    return mid


def move_record(session: Session, src: MpiSource, target: str, basis: str, touched: set[str]) -> None:
    """Put ``src`` (and the records merged into it) under ``target``; retire or replace an emptied master."""
    old = src.master_id
    src.master_id = target
    src.basis = basis
    src.updated_at = _now()
    for merged in session.scalars(select(MpiSource).where(MpiSource.replaced_by == src.patient_id)):
        merged.master_id = target
    touched.add(target)
    if old and old != target:
        touched.add(old)
        session.flush()
        if not _members(session, old):
            fold_master(session, old, target)


def fold_master(session: Session, old: str, target: str) -> None:
    """Mark master ``old`` replaced by ``target``; its merged-away records and earlier masters follow."""
    row = session.get(MpiMaster, old)
    if row is None:
        return
    row.status = "replaced"
    row.replaced_by = target
    row.updated_at = _now()
    for leftover in _members(session, old, status="replaced"):
        leftover.master_id = target
    for earlier in session.scalars(select(MpiMaster).where(MpiMaster.replaced_by == old)):
        earlier.replaced_by = target


def refresh(session: Session, master_ids: Iterable[str | None], *, inbox_id: int | None = None) -> None:
    """Write each master Patient, and the ``refer`` link of each of its records, where they differ from the index."""
    for mid in sorted({m for m in master_ids if m}):
        row = session.get(MpiMaster, mid)
        if row is None:
            continue
        current = records.read_patient(session, mid)
        sources: dict[str, dict[str, Any]] = {}
        if row.status != "replaced":
            for member in _members(session, mid):
                resource = records.read_patient(session, member.patient_id)
                if resource is not None:
                    sources[member.patient_id] = resource
            status = "active" if sources else "retired"  # a retired master that gains records is active again
            if row.status != status:
                row.status, row.updated_at = status, _now()
        if row.status == "replaced" and row.replaced_by:
            desired = records.replaced_master(current, mid, row.replaced_by)
        else:
            desired = records.build_master(mid, sources)
        if records.body(current) != desired:
            records.write(session, desired, inbox_id=inbox_id)
        for resource in sources.values():
            refers = records.links_of(resource, "refer")
            # Only refer links to hub masters are the index's; a hospital's own refer links stay as sent.
            hub_masters = (
                set(session.scalars(select(MpiMaster.id).where(MpiMaster.id.in_(refers)))) if refers else set()
            )
            wanted = records.source_with_master(resource, mid, hub_masters)
            if records.body(resource) != records.body(wanted):
                records.write(session, wanted, inbox_id=inbox_id)


# -- sync ----------------------------------------------------------------------------------------------------


def _strong_master(session: Session, src: MpiSource, profile: Profile) -> str | None:
    """The master this record must join by resident ID, if exactly one other master holds its number."""
    if not profile.resident_ids:
        return None
    distinct = review.distinct_from(session, src.patient_id)
    peers = [
        p
        for p in _sources_with_keys(session, {("rid", r) for r in profile.resident_ids}, src.patient_id)
        if p.status == "linked" and p.master_id and p.patient_id not in distinct
    ]
    masters = {p.master_id for p in peers if p.master_id}
    if not masters or src.master_id in masters:
        return None
    if src.basis == "operator" or len(masters) > 1:
        return None  # an operator placed it, or operators split the holders of this number: a review decides
    return masters.pop()


def _number_left_group(session: Session, src: MpiSource, profile: Profile) -> bool:
    """True when a record linked by resident ID now has a number that none of its co-members has, and they all
    have valid numbers of their own (its number was corrected at the hospital)."""
    if src.basis != "resident-id" or not profile.resident_ids or not src.master_id:
        return False
    others = [m for m in _members(session, src.master_id) if m.patient_id != src.patient_id]
    if not others:
        return False
    for other in others:
        theirs = _profile(other).resident_ids
        if not theirs or theirs & profile.resident_ids:
            return False
    return True


def find_candidates(session: Session, profile: Profile, *, exclude: str | None = None) -> list[tuple[MpiSource, Match]]:
    """Records sharing a blocking key with ``profile``, scored, best first (certainly-not and unscored included)."""
    out = []
    for cand in _sources_with_keys(session, matching.blocking_keys(profile), exclude):
        if cand.status != "linked" or not cand.master_id:
            continue
        out.append((cand, matching.compare(profile, _profile(cand))))
    out.sort(key=lambda cm: (-cm[1].score, cm[0].patient_id))
    return out


def _consider_reviews(session: Session, src: MpiSource, profile: Profile) -> list[str]:
    distinct = review.distinct_from(session, src.patient_id)
    best: dict[str, tuple[MpiSource, Match]] = {}
    for cand, match in find_candidates(session, profile, exclude=src.patient_id):
        if cand.master_id == src.master_id or cand.patient_id in distinct or match.grade == "certainly-not":
            continue
        if not (match.grade == "certain" or match.reviewable):
            continue
        assert cand.master_id is not None
        if cand.master_id not in best or match.score > best[cand.master_id][1].score:
            best[cand.master_id] = (cand, match)
    opened: list[str] = []
    mine = [m.patient_id for m in _members(session, src.master_id)] if src.master_id else [src.patient_id]
    ranked = sorted(best.items(), key=lambda item: (-item[1][1].score, item[0]))
    budget = MAX_REVIEWS_PER_RECORD - len(review.open_reviews_of(session, src.patient_id)) if ranked else 0
    for master_id, (cand, match) in ranked:
        if len(opened) >= budget:
            break
        # One open question per pair of people: another record of either side may have raised it already.
        theirs = [m.patient_id for m in _members(session, master_id)]
        if any(r.status == "open" for r in review.reviews_between(session, mine, theirs)):
            continue
        task_id = review.open_review(session, src.patient_id, cand.patient_id, master_id, match)
        if task_id:
            opened.append(task_id)
    return opened


def sync_patient(
    session: Session, patient_id: str, *, inbox_id: int | None = None, today: date | None = None
) -> SyncResult | None:
    """Index a hospital Patient after a change and link it (the outbox subscriber calls this; idempotent).

    Args:
        patient_id: the Patient that changed. Hub masters are ignored; a deleted Patient is forgotten.
        inbox_id: the inbox message behind the change, recorded on the versions this writes.
        today: the date resident ID birth dates are checked against (default: today).

    Returns:
        What was done, or None for a master or a deleted Patient.
    """
    resource = records.read_patient(session, patient_id)
    if resource is None:
        forget_patient(session, patient_id)
        return None
    if records.is_master(resource) or session.get(MpiMaster, patient_id) is not None:
        return None
    profile = matching.profile_of(resource, today=today)
    keys = matching.blocking_keys(profile)
    _lock_resident_ids(session, profile.resident_ids)
    src = session.get(MpiSource, patient_id)
    now = _now()
    if src is None:
        src = MpiSource(patient_id=patient_id, master_id=None, status="linked", basis="single", updated_at=now)
        session.add(src)
    elif src.status == "deleted":
        src.status, src.master_id, src.basis = "linked", None, "single"
    src.profile = json.dumps(profile.to_json(), ensure_ascii=False, sort_keys=True)
    src.updated_at = now
    _set_keys(session, patient_id, keys)
    session.flush()
    if src.status == "replaced":
        return SyncResult(patient_id, src.master_id, "merge")
    touched: set[str] = set()
    target = _strong_master(session, src, profile)
    if target is not None:
        move_record(session, src, target, "resident-id", touched)
    elif src.master_id is None or _number_left_group(session, src, profile):
        _new_master(session, src, "single", touched)
    session.flush()
    opened = _consider_reviews(session, src, profile)
    touched.add(src.master_id or "")
    refresh(session, touched, inbox_id=inbox_id)
    return SyncResult(patient_id, src.master_id, src.basis, tuple(opened))


def forget_patient(session: Session, patient_id: str) -> None:
    """A hospital Patient was deleted: drop its keys, take it out of its master, cancel its open reviews."""
    src = session.get(MpiSource, patient_id)
    if src is None or src.status == "deleted":
        return
    session.execute(delete(MpiKey).where(MpiKey.patient_id == patient_id))
    old = src.master_id
    src.status, src.master_id, src.updated_at = "deleted", None, _now()
    for row in review.open_reviews_of(session, patient_id):
        review.decide(session, row, "closed")
    session.flush()
    refresh(session, [old])


# -- lookups -------------------------------------------------------------------------------------------------


def master_of(session: Session, patient_id: str) -> str | None:
    """The current master of a hospital record (following folds), or the current master for a master id."""
    src = session.get(MpiSource, patient_id)
    mid = src.master_id if src is not None else patient_id
    if mid is None:
        return None
    row = _final_master(session, mid)
    return row.id if row is not None else None


def linked_sources(session: Session, master_id: str) -> set[str]:
    """The hospital records (active and merged-away) under a master; empty for anything else."""
    row = _final_master(session, master_id)
    if row is None:
        return set()
    return set(
        session.scalars(
            select(MpiSource.patient_id).where(
                MpiSource.master_id == row.id, MpiSource.status.in_(("linked", "replaced"))
            )
        )
    )


def masters_of(session: Session, patient_id: str) -> set[str]:
    """The master of a hospital record and every earlier master folded into it (for Consents kept on those)."""
    current = master_of(session, patient_id)
    if current is None or session.get(MpiMaster, current) is None:
        return set()
    out = {current}
    frontier = {current}
    while frontier:
        earlier = set(session.scalars(select(MpiMaster.id).where(MpiMaster.replaced_by.in_(frontier))))
        frontier = earlier - out
        out |= earlier
    return out


def expand_patient_ids(session: Session, patient_id: str, *, include_linked: bool = True) -> list[str]:
    """The Patient ids a reference to ``patient_id`` stands for in a search (``Observation?patient=…``).

    Args:
        patient_id: a Patient id, bare (``abc``, not ``Patient/abc``).
        include_linked: for a hospital record, also the person's other records (its master and the master's
            records); when False, only the record and the records merged into it (A40). A master always expands
            to all its records.

    Returns:
        ``patient_id`` first, then the other ids in order. An id unknown to the index expands to itself.
    """
    src = session.get(MpiSource, patient_id)
    others: set[str] = set()
    if src is None:
        if session.get(MpiMaster, patient_id) is not None:
            final = _final_master(session, patient_id)
            if final is not None:
                others = {final.id, *masters_of_master(session, final.id), *linked_sources(session, final.id)}
    elif include_linked and src.master_id:
        final = _final_master(session, src.master_id)
        if final is not None:
            others = {final.id, *masters_of_master(session, final.id), *linked_sources(session, final.id)}
    else:
        frontier = {patient_id}
        while frontier:
            merged = set(session.scalars(select(MpiSource.patient_id).where(MpiSource.replaced_by.in_(frontier))))
            frontier = merged - others
            others |= merged
    others.discard(patient_id)
    return [patient_id, *sorted(others)]


def masters_of_master(session: Session, master_id: str) -> set[str]:
    """Earlier masters folded (directly or not) into ``master_id``."""
    out: set[str] = set()
    frontier = {master_id}
    while frontier:
        earlier = set(session.scalars(select(MpiMaster.id).where(MpiMaster.replaced_by.in_(frontier))))
        frontier = earlier - out
        out |= earlier
    return out


def match(
    session: Session, patient: Mapping[str, Any], *, count: int | None = None, only_certain: bool = False
) -> list[Candidate]:
    """Scored candidate people for a Patient (the ``$match`` operation): one per master, best record's score.

    Args:
        patient: a Patient resource (need not be stored).
        count: at most this many (None: all at or above MATCH_MINIMUM).
        only_certain: only a single ``certain`` match, or nothing when there is none or more than one.
    """
    profile = matching.profile_of(patient)
    best: dict[str, Candidate] = {}
    for cand, m in find_candidates(session, profile):
        if m.grade is None or m.grade == "certainly-not" or cand.master_id is None:
            continue
        final = _final_master(session, cand.master_id)
        if final is None:
            continue
        if final.id not in best or m.score > best[final.id].match.score:
            best[final.id] = Candidate(final.id, cand.patient_id, m)
    ranked = sorted(best.values(), key=lambda c: (-c.match.score, c.master_id))
    if only_certain:
        certain = [c for c in ranked if c.match.grade == "certain"]
        return certain if len(certain) == 1 else []
    return ranked[:count] if count is not None else ranked


# -- operator decisions --------------------------------------------------------------------------------------


def _person(session: Session, patient_id: str) -> str:
    """The current master id of a record or master, or NotFound."""
    mid = master_of(session, patient_id)
    if mid is None or session.get(MpiMaster, mid) is None:
        raise NotFound(f"Patient/{patient_id} is not in the master patient index")
    return mid


def link(session: Session, patient_id: str, other_id: str, *, inbox_id: int | None = None) -> str:
    """An operator's decision that two records (or masters) are the same person: fold the first person's master
    into the second's. Earlier ``distinct`` decisions between their records are reversed, open reviews between
    them completed.

    Returns:
        The surviving master id.

    Raises:
        NotFound: either is not in the index.
    """
    source_master = _person(session, patient_id)
    target_master = _person(session, other_id)
    if source_master == target_master:
        return target_master
    moving = _members(session, source_master)
    staying = _members(session, target_master)
    touched: set[str] = set()
    for member in moving:
        move_record(session, member, target_master, "operator", touched)
    session.flush()
    left = [m.patient_id for m in moving]
    right = [m.patient_id for m in staying]
    for row in review.reviews_between(session, left, right):
        if row.status in ("open", "distinct"):
            review.decide(session, row, "linked", master=target_master)
    refresh(session, touched | {source_master, target_master}, inbox_id=inbox_id)
    return target_master


def unlink(session: Session, patient_id: str, *, inbox_id: int | None = None) -> str:
    """An operator's decision that a hospital record is not the person its master stands for: it gets a master of
    its own, and is recorded as distinct from the master's other records (no automatic rule links it back).

    Returns:
        The record's new master id (its current one if it was already alone).

    Raises:
        NotFound: not a hospital record in the index. InvalidInput: a master id. Conflict: a merged-away record.
    """
    src = session.get(MpiSource, patient_id)
    if src is None:
        if session.get(MpiMaster, patient_id) is not None:
            raise InvalidInput("unlink takes a hospital record, not a master record", expression="Patient.id")
        raise NotFound(f"Patient/{patient_id} is not in the master patient index")
    if src.status == "replaced":
        raise Conflict(f"Patient/{patient_id} was merged into another record; unmerge it instead")
    if src.status != "linked" or not src.master_id:
        raise NotFound(f"Patient/{patient_id} is not linked")
    old = src.master_id
    others = [m for m in _members(session, old) if m.patient_id != patient_id]
    if not others:
        src.basis = "operator"
        return old
    touched: set[str] = set()
    new = _new_master(session, src, "operator", touched)
    for other in others:
        review.assert_distinct(session, patient_id, other.patient_id)
    session.flush()
    refresh(session, touched, inbox_id=inbox_id)
    return new


# -- a hospital's own statements (ADT^A24 link, ADT^A37 unlink) -------------------------------------------------


def _indexed(session: Session, patient_id: str) -> MpiSource:
    """The record's index row, syncing the record first when the outbox has not brought it yet (same transaction)."""
    src = session.get(MpiSource, patient_id)
    if src is None or src.status == "deleted":
        sync_patient(session, patient_id)
        src = session.get(MpiSource, patient_id)
    if src is None:
        raise NotFound(f"Patient/{patient_id} is not in the master patient index")
    return src


def link_records(session: Session, patient_id: str, other_id: str, *, inbox_id: int | None = None) -> str | None:
    """A hospital's statement that two of its records are the same person (ADT^A24 link patient information):
    the index puts them under one master, as an operator's :func:`link` does. A record merged into another one
    (A40) is left as it is: the merge decided already.

    Returns:
        The master the pair is under, or None when either record was merged away.

    Raises:
        NotFound: either Patient does not exist.
    """
    first, second = _indexed(session, patient_id), _indexed(session, other_id)
    if first.status != "linked" or second.status != "linked":
        return None
    return link(session, patient_id, other_id, inbox_id=inbox_id)


def unlink_records(session: Session, patient_id: str, other_id: str, *, inbox_id: int | None = None) -> str | None:
    """A hospital's statement that two of its records are not the same person (ADT^A37 unlink patient
    information, undoing an A24): recorded as distinct (no automatic rule puts them together again; a later A24 or
    an operator's link does). If the index holds them under one master, the second record leaves it for a master
    of its own; the first stays with the rest of the person's records.

    Returns:
        The second record's master, or None when either record was merged away.

    Raises:
        NotFound: either Patient does not exist.
    """
    first, second = _indexed(session, patient_id), _indexed(session, other_id)
    if first.status != "linked" or second.status != "linked":
        return None
    review.assert_distinct(session, patient_id, other_id)
    if not first.master_id or first.master_id != second.master_id:
        return second.master_id
    touched: set[str] = set()
    new = _new_master(session, second, "operator", touched)
    session.flush()
    refresh(session, touched, inbox_id=inbox_id)
    return new


Decision = Literal["same", "distinct"]


def resolve_review(session: Session, task_id: str, decision: Decision) -> str | None:
    """Decide a review Task: ``same`` links the pair (see :func:`link`), ``distinct`` records two people.

    Returns:
        The master the pair ended up in for ``same``; None for ``distinct``.

    Raises:
        NotFound: the Task is not a review. Conflict: the review was already decided.
    """
    row = review.review_by_task(session, task_id)
    if row.status != "open":
        raise Conflict(f"Task/{task_id} was already decided ({row.status})")
    focus, candidate = review.focus_and_candidate(session, row)
    if decision == "distinct":
        review.decide(session, row, "distinct")
        return None
    master = link(session, focus, candidate)
    if row.status == "open":
        review.decide(session, row, "linked", master=master)
    return master
