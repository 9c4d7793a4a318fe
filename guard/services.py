"""The per-app service container that handlers and CLI commands reach through `current_app`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from guard.adapters.store import Store
from guard.config import Settings
from guard.delivery import Dispatcher
from guard.pipeline import Guard


@dataclass
class Services:
    """Everything one app instance wires together."""

    settings: Settings
    store: Store
    guard: Guard
    dispatcher: Dispatcher


# Under the Flask CLI the app holds a builder instead, run by the first command that needs the services.
BUILD_SERVICES = "guard.build"


def services() -> Services:
    """The services of the current Flask app, built on first use under the CLI."""
    extensions = current_app.extensions
    if "guard" not in extensions:
        extensions[BUILD_SERVICES]()
    return extensions["guard"]
