"""inbox: the conversion report of each message

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:00:00

What the operator should know about a converted message (unmapped local codes, flagged resident ids, elements
left out for an invalid value) is kept on its inbox row as a JSON list.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('report', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('report')
