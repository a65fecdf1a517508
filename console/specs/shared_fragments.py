"""The shared tier of the fragment cache: fragment units in Redis, by content key, so a
process that has not built a project yet (a new web worker, a restarted Celery worker)
reuses what another built instead of building every entity again.

    get_many(keys) -> {key: bytes}   (the keys found; nothing when Redis is unreachable)
    put_many([(key, bytes)])         (kept for GATEHOUSE_SPEC_FRAGMENT_TTL seconds)
    clear()                          (this code's units; for benchmarks of cold builds)

Keys are content addresses (console.specs.incremental), so sharing them between processes
is as sound as sharing them between the builds of one process, as long as every process
builds a key's unit the same way. Processes running other code may not: the Redis keys
carry a digest of the source of the modules that build fragments (this package, the
targeting conditions and every registered fragment contributor's module), so a deploy
starts a fresh namespace and the old one expires.

Redis being down or slow never fails a build: reads answer nothing and writes are
dropped (logged once per process until Redis answers again), and after a failure the tier
is left alone for RETRY_AFTER_S. GATEHOUSE_SPEC_FRAGMENT_REDIS_URL empty turns it off.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import redis
from django.conf import settings

from console.specs.registry import contributors, fragment_form

logger = logging.getLogger(__name__)

# Keys per MGET and per pipelined batch of SETs: a 10,000-gate project is about 11,000
# units of a few kilobytes each.
BATCH = 1_000
_TIMEOUTS = {"socket_connect_timeout": 0.5, "socket_timeout": 2.0}

# After a failure the tier is left alone this long: a Redis that does not answer would
# otherwise cost every build its timeouts.
RETRY_AFTER_S = 10.0

_clients: dict[str, redis.Redis] = {}
_down: dict[str, float] = {}  # URL -> when its last call failed (logged once until one succeeds)


@functools.cache
def _namespace() -> str:
    """`gh:frag:<digest of the fragment-building source>:` (computed once per process)."""
    here = Path(__file__).resolve().parent
    files = {*here.glob("*.py"), *(here.parent / "targeting").glob("*.py")}
    for contribute in contributors():
        form = fragment_form(contribute)
        source = getattr(sys.modules.get(form.__module__), "__file__", None) if form else None
        if source:
            files.add(Path(source).resolve())
    digest = hashlib.sha256()
    for path in sorted(files):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"gh:frag:{digest.hexdigest()[:16]}:"


def _client() -> tuple[str, redis.Redis] | None:
    url = settings.GATEHOUSE_SPEC_FRAGMENT_REDIS_URL
    if not url or time.monotonic() - _down.get(url, -RETRY_AFTER_S) < RETRY_AFTER_S:
        return None
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, **_TIMEOUTS)
    return url, _clients[url]


def _failed(url: str, action: str, exc: redis.RedisError) -> None:
    if url not in _down:
        logger.warning("spec.fragments.shared_unavailable action=%s error=%s", action, exc)
    _down[url] = time.monotonic()


def get_many(keys: list[str]) -> dict[str, bytes]:
    """The stored units of `keys` that Redis has."""
    tier = _client()
    if tier is None or not keys:
        return {}
    url, client = tier
    namespace = _namespace()
    found: dict[str, bytes] = {}
    try:
        for start in range(0, len(keys), BATCH):
            chunk = keys[start : start + BATCH]
            values = client.mget([namespace + key for key in chunk])
            found.update((k, v) for k, v in zip(chunk, values, strict=True) if isinstance(v, bytes))
    except redis.RedisError as exc:
        _failed(url, "read", exc)
        return found
    _down.pop(url, None)
    return found


def put_many(units: Iterable[tuple[str, bytes]]) -> None:
    """Store `units` (key, encoded unit) for GATEHOUSE_SPEC_FRAGMENT_TTL seconds."""
    tier = _client()
    if tier is None:
        return
    url, client = tier
    namespace, ttl = _namespace(), settings.GATEHOUSE_SPEC_FRAGMENT_TTL
    try:
        pipe = client.pipeline(transaction=False)
        for n, (key, value) in enumerate(units, 1):
            pipe.set(namespace + key, value, ex=ttl)
            if n % BATCH == 0:
                pipe.execute()
        pipe.execute()
    except redis.RedisError as exc:
        _failed(url, "write", exc)


def clear() -> None:
    """Drop every unit this code stored (its namespace)."""
    tier = _client()
    if tier is not None:
        _, client = tier
        for keys in _batched(client.scan_iter(match=_namespace() + "*", count=BATCH)):
            client.unlink(*keys)


def _batched(items: Iterable[bytes]) -> Iterable[list[bytes]]:
    batch: list[bytes] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
