"""The fingerprint of the value an Intended click's message showed: checked again when the click is applied.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0009", "0008"


def upgrade() -> None:
    """Add slack_click.value_digest (a nullable column: SQLite adds it in place, no table copy)."""
    op.add_column("slack_click", sa.Column("value_digest", sa.String(16)))


def downgrade() -> None:
    """Drop slack_click.value_digest."""
    op.drop_column("slack_click", "value_digest")
