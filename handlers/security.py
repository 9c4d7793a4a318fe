"""Security headers on every answer; pages that render HTML set their own, stricter-by-nonce CSP."""

from __future__ import annotations

from flask import Flask, Response

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
}


def add_security_headers(app: Flask) -> None:
    """Send the headers on every response, keeping any a view already set."""

    @app.after_request
    def _secure(response: Response) -> Response:
        """Fill in the missing security headers."""
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response
