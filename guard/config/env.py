"""Reading environment variables: typed, validated, and every error one line that names the variable.

No error echoes a value: it may be a secret.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping

from sqlalchemy import make_url

from guard.config.formats import (
    has_control,
    hosts_problem,
    is_email_glob,
    is_host,
    is_token,
    postgres_option_problem,
    url_problem,
)
from guard.core.ignore import email_glob_problem, value_glob_problem
from guard.core.sid import canonical_sid, is_sid


class ConfigError(Exception):
    """A missing or bad setting; the message is one line that names the variable."""


# Upper bound for every number: keeps timedelta() and int() from overflowing on "inf" or "1e400".
LARGEST_NUMBER = 1e9
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
# Slack's special mentions, a user group, or a user: <!here>, <!channel>, <!subteam^S…>, <@U…>, space-separated.
_MENTION = re.compile(
    r"^<(?:!here|!channel|!everyone|!subteam\^S[A-Z0-9]{2,20}(?:\|[\w.-]{1,80})?|@[UW][A-Z0-9]{2,20})>$"
)
_DATABASES = ("sqlite", "sqlite+pysqlite", "postgres", "postgresql", "postgresql+psycopg")  # as make_engine takes them
_WHOLE = re.compile(r"[+-]?[0-9]+(?:\.0*)?")  # digits, as a person writes a count: not 1e3, 8_000 or 0x10
_NOT_BASE = "must be a base URL (https://host, or https://host/path), with no query or fragment"
_SEVERAL_HOSTS = (
    "names several hosts in its netloc, which SQLAlchemy cannot read: write them as ?host=h1,h2&port=5432,5433"
)
_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


class EnvReader:
    """Typed access to environment variables; every error names the variable, never its value."""

    def __init__(self, env: Mapping[str, str]) -> None:
        """Wrap the mapping to read from."""
        self.env = env

    def text(self, name: str) -> str | None:
        """Return the stripped value, or None when unset or blank."""
        value = self.env.get(name, "").strip()
        return value or None

    def flag(self, name: str, default: bool) -> bool:
        """Parse a boolean such as true/false, 1/0, yes/no, on/off."""
        value = (self.text(name) or "").lower()
        if value and value not in _FLAGS:
            raise ConfigError(f"{name} must be true or false")
        return _FLAGS[value] if value else default

    def number(self, name: str, default: float, minimum: float = 0, maximum: float = LARGEST_NUMBER) -> float:
        """Parse a finite number from `minimum` to `maximum`, or return the default when unset."""
        value = self.text(name)
        if value is None:
            return float(default)
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number") from None
        if not (math.isfinite(number) and minimum <= number <= maximum):
            raise ConfigError(f"{name} must be a number from {minimum:g} to {maximum:g}")
        return number

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int = int(LARGEST_NUMBER)) -> int:
        """Parse a whole number from `minimum` to `maximum` (2.7 is refused, not cut to 2), or the default."""
        try:
            value = self.number(name, default, minimum, maximum)  # 5.0 is 5
        except ConfigError:
            value = math.nan
        if not value.is_integer() or not _WHOLE.fullmatch(self.text(name) or "0"):
            raise ConfigError(f"{name} must be a whole number from {minimum} to {maximum}")
        return int(value)

    def sid(self, name: str, *prefixes: str) -> str | None:
        """Parse a Twilio SID of a resource `prefixes` name (AC…, WS…): a typo refused at start, not every event."""
        value = self.text(name)
        if value is not None and not any(is_sid(value, prefix) for prefix in prefixes):
            raise ConfigError(f"{name} must be a SID: {' or '.join(prefixes)} and 32 hex digits")
        return None if value is None else canonical_sid(value)

    def ignore_rules(self, name: str) -> str:
        """IGNORE_WORKERS: each entry a worker SID or an email glob; one that can match no email is refused.

        A mistyped SID (`WK` and 31 digits, `wk…`) was taken as a glob that never matched: the worker was
        not ignored, and REMEDIATE=remove removed its deliberate value.
        """
        text = self.text(name) or ""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        for number, entry in enumerate(entries, 1):
            if ";" in entry:  # a list written for another tool: each half alone would be a rule
                raise ConfigError(f"{name} entry {number} joins two values with ';': separate them with commas")
            if not is_sid(entry, "WK") and not is_email_glob(entry):
                raise ConfigError(
                    f"{name} entry {number} is neither a worker SID (WK and 32 hex digits) nor an email glob"
                )
            if not is_sid(entry, "WK") and (problem := email_glob_problem(entry)) is not None:
                raise ConfigError(f"{name} entry {number} {problem}")
        return text

    def value_globs(self, name: str) -> str:
        """INTENDED_CONTACT_URIS: comma-separated globs; one matching every Flex value, or two joined, is refused."""
        text = self.text(name) or ""
        for number, glob in enumerate((g.strip() for g in text.split(",") if g.strip()), 1):
            if (problem := value_glob_problem(glob)) is not None:
                raise ConfigError(f"{name} entry {number} {problem}")
        return text

    def host(self, name: str) -> str | None:
        """An interface to listen on: an IP address or a host name (`999.1.1.1` is neither)."""
        value = self.text(name)
        if value is not None and not is_host(value):
            raise ConfigError(f"{name} must be an IP address or a host name")
        return value

    def token(self, name: str) -> str | None:
        """A secret sent in a header: printable ASCII (a header carries other text in another encoding)."""
        value = self.text(name)
        if value is not None and not is_token(value):
            raise ConfigError(f"{name} must be printable ASCII")
        return value

    def user(self, name: str) -> str | None:
        """A basic-auth user name: no colon (the header splits user and password at the first one)."""
        value = self.text(name)
        if value is not None and (":" in value or has_control(value)):
            raise ConfigError(f"{name} must be UTF-8 text without ':' or control characters")
        return value

    def password(self, name: str) -> str | None:
        """A password typed into a login box: UTF-8 text without control characters, which no browser's box can type."""
        value = self.text(name)
        if value is not None and has_control(value):
            raise ConfigError(f"{name} must be UTF-8 text without control characters")
        return value

    def directory(self, name: str) -> str | None:
        """Parse the path of an existing directory."""
        value = self.text(name)
        if value is not None and not os.path.isdir(value):
            raise ConfigError(f"{name} must be an existing directory")
        return value

    def database_url(self, name: str) -> str | None:
        """Parse a database URL the guard can use: sqlite:///… or postgres(ql)://…; the value is never echoed."""
        value = self.text(name)
        if value is None:
            return None
        scheme, _, rest = value.partition("://")
        if not rest or scheme not in _DATABASES:
            raise ConfigError(f"{name} must be a sqlite:///… or postgres://… URL")
        memory = rest.partition("?")[0] in ("/", "/:memory:") or ":memory:" in rest or "mode=memory" in rest
        if scheme.startswith("sqlite") and memory:  # nothing kept, whichever way it is asked for
            raise ConfigError(f"{name} must name a SQLite file, such as sqlite:///instance/guard.db")
        try:  # read as SQLAlchemy reads it: its driver connects to what it finds
            url = make_url(value)
        except ValueError:
            if "," in rest.partition("/")[0].rpartition("@")[2]:  # libpq's `h1:5432,h2:5433`: a port of `5432,h2`
                raise ConfigError(f"{name} {_SEVERAL_HOSTS}") from None
            raise ConfigError(f"{name} has a port that is not a number from 0 to 65535") from None
        if url.port is not None and not 0 <= url.port <= 65535:
            raise ConfigError(f"{name} has a port that is not a number from 0 to 65535")
        if "@" in (url.host or ""):  # the password ends at the first @: the rest would be a host named in errors
            raise ConfigError(f"{name} has an @ in its user or password: write it as %40")
        if scheme.startswith("postgres") and (problem := postgres_option_problem(url.query) or hosts_problem(url)):
            raise ConfigError(f"{name} {problem}")  # or every connection fails, as if the database were down
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """Parse one of a fixed set of words (case-insensitive)."""
        value = (self.text(name) or default).lower()
        found = next((choice for choice in choices if choice.lower() == value), None)
        if found is None:
            raise ConfigError(f"{name} must be one of: {', '.join(choices)}")
        return found

    def slack_users(self, name: str) -> frozenset[str]:
        """Parse comma-separated Slack user IDs (U…, or W… on Enterprise Grid)."""
        users = frozenset(user.strip() for user in (self.text(name) or "").split(",") if user.strip())
        if not all(_SLACK_USER.match(user) for user in users):
            raise ConfigError(f"{name} must be Slack user IDs (U…), comma-separated")
        return users

    def mention(self, name: str, default: str) -> str:
        """Parse Slack mentions (`<!here>`, `<!subteam^S…>`, `<@U…>`), space-separated; `none` for no mention."""
        value = self.text(name)
        if value is None:
            return default
        if value.lower() == "none":
            return ""
        if not all(_MENTION.match(part) for part in value.split()):
            raise ConfigError(f"{name} must be Slack mentions such as <!here> or <!subteam^S…>, or none")
        return " ".join(value.split())

    def url(self, name: str, base: bool = False, credentials: bool = False) -> str | None:
        """Parse an http(s) URL (`base`: one that paths are added to); the value is not echoed: it may be a secret."""
        value = self.text(name)
        if value is None:
            return None
        problem = url_problem(value, credentials)
        if problem is None and base and ("?" in value or "#" in value):
            problem = _NOT_BASE  # a path is a proxy's prefix; a query would end up before the request's path
        if problem:
            raise ConfigError(f"{name} {problem}")
        return value.rstrip("/")
