"""Part 1b: what one ignored event costs in-process (no gunicorn, no sockets), and where that time goes."""

from __future__ import annotations

import io
import timeit
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder

from bench.bodies import TOKEN, firehose_mix
from handlers.fast_path import form_fields

BASE, PATH = "http://127.0.0.1:8000", "/taskrouter/events"
SIGNED_URL = BASE + PATH


def run(workdir: Path, repeat: int = 20) -> dict[str, float]:
    """Microseconds per ignored event: the bare app, the guard, and the two steps a verified answer cannot skip."""
    from bench.bare_app import app as bare
    from guard.config import Settings
    from handlers.app import create_app

    env = {"TWILIO_AUTH_TOKEN": TOKEN, "DATABASE_URL": f"sqlite:///{workdir}/cost.db", "LOG_LEVEL": "WARNING"}
    guard = create_app(Settings.from_env(env))
    # Worker events take the full path (activity updates too, since issue 18): only the ignored types here.
    events = [fields for fields in firehose_mix(500) if not fields["EventType"].startswith("worker.")]
    validator = RequestValidator(TOKEN)
    requests = []
    for fields in events:
        headers = {"X-Twilio-Signature": validator.compute_signature(SIGNED_URL, fields)}
        body = urlencode(fields).encode()
        builder = EnvironBuilder(
            path=PATH, base_url=BASE, method="POST", data=body, headers=headers,
            content_type="application/x-www-form-urlencoded",
        )  # fmt: skip
        requests.append((builder.get_environ(), body))
    texts = [body.decode() for _, body in requests]
    forms = [form_fields(text) for text in texts]

    def serve(app: Any) -> None:
        """Push every request through a WSGI app; each must be answered 204."""

        def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
            """Refuse anything but 204: a fall-through to the full path would measure the wrong thing."""
            assert status.startswith("204"), status

        for environ, body in requests:
            for _ in app({**environ, "wsgi.input": io.BytesIO(body)}, start_response):
                pass

    def per_event(step: Any) -> float:
        """Best-of-3 microseconds per event for `step` over the whole set."""
        step()
        return min(timeit.repeat(step, number=repeat, repeat=3)) / repeat / len(requests) * 1e6

    return {
        "bare": per_event(lambda: serve(bare)),
        "guard": per_event(lambda: serve(guard)),
        "parse_qsl": per_event(lambda: [parse_qsl(text, keep_blank_values=True) for text in texts]),
        "yarl": per_event(lambda: [form_fields(text) for text in texts]),
        "signature": per_event(lambda: [validator.compute_signature(SIGNED_URL, form) for form in forms]),
    }


def table(cost: dict[str, float]) -> str:
    """The part's Markdown table."""
    rest = cost["guard"] - cost["yarl"] - cost["signature"]
    return "\n".join(
        [
            "| in-process, per ignored event | µs |",
            "|---|---|",
            f"| bare Flask app (answers 204, reads nothing) | {cost['bare']:.1f} |",
            f"| guard (fast path, signature verified) | {cost['guard']:.1f} |",
            f"| of which decoding the ~2 KB body with yarl | {cost['yarl']:.1f} |",
            f"| of which twilio's `compute_signature` | {cost['signature']:.1f} |",
            f"| of which the rest (peek, URL, metrics) | {rest:.1f} |",
            f"| for comparison: the same decoding with `parse_qsl` | {cost['parse_qsl']:.1f} |",
        ]
    )
