"""Progress of long work, told by the code doing it to whoever is listening.

Deep code (loading a million IDs, building a spec) calls `report(step, done, total)`; the
caller that wants to show progress (the worker applying a change set) wraps the work in
`listening(callback)`. Without a listener a report costs one context-variable read, so
the same service runs unchanged in a web request, a test or a command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Listener = Callable[[str, int, int], None]

_listener: ContextVar[Listener | None] = ContextVar("gatehouse_progress", default=None)


def report(step: str, done: int = 0, total: int = 0) -> None:
    """`step` is a short phrase for people ("IDs loaded"); `done` of `total` units, or 0
    of 0 when the step has no measure."""
    listener = _listener.get()
    if listener is not None:
        listener(step, done, total)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
