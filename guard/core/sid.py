"""Twilio SIDs: two uppercase letters naming the resource, then 32 hex digits (WK… worker, AC… account)."""

from __future__ import annotations

import re
from typing import Any

SID_RE = re.compile(r"(?P<prefix>[A-Z]{2})[0-9a-fA-F]{32}")


def is_sid(value: Any, prefix: str) -> bool:
    """True when `value` is a SID of the resource `prefix` names."""
    match = SID_RE.fullmatch(value) if isinstance(value, str) else None
    return match is not None and match.group("prefix") == prefix


def canonical_sid(value: str) -> str:
    """A SID as Twilio writes it, its hex lowercase: one typed `ACAB…` in a setting would match no event."""
    return value[:2] + value[2:].lower()
