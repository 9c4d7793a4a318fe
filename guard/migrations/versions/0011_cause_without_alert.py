"""A lookup of who changed a worker may wait for no alert: a removal while the agent is away pages later.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0011", "0010"


def upgrade() -> None:
    """cause_lookup.alert_id may be NULL: the answer is kept on the worker's state for the page to come."""
    with op.batch_alter_table("cause_lookup") as batch:
        batch.alter_column("alert_id", existing_type=sa.BigInteger(), nullable=True)


def downgrade() -> None:
    """Back to a lookup per alert (one with none is dropped: its answer is on the state already, or never will be)."""
    op.execute("DELETE FROM cause_lookup WHERE alert_id IS NULL")
    with op.batch_alter_table("cause_lookup") as batch:
        batch.alter_column("alert_id", existing_type=sa.BigInteger(), nullable=False)
