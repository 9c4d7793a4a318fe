"""Unread request bodies are drained before the answer goes out, so gunicorn's close is not a reset."""

import http.client
import io
import threading

import pytest
from werkzeug.serving import make_server

from handlers.drain import DrainUnreadBody


def answer_without_reading(environ, start_response):
    """A WSGI app that answers 400 and never touches the body, like a 413 or a wrong content type."""
    start_response("400 BAD REQUEST", [("Content-Type", "application/json")])
    return [b"{}"]


@pytest.mark.parametrize(("size", "drained"), [(200_000, True), (1_000_000, True), (1_000_001, False)])
def test_the_rest_of_the_body_is_read_up_to_the_bound(size, drained):
    stream = io.BytesIO(b"x" * size)
    environ = {"wsgi.input": stream, "CONTENT_LENGTH": str(size), "wsgi.input_terminated": True}  # as gunicorn
    result = DrainUnreadBody(answer_without_reading, max_drain_bytes=1_000_000)(environ, lambda *args: None)
    assert result == [b"{}"]
    assert (stream.tell() == size) is drained
    assert stream.tell() in (0, size)


def test_a_client_that_went_away_is_not_an_error():
    class Gone(io.RawIOBase):
        def read(self, size=-1):
            raise OSError("connection reset")

    environ = {"wsgi.input": Gone(), "CONTENT_LENGTH": "10", "wsgi.input_terminated": True}
    assert DrainUnreadBody(answer_without_reading, 100)(environ, lambda *args: None) == [b"{}"]


def test_the_app_drains_what_it_leaves(app):
    stream = io.BytesIO(b"EventType=worker.created&" * 100)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/taskrouter/events", "CONTENT_TYPE": "text/plain",
               "CONTENT_LENGTH": str(len(stream.getvalue())), "wsgi.input": stream, "SERVER_NAME": "localhost",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input_terminated": True}  # fmt: skip
    statuses = []
    app.wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    assert statuses and statuses[0].startswith("4")
    assert stream.tell() == len(stream.getvalue())


def test_flask_run_answers_every_request_on_a_connection_kept_alive(app):
    # werkzeug's development server (`flask run`) hands over the socket itself: drained to its end, it waits for ever
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for _ in range(3):
            connection.request("POST", "/taskrouter/events", body=b"x=1", headers={"Content-Type": "text/plain"})
            response = connection.getresponse()
            assert response.status == 403 and b"error" in response.read()  # unsigned: refused, three times
    finally:
        server.shutdown()
