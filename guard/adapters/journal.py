"""The removal journal: what a removal's update will leave, recorded before it is sent (the removal_sent table).

The answer of an update TaskRouter applied can be lost with the process that sent it (a crash, a deploy). Without
this, the re-check after the lease found no value and said "nothing removed": the value the guard removed was not
remembered, so when Flex wrote it back it was removed again, and the record under-counted what TaskRouter got.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, select

from guard.adapters.db import connected
from guard.adapters.tables import removal_sent
from guard.adapters.workers import key_params
from guard.core.snapshot import WorkerKey


@dataclass(frozen=True)
class Sent:
    """A removal's update sent for a worker and not known to be recorded: the value, what it leaves, when."""

    value: str | None
    digest: str
    sent_ms: int


def attributes_digest(attributes: Mapping[str, Any]) -> str:
    """The attributes, whatever their key order or spacing in the text TaskRouter returns."""
    text = json.dumps(attributes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class RemovalJournal:
    """One worker's removal_sent row."""

    def __init__(self, engine: Engine, key: WorkerKey, lease: timedelta) -> None:
        """The row of `key`'s worker in `engine`'s database, honoured for twice the removal's `lease`.

        The re-check that finds an update whose process died comes when that lease runs out; a row older than
        that belongs to no removal still open, and the same attributes then may be anyone's doing.
        """
        self.engine, self.key = engine, key
        self.horizon_ms = int(2 * lease.total_seconds() * 1000)
        self._where = [removal_sent.c[name] == value for name, value in key_params(key).items()]

    def landed(self, now_ms: int) -> Sent | None:
        """The update sent before (within the horizon) whose outcome was never recorded, if any."""
        recent = removal_sent.c.sent_ms >= now_ms - self.horizon_ms
        with connected(self.engine) as connection:
            row = connection.execute(select(removal_sent).where(*self._where, recent)).first()
        return None if row is None else Sent(row.value, row.digest, row.sent_ms)

    def sending(self, value: str | None, leaves: Mapping[str, Any], sent_ms: int) -> None:
        """Record, committed, the update about to be sent."""
        row = {**key_params(self.key), "value": value, "digest": attributes_digest(leaves), "sent_ms": sent_ms}
        with connected(self.engine) as connection:
            connection.execute(delete(removal_sent).where(*self._where))
            connection.execute(removal_sent.insert().values(**row))

    def clear(self) -> None:
        """Forget it: its outcome is recorded."""
        with connected(self.engine) as connection:
            connection.execute(delete(removal_sent).where(*self._where))
