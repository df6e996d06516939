"""inbox: the batch each message came in

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 18:30:00

A message received in an HL7 batch (FHS/BHS … BTS/FTS) keeps the file control id (FHS-11), the batch
control id (BHS-11) and its position in the batch on its row, so that an operator can trace a hospital's
nightly batch (``hub inbox --batch ID``). Rows stored before this revision, and messages sent alone, have
NULL in all three. The two indexes are partial: the messages sent alone cost no index entry.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXED = ('batch_control_id', 'file_control_id')


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('file_control_id', sa.String(length=199), nullable=True))
        batch_op.add_column(sa.Column('batch_control_id', sa.String(length=199), nullable=True))
        batch_op.add_column(sa.Column('batch_position', sa.Integer(), nullable=True))
    for column in _INDEXED:
        where = sa.text(f'{column} IS NOT NULL')
        op.create_index(
            f'ix_inbox_{column}', 'inbox', [column], unique=False, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for column in _INDEXED:
        op.drop_index(f'ix_inbox_{column}', table_name='inbox')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('batch_position')
        batch_op.drop_column('batch_control_id')
        batch_op.drop_column('file_control_id')
