"""Data and consent tables: citizens, e-ME profiles, provider records, consents, access log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 23:51:15.630939

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('citizens',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('sub', sa.String(length=255), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_citizens')),
    sa.UniqueConstraint('ref', name=op.f('uq_citizens_ref')),
    sa.UniqueConstraint('sub', name=op.f('uq_citizens_sub'))
    )
    op.create_table('access_log',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('citizen_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('service_slug', sa.String(length=200), nullable=False),
    sa.Column('department', sa.String(length=20), nullable=False),
    sa.Column('provider_id', sa.String(length=100), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('consent_id', sa.String(length=36), nullable=True),
    sa.Column('application_id', sa.String(length=200), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.String(length=50), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'],
                            name=op.f('fk_access_log_citizen_id_citizens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log')),
    sa.UniqueConstraint('citizen_id', 'seq', name=op.f('uq_access_log_citizen_id'))
    )
    op.create_table('consents',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('citizen_id', sa.String(length=36), nullable=False),
    sa.Column('service_slug', sa.String(length=200), nullable=False),
    sa.Column('service_hash', sa.String(length=64), nullable=False),
    sa.Column('department', sa.String(length=20), nullable=False),
    sa.Column('providers', sa.JSON(), nullable=False),
    sa.Column('items', sa.JSON(), nullable=False),
    sa.Column('purpose', sa.JSON(), nullable=False),
    sa.Column('lawful_basis', sa.String(length=50), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('acr', sa.String(length=200), nullable=False),
    sa.Column('application_id', sa.String(length=200), nullable=True),
    sa.Column('step_id', sa.String(length=100), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.Column('receipt_jws', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'],
                            name=op.f('fk_consents_citizen_id_citizens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_application_id'), ['application_id'], unique=False)
        batch_op.create_index('ix_consents_citizen_granted', ['citizen_id', 'granted_at'], unique=False)

    op.create_table('profiles',
    sa.Column('citizen_id', sa.String(length=36), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=True),
    sa.Column('name_zh', sa.Text(), nullable=True),
    sa.Column('date_of_birth', sa.Text(), nullable=True),
    sa.Column('hkid', sa.Text(), nullable=True),
    sa.Column('gender', sa.Text(), nullable=True),
    sa.Column('phone', sa.Text(), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('residential_address', sa.Text(), nullable=True),
    sa.Column('correspondence_address', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'],
                            name=op.f('fk_profiles_citizen_id_citizens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('citizen_id', name=op.f('pk_profiles'))
    )
    op.create_table('provider_records',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('citizen_id', sa.String(length=36), nullable=False),
    sa.Column('provider_id', sa.String(length=100), nullable=False),
    sa.Column('item_id', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'],
                            name=op.f('fk_provider_records_citizen_id_citizens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_records')),
    sa.UniqueConstraint('citizen_id', 'provider_id', 'item_id', name=op.f('uq_provider_records_citizen_id'))
    )
    with op.batch_alter_table('provider_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_records_citizen_id'), ['citizen_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('provider_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_records_citizen_id'))

    op.drop_table('provider_records')
    op.drop_table('profiles')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index('ix_consents_citizen_granted')
        batch_op.drop_index(batch_op.f('ix_consents_application_id'))

    op.drop_table('consents')
    op.drop_table('access_log')
    op.drop_table('citizens')
