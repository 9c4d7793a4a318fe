"""Worker attributes whose JSON nests deeper than Python's parser goes: read at the top level, and still judged.

`json.loads` gives up past ~1,000 levels (RecursionError). Whoever can edit a worker could bury a wrong contact_uri
beside such a value and the guard would refuse the whole event, unjudged. The judged attributes (email, contact_uri,
twilio_contact_identity, roles) sit at the top level, so the object is read key by key there, and a value too deep to
parse stands as TOO_DEEP.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any


class _Unread(str):
    """The stand-in for a value too deep to parse: text when shown, known by identity (a worker could send the text)."""


TOO_DEEP = _Unread("<nested too deep to read>")
TOO_LONG = _Unread("<number too long to read>")
_SCANNER = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)  # where values end; none converted
_SPACE = re.compile(r"[ \t\n\r]*")


def top_level(text: str) -> dict[str, Any]:
    """The JSON object in `text`, each value parsed, or a stand-in where it cannot be; ValueError if malformed."""
    return {key: _value(text[start:end]) for key, _, start, end in list(_members(text))}


def without(text: str, name: str) -> str:
    """`text`, a JSON object, without its top-level member(s) `name`; every other member kept exactly as written.

    Numbers keep their digits (`0.10`, `1E2`, a 30-digit integer), repeated keys stay repeated, and a value too
    deep or too long to parse goes back as it came: nothing is parsed and written out again.
    """
    members = list(_members(text))
    if all(key != name for key, *_ in members):
        return text
    return "{" + ",".join(text[start:end] for key, start, _, end in members if key != name) + "}"


def _members(text: str) -> Iterator[tuple[Any, int, int, int]]:
    """Each top-level member of the object in `text`: its key, where it starts, where its value starts and ends."""
    index = _skip_space(text, 0)
    if text[index : index + 1] != "{":
        raise ValueError("not a JSON object")
    index = _skip_space(text, index + 1)
    closed = text[index : index + 1] == "}"
    index = _skip_space(text, index + 1) if closed else index  # {}: past its brace
    while not closed:
        start = index
        if text[index : index + 1] != '"':  # the scanner reads numbers as text: a key must be a string itself
            raise ValueError("a key is not a string")
        key, index = _SCANNER.raw_decode(text, index)
        index = _skip_space(text, index)
        if not isinstance(key, str) or text[index : index + 1] != ":":
            raise ValueError("a key is not followed by ':'")
        value = _skip_space(text, index + 1)
        try:
            index = _SCANNER.raw_decode(text, value)[1]
        except RecursionError:
            index = _past_nested(text, value)
        yield key, start, value, index
        index = _skip_space(text, index)
        separator, index = text[index : index + 1], _skip_space(text, index + 1)
        if separator not in (",", "}"):
            raise ValueError("expected ',' or '}'")
        closed = separator == "}"
    if index != len(text):
        raise ValueError("extra data after the object")


def _value(text: str) -> Any:
    """One member's value, or the stand-in for one nested too deep or holding a number too long to parse."""
    try:
        return json.loads(text, parse_int=_integer)
    except RecursionError:
        return TOO_DEEP


def _integer(digits: str) -> Any:
    """An integer, or the stand-in past Python's limit on digits (parsing more costs quadratic time)."""
    limit = sys.get_int_max_str_digits()
    return TOO_LONG if limit and len(digits.lstrip("-")) > limit else int(digits)


def _skip_space(text: str, index: int) -> int:
    """The index of the first character at or after `index` that is not JSON whitespace."""
    return _SPACE.match(text, index).end()  # type: ignore[union-attr]


def _past_nested(text: str, index: int) -> int:
    """The index just past the array or object that starts at `index` (brackets counted outside strings)."""
    depth, in_string, escaped = 0, False, False
    for position in range(index, len(text)):
        char = text[position]
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return position + 1
    raise ValueError("an array or object is not closed")
