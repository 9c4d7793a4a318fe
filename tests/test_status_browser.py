"""The status page in a real headless Chromium (Debian's), driven by Playwright, against a live gunicorn."""

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import worker_event, worker_sid
from tests.processes import Gunicorn, post_all

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PASSWORD = "browser-test-password"

if not Path(CHROMIUM).exists():
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is required (REQUIRE_BROWSER=1): apt-get install chromium")
    pytest.skip("Debian chromium is not installed", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402 - only once Chromium is known to exist


@pytest.fixture
def live_status(tmp_path):
    """A gunicorn with the status page on, holding two drifting workers and a healthy one."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/guard.db",
        "STATUS_PASSWORD": PASSWORD,
        "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/services/T0GUARD/B0GUARD/SECRETHOOKPATH0123456789",
    }
    with Gunicorn(env, tmp_path / "gunicorn.log") as service:
        events = [
            worker_event(sid=worker_sid(1), name="Gob Bluth", email="gob@bluth.example", contact_uri="sip:gob"),
            worker_event(
                sid=worker_sid(2), name="Tobias Fünke", email="tobias@bluth.example",
                contact_uri="client:tobias@bluth.example",
            ),
            worker_event(sid=worker_sid(3), name="Lindsay", email="lindsay@bluth.example", contact_uri=None),
        ]  # fmt: skip
        # Gob drifts first: the sort test below needs a strict "oldest", so no concurrent posting here.
        assert post_all([service], events[:1]) == [204]
        assert set(post_all([service], events[1:])) == {204}
        yield service.url.replace("/taskrouter/events", "/status")


def test_status_page_in_headless_chromium(live_status, tmp_path):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            context = browser.new_context(
                http_credentials={"username": "admin", "password": PASSWORD}, viewport={"width": 1280, "height": 900}
            )
            page = context.new_page()
            errors = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.goto(live_status)
            expect(page.locator("#overall")).to_contain_text("2 workers in drift")
            gob = page.locator("#drift tbody tr", has_text="Gob Bluth")
            expect(gob).to_contain_text("sip:gob")
            expect(gob).to_contain_text("wrong scheme")
            expect(page.locator("#counts")).to_contain_text("1 waiting for a login (no contact_uri)")
            page.fill("#filter", "tobias")
            expect(gob).to_be_hidden()
            expect(page.locator("#drift tbody tr", has_text="Tobias Fünke")).to_be_visible()
            page.fill("#filter", "")
            page.click("#sort-since")
            expect(page.locator("#drift tbody tr").first).to_contain_text("Gob Bluth")  # oldest first
            page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            # At phone width the page itself never scrolls sideways; only a wide table does, inside its box.
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            expect(gob).to_be_visible()
            page.screenshot(path=str(tmp_path / "status-phone.png"), full_page=True)
            page.emulate_media(media="print")  # print: the data stays, the controls go
            expect(page.locator("#filter")).to_be_hidden()
            expect(gob).to_be_visible()
            page.emulate_media(media="screen")
            assert errors == []  # no CSP violation, no script error
        finally:
            browser.close()
    assert (tmp_path / "status.png").stat().st_size > 10_000
    if os.environ.get("STATUS_SCREENSHOT"):
        shutil.copy(tmp_path / "status.png", os.environ["STATUS_SCREENSHOT"])
