"""Catalogue versions: the version one process reloaded, announced to every process of the database

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 22:30:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: str | Sequence[str] | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('catalogue_versions',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('announced_by', sa.String(length=300), nullable=False),
    sa.Column('announced_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_catalogue_versions'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('catalogue_versions')
