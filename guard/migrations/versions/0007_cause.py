"""The cause of each drift: the trusted evidence, a copy of the attributes, what changed, and who changed it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from guard.adapters.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SID = sa.String(64)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    """Add the history columns to worker_state, and the cause_lookup queue."""
    with op.batch_alter_table("worker_state") as batch:
        for column in ("trusted", "attributes", "changes", "cause"):
            batch.add_column(sa.Column(column, sa.Text))
    op.create_table(
        "cause_lookup",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account_sid", SID, nullable=False),
        sa.Column("workspace_sid", SID, nullable=False),
        sa.Column("worker_sid", SID, nullable=False),
        sa.Column("alert_id", sa.BigInteger, nullable=False),
        sa.Column("event_id", SID),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("occurred_ms", sa.BigInteger),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("detail", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index("ix_cause_lookup_due", "cause_lookup", ["status", "next_attempt_at"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_cause_lookup_due", "cause_lookup")
    op.drop_table("cause_lookup")
    with op.batch_alter_table("worker_state") as batch:
        for column in ("cause", "changes", "attributes", "trusted"):
            batch.drop_column(column)
