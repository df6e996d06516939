"""fhir search index: covering lookup indexes, byte-wise string values with :exact, type + lastUpdated indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 18:15:59.312940

Every lookup index ends with ``resource_id`` so that a search reads the matching ids from the index alone.
``search_string.value`` orders byte-wise on PostgreSQL too (collation "C"): prefix matching is an index
range scan ``value >= p AND value < p || U+10FFFF`` and is only right under code point order.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOOKUPS = {
    'search_token': (['resource_type', 'param', 'code', 'system'], ['resource_id']),
    'search_string': (['resource_type', 'param', 'value'], ['resource_id']),
    'search_date': (['resource_type', 'param', 'low', 'high'], ['resource_id']),
    'search_reference': (['resource_type', 'param', 'target_id', 'target_type'], ['resource_id']),
    'search_quantity': (['resource_type', 'param', 'code', 'value'], ['resource_id']),
}


def _bytewise(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length=length).with_variant(sa.String(length=length, collation='C'), 'postgresql')


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.create_index('ix_resource_type_updated', ['resource_type', 'last_updated'], unique=False)

    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.create_index('ix_resource_version_type_updated', ['resource_type', 'last_updated'], unique=False)

    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.add_column(sa.Column('exact', _bytewise(512), nullable=True))
    if postgres:
        op.execute('ALTER TABLE search_string ALTER COLUMN value TYPE VARCHAR(512) COLLATE "C"')

    for table, (columns, extra) in _LOOKUPS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_lookup')
            batch_op.create_index(f'ix_{table}_lookup', columns + extra, unique=False)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == 'postgresql'
    for table, (columns, _extra) in _LOOKUPS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f'ix_{table}_lookup')
            batch_op.create_index(f'ix_{table}_lookup', columns, unique=False)

    if postgres:
        op.execute('ALTER TABLE search_string ALTER COLUMN value TYPE VARCHAR(512) COLLATE "default"')
    with op.batch_alter_table('search_string', schema=None) as batch_op:
        batch_op.drop_column('exact')

    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.drop_index('ix_resource_version_type_updated')

    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_index('ix_resource_type_updated')
