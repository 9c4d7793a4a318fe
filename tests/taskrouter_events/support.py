"""What the TaskRouter event tests share: Ann's worker key, and the rows the guard stored."""

from sqlalchemy import func, select

from guard.adapters.tables import alert, processed_event, worker_state
from guard.core.snapshot import WorkerKey
from tests.helpers import ACCOUNT_SID, WORKSPACE_SID, worker_sid

KEY = WorkerKey(ACCOUNT_SID, WORKSPACE_SID, worker_sid(1))


def rows(services, table):
    """All rows of `table` as dicts, in primary-key order (PostgreSQL promises no order otherwise)."""
    with services.store.engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(table).order_by(*table.primary_key))]


def row_count(services):
    """How many rows the three tables hold in total."""
    with services.store.engine.connect() as connection:
        return sum(
            connection.execute(select(func.count()).select_from(t)).scalar()
            for t in (worker_state, alert, processed_event)
        )
