"""Worker attributes whose JSON nests deeper than Python's parser goes: read at the top level, and still judged.

`json.loads` gives up past ~1,000 levels (RecursionError). Whoever can edit a worker could bury a wrong contact_uri
beside such a value and the guard would refuse the whole event, unjudged. The judged attributes (email, contact_uri,
twilio_contact_identity, roles) sit at the top level, so the object is read key by key there, and a value too deep to
parse stands as TOO_DEEP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any


class _Unread(str):
    """The stand-in for a value too deep to parse: text when shown, known by identity (a worker could send the text)."""


TOO_DEEP = _Unread("<nested too deep to read>")
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def top_level(text: str) -> dict[str, Any]:
    """The JSON object in `text`, each value parsed, or TOO_DEEP where it cannot be; ValueError if malformed."""
    index = _skip_space(text, 0)
    if text[index : index + 1] != "{":
        raise ValueError("not a JSON object")
    found: dict[str, Any] = {}
    index = _skip_space(text, index + 1)
    closed = text[index : index + 1] == "}"
    while not closed:
        key, index = _DECODER.raw_decode(text, index)
        index = _skip_space(text, index)
        if not isinstance(key, str) or text[index : index + 1] != ":":
            raise ValueError("a key is not followed by ':'")
        index = _skip_space(text, index + 1)
        try:
            found[key], index = _DECODER.raw_decode(text, index)
        except RecursionError:
            found[key], index = TOO_DEEP, _past_nested(text, index)
        index = _skip_space(text, index)
        separator, index = text[index : index + 1], _skip_space(text, index + 1)
        if separator not in (",", "}"):
            raise ValueError("expected ',' or '}'")
        closed = separator == "}"
    if index != len(text):
        raise ValueError("extra data after the object")
    return found


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


def unread(attributes: Mapping[str, Any]) -> bool:
    """True when some value could not be parsed: such attributes cannot be sent back or kept as their text."""
    return any(value is TOO_DEEP for value in attributes.values())
