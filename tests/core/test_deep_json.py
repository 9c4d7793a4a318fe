"""Attributes nested past the JSON parser's depth are read at the top level, and their contact_uri judged."""

import json

import pytest

from guard.core.deep_json import TOO_DEEP, top_level, without
from guard.core.fields import InvalidSnapshot, parse_attributes
from guard.core.snapshot import WorkerKey, WorkerSnapshot
from guard.core.text import shown

DEEP = "[" * 5000 + "]" * 5000  # past json.loads' ~1,000 levels


def test_a_value_too_deep_to_parse_stands_as_a_marker_and_the_rest_is_read():
    text = '{"contact_uri": "sip:x", "deep": ' + DEEP + ', "email": "ann@example.com"}'
    with pytest.raises(RecursionError):
        json.loads(text)
    assert parse_attributes(text, "WorkerAttributes") == {
        "contact_uri": "sip:x",
        "deep": TOO_DEEP,
        "email": "ann@example.com",
    }


def test_brackets_and_escaped_quotes_inside_strings_do_not_end_the_deep_value():
    deep = '[{"a": "]}\\"]}"}, ' + "[" * 2000 + '"x"' + "]" * 2000 + "]"
    assert top_level(' { "deep" : ' + deep + ' , "roles" : ["agent"] } ') == {"deep": TOO_DEEP, "roles": ["agent"]}


@pytest.mark.parametrize(
    "text",
    [
        '{"deep": ' + "[" * 5000,  # never closed
        '{"deep": ' + DEEP + "} trailing",
        '{"deep": ' + DEEP + ' "next": 1}',  # no comma
        "[" * 5000 + "]" * 5000,  # not an object
        '{"deep" ' + DEEP + "}",  # no colon
    ],
)
def test_malformed_deep_attributes_are_still_refused(text):
    with pytest.raises(InvalidSnapshot, match="WorkerAttributes is not valid JSON"):
        parse_attributes(text, "WorkerAttributes")


def test_a_value_parsed_but_too_deep_to_render_again_is_kept_and_shown_as_the_stand_in():
    deep: list = []
    for _ in range(5000):  # as json.loads returns a value just short of its limit, then rendered deeper in the stack
        deep = [deep]
    snapshot = WorkerSnapshot(WorkerKey("AC" + "a" * 32, "WS" + "b" * 32, "WK" + "c" * 32), "", {"deep": deep})
    assert json.loads(snapshot.stored_copy()) == {"deep": TOO_DEEP}  # an audit's snapshot: the flat copy
    assert shown(deep) == TOO_DEEP


@pytest.mark.parametrize("text", ['{1: "x", "email": "a@b.c"}', "{NaN: 1}", '{-Infinity: 2, "n": ' + "1" * 5000 + "}"])
def test_keys_that_are_not_strings_are_refused_on_every_path(text):
    with pytest.raises(InvalidSnapshot):
        parse_attributes(text, "attributes")


def test_contact_uri_is_cut_however_it_is_written_and_nothing_else_changes():
    assert without('{"contact\\u005furi": "x", "n": 1E2, "contact_uri": "y"}', "contact_uri") == '{"n": 1E2}'
    assert (without("{}", "contact_uri"), without('{"contact_uri": 1}', "contact_uri")) == ("{}", "{}")
