"""Values an approver marked intended ("Intended, ignore this worker"): the ignore_rule table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, select

from guard.adapters.db import connected
from guard.adapters.tables import ignore_rule
from guard.adapters.workers import key_params
from guard.core.snapshot import WorkerKey


class IntendedValues:
    """Intended-value rules; bound to an engine (own transaction) or a connection (the caller's)."""

    def __init__(self, bind: Engine | Connection) -> None:
        """Use `bind` for every statement."""
        self.bind = bind

    def add(self, key: WorkerKey, actor: str, value: str | None, now: datetime) -> None:
        """Mark the worker's value intended; a value marked before stands, a different one replaces the old rule."""
        row = {**key_params(key), "actor": actor, "value": value, "created_at": now}
        same_worker = [ignore_rule.c[name] == row[name] for name in ("account_sid", "workspace_sid", "worker_sid")]
        with connected(self.bind) as connection:
            found = connection.execute(select(ignore_rule.c.value).where(*same_worker)).first()
            if found is not None and found.value == value:
                return  # marked before: the first approver and time stand
            connection.execute(delete(ignore_rule).where(*same_worker))
            connection.execute(ignore_rule.insert().values(**row))

    def rule(self, rule_id: int) -> Mapping[str, Any] | None:
        """One rule by its id, or None."""
        with connected(self.bind) as connection:
            found = connection.execute(select(ignore_rule).where(ignore_rule.c.id == rule_id)).first()
        return None if found is None else found._mapping

    def remove(self, rule_id: int, created_at: datetime) -> Mapping[str, Any] | None:
        """Delete one rule, the one made at `created_at` (not a later one given its id); return it, or None."""
        same = (ignore_rule.c.id == rule_id, ignore_rule.c.created_at == created_at)
        with connected(self.bind) as connection:
            found = connection.execute(delete(ignore_rule).where(*same).returning(ignore_rule)).first()
        return None if found is None else found._mapping

    def rules(self) -> list[Mapping[str, Any]]:
        """Every rule, newest first."""
        with connected(self.bind) as connection:
            return [r._mapping for r in connection.execute(select(ignore_rule).order_by(ignore_rule.c.id.desc()))]
