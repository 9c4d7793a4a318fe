"""Views that only read the database run on a bounded read thread (Store.reads), never on the request's own."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from typing import Any, TypeVar

from flask import copy_current_request_context

from guard.container import services

View = TypeVar("View", bound=Callable[..., Any])


def bounded_read(view: View) -> View:
    """Run `view` off the request thread: a database that stops answering gets a 503 in seconds (errors.py)."""

    @wraps(view)
    def reading(*args: Any, **kwargs: Any) -> Any:
        return services().store.reads.run(copy_current_request_context(partial(view, *args, **kwargs)))

    return reading  # type: ignore[return-value]
