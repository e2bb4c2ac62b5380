"""Anonymous drafts: an application nobody has answered yet, kept without a workflow

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 23:50:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: str | Sequence[str] | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('anonymous_drafts',
    sa.Column('application_id', sa.String(length=120), nullable=False),
    sa.Column('citizen_ref', sa.String(length=120), nullable=False),
    sa.Column('service_id', sa.String(length=120), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('application_id', name=op.f('pk_anonymous_drafts'))
    )
    op.create_index(op.f('ix_anonymous_drafts_expires_at'), 'anonymous_drafts', ['expires_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_anonymous_drafts_expires_at'), table_name='anonymous_drafts')
    op.drop_table('anonymous_drafts')
