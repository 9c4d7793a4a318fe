"""Twilio accounts the guard serves: one from the single-account variables, or many from TWILIO_ACCOUNTS.

TWILIO_ACCOUNTS is a JSON object keyed by Account SID, for example::

    {"AC…": {"name": "Production", "auth_token": "…", "api_key": "SK…", "api_secret": "…",
             "workspaces": {"WS…": "Flex prod"}, "slack_webhook_url": "https://hooks.slack.com/…"}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from guard.config.env import ConfigError
from guard.config.formats import is_token, url_problem
from guard.core.sid import SID_RE, canonical_sid, is_sid

_KEYS = {"name", "auth_token", "previous_auth_token", "api_key", "api_secret", "workspaces", "slack_webhook_url"}


@dataclass(frozen=True)
class Credentials:
    """What the TaskRouter REST client needs for one account (API key preferred over auth token)."""

    account_sid: str
    username: str
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class Account:
    """One account; `sid` is None for a single-account set-up without TWILIO_ACCOUNT_SID (any AccountSid)."""

    sid: str | None
    name: str = ""
    auth_token: str | None = field(default=None, repr=False)
    # The token Twilio signs with until a rotated one is promoted: its signatures verify too; REST calls never use it
    previous_auth_token: str | None = field(default=None, repr=False)
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    workspaces: Mapping[str, str] = field(default_factory=dict)
    slack_webhook_url: str | None = field(default=None, repr=False)

    @property
    def signing_tokens(self) -> tuple[str, ...]:
        """The tokens a signature of this account may be made with: the auth token, then the previous one."""
        return tuple(token for token in (self.auth_token, self.previous_auth_token) if token)

    def label(self, account_sid: str) -> str:
        """How alerts name this account."""
        return f"{self.name} ({account_sid})" if self.name else account_sid

    def workspace_label(self, workspace_sid: str) -> str:
        """How alerts name one of its workspaces."""
        name = self.workspaces.get(workspace_sid)
        return f"{name} ({workspace_sid})" if name else workspace_sid

    def missing_for_rest(self) -> list[str]:
        """The variables the REST API still needs for this account, every one of them (none when it may call)."""
        missing = [] if self.sid else ["TWILIO_ACCOUNT_SID"]
        if self.api_key and not self.api_secret:
            missing.append("TWILIO_API_SECRET")
        elif not self.api_key and not self.auth_token:
            missing.append("TWILIO_API_KEY and TWILIO_API_SECRET (or TWILIO_AUTH_TOKEN)")
        return missing

    def credentials(self) -> Credentials:
        """REST API credentials (an API key, else the auth token); raise ConfigError naming all that is missing."""
        missing = self.missing_for_rest()
        if missing or not self.sid:
            raise not_set(missing)
        if self.api_key:
            return Credentials(self.sid, self.api_key, self.api_secret or "")
        return Credentials(self.sid, self.sid, self.auth_token or "")


def not_set(names: list[str]) -> ConfigError:
    """One line naming every missing REST setting at once, so one run tells the whole fix."""
    plural = len(names) > 1 or " and " in names[0]
    return ConfigError(f"{', '.join(names)} {'are' if plural else 'is'} not set (needed for the TaskRouter REST API)")


def parse_accounts(raw: str | None) -> tuple[Account, ...]:
    """Parse and validate TWILIO_ACCOUNTS (unset: no listed accounts)."""
    if raw is None:
        return ()
    try:
        document = json.loads(raw, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError) as err:  # `[[[…]]]` thousands deep: the decoder recurses per level
        raise ConfigError(
            f"TWILIO_ACCOUNTS {err}" if isinstance(err, RepeatedKey) else "TWILIO_ACCOUNTS is not valid JSON"
        ) from None
    if not isinstance(document, dict) or not document:
        raise ConfigError("TWILIO_ACCOUNTS must be a non-empty JSON object keyed by Account SID")
    accounts = tuple(_account(number, sid.strip(), entry) for number, (sid, entry) in enumerate(document.items(), 1))
    owner: dict[str, int] = {}
    for number, account in enumerate(accounts, 1):
        for workspace_sid in account.workspaces:  # swept and alerted twice, under two names, and one is wrong
            if (first := owner.setdefault(workspace_sid, number)) != number:
                where = f"under accounts #{first} and #{number}"
                raise ConfigError(f"TWILIO_ACCOUNTS lists workspace {workspace_sid} {where}")
    return accounts


class RepeatedKey(ValueError):
    """A JSON object names one key twice: the last would silently replace the first (an account, its token)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a repeated key (by position: a key may be a secret)."""
    document: dict[str, Any] = {}
    seen: set[str] = set()
    for number, (key, value) in enumerate(pairs, 1):
        same = canonical_sid(key.strip()) if SID_RE.fullmatch(key.strip()) else key  # `ACAB…`, ` acab…`: one
        if same in seen:
            raise RepeatedKey(f"repeats a key: entry #{number} of an object names one named before it")
        seen.add(same)
        document[key] = value
    return document


def _account(number: int, sid: str, entry: Any) -> Account:
    """One validated TWILIO_ACCOUNTS entry (the `number`th): errors say where by position, never echo a key."""
    where = f"TWILIO_ACCOUNTS account #{number}"
    if not is_sid(sid, "AC"):
        raise ConfigError(f"TWILIO_ACCOUNTS key #{number} is not an Account SID (AC…)")
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be an object")
    unknown = set(entry) - _KEYS
    if unknown:
        known = ", ".join(sorted(_KEYS))
        raise ConfigError(f"{where} has {len(unknown)} unknown key{'s' if len(unknown) > 1 else ''} (known: {known})")
    entry = {key: value for key, value in entry.items() if value is not None}  # a generator's null: left unset
    for key in _KEYS - {"workspaces"}:
        if key in entry and not isinstance(entry[key], str):
            raise ConfigError(f"{where}: {key} must be a string")
    # Trimmed as the single-account variables are: a pasted space made every signature of the account fail (403)
    entry = {key: value.strip() if isinstance(value, str) else value for key, value in entry.items()}
    if not entry.get("auth_token"):
        raise ConfigError(f"{where}: auth_token is missing (it validates this account's signatures)")
    # Sent in a header (basic auth) or keying an HMAC: a pasted ’ would fail every call or every signature
    for key in ("auth_token", "previous_auth_token", "api_secret"):
        if entry.get(key) and not is_token(entry[key]):
            raise ConfigError(f"{where}: {key} must be printable ASCII")
    if bool(entry.get("api_key")) != bool(entry.get("api_secret")):
        raise ConfigError(f"{where} needs both api_key and api_secret, or neither")
    if entry.get("api_key") and not (is_sid(entry["api_key"], "SK") or is_sid(entry["api_key"], "AC")):
        raise ConfigError(f"{where}: api_key must be an SK… or AC… SID (SK or AC and 32 hex digits)")
    url = entry.get("slack_webhook_url")
    if url and (problem := url_problem(url)):
        raise ConfigError(f"{where}: slack_webhook_url {problem}")
    return Account(
        sid=canonical_sid(sid),
        name=entry.get("name", ""),
        auth_token=entry["auth_token"],
        previous_auth_token=entry.get("previous_auth_token") or None,
        api_key=canonical_sid(entry["api_key"]) if entry.get("api_key") else None,
        api_secret=entry.get("api_secret") or None,
        workspaces=_workspaces(where, entry.get("workspaces", {})),
        slack_webhook_url=url or None,
    )


def _workspaces(where: str, value: Any) -> dict[str, str]:
    """Workspaces as {sid: friendly name}; a list of SIDs is accepted too."""
    if isinstance(value, list):
        # A list or an object inside the list cannot be a key: named as a bad workspace, not a TypeError.
        value = {sid.strip() if isinstance(sid, str) else repr(sid): "" for sid in value}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: workspaces must be a list of SIDs or an object of SID: name")
    value = {sid.strip(): "" if name is None else name for sid, name in value.items()}  # trimmed; null: no name
    for number, (sid, name) in enumerate(value.items(), 1):
        if not is_sid(sid, "WS") or not isinstance(name, str):
            raise ConfigError(f"{where}: workspace #{number} is not a Workspace SID (WS…) with a name")
    return {canonical_sid(sid): name for sid, name in value.items()}


def check_beside_listed(listed: tuple[Account, ...], sid: str | None, token: str | None, **named: str | None) -> None:
    """Refuse single-account variables next to TWILIO_ACCOUNTS that would be dropped or cross accounts.

    `named`: the other single-account variables that are set (TWILIO_API_KEY and _SECRET, TWILIO_WORKSPACE_SID).
    """
    if not listed:
        return
    given = [name for name, value in {"TWILIO_AUTH_TOKEN": token, **named}.items() if value]
    owners = {workspace: account.sid for account in listed for workspace in account.workspaces}
    if not sid:
        if given:  # an audit-only account, or a leftover token, was silently unused
            verb = "names" if len(given) == 1 else "name"
            raise ConfigError(f"{_and(given)} next to TWILIO_ACCOUNTS {verb} no account: set TWILIO_ACCOUNT_SID")
        return
    entry = next((account for account in listed if account.sid == sid), None)
    if entry is None and not token:
        raise ConfigError("TWILIO_ACCOUNT_SID names an account TWILIO_ACCOUNTS does not list: list it there")
    if entry is not None:  # its entry's credentials count: others would be dropped without a word
        other = {"TWILIO_AUTH_TOKEN": token not in (None, entry.auth_token)}
        previous = named.get("TWILIO_AUTH_TOKEN_PREVIOUS")
        other["TWILIO_AUTH_TOKEN_PREVIOUS"] = previous not in (None, entry.previous_auth_token)
        other["TWILIO_API_KEY"] = named.get("TWILIO_API_KEY") not in (None, entry.api_key)
        other["TWILIO_API_SECRET"] = named.get("TWILIO_API_SECRET") not in (None, entry.api_secret)
        if crossed := [name for name, differs in other.items() if differs]:
            differ = "differs" if len(crossed) == 1 else "differ"
            raise ConfigError(
                f"{_and(crossed)} {differ} from TWILIO_ACCOUNTS' entry of TWILIO_ACCOUNT_SID: set them there"
            )
    workspace = named.get("TWILIO_WORKSPACE_SID")
    if workspace and owners.get(workspace, sid) != sid:
        raise ConfigError("TWILIO_WORKSPACE_SID is listed under another account in TWILIO_ACCOUNTS")


def _and(names: list[str]) -> str:
    """`A`, `A and B`, `A, B and C`."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
