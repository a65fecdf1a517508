"""The SDK poll, answered ahead of Django (docs/statsig-spec.md §8).

Every SDK instance asks `GET /v1|v2/download_config_specs/<server key>.json?sinceTime=<t>`
(or names its key in STATSIG-API-KEY) every 10 s, and nearly every answer is
`{"has_updates":false}`. `PollShortcut` wraps the Django application (console/wsgi.py) and
answers exactly that case from one Redis round trip (store.read_poll: the key's record, its
environment's pointer time and this address's bad-key count), with the status, body and
headers the Django path gives it (console.sdk_views.download_config_specs under the
middleware of settings.MIDDLEWARE). Anything else goes to Django unchanged, which then
decides as it always did: another method, path or query; a cookie (the session and SSO
middleware would look at it); a host Django refuses or a plain-HTTP request it would
redirect; a key that is not a server key's shape, has no record in Redis, or whose record
is revoked, expired or of the other kind; an address at its bad-key limit; a stale
`sinceTime`; a key whose `last_used_at` hint is due (selectors.key_last_use_due); Redis
down or the cache in its memory fallback. The shortcut writes nothing and logs nothing: a
current poll answered by Django wrote and logged nothing either, and gunicorn's access log
redacts keys for both (console/gunicorn_conf.py).
"""

from __future__ import annotations

import logging
import re
import uuid

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.utils import timezone

from console import cache as failover_cache
from console import throttle
from console.middleware import PERMISSIONS_POLICY, VALID_REQUEST_ID, content_security_policy
from console.models import KEY_PREFIXES, KeyKind, hash_key
from console.publishing import selectors, store
from console.sdk_views import NO_UPDATES
from console.sso import conf as sso_conf

logger = logging.getLogger(__name__)

_PATH = re.compile(r"^/v[12]/download_config_specs(?:/(secret-[A-Za-z0-9_-]+)\.json)?$")
# Plain ASCII names and values, nothing percent-encoded: such a query cannot carry what
# HostileUrlMiddleware refuses, and it means the same to us as to Django's QueryDict.
_QUERY = re.compile(r"^[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]*(?:&[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]*)*$")
_SERVER_PREFIX = KEY_PREFIXES[KeyKind.SERVER]


class PollShortcut:
    """WSGI middleware: a current poll answered here, every other request by `app`."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and "sinceTime=" in environ.get(
            "QUERY_STRING", ""
        ):
            headers = self.answer(environ)
            if headers is not None:
                start_response("200 OK", headers)
                return [NO_UPDATES]
        return self.app(environ, start_response)

    def answer(self, environ) -> list[tuple[str, str]] | None:
        """The headers of a `{"has_updates":false}` answer, or None: Django decides."""
        path = _PATH.match(environ.get("PATH_INFO", ""))
        query = environ.get("QUERY_STRING", "")
        if path is None or environ.get("HTTP_COOKIE") or not _QUERY.match(query):
            return None
        params = dict(pair.split("=", 1) for pair in query.split("&"))  # the last one wins
        secret = path.group(1) or environ.get("HTTP_STATSIG_API_KEY", "")
        since = params.get("sinceTime", "")
        if not secret.startswith(_SERVER_PREFIX) or not since.isdigit():
            return None
        request = WSGIRequest(environ)
        try:
            request.get_host()  # CommonMiddleware's ALLOWED_HOSTS check
        except DisallowedHost:
            return None
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return None  # SecurityMiddleware redirects it
        key_hash = hash_key(secret)
        if selectors.key_last_use_due(key_hash):
            return None
        found = self.lookup(request, key_hash)
        if found is None:
            return None
        record, current, bad_keys = found
        expires = record.get("expires")
        if (
            record.get("revoked")
            or record.get("kind") != KeyKind.SERVER
            or (expires and expires <= timezone.now().timestamp() * 1000)
            or current is None
            or int(since) < current
            or bad_keys >= settings.GATEHOUSE_BAD_KEY_LIMIT > 0
        ):
            return None
        return _headers(request, environ)

    def lookup(self, request: WSGIRequest, key_hash: str) -> tuple[dict, int | None, int] | None:
        """(key record, pointer time, bad keys from this address) in one round trip when
        the cache is the spec Redis (else the count from the cache, as throttle reads it);
        None when Redis cannot tell."""
        throttle_key = None
        if settings.GATEHOUSE_BAD_KEY_LIMIT > 0:
            location = settings.CACHES["default"]["LOCATION"]
            if failover_cache.redis_down(location):
                return None
            if location == settings.GATEHOUSE_SPEC_REDIS_URL:
                throttle_key = cache.make_key(throttle.bucket(request)[0])
            elif throttle.retry_after(request) is not None:
                return None
        try:
            found = store.read_poll(key_hash, throttle_key)
        except redis.RedisError as exc:
            logger.info("sdk_poll.redis_unavailable error=%s", exc)
            return None
        return found


def _headers(request: WSGIRequest, environ) -> list[tuple[str, str]]:
    """What the Django path's response carries for this answer (the view's, then the
    middleware's from the innermost out), checked header for header by
    tests/publishing/test_poll_shortcut.py."""
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    # With SSO on, its middleware looks at the session, and SessionMiddleware adds Cookie.
    vary = "Accept-Encoding, Cookie" if sso_conf.sso_enabled() else "Accept-Encoding"
    headers = [
        ("Content-Type", "application/json"),
        ("Vary", vary),
        ("Cache-Control", "no-store"),
        ("Content-Length", str(len(NO_UPDATES))),
        ("X-Frame-Options", settings.X_FRAME_OPTIONS.upper()),
        ("Content-Security-Policy", content_security_policy()),
        ("Permissions-Policy", PERMISSIONS_POLICY),
        ("X-Request-ID", request_id),
    ]
    if settings.SECURE_HSTS_SECONDS and request.is_secure():
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        if not isinstance(policy, str):
            policy = ",".join(policy)
        headers.append(("Referrer-Policy", policy))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return headers
