"""Who cannot take calls now: the worker's activity and availability, and the activities learned per workspace.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from guard.adapters.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SID = sa.String(64)


def upgrade() -> None:
    """Add the activity columns to worker_state, and the activity table."""
    with op.batch_alter_table("worker_state") as batch:
        batch.add_column(sa.Column("activity_sid", SID))
        batch.add_column(sa.Column("activity_name", sa.Text))
        batch.add_column(sa.Column("available", sa.Boolean))
        batch.add_column(sa.Column("urgent_at", UTCDateTime))
        batch.create_index("ix_worker_state_activity", ["account_sid", "workspace_sid", "activity_sid"])
    op.create_table(
        "activity",
        sa.Column("account_sid", SID, primary_key=True),
        sa.Column("workspace_sid", SID, primary_key=True),
        sa.Column("activity_sid", SID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
        sa.Column("learned_ms", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("activity")
    with op.batch_alter_table("worker_state") as batch:
        batch.drop_index("ix_worker_state_activity")
        for column in ("urgent_at", "available", "activity_name", "activity_sid"):
            batch.drop_column(column)
