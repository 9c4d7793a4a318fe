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


def services() -> Services:
    """The services of the current Flask app."""
    return current_app.extensions["guard"]
