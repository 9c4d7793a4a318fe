"""Revision 0013 (after 0012): a cause lookup remembers whether its drift came across updates the guard missed.

Only such a lookup may look back over TaskRouter's 30 days; a first sight or a drift whose update the guard saw
looks back 10 minutes, so an older edit that left the value as it was is never named as the cause.
"""

import json

from alembic import op
from sqlalchemy import BigInteger, Column, text

revision = "0013"
down_revision = "0012"
PENDING = text(
    "SELECT l.id, s.changes FROM cause_lookup l JOIN worker_state s ON s.account_sid = l.account_sid"
    " AND s.workspace_sid = l.workspace_sid AND s.worker_sid = l.worker_sid WHERE l.status = 'pending'"
)


def upgrade() -> None:
    """cause_lookup.since_version; a lookup still pending takes it from its worker's drift, as 0012's code read it."""
    op.add_column("cause_lookup", Column("since_version", BigInteger()))
    bind = op.get_bind()
    for lookup_id, changes in bind.execute(PENDING).all():
        try:
            since = json.loads(changes or "null") or {}
        except ValueError:
            continue
        if isinstance(since, dict) and isinstance(since.get("since_version"), int):
            values = {"v": since["since_version"], "id": lookup_id}
            bind.execute(text("UPDATE cause_lookup SET since_version = :v WHERE id = :id"), values)


def downgrade() -> None:
    """Drop cause_lookup.since_version (SQLite rebuilds the table to drop a column)."""
    with op.batch_alter_table("cause_lookup") as batch:
        batch.drop_column("since_version")
