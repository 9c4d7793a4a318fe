"""Revision 0017 (after 0016): a resolved that answers a page goes out in the pages' turn.

In a flood at Slack's pace, pages go first; the resolved telling the paged on-call that the agent rings again waited
behind every older alert about agents who are away, hours for thousands. Pages from before are marked as such.
"""

from alembic import op
from sqlalchemy import Boolean, Column, false

# A resolved still waiting whose worker's last page before it is not answered yet: it answers that page
ANSWERING = """
UPDATE alert SET page = true WHERE kind = 'resolved' AND status = 'pending' AND EXISTS (
    SELECT 1 FROM alert p
    WHERE p.account_sid = alert.account_sid AND p.workspace_sid = alert.workspace_sid
      AND p.worker_sid = alert.worker_sid AND p.kind = 'urgent' AND p.id < alert.id
      AND NOT EXISTS (
        SELECT 1 FROM alert r
        WHERE r.account_sid = alert.account_sid AND r.workspace_sid = alert.workspace_sid
          AND r.worker_sid = alert.worker_sid AND r.kind = 'resolved' AND r.id > p.id AND r.id < alert.id))
"""
revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    """alert.page: a page, or a resolved that answers one."""
    op.add_column("alert", Column("page", Boolean(), nullable=False, server_default=false()))
    op.execute("UPDATE alert SET page = true WHERE kind = 'urgent'")
    op.execute(ANSWERING)


def downgrade() -> None:
    """Drop alert.page (SQLite rebuilds the table to drop a column)."""
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("page")
