"""The statuses the guard stores and reports, named once (their values are what the database holds)."""

from __future__ import annotations

from enum import StrEnum


class AlertStatus(StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class SendOutcome(StrEnum):
    """How one delivery attempt ended."""

    DELIVERED = "delivered"
    RETRY = "retry"  # transient: try again later
    FAILED = "failed"  # permanent: stop


class RemediationStatus(StrEnum):
    """What a remediation did to one worker (or is waiting to do)."""

    PENDING = "pending"  # queued by the webhook path (REMEDIATE=remove)
    REMOVED = "removed"
    WOULD_REMOVE = "would_remove"  # a dry run
    SKIPPED = "skipped"  # no longer a mismatch when fetched fresh
    FAILED = "failed"


class Channel(StrEnum):
    """Where an alert goes besides the log line every alert gets."""

    SLACK = "slack"
    LOG = "log"


class ClickStatus(StrEnum):
    """Where a Slack click stands: applied (the change is made) comes before answered (Slack was told)."""

    PENDING = "pending"
    APPLIED = "applied"
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # the answer could not be posted, time and again
