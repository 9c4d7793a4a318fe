"""Revision 0013 (after 0012): a cause lookup remembers whether its drift came across updates the guard missed.

Only such a lookup may look back over TaskRouter's 30 days; a first sight or a drift whose update the guard saw
looks back 10 minutes, so an older edit that left the value as it was is never named as the cause.
"""

from alembic import op
from sqlalchemy import BigInteger, Column

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    """cause_lookup.since_version (NULL for the lookups queued before it: they keep the 10 minutes)."""
    op.add_column("cause_lookup", Column("since_version", BigInteger()))


def downgrade() -> None:
    """Drop cause_lookup.since_version (SQLite rebuilds the table to drop a column)."""
    with op.batch_alter_table("cause_lookup") as batch:
        batch.drop_column("since_version")
