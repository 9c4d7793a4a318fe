"""Record what each verdict was judged against: email, twilio_contact_identity or worker name.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add worker_state.basis (empty for rows judged before; the next event or audit fills it)."""
    with op.batch_alter_table("worker_state") as batch:
        batch.add_column(sa.Column("basis", sa.String(32)))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("worker_state") as batch:
        batch.drop_column("basis")
