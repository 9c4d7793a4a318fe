"""Queued removals found by (status, id): a claim walked every finished removal before the oldest queued one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from alembic import op

revision, down_revision = "0010", "0009"


def upgrade() -> None:
    """Replace ix_remediation_status with ix_remediation_status_id (its leading column serves the same lookups)."""
    op.create_index("ix_remediation_status_id", "remediation", ["status", "id"])
    op.drop_index("ix_remediation_status", table_name="remediation")


def downgrade() -> None:
    """Back to the index on status alone."""
    op.create_index("ix_remediation_status", "remediation", ["status"])
    op.drop_index("ix_remediation_status_id", table_name="remediation")
