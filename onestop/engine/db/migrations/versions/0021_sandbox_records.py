"""Sandbox synthetic records: the test citizens' prefill data, and which citizen reference is which test citizen

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 02:40:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('sandbox_records',
    sa.Column('login', sa.String(length=80), nullable=False),
    sa.Column('source', sa.String(length=80), nullable=False),
    sa.Column('item_id', sa.String(length=80), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['login'], ['sandbox_members.login'],
                            name=op.f('fk_sandbox_records_login_sandbox_members'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('login', 'source', 'item_id', name=op.f('pk_sandbox_records'))
    )
    op.create_table('sandbox_applicants',
    sa.Column('citizen_ref', sa.String(length=64), nullable=False),
    sa.Column('login', sa.String(length=80), nullable=False),
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['login'], ['sandbox_members.login'],
                            name=op.f('fk_sandbox_applicants_login_sandbox_members'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['provider_id'], ['sandboxes.provider_id'],
                            name=op.f('fk_sandbox_applicants_provider_id_sandboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('citizen_ref', name=op.f('pk_sandbox_applicants'))
    )
    op.create_index(op.f('ix_sandbox_applicants_login'), 'sandbox_applicants', ['login'], unique=False)
    op.create_index(op.f('ix_sandbox_applicants_provider_id'), 'sandbox_applicants', ['provider_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index(op.f('ix_sandbox_applicants_provider_id'), table_name='sandbox_applicants')
    op.drop_index(op.f('ix_sandbox_applicants_login'), table_name='sandbox_applicants')
    op.drop_table('sandbox_applicants')
    op.drop_table('sandbox_records')
