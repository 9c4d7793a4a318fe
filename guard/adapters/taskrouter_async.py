"""Many single-worker fetches at once, through twilio's async HTTP client (aiohttp).

A sweep of 15,000 workers is 15,000 fetches. With the sync client each one costs ~2 ms of CPU in
requests and urllib3, which caps the sweep well below the I/O ideal on a small dyno; aiohttp does
the same work for a fraction of that (see BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout, TCPConnector
from aiohttp_retry import ExponentialRetry, RetryClient
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from guard.config.accounts import Credentials
from guard.core.retry import RETRIED_STATUSES, parse_retry_after

# (worker SID, the WorkerRecord fields after the SID as a tuple, or the exception)
OnResult = Callable[[str, Any], None]
Fetched = tuple[str, str | None, str | None, str | None, str | None, bool | None]


class RetryAfterBackoff(ExponentialRetry):
    """Exponential backoff with jitter; a 429's Retry-After, when present, decides the wait (up to the cap)."""

    def get_timeout(self, attempt: int, response: ClientResponse | None = None) -> float:
        """Seconds to wait before the next attempt."""
        if response is not None and response.status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, self._max_timeout)
        return super().get_timeout(attempt, response) * random.uniform(0.75, 1.25)  # noqa: S311 - jitter


def fetch_workers(
    credentials: Credentials,
    workspace_sid: str,
    base_url: str | None,
    sids: Iterable[str],
    concurrency: int,
    retries: int,
    timeout: float,
    on_result: OnResult,
) -> None:
    """Fetch every worker in `sids`, at most `concurrency` at a time, reporting each to `on_result`."""
    asyncio.run(_fetch_all(credentials, workspace_sid, base_url, iter(sids), concurrency, retries, timeout, on_result))


async def _fetch_all(
    credentials: Credentials,
    workspace_sid: str,
    base_url: str | None,
    sids: Any,
    concurrency: int,
    retries: int,
    timeout: float,
    on_result: OnResult,
) -> None:
    """`concurrency` tasks draining one shared iterator of SIDs."""
    session = ClientSession(connector=TCPConnector(limit=concurrency), timeout=ClientTimeout(total=timeout))
    backoff = RetryAfterBackoff(
        attempts=retries + 1,
        start_timeout=0.5,
        max_timeout=30,
        statuses=set(RETRIED_STATUSES),
        exceptions={ClientError, asyncio.TimeoutError},
    )
    http = AsyncTwilioHttpClient(pool_connections=False)  # its own session is replaced just below
    http.session = RetryClient(client_session=session, retry_options=backoff)
    client = Client(credentials.username, credentials.password, credentials.account_sid, http_client=http)
    if base_url:
        client.taskrouter.base_url = base_url

    async def drain() -> None:
        for sid in sids:  # one iterator shared by every task: each SID is fetched once
            try:
                result: Any = await _fetch(client, workspace_sid, sid, timeout)
            except Exception as err:  # noqa: BLE001 - reported per worker; the sweep goes on
                result = err
            on_result(sid, result)

    try:
        await asyncio.gather(*(drain() for _ in range(max(1, concurrency))))
    finally:
        await http.session.close()


async def _fetch(client: Client, workspace_sid: str, sid: str, timeout: float) -> Fetched:
    """One worker's (name, attributes JSON, ETag, activity SID, activity name, available), authenticated by the client.

    `Client.request_async` rather than `workers(sid).fetch_async()`: building a WorkerInstance parses
    three timestamps with strptime, a fifth of the sweep's CPU, and the guard reads none of them.
    """
    url = client.taskrouter.absolute_url(f"v1/Workspaces/{workspace_sid}/Workers/{sid}")
    # Given, or twilio passes timeout=None, which switches off the session's own: a hung answer would wait for ever
    response = await client.request_async("GET", url, timeout=timeout)
    if not 200 <= response.status_code < 300:
        raise rest_error(response.status_code, url, response.text)
    payload = json.loads(response.text)
    return (
        payload.get("friendly_name") or "",
        payload.get("attributes"),
        etag_of(response.headers),
        payload.get("activity_sid"),
        payload.get("activity_name"),
        payload.get("available"),
    )


def rest_error(status: int, url: str, text: str) -> TwilioRestException:
    """The TwilioRestException for an error answer to a GET, with the message of Twilio's error body."""
    try:
        body = json.loads(text)
        message, code = body.get("message", ""), body.get("code")
    except (ValueError, AttributeError):
        message, code = text[:200], None
    return TwilioRestException(status, url, message, code=code if isinstance(code, int) else None, method="GET")


def etag_of(headers: Mapping[str, str] | None) -> str | None:
    """The ETag of an answer (header names are case-insensitive), or None."""
    return next((value for name, value in (headers or {}).items() if name.lower() == "etag"), None)
