"""Slack fix buttons: recorded clicks, and the workers an approver marked intended.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from guard.adapters.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SID = sa.String(64)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    """Create slack_click and ignore_rule."""
    op.create_table(
        "slack_click",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account_sid", SID, nullable=False),
        sa.Column("workspace_sid", SID, nullable=False),
        sa.Column("worker_sid", SID, nullable=False),
        sa.Column("action", sa.String(24), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("response_url", sa.Text, nullable=False),
        sa.Column("refusal", sa.Text),
        sa.Column("dedup_key", sa.String(255), unique=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("outcome", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("lease_until", UTCDateTime),
    )
    op.create_index("ix_slack_click_status", "slack_click", ["status"])
    op.create_table(
        "ignore_rule",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account_sid", SID, nullable=False),
        sa.Column("workspace_sid", SID, nullable=False),
        sa.Column("worker_sid", SID, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ux_ignore_rule_worker", "ignore_rule", ["account_sid", "workspace_sid", "worker_sid"], unique=True)


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("ignore_rule")
    op.drop_table("slack_click")
