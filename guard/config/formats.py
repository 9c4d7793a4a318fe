"""What a well-formed setting looks like: URLs, host names and tokens. Pure checks, no environment."""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_.])?")  # `my_host` and `localhost.` bind too
_TOKEN = re.compile(r"[\x20-\x7e]+")
_EMAIL = re.compile(r"[^@\s;]+@[^@\s;]+")
_GLOB = re.compile(r"[^\s;]*[*?\[][^\s;]*")  # a wildcard, and no space or ';' (a list in another separator)
# C0 and C1 controls, line and paragraph separators, a byte-order mark, the noncharacters U+FFFE/U+FFFF, and bytes
# that were no UTF-8 (Python's surrogateescape): none of them can be typed into a login box
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def is_host(value: str) -> bool:
    """True for an IP address or a host name (`999.1.1.1` is neither)."""
    if is_ip(value):
        return True
    name = value.removesuffix(".")  # the root's dot: `localhost.` is fully qualified
    # DNS's limits, which the idna codec enforces at bind: `x..y` or a 64-character label failed there, unnamed
    labels_fit = len(name) <= 253 and all(0 < len(label) <= 63 for label in name.split("."))
    return bool(_HOST.fullmatch(value)) and labels_fit and not value.replace(".", "").isdigit()


def is_ip(value: str) -> bool:
    """True for an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def beyond_loopback(host: str) -> bool:
    """True for an address other machines may reach: not a loopback address or `localhost` (`""`: every one)."""
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def is_token(value: str) -> bool:
    """True for printable ASCII: what a header carries as it was set."""
    return bool(_TOKEN.fullmatch(value))


def is_email_glob(value: str) -> bool:
    """True for an email (`ann@x.com`) or a glob with a wildcard (`*@x.com`, `*`): what can match an email."""
    return bool(_EMAIL.fullmatch(value) or _GLOB.fullmatch(value))


def has_control(value: str) -> bool:
    """True when `value` holds a control character, or a byte of the environment that was no UTF-8."""
    return bool(_CONTROL.search(value))


def url_problem(value: str, credentials: bool = False) -> str | None:
    """What keeps `value` from being an absolute http:// or https:// URL (webhook, base URL), or None.

    `credentials`: a `user:password@` is taken (a URL the guard is called at); one the guard sends to may not carry it.

    A space or control character would reach the HTTP client at every delivery, whose error quotes the
    path: the secret part of a Slack webhook URL, in the log and on the status page.
    """
    try:
        parts = urlsplit(value)
    except ValueError:  # `https://[::1`, `https://[host]`: its message quotes the host, and this the path too
        return "has a bracketed host that is not an IPv6 address"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http:// or https:// URL"
    if not value.isascii() or " " in value or has_control(value):  # U+00A0, U+2028: never sendable either
        return "must not contain spaces, control or non-ASCII characters"
    if not credentials and "@" in parts.netloc:  # urllib reads `user:pw@host` as a host and port, and quotes it
        return "must not carry a user name or password (user:password@): its HTTP client would quote them in errors"
    try:
        parts.port  # noqa: B018 - reading it checks it
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    return None


# The values libpq checks only as it connects: refused there, they would fail every connection as if the database
# were down (an integer option that is no number even fails as a bug). libpq reads them as a C int (32 bits).
_INT_MAX = 2**31 - 1
_NUMBERS: dict[str, tuple[float, float]] = {
    "port": (1, 65535),
    "connect_timeout": (-math.inf, math.inf),  # psycopg reads it, not libpq; 0 or less is its default wait
    "keepalives": (-_INT_MAX - 1, _INT_MAX),
    "tcp_user_timeout": (-_INT_MAX - 1, _INT_MAX),  # below 0 libpq sets 0: the system's default
    # below 1 libpq sets 0, which Linux refuses at every TCP connection (setsockopt: "Invalid argument")
    "keepalives_idle": (1, _INT_MAX),
    "keepalives_interval": (1, _INT_MAX),
    "keepalives_count": (1, _INT_MAX),
}
_INTEGER = re.compile(r"[+-]?[0-9]+")  # as strtol reads it
_HOST_PORT = re.compile(r"[^/\[\]:,]+:[0-9]+")  # `db1:5432`: not a socket directory, not an IPv6 address
_LISTS = ("host", "hostaddr", "port")  # the options libpq reads as one value per host, comma-separated
_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "target_session_attrs": ("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
}


def postgres_option_problem(options: Mapping[str, str | tuple[str, ...]]) -> str | None:
    """What libpq would refuse at every connection in a PostgreSQL URL's options (`?sslmode=…`), or None.

    The option's name is said, never its value.
    """
    from psycopg import ProgrammingError  # only for a PostgreSQL URL: the lookups need no driver
    from psycopg.conninfo import make_conninfo

    for name, given in options.items():
        try:
            make_conninfo("", **{name: "1"})
        except ProgrammingError:
            return f"has an option PostgreSQL does not know: {name}"
        each = (given,) if isinstance(given, str) else given
        values = [part.strip() for value in each for part in (value.split(",") if name in _LISTS else (value,))]
        if not _valid(name, [value for value in values if value]):  # empty: libpq's default
            return f"has a value PostgreSQL refuses for its option {name}"
    return None


def hosts_problem(url: URL) -> str | None:
    """SQLAlchemy's refusal of a PostgreSQL URL's hosts and ports, said as the fix, or None."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg  # only for a PostgreSQL URL
    from sqlalchemy.exc import ArgumentError

    given = url.query.get("host")
    lists = [value.split(",") for value in ((given,) if isinstance(given, str) else given or ())]
    # libpq takes "db1:5432" in a list as a host name, and every connection fails
    if any(len(items) > 1 and any(_HOST_PORT.fullmatch(item.strip()) for item in items) for items in lists):
        return "puts a port inside a list of ?host=: give ?host=h1,h2&port=p1,p2 or ?host=h1:p1&host=h2:p2"
    try:
        PGDialect_psycopg().create_connect_args(url)
    except ArgumentError as err:  # else a traceback in every worker
        if "mix" in str(err):
            return "mixes two forms of several hosts: give ?host=h1,h2&port=p1,p2 or ?host=h1:p1&host=h2:p2"
        # Ports count against `host` (or the netloc's), never against `hostaddr`
        return "has a port for each host (of host=, not hostaddr=), or none: the numbers of hosts and ports differ"
    return None


def _valid(name: str, values: list[str]) -> bool:
    """True when libpq takes each of `values` for option `name` (one per host where it lists several)."""
    if name in _NUMBERS:
        low, high = _NUMBERS[name]
        return all(_INTEGER.fullmatch(value) and low <= int(value) <= high for value in values)
    if name == "hostaddr":
        return all(is_ip(value) for value in values)
    return all(value in _CHOICES.get(name, (value,)) for value in values)
