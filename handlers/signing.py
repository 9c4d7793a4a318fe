"""X-Twilio-Signature checks shared by the webhooks, with the public-URL rules for proxies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from flask import Response
from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from werkzeug.wrappers import Request

from guard.config import Settings
from guard.config.accounts import Account
from guard.logs import log_event
from guard.metrics import count_event
from handlers.errors import bad_request, forbidden

log = logging.getLogger("guard.signature")
UNKNOWN = "unknown account"  # why a signature was not checked, in the log
CROSSED = "the workspace is another account's"


def public_url(request: Request, settings: Settings) -> str | None:
    """The URL Twilio signed: PUBLIC_BASE_URL + path when set, else the URL as seen (ProxyFix-aware).

    None when the Host header (or X-Forwarded-Host) is no valid host name: Twilio signed no such URL.
    """
    query = request.query_string.decode("latin-1")  # never fails: bytes that are no UTF-8 fail the signature instead
    raw = request.environ.get("PATH_INFO", "")
    path = raw[: len(raw) - len(raw.lstrip("/"))][:-1] + request.path  # "//x" as pasted and signed (path says "/x")
    suffix = f"{path}?{query}" if query else path
    if settings.public_base_url:
        return settings.public_base_url + suffix
    try:
        return request.root_url.rstrip("/") + suffix
    except UnicodeError:  # an IDNA label that does not decode ("xn--zz")
        return None


def signature_ok(
    request: Request,
    settings: Settings,
    candidates: Sequence[Account | None],
    params: Any,
    unknown: str = UNKNOWN,
) -> bool:
    """True when the signature verifies with the auth token of one of the `candidates`.

    `params` is the form (TaskRouter callbacks) or the raw body text (JSON webhooks, whose URL
    carries bodySHA256). An unknown account (None, or no candidates) never verifies: `unknown` is what the log says.
    """
    if not settings.validate_signature:
        return True
    signature = request.headers.get("X-Twilio-Signature", "")
    tokens = [token for account in candidates if account for token in account.signing_tokens]
    url = public_url(request, settings)
    # Webhook Rules may sign with HMAC-SHA256 and name it in a header; without the header it is HMAC-SHA1.
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    # A form as FormParams, the shape RequestValidator reads fastest (a MultiDict costs two exceptions per field).
    fields = FormParams(params.lists()) if hasattr(params, "lists") else params
    if not signature:
        reason = "missing X-Twilio-Signature"
    elif url is None:
        reason = "the Host header is no valid host name"
    elif not tokens:
        reason = unknown
    elif algorithm.upper() not in (HMAC_SHA1, HMAC_SHA256):  # twilio's validator would log the sender's text
        reason = f"unsupported algorithm in {SIGNATURE_SETTINGS_HEADER}"
    elif isinstance(params, str) and not request.args.get("bodySHA256"):
        # Blank counts as missing: twilio's validator would then read the body as form fields.
        reason = "missing bodySHA256"
    elif any(RequestValidator(token).validate(url, fields, signature, algorithm) for token in tokens):
        return True
    elif SIGNATURE_SETTINGS_HEADER in request.headers:
        # A Webhook Rule signed with a SharedKey the guard does not hold: say so, rather than "does not match".
        reason = f"signed with a Webhooks SharedKey ({SIGNATURE_SETTINGS_HEADER}); the guard verifies auth tokens only"
    else:
        reason = "signature does not match"
    log_event(log, logging.WARNING, "bad_signature", reason=reason, path=request.path, remote=request.remote_addr)
    return False


class FormParams(dict):  # type: ignore[type-arg]
    """Form fields in the shape RequestValidator reads fastest: it tries `getall` before anything else."""

    def getall(self, name: str) -> list[str]:
        """Every value of one field."""
        return self[name]


def refuse_non_utf8(request: Request, settings: Settings, source: str) -> Response | None:
    """The answer to a body that is no UTF-8 (403, or 400 with signatures off), before it is parsed; else None.

    Twilio sends UTF-8 only, so such a body cannot match a signature it made; parsed, it would lose fields silently.
    """
    try:
        request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        if settings.validate_signature:
            log_event(log, logging.WARNING, "bad_signature", reason="body is not UTF-8", path=request.path)
            count_event(source, None, "bad_signature")
            return forbidden()
        count_event(source, None, "bad_request")
        return bad_request("body is not UTF-8")
    return None
