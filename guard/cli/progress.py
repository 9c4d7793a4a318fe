"""The audit's progress bar: on stderr, and only on a terminal."""

from __future__ import annotations

import sys
from typing import Any

import click


class ProgressBar:
    """A click progress bar on stderr, created once the listing says how many workers there are."""

    def __init__(self, enabled: bool) -> None:
        """Draw nothing unless `enabled` (a terminal and the table format)."""
        self.enabled = enabled
        self.bar: Any = None
        self.done = 0

    def update(self, done: int, total: int) -> None:
        """Move the bar to `done` of `total`."""
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="Fetching workers", file=sys.stderr)
        self.bar.update(done - self.done)
        self.done = done

    def finish(self) -> None:
        """End the bar's line."""
        if self.bar is not None:
            self.bar.render_finish()
