"""Per-request context (request id, API key in use) for logs and audit events.

No model imports here: the logging configuration loads this before Django's apps are ready.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # no model import at run time (see above)
    from console.models import ApiKey

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_api_key: contextvars.ContextVar[Any] = contextvars.ContextVar("api_key", default=None)


@contextmanager
def request_context(*, request_id: str) -> Iterator[None]:
    """Everything logged or audited inside carries this request id; an API key set inside
    (by authentication) is forgotten at the end."""
    rid_token = _request_id.set(request_id)
    key_token = _api_key.set(None)
    try:
        yield
    finally:
        _api_key.reset(key_token)
        _request_id.reset(rid_token)


def set_api_key(api_key: ApiKey | None) -> None:
    _api_key.set(api_key)


def current_api_key() -> ApiKey | None:
    """The API key authenticating this request, if any."""
    return _api_key.get()


def current_request_id() -> str:
    return _request_id.get()


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get() or "-"
        return True
