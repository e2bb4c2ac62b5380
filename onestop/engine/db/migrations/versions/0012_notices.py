"""Notices: the outbox of notices sent (one row per application, event, revision and channel) and citizens'
notice preferences

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 23:50:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: str | Sequence[str] | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('notices_sent',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('application_id', sa.String(length=120), nullable=False),
    sa.Column('citizen_ref', sa.String(length=120), nullable=False),
    sa.Column('event', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notices_sent')),
    sa.UniqueConstraint('key', name=op.f('uq_notices_sent_key'))
    )
    with op.batch_alter_table('notices_sent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_sent_application_id'), ['application_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notices_sent_citizen_ref'), ['citizen_ref'], unique=False)

    op.create_table('notice_preferences',
    sa.Column('citizen_id', sa.String(length=36), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('channels', sa.String(length=10), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_notice_preferences_citizen_id_citizens'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('citizen_id', name=op.f('pk_notice_preferences'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('notice_preferences')
    with op.batch_alter_table('notices_sent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_sent_citizen_ref'))
        batch_op.drop_index(batch_op.f('ix_notices_sent_application_id'))
    op.drop_table('notices_sent')
