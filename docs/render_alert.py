"""Render a drift alert, as the guard sends it to Slack, into docs/slack-alert.png (headless Chromium).

    .venv/bin/python docs/render_alert.py

Slack draws Block Kit itself; this page draws the same blocks (from guard.adapters.slack.render) in Slack's
manner, so the README can show what an approver sees. Needs Debian's chromium (`apt-get install chromium`).
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from guard.adapters.alerts import alert_from_payload  # noqa: E402
from guard.adapters.slack import render  # noqa: E402 - after the path set-up

# Chromium here has no emoji font: Slack's emoji are drawn as a coloured dot instead.
EMOJI = {":rotating_light:": "#e01e5a", ":repeat:": "#ecb22e", ":white_check_mark:": "#2eb67d", ":broom:": "#36c5f0"}
STYLE = """
body { margin: 0; background: #fff; font: 15px/1.46 -apple-system, "Segoe UI", Lato, sans-serif; color: #1d1c1d; }
.msg { display: flex; gap: 8px; padding: 16px 20px; width: 760px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #611f69; color: #fff; font-weight: 700;
          display: flex; align-items: center; justify-content: center; }
.who b { margin-right: 6px; } .who span { color: #616061; font-size: 12px; }
.app { background: #e8e8e8; color: #616061; font-size: 10px; padding: 1px 3px; border-radius: 2px; margin-right: 6px; }
h3 { font-size: 18px; margin: 8px 0 4px; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin: 8px 0; }
code { font: 12px Monaco, Menlo, monospace; color: #e01e5a; background: #f8f8f8; border: 1px solid #e8e8e8;
       border-radius: 3px; padding: 1px 3px; word-break: break-all; }
.context { color: #616061; font-size: 13px; margin: 6px 0; }
.actions button { font: 700 14px sans-serif; padding: 6px 14px; border-radius: 4px; margin-right: 8px;
                  border: 1px solid #bbb; background: #fff; color: #1d1c1d; }
.actions button.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
"""


def mrkdwn(text: str) -> str:
    """Slack's mrkdwn (already entity-escaped by the guard) as HTML."""
    text = re.sub(r"`([^`]*)`", r"<code>\1</code>", text)
    text = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", text)
    return text.replace("\n", "<br>")


def block_html(block: dict[str, Any]) -> str:
    """One block as HTML."""
    kind = block["type"]
    if kind == "header":
        text = html.escape(block["text"]["text"])
        for code, colour in EMOJI.items():
            text = text.replace(code, f'<span style="color:{colour}">&#9679;</span>')
        return f"<h3>{text}</h3>"
    if kind == "section" and "fields" in block:
        return '<div class="fields">' + "".join(f"<div>{mrkdwn(f['text'])}</div>" for f in block["fields"]) + "</div>"
    if kind == "section":
        return f"<div>{mrkdwn(block['text']['text'])}</div>"
    if kind == "context":
        return '<div class="context">' + "".join(mrkdwn(e["text"]) for e in block["elements"]) + "</div>"
    buttons = "".join(
        f'<button class="{e.get("style", "")}">{html.escape(e["text"]["text"])}</button>' for e in block["elements"]
    )
    return f'<div class="actions">{buttons}</div>'


def main() -> None:
    """Render a sample drift alert and screenshot it."""
    from playwright.sync_api import sync_playwright

    alert = alert_from_payload(
        {
            "kind": "drift",
            "account_sid": "AC" + "a" * 32,
            "workspace_sid": "WS" + "b" * 32,
            "created_at": "2026-11-27T09:00:00+00:00",
            "note": "contact_uri drifted",
            "worker_sid": "WK" + "0" * 31 + "1",
            "worker_name": "john.byers",
            "email": "john.byers@fbi.example",
            "account_label": "Production (AC…a1)",
            "workspace_label": "Flex Task Assignment (WS…b2)",
            "expected": "client:jbyers",
            "actual": "client:john_2Ebyers_40fbi_2Eexample",
            "basis": "twilio_contact_identity",
            "detail": "built from the email, but Flex registers the identity recorded in twilio_contact_identity "
            "(jbyers): the browser listens on client:jbyers",
            "fix_buttons": "AC…/WS…/WK…",
        }
    )
    _, blocks = render(alert)
    body = "".join(block_html(block.to_dict()) for block in blocks)
    page_html = (
        f"<!doctype html><meta charset='utf-8'><style>{STYLE}</style><div class='msg'><div class='avatar'>G</div>"
        f"<div><div class='who'><b>contact_uri guard</b><span class='app'>APP</span><span>9:41 AM</span></div>"
        f"{body}</div></div>"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 800, "height": 400})
        page.set_content(page_html)
        page.locator(".msg").screenshot(path=str(ROOT / "docs" / "slack-alert.png"))
        browser.close()


if __name__ == "__main__":
    main()
