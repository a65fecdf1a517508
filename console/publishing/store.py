"""The Redis side of publishing: key names, the guarded write, and reads.

Keys (docs/statsig-spec.md §9), for each usable server key of an environment:
* ``statsig|/v1/download_config_specs|plain_text|<b64>``: v1 JSON (statsig-node, and the
  legacy Python SDK through the adapter in the README);
* ``statsig|/v2/download_config_specs|plain_text|<b64>``: dcs-v2 JSON (statsig-python-core);
where ``<b64>`` is base64(sha256(raw key)). We never store raw keys, only their sha256 hex
(``ApiKey.key_hash``); hex → bytes → base64 gives the same string (``sdk_key_b64``).

Ours, per environment:
* ``gatehouse:spec:<env id>:<time>``: a hash {v1, v2, checksum} (versioned copy, kept
  VERSIONED_TTL seconds); ``gatehouse:spec:<env id>:current``: the time of the newest spec
  written (the pointer), read by the endpoints for ``sinceTime`` and by /v1/initialize;
* a JSON notice on the pub/sub channel ``gatehouse:specs:<db>`` after each write.

And ``gatehouse:sdk-auth:<db>``, a pub/sub channel told of every change to what
authenticates an SDK poll besides the pointer: SDK key records written (write_key_records)
and an address reaching its bad-key limit (announce_auth_change). console/sdk_poll.py's
memo listens to both channels. ``<db>`` is the Redis database number (`channel`).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterable

import redis
from django.conf import settings

CHANNEL = "gatehouse:specs"
AUTH_CHANNEL = "gatehouse:sdk-auth"
VERSIONED_TTL = 30 * 24 * 3600
DCS_V1 = "statsig|/v1/download_config_specs|plain_text|"
DCS_V2 = "statsig|/v2/download_config_specs|plain_text|"


def sdk_key_b64(key_hash_hex: str) -> str:
    """base64(sha256(raw key)) from the stored sha256 hex of the key (ApiKey.key_hash)."""
    return base64.b64encode(bytes.fromhex(key_hash_hex)).decode()


def dcs_key(version: str, key_hash_hex: str) -> str:
    """The data-store key an SDK reads for `version` ("v1" or "v2") and a server key."""
    return (DCS_V1 if version == "v1" else DCS_V2) + sdk_key_b64(key_hash_hex)


POINTER_PREFIX, POINTER_SUFFIX = "gatehouse:spec:", ":current"


def pointer_key(environment_id: int) -> str:
    return f"{POINTER_PREFIX}{environment_id}{POINTER_SUFFIX}"


def versioned_key(environment_id: int, time_ms: int) -> str:
    return f"gatehouse:spec:{environment_id}:{time_ms}"


@functools.cache
def _client(url: str) -> redis.Redis:
    # Short timeouts: a Redis outage must fail a push (to be retried) or fall an endpoint
    # back to the database quickly, never hang a worker or a request.
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )


def client() -> redis.Redis:
    return _client(settings.GATEHOUSE_SPEC_REDIS_URL)


def channel(name: str, conn: redis.Redis) -> str:
    """The pub/sub channel `name` of `conn`'s database: pub/sub is one namespace per Redis
    server, so consoles (and test workers) on other databases of the server are not told."""
    return f"{name}:{conn.connection_pool.connection_kwargs.get('db', 0)}"


# KEYS: pointer, versioned copy, then pairs (v1 key, v2 key) for live keys, then keys to
# delete (revoked server keys). ARGV: time, v1, v2, checksum, number of live pairs, ttl,
# channel, notice. Returns 1 when written, 0 when a newer time is already there: an older
# spec never overwrites a newer one, and an equal time rewrites the same bytes (idempotent,
# and heals keys lost after a Redis restart).
_PUSH = """
local current = redis.call('GET', KEYS[1])
local t = tonumber(ARGV[1])
if current and tonumber(current) > t then
  return 0
end
redis.call('HSET', KEYS[2], 'v1', ARGV[2], 'v2', ARGV[3], 'checksum', ARGV[4])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
local pairs_n = tonumber(ARGV[5])
for i = 0, pairs_n - 1 do
  redis.call('SET', KEYS[3 + 2 * i], ARGV[2])
  redis.call('SET', KEYS[4 + 2 * i], ARGV[3])
end
for i = 3 + 2 * pairs_n, #KEYS do
  redis.call('DEL', KEYS[i])
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[7], ARGV[8])
return 1
"""


def push_spec(
    *,
    environment_id: int,
    time_ms: int,
    v1_json: str,
    v2_json: str,
    checksum: str,
    live_key_hashes: Iterable[str],
    dead_key_hashes: Iterable[str] = (),
    conn: redis.Redis | None = None,
) -> bool:
    """Write one spec atomically (see _PUSH). True if written, False if a newer spec is
    already there. Raises redis.RedisError when Redis is unreachable."""
    conn = conn or client()
    live = [dcs_key(v, h) for h in sorted(set(live_key_hashes)) for v in ("v1", "v2")]
    dead = [dcs_key(v, h) for h in sorted(set(dead_key_hashes)) for v in ("v1", "v2")]
    notice = json.dumps({"environment": environment_id, "time": time_ms, "checksum": checksum})
    keys = [pointer_key(environment_id), versioned_key(environment_id, time_ms), *live, *dead]
    args = [time_ms, v1_json, v2_json, checksum, len(live) // 2, VERSIONED_TTL]
    args += [channel(CHANNEL, conn), notice]
    return bool(conn.eval(_PUSH, len(keys), *keys, *args))


def pointer_times(environment_ids: list[int], conn: redis.Redis | None = None) -> list[int | None]:
    conn = conn or client()
    raw = conn.mget([pointer_key(e) for e in environment_ids]) if environment_ids else []
    return [int(v) if v is not None else None for v in raw]


def missing_keys(keys: list[str], conn: redis.Redis | None = None) -> list[str]:
    """Those of `keys` that Redis does not hold."""
    conn = conn or client()
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.exists(key)
    return [key for key, found in zip(keys, pipe.execute(), strict=True) if not found]


# ---------------------------------------------------------------- reads (web processes)


def read_dcs(version: str, key_hash_hex: str, environment_id: int) -> tuple[int, bytes] | None:
    """(time, body) of the spec Redis holds for this server key, or None if it holds none.
    Raises redis.RedisError when Redis is unreachable."""
    pipe = client().pipeline(transaction=False)
    pipe.get(pointer_key(environment_id))
    pipe.get(dcs_key(version, key_hash_hex))
    time_raw, body = pipe.execute()
    if time_raw is None or body is None:
        return None
    return int(time_raw), body


def read_current_time(environment_id: int) -> int | None:
    raw = client().get(pointer_key(environment_id))
    return int(raw) if raw is not None else None


def read_versioned(environment_id: int, version: str = "v1") -> tuple[int, bytes] | None:
    """(time, body) of the environment's newest versioned copy, or None."""
    conn = client()
    raw = conn.get(pointer_key(environment_id))
    if raw is None:
        return None
    body = conn.hget(versioned_key(environment_id, int(raw)), version)
    return (int(raw), body) if body is not None else None


# ---------------------------------------------------------------- SDK keys and ID lists
# So that the SDK endpoints serve from Redis alone (the database may be down), the worker
# also writes, per environment:
# * ``gatehouse:sdkkey:<sha256 hex>``: JSON {kind, environment, project, expires (epoch ms
#   or null)} for each usable server and client key (never the key itself); for a revoked
#   key (or any key of an archived project) the tombstone {"revoked": true};
# * ``gatehouse:idlists:<env id>:<time>``: the ID-list manifest of that spec (JSON list);
# * ``gatehouse:idlist:<env id>:<file id>:<size>``: the file's bytes. A file only grows
#   while its id stays, so (id, size) names its content and each is built once.


REVOKED = json.dumps({"revoked": True})


def key_record_key(key_hash_hex: str) -> str:
    return f"gatehouse:sdkkey:{key_hash_hex}"


def id_list_manifest_key(environment_id: int, time_ms: int) -> str:
    return f"gatehouse:idlists:{environment_id}:{time_ms}"


def id_list_file_key(environment_id: int, file_id: str, size: int) -> str:
    return f"gatehouse:idlist:{environment_id}:{file_id}:{size}"


def write_key_records(
    live: list[dict], dead_hashes: Iterable[str], conn: redis.Redis | None = None
) -> None:
    """Write `live` key records ({hash, kind, environment, project, expires}), kept until a
    while after the key expires, so an expired key is refused from Redis too; replace the
    records of `dead_hashes` (revoked keys, archived projects) with a tombstone that
    refuses them even while the database is down, and delete their spec entries. Raises
    redis.RedisError."""
    conn = conn or client()
    pipe = conn.pipeline(transaction=True)
    for record in live:
        body = json.dumps({k: v for k, v in record.items() if k != "hash"})
        key = key_record_key(record["hash"])
        if record.get("expires"):
            pipe.set(key, body, pxat=record["expires"] + VERSIONED_TTL * 1000)
        else:
            pipe.set(key, body)
    for key_hash in dead_hashes:
        pipe.set(key_record_key(key_hash), REVOKED, ex=VERSIONED_TTL)
        pipe.delete(dcs_key("v1", key_hash), dcs_key("v2", key_hash))
    pipe.publish(channel(AUTH_CHANNEL, conn), "keys")
    pipe.execute()


def announce_auth_change(conn: redis.Redis | None = None) -> None:
    """Tell AUTH_CHANNEL's listeners that what authenticates SDK polls changed (an address
    reached its bad-key limit). Raises redis.RedisError."""
    conn = conn or client()
    conn.publish(channel(AUTH_CHANNEL, conn), "throttle")


def read_key_record(key_hash_hex: str) -> dict | None:
    """The key's record, or None when Redis holds none. Raises redis.RedisError."""
    raw = client().get(key_record_key(key_hash_hex))
    return json.loads(raw) if raw is not None else None


def write_id_lists(
    environment_id: int,
    time_ms: int,
    manifest: list[dict],
    body_of,
    conn: redis.Redis | None = None,
) -> None:
    """Store the manifest of spec `time_ms` and each file's bytes not stored yet
    (`body_of(file_id)` builds them). Raises redis.RedisError."""
    conn = conn or client()
    keys = [id_list_file_key(environment_id, f["file_id"], f["size"]) for f in manifest]
    for file, key in zip(manifest, keys, strict=True):
        if conn.exists(key):
            conn.expire(key, VERSIONED_TTL)
            continue
        body = body_of(file["file_id"])
        if body is not None:
            conn.set(key, body, ex=VERSIONED_TTL)
    conn.set(id_list_manifest_key(environment_id, time_ms), json.dumps(manifest), ex=VERSIONED_TTL)


# KEYS: the key's record, then (optional) the address's bad-key counter in the cache.
# ARGV: the pointer key's parts around the environment id. Returns {record, pointer,
# counter}, "" for each one Redis does not hold; the pointer is read only for a record
# naming an environment (a key computed here: this Redis is one server, never a cluster).
_POLL = """
local record = redis.call('GET', KEYS[1])
local counter = ''
if KEYS[2] then
  counter = redis.call('GET', KEYS[2]) or ''
end
if not record then
  return {'', '', counter}
end
local ok, decoded = pcall(cjson.decode, record)
if not ok or type(decoded) ~= 'table' or type(decoded['environment']) ~= 'number' then
  return {record, '', counter}
end
local pointer = ARGV[1] .. string.format('%d', decoded['environment']) .. ARGV[2]
return {record, redis.call('GET', pointer) or '', counter}
"""


@functools.cache
def _poll_script(url: str):
    return _client(url).register_script(_POLL)


def read_poll(key_hash_hex: str, counter_key: str | None) -> tuple[dict, int | None, int] | None:
    """What an SDK poll needs, in one round trip: (the key's record, its environment's
    pointer time or None, the integer at `counter_key` or 0), or None when Redis holds no
    record for the key. Raises redis.RedisError."""
    keys = [key_record_key(key_hash_hex)] + ([counter_key] if counter_key else [])
    record, pointer, counter = _poll_script(settings.GATEHOUSE_SPEC_REDIS_URL)(
        keys=keys, args=[POINTER_PREFIX, POINTER_SUFFIX]
    )
    if not record:
        return None
    return json.loads(record), int(pointer) if pointer else None, int(counter) if counter else 0


def read_id_list_manifest(environment_id: int, time_ms: int) -> list[dict] | None:
    raw = client().get(id_list_manifest_key(environment_id, time_ms))
    return json.loads(raw) if raw is not None else None


def read_id_list_file(environment_id: int, file_id: str, size: int) -> bytes | None:
    return client().get(id_list_file_key(environment_id, file_id, size))
