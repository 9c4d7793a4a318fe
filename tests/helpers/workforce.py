"""A workspace of numbered agents on the fake TaskRouter API, the settings that reach it, and the audit run on it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from tests.helpers.ids import ACCOUNT_SID, WORKSPACE_SID, email, uri, worker_sid


def populate(
    fake_api: Any,
    healthy: int = 300,
    drifting: Collection[int] = (),
    pending: Collection[int] = (),
    extra: dict[int, dict[str, Any]] | None = None,
) -> None:
    """Workers 1..healthy are correct; numbers in `drifting` get a raw email, in `pending` none."""
    for n in range(1, healthy + 1):
        attributes = {"email": email(n), "full_name": f"Agent {n}", "roles": ["agent"]}
        if n in drifting:
            attributes["contact_uri"] = "client:" + email(n)
        elif n not in pending:
            attributes["contact_uri"] = uri(n)
        attributes.update((extra or {}).get(n, {}))
        fake_api.add_worker(WORKSPACE_SID, worker_sid(n), f"agent.{n}", attributes)


def audit(runner: Any, *args: str) -> tuple[int, str]:
    """Run the audit command; return (exit code, stdout)."""
    result = runner.invoke(args=["audit", *args])
    return result.exit_code, result.stdout


def fake_api_settings(fake_api: Any, **extra: Any) -> dict[str, Any]:
    """Settings overrides that point the REST client at the fake TaskRouter API (retries kept short)."""
    base = {
        "account_sid": ACCOUNT_SID,
        "workspace_sid": WORKSPACE_SID,
        "taskrouter_base_url": fake_api.url,
        "api_retries": 2,  # the give-up tests wait 0.5 s + 1 s of backoff, not minutes
    }
    return {**base, **extra}
