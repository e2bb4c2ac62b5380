"""Pinned service snapshots by content hash

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 22:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('service_snapshots',
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('service_id', sa.String(length=120), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('snapshot', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('content_hash', name=op.f('pk_service_snapshots'))
    )


def downgrade() -> None:
    op.drop_table('service_snapshots')
