"""The Flex contact_uri encoding: `client:` + the email with every non-alphanumeric escaped as `_XX`.

Pure functions only. See README "Non-ASCII policy" for why two escape forms are accepted.
"""

from __future__ import annotations

import re
import string

SCHEME = "client:"
# Only ASCII letters and digits survive; str.isalnum() would wrongly keep é, ² and full-width letters.
_KEPT = frozenset(string.ascii_letters + string.digits)
_HEX = frozenset("0123456789ABCDEF")
# ASCII escapes as a str.translate table: the common (all-ASCII) email is escaped in C, not char by char.
_ASCII_ESCAPES = {code: f"_{code:02X}" for code in range(128) if chr(code) not in _KEPT}
_LOWER_HEX = frozenset("abcdef")


class DecodeError(ValueError):
    """A contact_uri that is not a valid escaped client identity; the message says why."""


def escape_identity(text: str) -> str:
    """Escape `text` the strict way: each UTF-8 byte of a non-alphanumeric character as `_XX`."""
    if text.isascii():
        return text.translate(_ASCII_ESCAPES)
    out: list[str] = []
    for char in text:
        if char in _KEPT:
            out.append(char)
        else:
            out.extend(f"_{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    return "".join(out)


def escape_identity_js(text: str) -> str:
    """Escape `text` per UTF-16 code unit, as a JavaScript `charCodeAt` encoder does (`é` -> `_E9`)."""
    if text.isascii():
        return text.translate(_ASCII_ESCAPES)  # for ASCII both forms are the same
    out: list[str] = []
    for char in text:
        if char in _KEPT:
            out.append(char)
            continue
        units = char.encode("utf-16-be", "surrogatepass")
        for i in range(0, len(units), 2):
            out.append(f"_{int.from_bytes(units[i : i + 2], 'big'):02X}")
    return "".join(out)


def contact_uri_for(email: str) -> str:
    """Return the contact_uri Flex derives from `email` (strict UTF-8 form)."""
    return SCHEME + escape_identity(email)


def accepted_contact_uris(email: str) -> frozenset[str]:
    """Return every value accepted as matching `email`: the strict form and the JS code-unit form."""
    strict = contact_uri_for(email)
    if email.isascii():
        return frozenset({strict})
    return frozenset({strict, SCHEME + escape_identity_js(email)})


def same_identity(one: str, other: str) -> bool:
    """True when two escaped identities are one identity's strict and JS forms (`_C3_A9`, `_E9`), or equal.

    Only those two forms: `_66mulder` decodes to `fmulder` too, but no Flex writes it, and no browser registers it.
    """
    if one == other:
        return True
    for escaped in (one, other):
        try:
            forms = {escape_identity(text := decode(SCHEME + escaped)), escape_identity_js(text)}
        except DecodeError:
            continue
        if one in forms and other in forms:
            return True
    return False


_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def split_scheme(uri: str) -> tuple[str | None, str]:
    """Split `uri` into (scheme with colon, rest); the scheme is None when there is none."""
    match = _SCHEME_RE.match(uri)
    if not match:
        return None, uri
    return match.group(0), uri[match.end() :]


def decode(uri: str) -> str:
    """Return the email that `uri` encodes, or raise DecodeError naming the first problem."""
    scheme, body = split_scheme(uri)
    if scheme is None:
        raise DecodeError("missing scheme: a contact_uri starts with 'client:'")
    if scheme != SCHEME:
        raise DecodeError(f"other scheme {scheme!r}: a contact_uri starts with 'client:'")
    if not body:
        raise DecodeError("empty identity after 'client:'")
    raw = bytearray()
    position = len(SCHEME)
    i = 0
    while i < len(body):
        char = body[i]
        if char in _KEPT:
            raw.append(ord(char))
            i += 1
            continue
        where = position + i
        if char != "_":
            raise DecodeError(f"unescaped character {char!r} at position {where}")
        pair = body[i + 1 : i + 3]
        if len(pair) < 2:
            raise DecodeError(f"stray '_' at position {where}: an escape needs two hex digits")
        if all(c in _HEX for c in pair):
            raw.append(int(pair, 16))
            i += 3
            continue
        if all(c in _HEX or c in _LOWER_HEX for c in pair):
            raise DecodeError(f"lowercase hex in escape '_{pair}' at position {where}")
        raise DecodeError(f"bad escape '_{pair}' at position {where}: expected two hex digits")
    text = _bytes_to_text(bytes(raw))
    # Read as bytes, a JS form past U+00FF (`_674E`) is other text: the strict reading wins only if it gives it back.
    if body == escape_identity(text) or (units := _code_units(body)) is None:
        return text
    # Read both ways, a Latin-1 JS form (`_E92`: é2, not U+0E92) wins, unless the units pair up into one character
    if body == escape_identity_js(text) and not any(0xD800 <= unit < 0xDC00 for unit in units):
        return text
    try:  # a lone surrogate is no reading: a JS encoder escapes the units of real text
        return b"".join(unit.to_bytes(2, "big") for unit in units).decode("utf-16-be")
    except UnicodeDecodeError:
        return text


def _bytes_to_text(raw: bytes) -> str:
    """Decode escaped bytes as UTF-8, or as Latin-1 code units when they are the JS form (`_E9`)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # A single-byte escape >= 0x80 that is not UTF-8 is a charCodeAt escape of U+0080..U+00FF.
        return raw.decode("latin-1")


def _code_units(body: str) -> list[int] | None:
    """The UTF-16 code units whose `charCodeAt` form (`_E9`, `_142`, `_674E`) is `body`, or None when none are.

    An escape has as many hex digits as its unit needs (at least two), so a reading is found from the end, where each
    position's choice depends only on what follows it, kept apart by whether it starts with a low surrogate: a high
    one is read only before a low one, and a low one only after a high one (`_D812` after `_674E` is `Ø` then `12`).
    """
    end_of = len(body)
    plain: list[tuple[int, int] | None] = [None] * end_of + [(0, end_of)]  # (unit, where the rest starts)
    low: list[tuple[int, int] | None] = [None] * (end_of + 1)  # readings that start with a low surrogate
    for i in range(end_of - 1, -1, -1):
        if body[i] in _KEPT:
            plain[i] = (ord(body[i]), i + 1) if plain[i + 1] else None
        elif body[i] == "_":
            for width, least in ((4, 0x1000), (3, 0x100), (2, 0)):
                digits, end = body[i + 1 : i + 1 + width], i + 1 + width
                if len(digits) < width or not set(digits) <= _HEX:
                    continue
                unit = int(digits, 16)
                if unit < least or (width == 2 and chr(unit) in _KEPT):  # an encoder keeps letters and digits
                    continue
                rest = low[end] if 0xD800 <= unit < 0xDC00 else plain[end]
                kind = low if 0xDC00 <= unit < 0xE000 else plain
                if rest and kind[i] is None:
                    kind[i] = (unit, end)
    units, at, need = [], 0, plain
    while at < end_of:
        found = need[at]
        if found is None:
            return None
        units.append(found[0])
        at, need = found[1], low if 0xD800 <= found[0] < 0xDC00 else plain
    return units
