"""Figures from the fault scenarios, written as the README's Reliability table."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "bench" / "out" / "reliability.md"
COLUMNS = ("scenario", "injected", "events in", "alerts expected", "delivered", "duplicated", "5xx", "reproduce")


class Figures:
    """Rows collected during one pytest session."""

    def __init__(self) -> None:
        """Start with no rows."""
        self.rows: list[dict[str, Any]] = []

    def add(self, scenario: str, injected: str, events: int, statuses: list[int], command: str, **alerts: Any) -> int:
        """Record a scenario; `alerts` holds expected/received Counters (or zeros). Returns the 5xx count."""
        expected: Counter = alerts.get("expected", Counter())
        received: Counter = alerts.get("received", Counter())
        fives = sum(1 for status in statuses if status >= 500)
        self.rows.append(
            {
                "scenario": scenario,
                "injected": injected,
                "events in": events,
                "alerts expected": sum(expected.values()),
                "delivered": sum(min(received[key], expected[key]) for key in expected),
                "duplicated": sum(max(0, received[key] - expected[key]) for key in received),
                "5xx": fives,
                "reproduce": f"`{command}`",
            }
        )
        return fives

    def write(self) -> None:
        """Write the table (only when a scenario ran)."""
        if not self.rows:
            return
        OUT.parent.mkdir(parents=True, exist_ok=True)
        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(str(row[c]) for c in COLUMNS) + " |" for row in self.rows]
        OUT.write_text("\n".join(lines) + "\n")


def missing(expected: Counter, received: Counter) -> int:
    """How many expected alerts never arrived."""
    return sum(1 for key in expected if received[key] < expected[key])


def duplicated(expected: Counter, received: Counter) -> int:
    """How many arrivals were beyond what was expected."""
    return sum(max(0, received[key] - expected[key]) for key in received)
