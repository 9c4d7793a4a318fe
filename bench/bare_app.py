"""The ceiling for the firehose: a bare Flask app whose one route answers 204."""

from flask import Flask, Response

app = Flask(__name__)


@app.post("/taskrouter/events")
def events() -> Response:
    """Answer like the guard does, doing nothing."""
    return Response(status=204, content_type="application/json")


@app.get("/healthz")
def healthz() -> str:
    """For the start-up wait."""
    return "ok"
