"""Remediation records (and webhook-path remediation jobs) and audit runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from guard.adapters.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SID = sa.String(64)
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    """Create the remediation and audit_run tables."""
    op.create_table(
        "remediation",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account_sid", SID, nullable=False),
        sa.Column("workspace_sid", SID, nullable=False),
        sa.Column("worker_sid", SID, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("before_value", sa.Text),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("lease_until", UTCDateTime),
    )
    op.create_index("ix_remediation_status", "remediation", ["status"])
    op.create_index("ix_remediation_worker", "remediation", ["account_sid", "workspace_sid", "worker_sid"])
    op.create_table(
        "audit_run",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account_sid", SID, nullable=False),
        sa.Column("workspace_sid", SID, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("audit_run")
    op.drop_table("remediation")
