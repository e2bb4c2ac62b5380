"""Relationships: birth registrations (parent and child), HKID pseudonyms, mandates, and the actor and subject of
each application

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 00:55:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import onestop.engine.db.database

# revision identifiers, used by Alembic.
revision: str = '0017'
down_revision: str | Sequence[str] | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('birth_registrations',
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('parent_id', sa.String(length=36), nullable=False),
    sa.Column('date_of_birth', sa.Text(), nullable=False),
    sa.Column('child_name', sa.Text(), nullable=False),
    sa.Column('registered_at', onestop.engine.db.database.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['citizens.id'], name=op.f('fk_birth_registrations_child_id_citizens'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['citizens.id'],
                            name=op.f('fk_birth_registrations_parent_id_citizens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('child_id', 'parent_id', name=op.f('pk_birth_registrations'))
    )
    with op.batch_alter_table('birth_registrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_birth_registrations_parent_id'), ['parent_id'], unique=False)
    op.create_table('citizen_identifiers',
    sa.Column('pseudonym', sa.String(length=64), nullable=False),
    sa.Column('citizen_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizens.id'], name=op.f('fk_citizen_identifiers_citizen_id_citizens'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pseudonym', name=op.f('pk_citizen_identifiers'))
    )
    with op.batch_alter_table('citizen_identifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citizen_identifiers_citizen_id'), ['citizen_id'], unique=False)
    op.create_table('mandates',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('grantor_id', sa.String(length=36), nullable=False),
    sa.Column('grantee_id', sa.String(length=36), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('valid_from', onestop.engine.db.database.UTCDateTime(), nullable=False),
    sa.Column('valid_until', onestop.engine.db.database.UTCDateTime(), nullable=False),
    sa.Column('granted_at', onestop.engine.db.database.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', onestop.engine.db.database.UTCDateTime(), nullable=True),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['grantee_id'], ['citizens.id'], name=op.f('fk_mandates_grantee_id_citizens'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grantor_id'], ['citizens.id'], name=op.f('fk_mandates_grantor_id_citizens'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mandates'))
    )
    with op.batch_alter_table('mandates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mandates_grantee_id'), ['grantee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mandates_grantor_id'), ['grantor_id'], unique=False)
    op.create_table('application_parties',
    sa.Column('application_id', sa.String(length=120), nullable=False),
    sa.Column('actor_ref', sa.String(length=120), nullable=False),
    sa.Column('subject_ref', sa.String(length=120), nullable=False),
    sa.Column('acting_as', sa.String(length=20), nullable=False),
    sa.Column('mandate_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('application_id', name=op.f('pk_application_parties'))
    )
    with op.batch_alter_table('application_parties', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_parties_actor_ref'), ['actor_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_application_parties_subject_ref'), ['subject_ref'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    for table, indexes in (('application_parties', ('subject_ref', 'actor_ref')),
                           ('mandates', ('grantor_id', 'grantee_id')),
                           ('citizen_identifiers', ('citizen_id',)),
                           ('birth_registrations', ('parent_id',))):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f'ix_{table}_{column}'))
        op.drop_table(table)
