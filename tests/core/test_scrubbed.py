"""A webhook's secret kept out of what a server's error text puts in the log, whatever form it echoes."""

import base64

import pytest

from guard.core.text import scrubbed

URL = "https://relay.example.com/hook?token=QUERYSECRET0123"


@pytest.mark.parametrize(
    "echo",
    [
        "Cannot POST /hook?token=QUERYSECRET0123",  # a relay's secret in its query
        "no route: token=QUERYSECRET0123",
        "token%3DQUERYSECRET0123",
    ],
)
def test_a_secret_in_the_query_is_masked(echo):
    assert "QUERYSECRET" not in scrubbed(echo, URL)


def test_a_query_of_short_values_is_masked_whole():
    url = "https://relay.example.com/hook?k=ab12&s=cd34"  # each value too short to be masked alone
    assert scrubbed("HTTP 404 Cannot POST /hook?k=ab12&s=cd34", url) == "HTTP 404 Cannot POST <webhook>"


@pytest.mark.parametrize(
    "echo",
    [
        lambda path, secret: path.upper(),
        lambda path, secret: secret.lower(),
        lambda path, secret: base64.b64encode(path.encode()).decode().rstrip("="),
        lambda path, secret: base64.b64encode(secret.encode()).decode(),
        lambda path, secret: secret.encode().hex(),
    ],
)
@pytest.mark.parametrize(
    "secret",
    [
        "WEBHOOKSECRET0123",
        "wEBHOOKsECRETnODIGITS",  # no digit: capitals tell
        "48291038475610293847",  # digits only
        "ybndrfgejkmcpqxotuwiszaahy",  # a relay's id of lower-case letters: its length tells
    ],
)
def test_a_secret_echoed_in_another_case_or_encoding_is_masked(echo, secret):
    path = f"/services/T0AB/B0CD/{secret}"
    assert scrubbed(f"HTTP 404 {echo(path, secret)}", f"https://hooks.slack.com{path}") == "HTTP 404 <webhook>"


def test_short_parts_and_ordinary_words_are_left_alone():
    assert scrubbed("HTTP 404 no_service for hook", URL) == "HTTP 404 no_service for hook"
    relay = "https://relay.example.com/hooks/notifications?channel=alerts-oncall&token=s3cr3tvalue"
    said = "HTTP 400 invalid notifications payload for channel alerts-oncall, token S3CR3TVALUE"
    assert scrubbed(said, relay) == "HTTP 400 invalid notifications payload for channel alerts-oncall, token <webhook>"
    incoming = "https://alerts.example.com/api/v1/messages/incoming"
    assert scrubbed("HTTP 500 Incoming message rejected", incoming) == "HTTP 500 Incoming message rejected"
    titled = "https://relay.example.com/api/Notifications"  # a capital first letter is a word's
    assert scrubbed("HTTP 500 Notifications rejected", titled) == "HTTP 500 Notifications rejected"
