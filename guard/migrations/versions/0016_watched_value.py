"""Revision 0016 (after 0015): earlier values the guard removed that a login writes stay watched (no loop).

Only the last removed value was watched: a script's value removed between two of a login's ended the watch, and the
login's value was removed at every login. States from before start with nothing watched, as before.
"""

from alembic import op
from sqlalchemy import Column, Text

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    """worker_state.watched (JSON: a list of values)."""
    op.add_column("worker_state", Column("watched", Text()))


def downgrade() -> None:
    """Drop worker_state.watched (SQLite rebuilds the table to drop a column)."""
    with op.batch_alter_table("worker_state") as batch:
        batch.drop_column("watched")
