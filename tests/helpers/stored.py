"""What the guard stored, read back: one worker's state and every remediation record."""

from __future__ import annotations

from typing import Any


def remediations(services: Any) -> list[Any]:
    """Every remediation record, oldest first."""
    from guard.adapters.tables import remediation

    with services.store.engine.connect() as connection:
        return [row._mapping for row in connection.execute(remediation.select().order_by(remediation.c.id))]


def stored_state(services: Any, key: Any) -> Any:
    """The state the guard stored for one worker (a row mapping), or None."""
    from guard.adapters.tables import worker_state

    query = worker_state.select().where(
        worker_state.c.account_sid == key.account_sid,
        worker_state.c.workspace_sid == key.workspace_sid,
        worker_state.c.worker_sid == key.worker_sid,
    )
    with services.store.engine.connect() as connection:
        row = connection.execute(query).first()
    return None if row is None else row._mapping
