"""Database tables (SQLAlchemy Core). Alembic migrations in guard/migrations mirror these."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, false

from guard.adapters.utc_datetime import UTCDateTime

SID = String(64)
metadata = MetaData()


def _worker_key() -> tuple[Column[str], ...]:
    """The (account, workspace, worker) primary key of a table with one row per worker."""
    return tuple(Column(name, SID, primary_key=True) for name in ("account_sid", "workspace_sid", "worker_sid"))


worker_state = Table(
    "worker_state",
    metadata,
    *_worker_key(),
    Column("name", Text, nullable=False, default=""),
    Column("email", Text),
    Column("verdict", String(16), nullable=False),
    Column("expected", Text),
    Column("actual", Text),
    Column("diagnosis", String(16)),
    Column("detail", Text, nullable=False, default=""),
    Column("basis", String(32)),  # the evidence the value was judged against (guard.core.evidence.Basis)
    Column("version", BigInteger),
    Column("occurred_ms", BigInteger),
    Column("since", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_alert_at", UTCDateTime),
    Column("activity_sid", SID),  # the worker's current activity, from its latest event
    Column("activity_name", Text),
    Column("available", Boolean),  # whether that activity routes tasks; NULL: unknown
    Column("urgent_at", UTCDateTime),  # the last urgent alert of the current broken episode
    Column("trusted", Text),  # JSON: the evidence the guard trusts (email, name, identity)
    Column("attributes", Text),  # JSON: a safe, bounded, flat copy of the latest attributes
    Column("changes", Text),  # JSON: what else the update that raised the current drift changed
    Column("cause", Text),  # JSON: who TaskRouter says made that update
    Column("removed", Text),  # the value the guard last removed, until the worker has an accepted one
    Column("watched", Text),  # JSON: earlier values it removed that a login writes, until an accepted one
    Index("ix_worker_state_verdict", "verdict"),
    Index("ix_worker_state_activity", "account_sid", "workspace_sid", "activity_sid"),
)

# What the guard learned about a workspace's activities: activity.* events, or the REST Activities list.
activity = Table(
    "activity",
    metadata,
    Column("account_sid", SID, primary_key=True),
    Column("workspace_sid", SID, primary_key=True),
    Column("activity_sid", SID, primary_key=True),
    Column("name", Text, nullable=False, default=""),
    Column("available", Boolean, nullable=False),
    Column("learned_ms", BigInteger, nullable=False),  # when TaskRouter said so; an older fact never wins
    Column("source", String(16), nullable=False),  # taskrouter, event-streams or api
)

processed_event = Table(
    "processed_event",
    metadata,
    Column("account_sid", SID, primary_key=True),
    Column("workspace_sid", SID, primary_key=True),
    Column("event_id", SID, primary_key=True),
    Column("received_at", UTCDateTime, nullable=False, index=True),
)

alert = Table(
    "alert",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_sid", SID, nullable=False),
    Column("workspace_sid", SID, nullable=False),
    Column("worker_sid", SID, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Column("page", Boolean, nullable=False, server_default=false()),  # a page, or the resolved that answers one
    Index("ix_alert_due", "status", "next_attempt_at"),
    Index("ix_alert_worker", "account_sid", "workspace_sid", "worker_sid", "status"),
)

remediation = Table(
    "remediation",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_sid", SID, nullable=False),
    Column("workspace_sid", SID, nullable=False),
    Column("worker_sid", SID, nullable=False),
    Column("actor", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("before_value", Text),
    Column("detail", Text, nullable=False, default=""),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Index("ix_remediation_status_id", "status", "id"),  # a claim takes the oldest queued one (0010)
    Index("ix_remediation_worker", "account_sid", "workspace_sid", "worker_sid"),
)

# What a removal's update is about to leave, written before it is sent: a process that dies before recording the
# answer leaves it, and the re-check knows the guard's own update landed (0015). One row per worker at most.
removal_sent = Table(
    "removal_sent",
    metadata,
    *_worker_key(),
    Column("value", Text),  # the contact_uri it removes
    Column("digest", String(64), nullable=False),  # of the attributes it leaves (journal.attributes_digest)
    Column("sent_ms", BigInteger, nullable=False),
)

audit_run = Table(
    "audit_run",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_sid", SID, nullable=False),
    Column("workspace_sid", SID, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("counts", Text, nullable=False),
    Column("exit_code", Integer, nullable=False),
    Column("alerted", Boolean),  # fed to the state (--alert; 0012); NULL: a run from before 0012, not known
)

# A Slack button press, recorded before Slack gets its answer so that a crash after the ack still applies it.
slack_click = Table(
    "slack_click",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_sid", SID, nullable=False),
    Column("workspace_sid", SID, nullable=False),
    Column("worker_sid", SID, nullable=False),
    Column("action", String(24), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("response_url", Text, nullable=False),
    Column("refusal", Text),  # the ephemeral explanation, for a click that may not act
    Column("value_digest", String(16)),  # Intended: the fingerprint of the value its message showed
    Column("dedup_key", String(255), unique=True),  # two clicks on one message are one request
    Column("status", String(12), nullable=False),
    Column("outcome", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Index("ix_slack_click_status", "status"),
)

# A worker whose contact_uri an approver marked intended ("Intended, ignore this worker").
ignore_rule = Table(
    "ignore_rule",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_sid", SID, nullable=False),
    Column("workspace_sid", SID, nullable=False),
    Column("worker_sid", SID, nullable=False),
    Column("actor", Text, nullable=False),
    Column("value", Text),  # the contact_uri it was marked for
    Column("created_at", UTCDateTime, nullable=False),
    Index("ux_ignore_rule_worker", "account_sid", "workspace_sid", "worker_sid", unique=True),
)

# Who changed a worker: one TaskRouter Events lookup per drift alert, done in the background, never in a request.
cause_lookup = Table(
    "cause_lookup",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("account_sid", SID, nullable=False),
    Column("workspace_sid", SID, nullable=False),
    Column("worker_sid", SID, nullable=False),
    Column("alert_id", BigInteger),  # the drift alert that waits for it; NULL: for the state only (0011)
    Column("event_id", SID),  # the delivery's id: a TaskRouter callback's Sid is the Event's sid
    Column("source", String(16), nullable=False),
    Column("occurred_ms", BigInteger),
    Column("since_version", BigInteger),  # the drift was explained since it (updates missed; 0013); NULL: none
    Column("after_ms", BigInteger),  # the guard's copy before the drift: the cause is after it (0014); NULL: none
    Column("status", String(12), nullable=False),  # pending, found, none, failed
    Column("detail", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("ix_cause_lookup_due", "status", "next_attempt_at"),
)
