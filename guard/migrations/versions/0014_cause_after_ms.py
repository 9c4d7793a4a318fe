"""Revision 0014 (after 0013): a cause lookup remembers the time of the guard's copy before its drift.

That copy's update left the value as it was judged then: neither it nor an older edit made the drift, so a lookup
whose own Event is not listed yet no longer names it. Lookups pending at the upgrade keep no bound, as before.
"""

from alembic import op
from sqlalchemy import BigInteger, Column

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    """cause_lookup.after_ms."""
    op.add_column("cause_lookup", Column("after_ms", BigInteger()))


def downgrade() -> None:
    """Drop cause_lookup.after_ms (SQLite rebuilds the table to drop a column)."""
    with op.batch_alter_table("cause_lookup") as batch:
        batch.drop_column("after_ms")
