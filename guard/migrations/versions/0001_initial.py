"""Worker state, processed events and the alert outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from guard.adapters.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SID = sa.String(64)


def upgrade() -> None:
    """Create the three tables."""
    op.create_table(
        "worker_state",
        sa.Column("account_sid", SID, primary_key=True),
        sa.Column("workspace_sid", SID, primary_key=True),
        sa.Column("worker_sid", SID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("email", sa.Text),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("expected", sa.Text),
        sa.Column("actual", sa.Text),
        sa.Column("diagnosis", sa.String(16)),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger),
        sa.Column("occurred_ms", sa.BigInteger),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("last_alert_at", UTCDateTime),
    )
    op.create_index("ix_worker_state_verdict", "worker_state", ["verdict"])
    op.create_table(
        "processed_event",
        sa.Column("event_id", SID, primary_key=True),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_processed_event_received_at", "processed_event", ["received_at"])
    op.create_table(
        "alert",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("account_sid", SID, nullable=False),
        sa.Column("workspace_sid", SID, nullable=False),
        sa.Column("worker_sid", SID, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("delivered_at", UTCDateTime),
    )
    op.create_index("ix_alert_due", "alert", ["status", "next_attempt_at"])
    op.create_index("ix_alert_worker", "alert", ["account_sid", "workspace_sid", "worker_sid", "status"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("alert")
    op.drop_table("processed_event")
    op.drop_table("worker_state")
