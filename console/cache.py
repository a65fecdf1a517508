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
        if _down_until.get(self._location, 0.0) <= time.monotonic():
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

    def add(self, *args, **kwargs):
        return self._call("add", *args, **kwargs)

    def get(self, *args, **kwargs):
        return self._call("get", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._call("set", *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._call("touch", *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._call("delete", *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._call("get_many", *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._call("has_key", *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._call("incr", *args, **kwargs)

    def set_many(self, *args, **kwargs):
        return self._call("set_many", *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._call("delete_many", *args, **kwargs)

    def clear(self):
        return self._call("clear")
