"""The default cache: Redis, degrading to a per-process memory cache while Redis is down.

What the console keeps in its cache can be lost or kept per process without harm: allauth's
rate-limit counters (sign-in, sign-up, password reset) and the SSO provider's discovery
document. With a plain RedisCache, an outage raised on every sign-in, so nobody could sign
in; here the limits keep working per process (fail open to a local limit, not to none) and
Redis is tried again after RETRY_SECONDS. Sessions live in the database, not here.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
_DOWN = (RedisConnectionError, RedisTimeoutError)
# LOCATION -> monotonic time until which Redis is not tried; shared by the threads of a
# process (Django gives each thread its own cache object).
_down_until: dict[str, float] = {}
_lock = threading.Lock()


def redis_down(location: str | None) -> bool:
    """Whether this process is answering from memory for the cache at `location` now."""
    return location is not None and _down_until.get(location, 0.0) > time.monotonic()


class FailoverRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._location = server if isinstance(server, str) else ",".join(server)
        # LocMemCache shares its storage between instances of the same name: one per process.
        self._fallback = LocMemCache(
            f"gatehouse-failover:{self._location}",
            {"TIMEOUT": params.get("TIMEOUT", 300), "OPTIONS": {"MAX_ENTRIES": 10_000}},
        )

    def _call(self, name: str, *args, **kwargs) -> Any:
        if not redis_down(self._location):
            try:
                return getattr(super(), name)(*args, **kwargs)
            except _DOWN as exc:
                with _lock:
                    _down_until[self._location] = time.monotonic() + RETRY_SECONDS
                logger.warning(
                    "cache.redis_unavailable falling back to memory for %ss: %s",
                    RETRY_SECONDS,
                    exc,
                )
        return getattr(self._fallback, name)(*args, **kwargs)


# The cache calls allauth and the SSO discovery make (and clear, for tests), each tried on
# Redis first and on the per-process memory cache while Redis is down.
FAILOVER_METHODS = (
    "add", "get", "set", "touch", "delete", "get_many", "has_key", "incr", "set_many",
    "delete_many", "clear",
)  # fmt: skip


def _failing_over(name: str):
    def method(self, *args, **kwargs):
        return self._call(name, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


for _name in FAILOVER_METHODS:
    setattr(FailoverRedisCache, _name, _failing_over(_name))
