"""The SDK poll, answered ahead of Django (docs/statsig-spec.md §10).

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
down or the cache in its memory fallback. The shortcut writes nothing, and logs only a
Redis error (never a key): a current poll answered by Django wrote and logged nothing
either, and gunicorn's access log redacts keys for both (console/gunicorn_conf.py).

The round trip is most of a poll's cost, so each process remembers what it read (`_Memo`)
for as long as it hears every change to it: it subscribes to the spec pushes
(store.CHANNEL: a pointer moved) and to store.AUTH_CHANNEL (key records written, an address
at its bad-key limit), forgets everything at any message, and remembers nothing while it is
not subscribed or has not heard from Redis for a while. What it remembers is checked as
what Redis answered would be (revoked, kind, expiry against the clock, `sinceTime`, the
address's count), keyed by the key and the address's counter of this minute.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.dispatch import receiver

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
_MEMO_MAX = 10_000


@dataclass
class _Settings:
    """What the shortcut needs from the settings, read once (again after a test changes
    them): the answer's fixed headers, and memos of what Django decides per Host header
    (ALLOWED_HOSTS) and per client address headers (console.throttle.address)."""

    inner_headers: list[tuple[str, str]]
    outer_headers: list[tuple[str, str]]
    hsts: str | None
    ssl_redirect: bool
    proxy_ssl_header: tuple[str, str] | None
    bad_key_limit: int
    cache_location: str | None
    spec_url: str
    counter_in_spec_redis: bool
    address_header: str | None
    host_memo: bool
    hosts: dict[str, bool] = field(default_factory=dict)
    addresses: dict[tuple, str] = field(default_factory=dict)


_current: list[_Settings] = []


def _settings() -> _Settings:
    if not _current:
        _current.append(_read_settings())
    return _current[0]


@receiver(setting_changed)
def _forget_settings(**kwargs) -> None:
    _current.clear()
    memo.stop()


def _read_settings() -> _Settings:
    from allauth import app_settings as allauth_settings

    location = settings.CACHES["default"].get("LOCATION")
    trusted = allauth_settings.TRUSTED_CLIENT_IP_HEADER
    hsts = None
    if settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
    inner, outer = _fixed_headers()
    return _Settings(
        inner_headers=inner,
        outer_headers=outer,
        hsts=hsts,
        ssl_redirect=settings.SECURE_SSL_REDIRECT,
        proxy_ssl_header=settings.SECURE_PROXY_SSL_HEADER,
        bad_key_limit=settings.GATEHOUSE_BAD_KEY_LIMIT,
        cache_location=location,
        spec_url=settings.GATEHOUSE_SPEC_REDIS_URL,
        counter_in_spec_redis=location == settings.GATEHOUSE_SPEC_REDIS_URL,
        address_header="HTTP_" + trusted.upper().replace("-", "_") if trusted else None,
        host_memo=not settings.USE_X_FORWARDED_HOST,
    )


def _fixed_headers() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The Django path's headers for this answer but the request id and HSTS, in its order:
    the view's, then the middleware's from the innermost out, to RequestIdMiddleware's
    (inner), and SecurityMiddleware's after it (outer). tests/publishing/test_poll_shortcut.py
    compares them header for header."""
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
    ]
    security = []  # after the request id and HSTS
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        security.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        if not isinstance(policy, str):
            policy = ",".join(policy)
        security.append(("Referrer-Policy", policy))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        security.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    return headers, security


def _remember(memo: dict, key, value):
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[key] = value
    return value


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
        config = _settings()
        secure = _is_secure(environ, config)
        if not _host_allowed(environ, config) or (config.ssl_redirect and not secure):
            return None  # CommonMiddleware refuses the host; SecurityMiddleware redirects
        key_hash = hash_key(secret)
        if selectors.key_last_use_due(key_hash):
            return None
        found = self.lookup(environ, config, key_hash)
        if found is None:
            return None
        record, current, bad_keys = found
        expires = record.get("expires")
        if (
            record.get("revoked")
            or record.get("kind") != KeyKind.SERVER
            or (expires and expires <= time.time() * 1000)
            or current is None
            or int(since) < current
            or bad_keys >= config.bad_key_limit > 0
        ):
            return None
        return _headers(environ, config, secure)

    def lookup(
        self, environ, config: _Settings, key_hash: str
    ) -> tuple[dict, int | None, int] | None:
        """(key record, pointer time, bad keys from this address) in one round trip when
        the cache is the spec Redis (else the count from the cache, as throttle reads it);
        None when Redis cannot tell."""
        counter_key = None
        if config.bad_key_limit > 0:
            if failover_cache.redis_down(config.cache_location):
                return None
            if config.counter_in_spec_redis:
                counter_key = cache.make_key(throttle.bucket(_address(environ, config))[0])
            elif throttle.retry_after(WSGIRequest(environ)) is not None:
                return None
        remembered = (key_hash, counter_key)
        found = memo.get(remembered)
        if found is not None:
            return found
        generation = memo.generation(config.spec_url)
        try:
            found = store.read_poll(key_hash, counter_key)
        except redis.RedisError as exc:
            logger.info("sdk_poll.redis_unavailable error=%s", exc)
            return None
        if found is not None:
            memo.put(remembered, found, generation)
        return found


def _is_secure(environ, config: _Settings) -> bool:
    """HttpRequest.is_secure()."""
    if config.proxy_ssl_header:
        header, secure_value = config.proxy_ssl_header
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


def _host_allowed(environ, config: _Settings) -> bool:
    """Whether HttpRequest.get_host() accepts the request's host (remembered per Host
    header when only that header decides)."""
    raw = environ.get("HTTP_HOST") if config.host_memo else None
    if raw is not None and raw in config.hosts:
        return config.hosts[raw]
    try:
        WSGIRequest(environ).get_host()
        allowed = True
    except DisallowedHost:
        allowed = False
    return _remember(config.hosts, raw, allowed) if raw is not None else allowed


def _address(environ, config: _Settings) -> str:
    """console.throttle.address(request), remembered per the values it reads."""
    key = (
        environ.get("REMOTE_ADDR"),
        environ.get("HTTP_X_FORWARDED_FOR"),
        environ.get(config.address_header) if config.address_header else None,
    )
    found = config.addresses.get(key)
    if found is None:
        found = _remember(config.addresses, key, throttle.address(WSGIRequest(environ)))
    return found


def _headers(environ, config: _Settings, secure: bool) -> list[tuple[str, str]]:
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    request_id = incoming if VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    middle = [("X-Request-ID", request_id)]
    if secure and config.hsts:
        middle.append(("Strict-Transport-Security", config.hsts))
    return config.inner_headers + middle + config.outer_headers


class _Memo:
    """What store.read_poll answered, by (key hash, bad-key counter), while this process
    hears every change that could alter it (the module's docstring). One listener thread
    per process (started at the first poll, again after a fork), one pub/sub connection."""

    # Heard nothing (not even the answer to its own PING) for this long: the connection is
    # taken for lost, what is remembered forgotten, and the listener connects again.
    SILENCE_S = 3.0
    PING_S = 1.0
    # At most this long anyway: a bound, should a change ever go unheard.
    KEEP_S = 60.0

    def __init__(self) -> None:
        self._entries: dict[tuple, tuple[float, tuple]] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._live = False
        self._heard = 0.0
        self._listener: tuple[int, str, threading.Event] | None = None
        self._off_told = False
        # A fork has no listener thread: it remembers nothing of its parent's.
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._entries = {}
        self._live = False
        self._listener = None

    def get(self, key: tuple) -> tuple | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic() or not self.listening:
            return None
        return entry[1]

    def generation(self, url: str) -> int | None:
        """The generation a read must still be in to be remembered; None while nothing is
        remembered (not listening to `url`). Starts the listener when needed."""
        listener = self._listener
        if listener is None or listener[0] != os.getpid() or listener[1] != url:
            self._listen(url)
        return self._generation if self._live else None

    @property
    def listening(self) -> bool:
        """Whether this process remembers polls now (subscribed, and hearing Redis)."""
        return self._live and time.monotonic() - self._heard <= self.SILENCE_S

    def put(self, key: tuple, found: tuple, generation: int | None) -> None:
        with self._lock:
            if not self._live or generation != self._generation:
                return  # a change was heard since the read (or nothing is heard)
            if len(self._entries) >= _MEMO_MAX:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.KEEP_S, found)

    def forget(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def stop(self) -> None:
        """Stop listening and forget (settings changed); the next poll listens again."""
        with self._lock:
            if self._listener is not None:
                self._listener[2].set()
            self._listener = None
            self._live = False
            self._generation += 1
            self._entries.clear()

    def _listen(self, url: str) -> None:
        with self._lock:
            listener = self._listener
            if listener is not None and listener[0] == os.getpid() and listener[1] == url:
                return
            if listener is not None:
                listener[2].set()
            stop = threading.Event()
            self._listener = (os.getpid(), url, stop)
            self._live = False
            self._generation += 1
            self._entries.clear()
        thread = threading.Thread(
            target=self._run, args=(url, stop), name="sdk-poll-memo", daemon=True
        )
        thread.start()

    def _run(self, url: str, stop: threading.Event) -> None:
        while not stop.is_set():
            pubsub = None
            try:
                client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
                pubsub = client.pubsub()
                pubsub.subscribe(
                    store.channel(store.CHANNEL, client), store.channel(store.AUTH_CHANNEL, client)
                )
                self._hear(pubsub, stop)
            except (redis.RedisError, OSError) as exc:
                if not self._off_told:  # once per outage, not at every retry
                    self._off_told = True
                    logger.info("sdk_poll.memo_off error=%s", exc)
            finally:
                with self._lock:
                    if self._listener is not None and self._listener[2] is stop:
                        self._live = False
                    self._generation += 1
                    self._entries.clear()
                if pubsub is not None:
                    with contextlib.suppress(redis.RedisError, OSError):
                        pubsub.close()
            stop.wait(1.0)

    def _hear(self, pubsub, stop: threading.Event) -> None:
        subscribed = 0
        pinged = heard = time.monotonic()
        pubsub.ping()
        while not stop.is_set():
            now = time.monotonic()
            if now - heard > self.SILENCE_S:
                raise redis.ConnectionError("no answer from Redis")
            if now - pinged >= self.PING_S:
                pubsub.ping()
                pinged = now
            message = pubsub.get_message(timeout=self.PING_S / 2)
            if message is None:
                continue
            heard = self._heard = time.monotonic()
            kind = message["type"]
            if kind == "subscribe":
                subscribed += 1
                if subscribed == 2:
                    with self._lock:
                        if self._listener is not None and self._listener[2] is stop:
                            self._generation += 1
                            self._entries.clear()
                            self._live = True
                            self._off_told = False
            elif kind == "message":
                self.forget()


memo = _Memo()
