"""Revision 0017 (after 0016): a resolved that answers a page goes out in the pages' turn.

In a flood at Slack's pace, pages go first; the resolved telling the paged on-call that the agent rings again waited
behind every older alert about agents who are away, hours for thousands. Pages from before are marked as such.
"""

import json
from typing import Any

from alembic import op
from sqlalchemy import Boolean, Column, bindparam, false, text

# The workers with a resolved still waiting (or failed: `resend` queues it again), and their alerts in order
WAITING = text(
    "SELECT DISTINCT account_sid, workspace_sid, worker_sid FROM alert "
    "WHERE kind = 'resolved' AND status IN ('pending', 'failed')"
)
HISTORY = text(
    "SELECT id, kind, status, payload FROM alert "
    "WHERE account_sid = :account_sid AND workspace_sid = :workspace_sid AND worker_sid = :worker_sid ORDER BY id"
)
MARK = text("UPDATE alert SET page = true WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    """alert.page: a page, or a resolved that answers one."""
    op.add_column("alert", Column("page", Boolean(), nullable=False, server_default=false()))
    op.execute("UPDATE alert SET page = true WHERE kind = 'urgent'")
    connection = op.get_bind()
    for key in connection.execute(WAITING).mappings().all():
        if ids := _answering(connection.execute(HISTORY, dict(key)).all()):
            connection.execute(MARK, {"ids": ids})


def _answering(history: list[Any]) -> list[int]:
    """The waiting resolveds of one worker's alerts that answer a page: its episode had one, not yet told over.

    A resolved that says the agent is still unable to take calls ("Drift over, still unable") keeps the episode
    going, as the live decision does (transitions.py): the resolved after it answers the same page.
    """
    paged, ids = False, []
    for alert_id, kind, status, payload in history:
        if kind == "urgent":
            paged = True
        elif kind == "drift" and not _broken(_fields(payload)):  # a value the browser registers: the episode is over
            paged = False
        elif kind == "resolved":
            if paged and status in ("pending", "failed"):  # a failed one may be queued again (`resend`)
                ids.append(alert_id)
            paged = paged and _still_unable(_fields(payload))
    return ids


def _fields(payload: str | None) -> dict[str, Any]:
    """A payload's fields; none for one no release wrote (edited by hand): the release phase must not stop on it."""
    try:
        fields = json.loads(payload or "{}")
    except (ValueError, RecursionError):
        return {}
    return fields if isinstance(fields, dict) else {}


def _still_unable(fields: dict[str, Any]) -> bool:
    """True when a resolved's payload says the agent is still available and cannot ring."""
    return fields.get("available") is True and _broken(fields)


def _broken(fields: dict[str, Any]) -> bool:
    """Verdict.broken from a payload: no value yet, or a wrong one (not the one the browser registers)."""
    verdict, actual = fields.get("verdict"), fields.get("actual")
    return verdict == "pending" or (verdict == "mismatch" and (actual is None or actual != fields.get("expected")))


def downgrade() -> None:
    """Drop alert.page (SQLite rebuilds the table to drop a column)."""
    with op.batch_alter_table("alert") as batch:
        batch.drop_column("page")
