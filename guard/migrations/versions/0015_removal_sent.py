"""Revision 0015 (after 0014): the removal journal, what a removal's update leaves, written before it is sent.

A process that dies with the update applied and its answer unread leaves the row; the re-check after the lease
then records the guard's own removal, and its value is watched for coming back.
"""

from alembic import op
from sqlalchemy import BigInteger, Column, String, Text

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    """Create removal_sent."""
    op.create_table(
        "removal_sent",
        Column("account_sid", String(64), primary_key=True),
        Column("workspace_sid", String(64), primary_key=True),
        Column("worker_sid", String(64), primary_key=True),
        Column("value", Text()),
        Column("digest", String(64), nullable=False),
        Column("sent_ms", BigInteger(), nullable=False),
    )


def downgrade() -> None:
    """Drop removal_sent."""
    op.drop_table("removal_sent")
