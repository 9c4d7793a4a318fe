"""The job that decides again the stored workers whose verdict a changed setting flips (core/rule_changes.py)."""

from __future__ import annotations

from itertools import groupby

from guard.core.rule_changes import FLIPPABLE, decide_rules
from guard.core.snapshot import WorkerKey
from guard.service.pipeline import Pipeline

CHUNK = 200  # workers read per statement, locked and written per transaction


class RuleChanges:
    """Once per process start: IGNORE_WORKERS and INTENDED_CONTACT_URIS change with a restart only."""

    def __init__(self, pipeline: Pipeline) -> None:
        """Decide with `pipeline`'s rules and store."""
        self.pipeline = pipeline
        self.done = False

    def run(self) -> int:
        """Decide again every stored worker the rules now say otherwise of; how many. A failed pass runs again."""
        if self.done:
            return 0
        flipped, after = 0, None
        while True:
            keys = self.pipeline.store.workers.in_verdicts([kind.value for kind in FLIPPABLE], after, CHUNK)
            for _, workspace in groupby(keys, key=lambda key: (key.account_sid, key.workspace_sid)):
                flipped += self._decide(list(workspace))
            if len(keys) < CHUNK:
                break
            after = keys[-1]
        self.done = True
        return flipped

    def _decide(self, keys: list[WorkerKey]) -> int:
        """Decide these workers of one workspace again under their locks (an event may have judged them meanwhile)."""
        pipeline, now = self.pipeline, self.pipeline.clock()
        with pipeline.store.transaction() as tx:
            stored = tx.workers.lock_all(keys)
            decisions = [
                (key, decision)
                for key, state in stored.items()
                if (decision := decide_rules(key, state, pipeline.rules_for(key), now)) is not None
            ]
            pipeline.write_decisions(tx, decisions, now)
        for _, decision in decisions:
            pipeline.announce(decision)
        return len(decisions)
