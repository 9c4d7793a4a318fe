"""Revision 0017 (after 0016): a resolved that answers a page goes out in the pages' turn.

In a flood at Slack's pace, pages go first; the resolved telling the paged on-call that the agent rings again waited
behind every older alert about agents who are away, hours for thousands. Pages from before are marked as such.
"""

from alembic import op
from sqlalchemy import Boolean, Column, false

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    """alert.page: a page, or a resolved that answers one."""
    op.add_column("alert", Column("page", Boolean(), nullable=False, server_default=false()))
    op.execute("UPDATE alert SET page = true WHERE kind = 'urgent'")


def downgrade() -> None:
    """Drop alert.page (SQLite rebuilds the table to drop a column)."""
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("page")
