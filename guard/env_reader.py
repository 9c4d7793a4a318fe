"""Typed reading of environment variables; every error names the variable and never echoes its value."""

from __future__ import annotations

import math
from collections.abc import Mapping
from urllib.parse import urlsplit

from guard.accounts import Account, AccountsError, parse_accounts

# Upper bound for every number: keeps timedelta() and int() from overflowing on "inf" or "1e400".
LARGEST_NUMBER = 1e9


class ConfigError(Exception):
    """A missing or bad setting; the message is one line that names the variable."""


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
        if not value:
            return default
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false")

    def number(self, name: str, default: float, minimum: float = 0) -> float:
        """Parse a finite number from `minimum` to LARGEST_NUMBER, or return the default when unset."""
        value = self.text(name)
        if value is None:
            return float(default)
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{name} must be a number") from None
        if not (math.isfinite(number) and minimum <= number <= LARGEST_NUMBER):
            raise ConfigError(f"{name} must be a number from {minimum:g} to {LARGEST_NUMBER:g}")
        return number

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """Parse one of a fixed set of words (case-insensitive)."""
        value = self.text(name)
        if value is None:
            return default
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        raise ConfigError(f"{name} must be one of: {', '.join(choices)}")

    def accounts(self, name: str) -> tuple[Account, ...]:
        """Parse the multi-account JSON object."""
        value = self.text(name)
        if value is None:
            return ()
        try:
            return parse_accounts(value)
        except AccountsError as err:
            raise ConfigError(str(err)) from None

    def url(self, name: str) -> str | None:
        """Parse an http(s) URL; the value is not echoed because it may be a secret."""
        value = self.text(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name} must be an http:// or https:// URL")
        return value.rstrip("/")
