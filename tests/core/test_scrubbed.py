"""A webhook's secret kept out of what a server's error text puts in the log, whatever form it echoes."""

import base64

import pytest

from guard.core.text import scrubbed

URL = "https://relay.example.com/hook?token=QUERYSECRET0123"
HOOK = "https://hooks.slack.com/services/T0AB/B0CD/WEBHOOKSECRET0123"


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


@pytest.mark.parametrize(
    "echo",
    [
        "/SERVICES/T0AB/B0CD/WEBHOOKSECRET0123",
        "webhooksecret0123",
        base64.b64encode(b"/services/T0AB/B0CD/WEBHOOKSECRET0123").decode().rstrip("="),
        base64.b64encode(b"WEBHOOKSECRET0123").decode(),
        b"WEBHOOKSECRET0123".hex(),
    ],
)
def test_a_secret_echoed_in_another_case_or_encoding_is_masked(echo):
    assert scrubbed(f"HTTP 404 {echo}", HOOK) == "HTTP 404 <webhook>"


def test_short_parts_and_ordinary_words_are_left_alone():
    assert scrubbed("HTTP 404 no_service for hook", URL) == "HTTP 404 no_service for hook"
