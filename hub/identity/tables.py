"""The master patient index's own tables: fast lookups beside the FHIR Patients that clients read.

The FHIR record stays the truth clients see (master Patient ``link`` seealso → sources, source ``link`` refer
→ master, A40 ``replaced-by``/``replaces``); these narrow tables let the hub find candidates and expand a
patient reference without reading or scanning Patient resources.

mpi_master   one row per hub-owned master Patient: active, or replaced by another master
mpi_source   one row per hospital (source) Patient: its master, why it is linked, its matching profile
mpi_key      blocking keys of each source (resident ID, birth date + name, phone …), indexed by (kind, value)
mpi_review   a scored candidate pair waiting for (or decided by) an operator, with its FHIR Task
mpi_merge    each A40 / $merge, with the state before and after it, so that unmerge can restore it
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db.tables import Base, BigId


class MpiMaster(Base):
    __tablename__ = "mpi_master"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(12))  # active | replaced | retired (no sources left)
    replaced_by: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MpiSource(Base):
    __tablename__ = "mpi_source"

    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    master_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # linked: an active member of its master; replaced: merged into `replaced_by` (A40), its data still belongs
    # to the person; deleted: the Patient was deleted.
    status: Mapped[str] = mapped_column(String(12))
    # resident-id | single (own master, no strong match) | operator | merge
    basis: Mapped[str] = mapped_column(String(12))
    replaced_by: Mapped[str | None] = mapped_column(String(64), index=True)
    profile: Mapped[str] = mapped_column(Text)  # matching.Profile.to_json() as JSON
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class MpiKey(Base):
    __tablename__ = "mpi_key"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(128))

    __table_args__ = (Index("ix_mpi_key_lookup", "kind", "value"),)


class MpiReview(Base):
    __tablename__ = "mpi_review"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    patient_a: Mapped[str] = mapped_column(String(64))  # the pair, smaller id first
    patient_b: Mapped[str] = mapped_column(String(64), index=True)
    score: Mapped[float] = mapped_column(Float)
    task_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))  # open | linked | distinct | closed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("patient_a", "patient_b", name="uq_mpi_review_pair"),)


class MpiMerge(Base):
    __tablename__ = "mpi_merge"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source_id: Mapped[str] = mapped_column(String(64), index=True)  # the record merged away (A40 MRG)
    target_id: Mapped[str] = mapped_column(String(64), index=True)  # the surviving record (A40 PID)
    status: Mapped[str] = mapped_column(String(8))  # active | undone
    inbox_id: Mapped[int | None] = mapped_column(BigId)
    before: Mapped[str] = mapped_column(Text)  # JSON: resources and index rows as they were
    after: Mapped[str] = mapped_column(Text)  # JSON: resources as the merge wrote them
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
