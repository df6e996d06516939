"""A40 merges and their undoing.

``ADT^A40`` (merge patient — patient identifier list) says that one hospital record (MRG-1, the *source*) is a
duplicate of another record of the same hospital (PID-3, the *target*). In FHIR R4 terms
(http://hl7.org/fhir/R4/patient.html#links): the source becomes ``active: false`` with ``link`` ``replaced-by`` →
target, and the target gets ``replaces`` → source. The index keeps the source (status ``replaced``) so that a
search on the person still finds the data that references it, and if the two records sat under different masters,
the source's master folds into the target's.

Every merge keeps what it changed — the content of each resource before and after, and the index rows before — so
:func:`unmerge` restores the prior state exactly (as new versions: history is never rewritten). A resource changed
by someone else since the merge is not overwritten: only what the merge changed in it (``active``, ``link``; a
review Task's status) is put back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.errors import Conflict, InvalidInput, NotFound
from hub.fhir import jsoncodec, store
from hub.identity import linking, records, review
from hub.identity.tables import MpiMaster, MpiMerge, MpiReview, MpiSource

# Elements a merge changes; put back on a resource that changed since.
_PATCHED = {"Patient": ("active", "link"), "Task": ("status", "businessStatus", "output", "lastModified")}


@dataclass(frozen=True, slots=True)
class MergeResult:
    merge_id: int
    source_id: str
    target_id: str
    master_id: str | None
    already: bool = False  # the same merge had been applied before (a re-delivered A40)


def _now() -> datetime:
    return datetime.now(UTC)


def _read(session: Session, ref: str) -> dict[str, Any] | None:
    rtype, rid = ref.split("/", 1)
    try:
        return dict(store.read(session, rtype, rid))
    except NotFound:
        return None


def _snapshot(session: Session, refs: Iterable[str]) -> dict[str, Any]:
    return {ref: records.body(_read(session, ref)) for ref in sorted(set(refs))}


def _source_row(row: MpiSource) -> dict[str, Any]:
    return {
        "id": row.patient_id,
        "master": row.master_id,
        "status": row.status,
        "basis": row.basis,
        "by": row.replaced_by,
    }


def _master_row(row: MpiMaster) -> dict[str, Any]:
    return {"id": row.id, "status": row.status, "by": row.replaced_by}


def _review_row(row: MpiReview) -> dict[str, Any]:
    resolved = row.resolved_at.isoformat() if row.resolved_at else None
    return {"pk": row.pk, "status": row.status, "resolved": resolved}


def _ensure_indexed(session: Session, patient_id: str) -> MpiSource:
    src = session.get(MpiSource, patient_id)
    if src is None or src.status == "deleted":
        linking.sync_patient(session, patient_id)
        src = session.get(MpiSource, patient_id)
    if src is None:
        raise NotFound(f"Patient/{patient_id} not found")
    return src


def merge(session: Session, source_id: str, target_id: str, *, inbox_id: int | None = None) -> MergeResult:
    """Merge hospital record ``source_id`` into ``target_id`` (ADT^A40; FHIR ``Patient/$merge``).

    Idempotent: merging a source into the target it was already merged into returns the earlier merge.

    Args:
        source_id: the record merged away (A40 MRG-1).
        target_id: the surviving record (A40 PID-3).
        inbox_id: the A40 message, recorded on the versions written.

    Raises:
        NotFound: either Patient does not exist. InvalidInput: the same record twice, or a master record.
        Conflict: the source was merged into another record, or the target itself was merged away.
    """
    if source_id == target_id:
        raise InvalidInput("a record cannot be merged into itself", expression="Parameters.parameter")
    for pid in (source_id, target_id):
        resource = records.read_patient(session, pid)
        if resource is None:
            raise NotFound(f"Patient/{pid} not found")
        if records.is_master(resource) or session.get(MpiMaster, pid) is not None:
            raise InvalidInput("merge takes hospital records; master records are linked, not merged")
    src = _ensure_indexed(session, source_id)
    tgt = _ensure_indexed(session, target_id)
    if src.status == "replaced":
        if src.replaced_by == target_id:
            earlier = session.scalars(
                select(MpiMerge)
                .where(MpiMerge.source_id == source_id, MpiMerge.target_id == target_id, MpiMerge.status == "active")
                .order_by(MpiMerge.id.desc())
            ).first()
            if earlier is not None:
                return MergeResult(earlier.id, source_id, target_id, linking.master_of(session, target_id), True)
        raise Conflict(f"Patient/{source_id} was already merged into another record")
    if tgt.status == "replaced":
        raise Conflict(f"Patient/{target_id} was itself merged into another record")

    ms, mt = src.master_id, tgt.master_id
    masters = {m for m in (ms, mt) if m}
    source_rows = list(
        session.scalars(
            select(MpiSource).where(
                (MpiSource.master_id.in_(masters)) | (MpiSource.patient_id.in_((source_id, target_id)))
            )
        )
    )
    master_rows = list(
        session.scalars(select(MpiMaster).where(MpiMaster.id.in_(masters) | MpiMaster.replaced_by.in_(masters)))
    )
    # Open questions between the two people are answered by the merge (and reopened by an unmerge).
    side_s = {source_id} | {r.patient_id for r in source_rows if ms and r.master_id == ms}
    side_t = {target_id} | {r.patient_id for r in source_rows if mt and r.master_id == mt}
    pair_reviews = [r for r in review.reviews_between(session, side_s, side_t) if r.status == "open"]
    refs = {f"Patient/{r.patient_id}" for r in source_rows if r.status == "linked"} | {f"Patient/{m}" for m in masters}
    refs |= {f"Task/{r.task_id}" for r in pair_reviews if r.task_id}
    before = {
        "resources": _snapshot(session, refs),
        "sources": [_source_row(r) for r in source_rows],
        "masters": [_master_row(r) for r in master_rows],
        "reviews": [_review_row(r) for r in pair_reviews],
    }

    # The index: the source is replaced by the target, under the target's master.
    src.status, src.replaced_by, src.updated_at = "replaced", target_id, _now()
    touched: set[str] = set(masters)
    if ms and mt and ms != mt:
        for member in [m for m in source_rows if m.master_id == ms and m.status == "linked"]:
            linking.move_record(session, member, mt, member.basis, touched)
        session.flush()
        folded = session.get(MpiMaster, ms)
        if folded is not None and folded.status == "active":
            linking.fold_master(session, ms, mt)
    src.master_id = mt
    for rev in pair_reviews:
        if rev.status == "open":
            review.decide(session, rev, "linked", master=mt)
    session.flush()

    # The records: replaced-by / replaces, the source inactive and no longer referring to a master.
    source_res = records.read_patient(session, source_id)
    target_res = records.read_patient(session, target_id)
    assert source_res is not None and target_res is not None
    hub_masters = set(
        session.scalars(select(MpiMaster.id).where(MpiMaster.id.in_(records.links_of(source_res, "refer"))))
    )
    new_source = records.with_links(
        source_res, drop=[("refer", m) for m in hub_masters], add=[("replaced-by", target_id)]
    )
    new_source["active"] = False
    new_target = records.with_links(target_res, add=[("replaces", source_id)])
    for old, new in ((source_res, new_source), (target_res, new_target)):
        if records.body(old) != records.body(new):
            records.write(session, records.body(new) or new, inbox_id=inbox_id)
    linking.refresh(session, touched, inbox_id=inbox_id)

    after = {"resources": _snapshot(session, refs | {f"Patient/{source_id}", f"Patient/{target_id}"})}
    row = MpiMerge(
        source_id=source_id,
        target_id=target_id,
        status="active",
        inbox_id=inbox_id,
        before=jsoncodec.dumps(before, option=orjson.OPT_SORT_KEYS).decode(),
        after=jsoncodec.dumps(after, option=orjson.OPT_SORT_KEYS).decode(),
        created_at=_now(),
    )
    session.add(row)
    session.flush()
    return MergeResult(row.id, source_id, target_id, mt)


def _patched(current: Mapping[str, Any], prior: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(records.body(current) or {})
    for key in _PATCHED.get(str(prior.get("resourceType")), ()):
        if key in prior:
            out[key] = prior[key]
        else:
            out.pop(key, None)
    return out


def _latest_merge_of(session: Session, source_id: str) -> MpiMerge:
    row = session.scalars(
        select(MpiMerge)
        .where(MpiMerge.source_id == source_id, MpiMerge.status == "active")
        .order_by(MpiMerge.id.desc())
    ).first()
    if row is None:
        raise NotFound(f"Patient/{source_id} has no merge to undo")
    return row


def unmerge(
    session: Session, merge_id: int | None = None, *, source_id: str | None = None, inbox_id: int | None = None
) -> MergeResult:
    """Undo a merge: the records, masters, links and reviews as they were before it.

    Args:
        merge_id: the merge (as returned by :func:`merge`), or
        source_id: the merged-away record, whose latest merge is undone.

    Raises:
        NotFound: no such merge. Conflict: it was undone already, or a later merge touches the same records
            (undo that one first).
    """
    if merge_id is not None:
        row = session.get(MpiMerge, merge_id)
        if row is None:
            raise NotFound(f"merge {merge_id} not found")
    elif source_id is not None:
        row = _latest_merge_of(session, source_id)
    else:
        raise InvalidInput("unmerge needs a merge id or the merged-away record")
    if row.status != "active":
        raise Conflict("this merge was already undone")
    before = jsoncodec.loads(row.before)
    after = jsoncodec.loads(row.after)
    refs = set(before["resources"])
    for later in session.scalars(select(MpiMerge).where(MpiMerge.id > row.id, MpiMerge.status == "active")):
        if refs & set(jsoncodec.loads(later.before)["resources"]):
            raise Conflict("a later merge involves the same records; undo it first")

    for data in before["masters"]:
        master = session.get(MpiMaster, data["id"])
        if master is not None:
            master.status, master.replaced_by, master.updated_at = data["status"], data["by"], _now()
    for data in before["sources"]:
        src = session.get(MpiSource, data["id"])
        if src is not None:
            src.master_id, src.status, src.basis = data["master"], data["status"], data["basis"]
            src.replaced_by, src.updated_at = data["by"], _now()
    for data in before["reviews"]:
        rev = session.get(MpiReview, data["pk"])
        if rev is not None:
            rev.status = data["status"]
            rev.resolved_at = datetime.fromisoformat(data["resolved"]) if data["resolved"] else None
    session.flush()

    masters: set[str] = set()
    for ref, prior in sorted(before["resources"].items()):
        current = records.body(_read(session, ref))
        if prior is None or current is None:
            continue
        if records.is_master(prior):
            masters.add(prior["id"])
        desired = prior if current == after["resources"].get(ref) else _patched(current, prior)
        if current != desired:
            records.write(session, desired, inbox_id=inbox_id)
    # A master whose content could not be put back exactly is rebuilt from its (restored) records.
    linking.refresh(session, masters, inbox_id=inbox_id)
    row.status, row.undone_at = "undone", _now()
    session.flush()
    return MergeResult(row.id, row.source_id, row.target_id, linking.master_of(session, row.source_id))
