"""The webhook event catalogue. Apps register the events they emit in AppConfig.ready(), so
the console offers them to subscribe to without importing those apps."""

from __future__ import annotations

import re

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$")

# Sent by "Send test event" to one webhook, whatever events it subscribes to.
TEST_EVENT = "webhook.test"

_EVENTS: dict[str, str] = {}


def register_event(name: str, description: str) -> None:
    """Make `name` (like "changeset.approved") emittable and subscribable."""
    if not EVENT_NAME.match(name) or len(name) > 64 or name == TEST_EVENT:
        raise ValueError(f"Invalid webhook event name {name!r}.")
    _EVENTS[name] = description


def event_choices() -> list[tuple[str, str]]:
    """(name, description) of every registered event, by name."""
    return sorted(_EVENTS.items())


def is_registered(name: str) -> bool:
    return name in _EVENTS
