"""Appointed guardians, and the actor on consents and access-log entries

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 02:50:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import onestop.engine.db.database

# revision identifiers, used by Alembic.
revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('guardianships',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('guardian_id', sa.String(length=36), nullable=False),
    sa.Column('ward_id', sa.String(length=36), nullable=False),
    sa.Column('department', sa.String(length=20), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('valid_until', onestop.engine.db.database.UTCDateTime(), nullable=True),
    sa.Column('appointed_at', onestop.engine.db.database.UTCDateTime(), nullable=False),
    sa.Column('appointed_by', sa.String(length=200), nullable=False),
    sa.Column('ended_at', onestop.engine.db.database.UTCDateTime(), nullable=True),
    sa.Column('ended_by', sa.String(length=200), nullable=True),
    sa.Column('jws', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['guardian_id'], ['citizens.id'], name=op.f('fk_guardianships_guardian_id_citizens'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ward_id'], ['citizens.id'], name=op.f('fk_guardianships_ward_id_citizens'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_guardianships'))
    )
    with op.batch_alter_table('guardianships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_guardianships_guardian_id'), ['guardian_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_guardianships_ward_id'), ['ward_id'], unique=False)
    for table in ('consents', 'access_log'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('actor_ref', sa.String(length=120), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    for table in ('access_log', 'consents'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('actor_ref')
    with op.batch_alter_table('guardianships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_guardianships_ward_id'))
        batch_op.drop_index(batch_op.f('ix_guardianships_guardian_id'))
    op.drop_table('guardianships')
