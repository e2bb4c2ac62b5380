"""Appointments: slot counters and bookings

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 23:55:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: str | Sequence[str] | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('appointment_slots',
    sa.Column('service_id', sa.String(length=80), nullable=False),
    sa.Column('office', sa.String(length=100), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('booked', sa.Integer(), nullable=False),
    sa.CheckConstraint('booked >= 0', name=op.f('ck_appointment_slots_booked_not_negative')),
    sa.PrimaryKeyConstraint('service_id', 'office', 'starts_at', name=op.f('pk_appointment_slots'))
    )
    op.create_table('appointment_bookings',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('application_id', sa.String(length=64), nullable=False),
    sa.Column('service_id', sa.String(length=80), nullable=False),
    sa.Column('office', sa.String(length=100), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('held_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminder_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_bookings'))
    )
    with op.batch_alter_table('appointment_bookings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_bookings_application_id'), ['application_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('appointment_bookings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_bookings_application_id'))
    op.drop_table('appointment_bookings')
    op.drop_table('appointment_slots')
