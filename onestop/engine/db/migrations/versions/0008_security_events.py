"""Security events, alerts, locks and detector state

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 21:23:51.159019

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: str | Sequence[str] | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('detector_state',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('watermark', sa.Integer(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_detector_state'))
    )
    op.create_table('security_alerts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('rule', sa.String(length=50), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('series', sa.String(length=200), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('event_ids', sa.JSON(), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lock_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handled_by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_alerts'))
    )
    with op.batch_alter_table('security_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_alerts_series'), ['series'], unique=False)
        batch_op.create_index(batch_op.f('ix_security_alerts_status'), ['status'], unique=False)

    op.create_table('security_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('partition', sa.String(length=60), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=True),
    sa.Column('citizen', sa.String(length=64), nullable=True),
    sa.Column('staff', sa.String(length=64), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('provider', sa.String(length=100), nullable=True),
    sa.Column('service', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_security_events')),
    sa.UniqueConstraint('partition', 'seq', name=op.f('uq_security_events_partition'))
    )
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_events_at'), ['at'], unique=False)

    op.create_table('security_locks',
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('alert_id', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('kind', 'subject', name=op.f('pk_security_locks'))
    )
    op.create_table('security_alert_subjects',
    sa.Column('alert_id', sa.String(length=36), nullable=False),
    sa.Column('citizen', sa.String(length=64), nullable=False),
    sa.Column('answer', sa.String(length=20), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['security_alerts.id'],
                            name=op.f('fk_security_alert_subjects_alert_id_security_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('alert_id', 'citizen', name=op.f('pk_security_alert_subjects'))
    )
    with op.batch_alter_table('security_alert_subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_alert_subjects_citizen'), ['citizen'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('security_alert_subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_alert_subjects_citizen'))

    op.drop_table('security_alert_subjects')
    op.drop_table('security_locks')
    with op.batch_alter_table('security_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_events_at'))

    op.drop_table('security_events')
    with op.batch_alter_table('security_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_alerts_status'))
        batch_op.drop_index(batch_op.f('ix_security_alerts_series'))

    op.drop_table('security_alerts')
    op.drop_table('detector_state')
