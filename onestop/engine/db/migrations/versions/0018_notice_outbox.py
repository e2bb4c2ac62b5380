"""Notices: the outbox's relay finds the notices still to send (queued, or a send that did not finish) by status

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 03:00:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0018'
down_revision: str | Sequence[str] | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('notices_sent', schema=None) as batch_op:
        batch_op.create_index('ix_notices_sent_status_created', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('notices_sent', schema=None) as batch_op:
        batch_op.drop_index('ix_notices_sent_status_created')
