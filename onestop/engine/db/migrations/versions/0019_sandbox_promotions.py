"""Sandbox promotions: requests that a sandbox service's version go live, and the test runs they rest on

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-29 02:35:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import onestop.engine.db.database

# revision identifiers, used by Alembic.
revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "sandbox_test_runs",
        sa.Column("application_id", sa.String(length=120), nullable=False),
        sa.Column("provider_id", sa.String(length=40), nullable=False),
        sa.Column("service_slug", sa.String(length=120), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", onestop.engine.db.database.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["sandboxes.provider_id"],
            name=op.f("fk_sandbox_test_runs_provider_id_sandboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("application_id", name=op.f("pk_sandbox_test_runs")),
    )
    with op.batch_alter_table("sandbox_test_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sandbox_test_runs_provider_id"), ["provider_id"], unique=False)
    op.create_table(
        "sandbox_promotions",
        sa.Column("promotion_id", sa.String(length=160), nullable=False),
        sa.Column("provider_id", sa.String(length=40), nullable=False),
        sa.Column("namespace", sa.String(length=12), nullable=False),
        sa.Column("service_slug", sa.String(length=120), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("checks", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("requested_at", onestop.engine.db.database.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", onestop.engine.db.database.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("catalogue_version", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["sandboxes.provider_id"],
            name=op.f("fk_sandbox_promotions_provider_id_sandboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("promotion_id", name=op.f("pk_sandbox_promotions")),
    )
    with op.batch_alter_table("sandbox_promotions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sandbox_promotions_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sandbox_promotions_status"), ["status"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("sandbox_promotions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_promotions_status"))
        batch_op.drop_index(batch_op.f("ix_sandbox_promotions_provider_id"))
    op.drop_table("sandbox_promotions")
    with op.batch_alter_table("sandbox_test_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_test_runs_provider_id"))
    op.drop_table("sandbox_test_runs")
