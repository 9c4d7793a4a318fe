"""Key processed events by account and workspace as well as by event id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from guard.adapters.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SID = sa.String(64)


def upgrade() -> None:
    """Recreate processed_event with the wider key (its rows only guard against redeliveries of ~2 days)."""
    op.drop_table("processed_event")
    op.create_table(
        "processed_event",
        sa.Column("account_sid", SID, primary_key=True),
        sa.Column("workspace_sid", SID, primary_key=True),
        sa.Column("event_id", SID, primary_key=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_processed_event_received_at", "processed_event", ["received_at"])


def downgrade() -> None:
    """Back to event-id-only dedup."""
    op.drop_table("processed_event")
    op.create_table(
        "processed_event",
        sa.Column("event_id", SID, primary_key=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_processed_event_received_at", "processed_event", ["received_at"])
