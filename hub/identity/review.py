"""Review Tasks: a scored candidate pair that a person must decide, never a silent merge.

Each open pair is one ``mpi_review`` row and one FHIR Task for an operator::

    Task.status   requested → completed (decided: businessStatus "linked" or "distinct") | cancelled
    Task.intent   order; Task.code urn:hub:mpi|review-match; meta.tag urn:hub:mpi|review
    Task.focus    the record whose change raised the question (Task.focus holds one reference)
    Task.input    candidate (the other record), candidate-master, score (0..1), match-grade, evidence
                  (which fields agreed, never their values)
    Task.output   result: the master the pair ended up in, once linked

``Task.for`` is left empty on purpose: the pair may be two different people, and a patient's compartment must not
show another person's record.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hub.errors import NotFound
from hub.fhir import store
from hub.identity import records
from hub.identity.matching import Match
from hub.identity.tables import MpiReview

REVIEW_CODE = "review-match"


def _now() -> datetime:
    return datetime.now(UTC)


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def _input(code: str, **value: Any) -> dict[str, Any]:
    return {"type": {"coding": [{"system": records.MPI_SYSTEM, "code": code}]}, **value}


def _evidence_text(match: Match) -> str:
    return "; ".join(f"{e.field}={e.outcome}" for e in match.evidence)


def build_task(
    task_id: str, patient_id: str, candidate_id: str, candidate_master: str | None, match: Match, at: datetime
) -> dict[str, Any]:
    inputs = [_input("candidate", valueReference=records.patient_ref(candidate_id))]
    if candidate_master:
        inputs.append(_input("candidate-master", valueReference=records.patient_ref(candidate_master)))
    inputs.append(_input("score", valueDecimal=match.score))
    if match.grade:
        inputs.append(_input("match-grade", valueCode=match.grade))
    inputs.append(_input("evidence", valueString=_evidence_text(match)))
    stamp = at.isoformat()
    return {
        "resourceType": "Task",
        "id": task_id,
        "meta": {"tag": [dict(records.REVIEW_TAG)]},
        "status": "requested",
        "intent": "order",
        "priority": "routine",
        "code": {
            "coding": [
                {
                    "system": records.MPI_SYSTEM,
                    "code": REVIEW_CODE,
                    "display": "Decide whether two patient records are the same person",
                }
            ]
        },
        "description": "Possible same person in two patient records: link them, or mark them as different people.",
        "focus": records.patient_ref(patient_id),
        "authoredOn": stamp,
        "lastModified": stamp,
        "input": inputs,
    }


def open_review(
    session: Session, patient_id: str, candidate_id: str, candidate_master: str | None, match: Match
) -> str | None:
    """Open a review of (patient, candidate) unless that pair is already open or decided.

    Returns:
        The new Task id, or None when nothing was opened.
    """
    a, b = pair(patient_id, candidate_id)
    row = session.scalars(select(MpiReview).where(MpiReview.patient_a == a, MpiReview.patient_b == b)).first()
    now = _now()
    if row is not None and row.status != "closed":
        return None
    task_id = f"mpi-review-{uuid4().hex}"
    if row is None:
        row = MpiReview(patient_a=a, patient_b=b, created_at=now)
        session.add(row)
    row.score = match.score
    row.task_id = task_id
    row.status = "open"
    row.resolved_at = None
    session.flush()
    records.write(session, build_task(task_id, patient_id, candidate_id, candidate_master, match, now))
    return task_id


def _finish_task(session: Session, task_id: str | None, status: str, business: str, master: str | None) -> None:
    if not task_id:
        return
    try:
        task = dict(store.read(session, "Task", task_id))
    except NotFound:
        return
    if task.get("status") in ("completed", "cancelled"):
        return
    task.pop("meta", None)
    task["meta"] = {"tag": [dict(records.REVIEW_TAG)]}
    task["status"] = status
    task["businessStatus"] = {"text": business}
    task["lastModified"] = _now().isoformat()
    if master:
        task["output"] = [
            {
                "type": {"coding": [{"system": records.MPI_SYSTEM, "code": "result"}]},
                "valueReference": records.patient_ref(master),
            }
        ]
    records.write(session, task)


def decide(session: Session, row: MpiReview, status: str, *, master: str | None = None) -> None:
    """Record a decision on a review: ``linked`` or ``distinct`` (Task completed), ``closed`` (Task cancelled)."""
    row.status = status
    row.resolved_at = _now()
    if status == "closed":
        _finish_task(session, row.task_id, "cancelled", "closed", None)
    else:
        _finish_task(session, row.task_id, "completed", status, master)


def assert_distinct(session: Session, a: str, b: str) -> None:
    """Record that ``a`` and ``b`` are different people (an operator's decision); closes an open review."""
    x, y = pair(a, b)
    row = session.scalars(select(MpiReview).where(MpiReview.patient_a == x, MpiReview.patient_b == y)).first()
    if row is None:
        row = MpiReview(patient_a=x, patient_b=y, score=0.0, task_id=None, status="distinct", created_at=_now())
        session.add(row)
        row.resolved_at = row.created_at
        return
    decide(session, row, "distinct")


def distinct_from(session: Session, patient_id: str) -> set[str]:
    """The records an operator has declared to be other people than ``patient_id``."""
    rows = session.execute(
        select(MpiReview.patient_a, MpiReview.patient_b).where(
            MpiReview.status == "distinct", or_(MpiReview.patient_a == patient_id, MpiReview.patient_b == patient_id)
        )
    )
    return {b if a == patient_id else a for a, b in rows}


def reviews_between(session: Session, left: Iterable[str], right: Iterable[str]) -> list[MpiReview]:
    """Reviews (any status) of pairs with one record in ``left`` and the other in ``right``."""
    lset, rset = set(left), set(right)
    if not lset or not rset:
        return []
    rows = session.scalars(
        select(MpiReview).where(
            or_(
                MpiReview.patient_a.in_(lset) & MpiReview.patient_b.in_(rset),
                MpiReview.patient_a.in_(rset) & MpiReview.patient_b.in_(lset),
            )
        )
    )
    return list(rows)


def open_reviews_of(session: Session, patient_id: str) -> list[MpiReview]:
    rows = session.scalars(
        select(MpiReview).where(
            MpiReview.status == "open", or_(MpiReview.patient_a == patient_id, MpiReview.patient_b == patient_id)
        )
    )
    return list(rows)


def review_by_task(session: Session, task_id: str) -> MpiReview:
    """The review behind a Task.

    Raises:
        NotFound: no review has this Task.
    """
    row = session.scalars(select(MpiReview).where(MpiReview.task_id == task_id)).first()
    if row is None:
        raise NotFound(f"Task/{task_id} is not a patient-match review")
    return row


def focus_and_candidate(session: Session, row: MpiReview) -> tuple[str, str]:
    """(focus, candidate) of a review, from its Task (the pair's order otherwise)."""
    if row.task_id:
        try:
            task = store.read(session, "Task", row.task_id)
        except NotFound:
            task = None
        focus = records.ref_id(task.get("focus")) if task else None
        if focus in (row.patient_a, row.patient_b):
            return focus, row.patient_b if focus == row.patient_a else row.patient_a
    return row.patient_a, row.patient_b
