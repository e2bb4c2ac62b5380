"""Idempotency keys on the access log and consents

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000

A retried prefill activity repeats the same logical fetch; these keys let it find the rows its first attempt
wrote. Existing rows keep NULL, which unique constraints never compare equal.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | Sequence[str] | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fetch_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_access_log_citizen_fetch_key', ['citizen_id', 'fetch_key'])
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grant_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_consents_citizen_grant_key', ['citizen_id', 'grant_key'])


def downgrade() -> None:
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_constraint('uq_consents_citizen_grant_key', type_='unique')
        batch_op.drop_column('grant_key')
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_constraint('uq_access_log_citizen_fetch_key', type_='unique')
        batch_op.drop_column('fetch_key')
