"""The value the guard last removed from each worker: the same value back is not removed again (no loop).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0008", "0007"


def upgrade() -> None:
    """Add worker_state.removed (a nullable column: SQLite adds it in place, no table copy)."""
    op.add_column("worker_state", sa.Column("removed", sa.Text))


def downgrade() -> None:
    """Drop worker_state.removed."""
    op.drop_column("worker_state", "removed")
