"""Application index: keyset indexes for lists paged newest first

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00.000000

Each list filters on one column (citizen or department) and reads in (created_at DESC, application_id) order;
one index per list serves both, and replaces the single-column index it starts with.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index('ix_applications_citizen_ref_created',
                              ['citizen_ref', sa.text('created_at DESC'), 'application_id'], unique=False)
        batch_op.create_index('ix_applications_department_created',
                              ['department', sa.text('created_at DESC'), 'application_id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_applications_citizen_ref'))
        batch_op.drop_index(batch_op.f('ix_applications_department'))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applications_department'), ['department'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_citizen_ref'), ['citizen_ref'], unique=False)
        batch_op.drop_index('ix_applications_department_created')
        batch_op.drop_index('ix_applications_citizen_ref_created')
