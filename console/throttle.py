"""Per-address throttling of bad keys, for the SDK endpoints and the console API.

An address that presents more than GATEHOUSE_BAD_KEY_LIMIT unknown, revoked or expired
keys within a minute gets 429 (with Retry-After) for every keyed request until the minute
is over: key guessing and misconfigured fleets cost a counter read, not a key lookup.
Counts live in the cache (Redis, or each process's memory while Redis is down); any cache
error lets the request through (fail open). The address is the one allauth's login limits
use (ALLAUTH_TRUSTED_PROXY_COUNT / ALLAUTH_TRUSTED_CLIENT_IP_HEADER behind a proxy).
"""

from __future__ import annotations

import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from console.publishing import store

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def address(request: HttpRequest) -> str:
    """The client address bad keys are counted for."""
    from allauth.account.adapter import get_adapter

    try:
        return get_adapter(request).get_client_ip(request)
    except Exception:  # no usable address: one shared bucket
        return "unknown"


def bucket(client_address: str) -> tuple[str, int]:
    """The cache key counting this address's bad keys this minute, and the seconds left."""
    now = int(time.time())
    window = now // WINDOW_SECONDS
    retry = WINDOW_SECONDS - now % WINDOW_SECONDS
    return f"throttle:bad-keys:{client_address}:{window}", retry


def retry_after(request: HttpRequest) -> int | None:
    """Seconds until this request's address may present keys again, or None if it may."""
    limit = settings.GATEHOUSE_BAD_KEY_LIMIT
    if limit <= 0:
        return None
    key, retry = bucket(address(request))
    try:
        count = cache.get(key) or 0
    except Exception:
        logger.warning("throttle.unavailable: letting the request through")
        return None
    return retry if count >= limit else None


def record_bad_key(request: HttpRequest) -> None:
    """Count a bad key presented by this request's address."""
    if settings.GATEHOUSE_BAD_KEY_LIMIT <= 0:
        return
    key, _ = bucket(address(request))
    try:
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        count = cache.incr(key)
    except Exception:
        logger.warning("throttle.unavailable: bad key not counted")
        return
    if count == settings.GATEHOUSE_BAD_KEY_LIMIT:
        # The address is refused from now on: console/sdk_poll.py forgets what it
        # remembered of its polls.
        try:
            store.announce_auth_change()
        except redis.RedisError:
            logger.warning("throttle.unannounced: the SDK poll memos were not told")
