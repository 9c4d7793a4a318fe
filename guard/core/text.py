"""Text that came from a worker's attributes, made safe to store and show.

Whoever can edit a worker controls these strings. A database cannot hold a NUL or a lone surrogate,
and nobody needs a 10,000-character cell, so what is stored and shown is a bounded, escaped rendering.
The verdict is reached on the raw value first: an unstorable contact_uri is still judged.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

# What moves a terminal's cursor, ends a CSV row or reorders a line (C0/C1 controls, line separators, bidi controls).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"  # zero-width characters and the byte-order mark
MAX_IDENTITY = 4096  # longer than any real client identity; past it a value is not one
SECRET_MIN = 8  # shorter parts of a webhook's URL are no secret (and would mask ordinary words)
SHOWN_MAX = 1024  # longest rendering kept in the state, alerts and reports
UNRENDERED = "<nested too deep to read>"  # as guard.core.deep_json's stand-in for a value it could not parse


def storable_problem(text: str, limit: int = MAX_IDENTITY) -> str | None:
    """Why `text` cannot be stored as it is (a NUL, a lone surrogate, more than `limit` characters), or None."""
    if "\x00" in text:
        return "it has a NUL character"
    if len(text) > limit:
        return f"it is {len(text)} characters long"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "it is not valid Unicode (a lone surrogate)"
    return None


def shown(value: Any, limit: int = SHOWN_MAX) -> str:
    """A rendering of `value` any database can store and any log or page can show, at most `limit` characters."""
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    except RecursionError:  # nested near the parser's depth, rendered deeper in the stack (guard.core.deep_json)
        text = UNRENDERED
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trimmed(text: str) -> str:
    """`text` without the whitespace and zero-width characters around it (what a paste leaves)."""
    previous = None
    while text != previous:
        previous, text = text, text.strip().strip(_INVISIBLE)
    return text


def printable(text: str) -> str:
    r"""`text` on one line as written, each control character shown as its escape (`\r`, `\x1b`, `\u202e`)."""
    return _UNPRINTABLE.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


# Characters a terminal shows as nothing or as a blank: controls, format marks, odd spaces, private use, the
# blank letters of Hangul and Braille, and the code points Unicode reserves as ignorable (drawn as nothing once
# assigned). Other unassigned code points are left alone: Python's tables lag Unicode (a newer emoji reads as one).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Co"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_IGNORABLE = frozenset({0x2065, *range(0xFFF0, 0xFFF9), *range(0xE0000, 0xE1000)})
_COMBINING = frozenset({"Mn", "Me"})


def hidden(char: str) -> bool:
    """True when a terminal would show `char` as nothing or as a blank (a plain space is neither)."""
    if char == " ":
        return False
    return unicodedata.category(char) in _HIDDEN_CATEGORIES or char in _BLANK_LETTERS or ord(char) in _IGNORABLE


def shown_plainly(text: str) -> str:
    """`text` as written, each hidden character and each backslash as its escape (a backslash doubled).

    A combining mark on an ASCII letter is escaped too (a + U+0301 looks like the precomposed á); in scripts that
    write with such marks (Devanagari, Thai) they stay as written.
    """
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if char == "\\" or hidden(char) or (unicodedata.category(char) in _COMBINING and text[at - 1 : at].isascii())
        else char
        for at, char in enumerate(text)
    )


def scrubbed(message: str, url: str) -> str:
    """`message` without the secret `url`, before it is stored or logged.

    Whole, its path, its query, and the path's last part (the secret itself) and each query value that looks like a
    token, in any case and as a server may echo them encoded (`encoded_forms`); parts shorter than SECRET_MIN are no
    secret. A word (`incoming`, `alerts-oncall`) is no token: masked, it would blank what an error says.
    """
    parts = urlsplit(url)
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    tokens = [part for part in (last, *(value for _, value in parse_qsl(parts.query))) if _token_like(part)]
    pieces = [url, parts.path, parts.query, f"{parts.path}?{parts.query}", *tokens]
    return masked(message, [form for piece in pieces if len(piece) >= SECRET_MIN for form in encoded_forms(piece)])


def _token_like(part: str) -> bool:
    """Digits, capitals past the first letter, or 16 characters and more: how a secret is written, and a word is not."""
    return len(part) >= 16 or any(c.isdigit() for c in part) or any(c.isupper() for c in part[1:])


def encoded_forms(secret: str) -> tuple[str, ...]:
    """`secret` as a server may echo it: raw, base64 (padded or not), URL-, JSON- or hex-encoded."""
    alone = base64.b64encode(secret.encode()).decode()
    escaped = (quote(secret, safe=""), quote_plus(secret), secret.replace("/", "\\/"), secret.encode().hex())
    return secret, alone, alone.rstrip("="), *escaped


def masked(message: str, forms: Iterable[str], mark: str = "<webhook>") -> str:
    """`message` with each of `forms` replaced by `mark`: in any case (%2f for %2F), the longest form first."""
    ordered = sorted({form for form in forms if form}, key=len, reverse=True)
    return re.sub("|".join(map(re.escape, ordered)), mark, message, flags=re.IGNORECASE) if ordered else message
