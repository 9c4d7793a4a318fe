"""Whether an audit fed its verdicts to the state (--alert): /status then trusts the state, not the audit's counts.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision, down_revision = "0012", "0011"


def upgrade() -> None:
    """audit_run.alerted; NULL for the runs before it: whether they fed the state is not known, so none warns."""
    with op.batch_alter_table("audit_run") as batch:
        batch.add_column(sa.Column("alerted", sa.Boolean()))


def downgrade() -> None:
    """Drop audit_run.alerted."""
    with op.batch_alter_table("audit_run") as batch:
        batch.drop_column("alerted")
