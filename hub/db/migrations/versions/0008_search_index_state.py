"""search_index_state: which search parameters each type's index rows were built with

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 14:50:00

One row per resource type: a fingerprint of the search parameters (``hub.fhir.index_state``) its stored resources
were last indexed with. ``hub db upgrade`` and ``hub serve`` re-index, after the schema upgrade, every type whose
parameters differ from the recorded ones; the table starts empty, so a database upgraded to this revision has every
stored type re-indexed once (types that got parameters after their resources were stored, such as Account, Coverage
and the Patient compartment types, were not found by them until ``hub reindex`` ran).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'search_index_state',
        sa.Column('resource_type', sa.String(length=64), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=False),
        sa.Column('indexed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('resource_type', name=op.f('pk_search_index_state')),
    )


def downgrade() -> None:
    op.drop_table('search_index_state')
