"""inbox: the hub's answer to a batch

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 22:30:00

A message received in an HL7 batch keeps, on its row, the control ids of the batch of ACKs the hub answered
with (its own FHS-11 and BHS-11; the answer's FHS-12/BHS-12 echo the received ones, kept since 0006), so that
an operator can tell which answer went with which incoming batch (``hub inbox --batch ID`` finds both). The ids
are taken before the messages are stored and written with them, in the same statement: an answer that was sent
names rows that are committed. Rows stored before this revision, messages sent alone (their ACK, with its own
MSH-10, is in ``inbox.ack``) and messages without an ACK due have NULL. The indexes are partial, as in 0006.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXED = ('reply_batch_control_id', 'reply_file_control_id')


def upgrade() -> None:
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_file_control_id', sa.String(length=199), nullable=True))
        batch_op.add_column(sa.Column('reply_batch_control_id', sa.String(length=199), nullable=True))
    for column in _INDEXED:
        where = sa.text(f'{column} IS NOT NULL')
        op.create_index(
            f'ix_inbox_{column}', 'inbox', [column], unique=False, sqlite_where=where, postgresql_where=where
        )


def downgrade() -> None:
    for column in _INDEXED:
        op.drop_index(f'ix_inbox_{column}', table_name='inbox')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('reply_batch_control_id')
        batch_op.drop_column('reply_file_control_id')
