"""Application tables: department inbox, reference numbers, application index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 01:00:32.738960

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('application_references',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('application_id', sa.String(length=120), nullable=False),
    sa.Column('department', sa.String(length=20), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_application_references')),
    sa.UniqueConstraint('application_id', name=op.f('uq_application_references_application_id'))
    )
    op.create_table('applications',
    sa.Column('application_id', sa.String(length=120), nullable=False),
    sa.Column('citizen_ref', sa.String(length=120), nullable=False),
    sa.Column('service_id', sa.String(length=120), nullable=False),
    sa.Column('department', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reference_number', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('application_id', name=op.f('pk_applications'))
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applications_citizen_ref'), ['citizen_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_department'), ['department'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_status'), ['status'], unique=False)

    op.create_table('department_inbox',
    sa.Column('application_id', sa.String(length=120), nullable=False),
    sa.Column('department', sa.String(length=20), nullable=False),
    sa.Column('reference_number', sa.String(length=40), nullable=False),
    sa.Column('service_id', sa.String(length=120), nullable=False),
    sa.Column('citizen_ref', sa.String(length=120), nullable=False),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('application_id', name=op.f('pk_department_inbox')),
    sa.UniqueConstraint('reference_number', name=op.f('uq_department_inbox_reference_number'))
    )
    with op.batch_alter_table('department_inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_department_inbox_department'), ['department'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('department_inbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_department_inbox_department'))

    op.drop_table('department_inbox')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applications_status'))
        batch_op.drop_index(batch_op.f('ix_applications_department'))
        batch_op.drop_index(batch_op.f('ix_applications_citizen_ref'))

    op.drop_table('applications')
    op.drop_table('application_references')
