"""Sandbox programme: providers' sandboxes and their logins (staff and synthetic test citizens)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 00:30:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0016'
down_revision: str | Sequence[str] | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('sandboxes',
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('application_id', sa.String(length=120), nullable=False),
    sa.Column('namespace', sa.String(length=12), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('client_secret_hash', sa.String(length=64), nullable=False),
    sa.Column('redirect_uris', sa.Text(), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('provider_id', name=op.f('pk_sandboxes')),
    sa.UniqueConstraint('application_id', name=op.f('uq_sandboxes_application_id')),
    sa.UniqueConstraint('client_id', name=op.f('uq_sandboxes_client_id')),
    sa.UniqueConstraint('namespace', name=op.f('uq_sandboxes_namespace'))
    )
    op.create_table('sandbox_members',
    sa.Column('login', sa.String(length=80), nullable=False),
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('age_group', sa.String(length=40), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['sandboxes.provider_id'],
                            name=op.f('fk_sandbox_members_provider_id_sandboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('login', name=op.f('pk_sandbox_members'))
    )
    op.create_index(op.f('ix_sandbox_members_provider_id'), 'sandbox_members', ['provider_id'], unique=False)
    op.create_table('sandbox_catalogue_versions',
    sa.Column('provider_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('files', sa.Text(), nullable=False),
    sa.Column('services', sa.Text(), nullable=False),
    sa.Column('uploaded_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['sandboxes.provider_id'],
                            name=op.f('fk_sandbox_catalogue_versions_provider_id_sandboxes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('provider_id', 'version', name=op.f('pk_sandbox_catalogue_versions'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('sandbox_catalogue_versions')
    op.drop_index(op.f('ix_sandbox_members_provider_id'), table_name='sandbox_members')
    op.drop_table('sandbox_members')
    op.drop_table('sandboxes')
