"""The TaskRouter Worker REST API through twilio.rest.Client, with retries twilio-python lacks."""

from __future__ import annotations

import base64
import re
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests import RequestException
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from guard.adapters.taskrouter_async import etag_of, fetch_workers, rest_error
from guard.config.accounts import Credentials
from guard.core.retry import RETRIED_STATUSES, parse_retry_after
from guard.core.text import SECRET_MIN, encoded_forms, masked, printable

PAGE_SIZE = 1000  # the API's maximum


@dataclass(frozen=True)
class WorkerRecord:
    """A worker as the REST API returned it; attributes_json is None when a listing left it out."""

    sid: str
    name: str
    attributes_json: str | None
    etag: str | None = None
    activity_sid: str | None = None
    activity_name: str | None = None
    available: bool | None = None  # whether its current activity routes tasks to it


class PreconditionFailed(Exception):
    """The worker changed since it was fetched (HTTP 412 on If-Match)."""


class AnswerUnread(Exception):
    """An update answered with a success status and a body that is no worker (a proxy's page): applied or not."""


# A proxy in front of TaskRouter may echo a request's credentials in its error text: describe() never repeats them
_SECRETS: set[str] = set()  # each client's secret and its Basic header value
_AUTHORIZATION = re.compile(r"\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{20,}", re.IGNORECASE)  # not "basic auth"
NOT_FOUND = 20404  # Twilio's error code for a resource that does not exist (a proxy's 404 page has none)
TIMEOUT_SECONDS, RETRY_AFTER_MAX = 15.0, 30  # per try; the longest Retry-After honoured


def longest_call_seconds(retries: int) -> float:
    """The longest one REST call can take here: every try timing out, and every wait the longest honoured."""
    return (retries + 1) * TIMEOUT_SECONDS + retries * RETRY_AFTER_MAX


class _Retry(Retry):
    """urllib3's Retry, reading a Retry-After that is no whole number or date (`0.5`, `soon`) instead of failing."""

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds to wait: urllib3's reading, else the number given, else the longest honoured (capped either way)."""
        try:
            return super().parse_retry_after(retry_after)
        except InvalidHeader:  # a ValueError: answered() would call the 429 a 200 that is no JSON
            return min(parse_retry_after(retry_after) or 0.0, self.retry_after_max)


def _retrying_adapter(pool_size: int, retries: int, retry_after_max: int = RETRY_AFTER_MAX) -> HTTPAdapter:
    """An HTTP adapter that retries 429 (honouring Retry-After), 5xx and connection errors."""
    retry = _Retry(
        total=retries,
        backoff_factor=0.5,
        backoff_jitter=0.25,
        backoff_max=30,
        status_forcelist=sorted(RETRIED_STATUSES),
        allowed_methods=None,  # updates carry If-Match, so a repeated POST cannot clobber anything
        respect_retry_after_header=True,
        retry_after_max=retry_after_max,  # urllib3 would otherwise wait out a Retry-After of up to 6 hours
        raise_on_status=False,  # hand the last answer to twilio, which raises TwilioRestException
    )
    return HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_size)


class TaskRouterApi:
    """Workers of one workspace: list, fetch with ETag, update with If-Match."""

    def __init__(
        self,
        credentials: Credentials,
        workspace_sid: str,
        base_url: str | None = None,
        pool_size: int = 8,
        retries: int = 5,
        timeout: float = TIMEOUT_SECONDS,
        retry_after_max: int = RETRY_AFTER_MAX,
    ) -> None:
        """Build a twilio Client; `base_url` replaces https://taskrouter.twilio.com (tests, proxies)."""
        self.client = Client(credentials.username, credentials.password, credentials.account_sid)
        _SECRETS.update(secret for secret in _forms(credentials) if len(secret) >= SECRET_MIN)
        self.client.http_client.timeout = timeout
        if not any(urllib.request.getproxies().values()):
            # twilio asks requests to merge environment settings on every call, which scans the whole
            # environment for proxies; with no proxy configured that is pure overhead (~0.5 ms a request).
            self.client.http_client.session.trust_env = False
        adapter = _retrying_adapter(pool_size, retries, retry_after_max)
        self.retry_after: float | None = None  # what the last 429 asked for, in seconds (the caller's next try)
        self.client.http_client.session.hooks["response"].append(self._remember_retry_after)
        for scheme in ("https://", "http://"):
            self.client.http_client.session.mount(scheme, adapter)
        self.base_url = base_url
        if base_url:
            self.client.taskrouter.base_url = base_url
        self.workspace_sid = workspace_sid
        self.account_sid = credentials.account_sid
        self.credentials, self.retries, self.timeout = credentials, retries, timeout
        self.workers = self.client.taskrouter.v1.workspaces(workspace_sid).workers

    def list_workers(self) -> Iterator[WorkerRecord]:
        """Every worker, a page of 1000 at a time, following next_page_url."""
        for worker in self.each(self.workers):
            yield _worker_record(worker, None)

    def each(self, listing: Any, **filters: Any) -> Iterator[Any]:
        """Every record of a twilio list resource (`filters` are its page() arguments), following next_page_url."""
        uri = getattr(listing, "_uri", "")  # only to name the resource in an error
        page = answered(partial(listing.page, page_size=PAGE_SIZE, **filters), uri)
        while page is not None:
            yield from answered(partial(list, page), uri)  # twilio builds each record as it is read
            next_url = page.next_page_url
            page = answered(partial(listing.get_page, self._rebase(next_url)), uri) if next_url else None

    def reachable(self) -> bool:
        """True when the workspace answers a listing with these credentials (so a 404 on a worker means it is gone)."""
        try:
            answered(partial(self.workers.page, page_size=1), "")
        except (TwilioException, RequestException):
            return False
        return True

    def _remember_retry_after(self, response: Any, *_args: Any, **_kwargs: Any) -> None:
        """A requests response hook: keep a 429's Retry-After."""
        if response.status_code == 429:
            self.retry_after = parse_retry_after(response.headers.get("Retry-After"))

    def fetch_worker(self, worker_sid: str) -> WorkerRecord:
        """One worker with its attributes and ETag."""
        response = answered(self.workers(worker_sid).fetch_with_http_info, f"Workers/{worker_sid}")
        return _worker_record(response.data, etag_of(response.headers))

    def fetch_many(
        self, sids: Iterable[str], concurrency: int, on_result: Callable[[str, WorkerRecord | Exception], None]
    ) -> None:
        """Fetch many workers at once (async client), reporting each record or error to `on_result`."""

        def adapt(sid: str, result: Any) -> None:
            """Turn the async fetcher's tuple into a WorkerRecord."""
            on_result(sid, result if isinstance(result, Exception) else WorkerRecord(sid, *result))

        fetch_workers(
            self.credentials, self.workspace_sid, self.base_url, sids, concurrency, self.retries, self.timeout, adapt
        )

    def update_attributes(self, worker_sid: str, attributes_json: str, if_match: str) -> None:
        """Replace the worker's attributes with `attributes_json`, only if it still has the ETag `if_match`."""
        try:
            answered(partial(self.workers(worker_sid).update, attributes=attributes_json, if_match=if_match), "")
        except TwilioRestException as err:
            if err.status == 412:
                raise PreconditionFailed(worker_sid) from None
            if err.status < 300:  # answered() says so of a 2xx it cannot read
                raise AnswerUnread(describe(err)) from None
            raise

    def _rebase(self, url: str) -> str:
        """Keep following pages through the configured base URL (a proxy), not the one in the answer."""
        if not self.base_url:
            return url
        base, target = urlsplit(self.base_url), urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + target.path, target.query, ""))


def answered(load: Callable[[], Any], uri: str) -> Any:
    """Load a page or a fetch; a failed one raises TwilioRestException with its status (twilio raises less)."""
    try:
        return load()
    except TwilioRestException:
        raise
    except ValueError:  # a 200 that is no JSON (a proxy's login page): a failed page, never a traceback
        raise rest_error(200, uri, "the answer is not JSON") from None
    except (AttributeError, KeyError, TypeError):  # JSON of another shape (a list, a text, null): twilio trips on it
        raise rest_error(200, uri, "the answer is not a TaskRouter resource") from None
    except TwilioException as err:
        response = err.args[1] if len(err.args) > 1 else None
        if not isinstance(response, Response):
            raise
        raise rest_error(response.status_code, uri, response.text) from None


def _worker_record(worker: Any, etag: str | None) -> WorkerRecord:
    """A WorkerRecord from twilio's WorkerInstance."""
    name = worker.friendly_name or ""
    return WorkerRecord(
        worker.sid, name, worker.attributes, etag, worker.activity_sid, worker.activity_name, worker.available
    )


def _forms(credentials: Credentials) -> tuple[str, ...]:
    """The secret as a server may echo it: raw, Basic or base64 (padded or not), URL-, JSON- or hex-encoded."""
    basic = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    return basic, basic.rstrip("="), *encoded_forms(credentials.password)


def describe(err: Exception) -> str:
    """A short, secret-free description of an API failure for reports and logs."""
    text = f"HTTP {err.status}: {err.msg}" if isinstance(err, TwilioRestException) else f"{type(err).__name__}: {err}"
    text = masked(text, tuple(_SECRETS), "<secret>")  # a copy: another account's client may be built meanwhile
    # a server's text: one line, its control characters as escapes
    return printable(_AUTHORIZATION.sub(r"\1 <secret>", text)[:300])
