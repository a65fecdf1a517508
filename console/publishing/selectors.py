"""Publishing reads: what the SDK endpoints serve (Redis first, the database when Redis
is down or lacks the key) and the publishing page's rows."""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import redis
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from console.models import KEY_PREFIXES, ApiKey, ConfigSpec, Environment, KeyKind, Project, hash_key
from console.publishing import bodies, idlists, store
from console.specs.builder import empty_spec, spec_json, to_v2
from console.specs.evaluator import Evaluator

logger = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """The key is not in Redis and the database cannot be asked."""


@dataclass(frozen=True)
class SdkKey:
    """An authenticated server or client key, as the SDK endpoints need it."""

    key_hash: str
    kind: str
    environment_id: int
    project_id: int


# last_used_at is a hint written at most once a minute per key and process, best effort.
_LAST_USED: dict[str, float] = {}
LAST_USED_SECONDS = 60


def key_last_use_due(key_hash: str) -> bool:
    """Whether this process stamps the key's last_used_at at its next use."""
    return timezone.now().timestamp() - _LAST_USED.get(key_hash, 0) >= LAST_USED_SECONDS


def _touch(key_hash: str) -> None:
    if not key_last_use_due(key_hash):
        return
    now = timezone.now()
    _LAST_USED[key_hash] = now.timestamp()
    try:
        ApiKey.objects.filter(key_hash=key_hash).update(last_used_at=now)
    except DatabaseError as exc:
        logger.info("sdk_key.last_used_skipped error=%s", exc)


def sdk_key(secret: str, kinds: tuple[str, ...]) -> SdkKey | None:
    """The usable key of one of `kinds` matching `secret`, or None: from its Redis record
    (written by the worker and the key services), which keeps the database off the hot
    path and SDK serving alive through a database outage; from the database when Redis
    holds no record. Raises DatabaseUnavailable when neither can tell."""
    from console.services import key_authenticate

    if not secret or not any(secret.startswith(KEY_PREFIXES[KeyKind(k)]) for k in kinds):
        return None
    key_hash = hash_key(secret)
    try:
        record = store.read_key_record(key_hash)
    except redis.RedisError as exc:
        logger.warning("sdk_key.redis_unavailable error=%s", exc)
        record = None
    if record is not None:
        expires = record.get("expires")
        if (
            record.get("revoked")
            or record["kind"] not in kinds
            or (expires and expires <= timezone.now().timestamp() * 1000)
        ):
            return None
        _touch(key_hash)
        return SdkKey(key_hash, record["kind"], record["environment"], record["project"])
    try:
        key = key_authenticate(secret, kinds=kinds)
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    if key is None or key.environment_id is None:  # SDK keys always name an environment
        return None
    return SdkKey(key.key_hash, key.kind, key.environment_id, key.project_id)


def _latest_db(environment_id: int, version: str) -> tuple[int, bytes] | None:
    chunks_field = "v1_chunks" if version == "v1" else "v2_chunks"
    row = (
        ConfigSpec.objects.filter(environment_id=environment_id)
        .order_by("-time_ms")
        .values_list("time_ms", chunks_field)
        .first()
    )
    return (row[0], bodies.text(row[1]).encode()) if row else None


def _before_first_publish(environment_id: int, version: str) -> tuple[int, bytes] | None:
    """An environment nothing was published for yet serves the empty spec, timed at the
    environment's creation (every publish is later); None if the environment is gone."""
    environment = Environment.objects.select_related("project").filter(pk=environment_id).first()
    if environment is None:
        return None
    time_ms = max(1, int(environment.created_at.timestamp() * 1000))
    spec = empty_spec(environment, time_ms=time_ms)
    return time_ms, spec_json(spec if version == "v1" else to_v2(spec)).encode()


def dcs_for_key(version: str, key_hash: str, environment_id: int) -> tuple[int, bytes] | None:
    """(time, JSON body) of the spec this server key's SDK should get: the empty spec
    before the first publish."""
    try:
        found = store.read_dcs(version, key_hash, environment_id)
    except redis.RedisError as exc:
        logger.warning("spec.redis_unavailable env=%s error=%s", environment_id, exc)
        found = None
    return (
        found
        or _latest_db(environment_id, version)
        or _before_first_publish(environment_id, version)
    )


def current_time(environment_id: int) -> int | None:
    """The `time` of the environment's newest spec (Redis pointer, else the database):
    enough to answer a client that is current without reading a body."""
    try:
        found = store.read_current_time(environment_id)
    except redis.RedisError as exc:
        logger.warning("spec.redis_unavailable env=%s error=%s", environment_id, exc)
        found = None
    if found is not None:
        return found
    return (
        ConfigSpec.objects.filter(environment_id=environment_id)
        .order_by("-time_ms")
        .values_list("time_ms", flat=True)
        .first()
    )


# Compiled evaluators for /v1/initialize, per (environment, time): compiling a spec is far
# slower than evaluating it, and a (environment, time) pair never changes content.
_EVALUATORS: OrderedDict[tuple[int, int], tuple[dict, Evaluator]] = OrderedDict()
_EVALUATORS_MAX = 16
_lock = threading.Lock()


@dataclass(frozen=True)
class IdListEntry:
    name: str
    file_id: str
    size: int
    creation_time: int
    time_ms: int | None  # the spec whose Redis copy holds it; None: built from the database


def id_list_manifest(environment_id: int) -> list[IdListEntry]:
    """The environment's ID-list files: the manifest the worker stored in Redis with the
    newest spec, else the providers' files from the database."""
    try:
        time_ms = store.read_current_time(environment_id)
        manifest = store.read_id_list_manifest(environment_id, time_ms) if time_ms else None
    except redis.RedisError as exc:
        logger.warning("idlists.redis_unavailable env=%s error=%s", environment_id, exc)
        manifest = None
    if manifest is not None:
        return [
            IdListEntry(m["name"], m["file_id"], m["size"], m["creation_time"], time_ms)
            for m in manifest
        ]
    environment = Environment.objects.select_related("project").get(pk=environment_id)
    if environment.project.archived_at:
        return []
    return [
        IdListEntry(f.name, f.file_id, f.size, f.creation_time, None)
        for f in idlists.id_list_files(environment.project, environment)
    ]


def id_list_file(environment_id: int, file_id: str, size: int | None) -> bytes | None:
    """The file's bytes: Redis (by id and size), else built from the database."""
    if size is not None:
        try:
            body = store.read_id_list_file(environment_id, file_id, size)
        except redis.RedisError as exc:
            logger.warning("idlists.redis_unavailable env=%s error=%s", environment_id, exc)
            body = None
        if body is not None:
            return body
    environment = Environment.objects.select_related("project").filter(pk=environment_id).first()
    if environment is None or environment.project.archived_at:
        return None
    return idlists.id_list_body(environment.project, file_id)


def _id_list_sets(environment_id: int) -> dict[str, set[str]]:
    """{list name: its current 8-character hashes}, for server-side evaluation."""
    out: dict[str, set[str]] = {}
    for entry in id_list_manifest(environment_id):
        entries: set[str] = set()
        body = id_list_file(environment_id, entry.file_id, entry.size) or b""
        for line in body.decode().splitlines():
            if line.startswith("+"):
                entries.add(line[1:])
            elif line.startswith("-"):
                entries.discard(line[1:])
        out[entry.name] = entries
    return out


def initialize_source(environment_id: int) -> tuple[dict[str, Any], Evaluator] | None:
    """(v1 spec, evaluator with the environment's ID lists) for client initialize: from
    Redis alone when it holds them, else from the database."""
    try:
        found = store.read_versioned(environment_id, "v1")
    except redis.RedisError:
        found = None
    found = found or _latest_db(environment_id, "v1") or _before_first_publish(environment_id, "v1")
    if found is None:
        return None
    time_ms, body = found
    key = (environment_id, time_ms)
    with _lock:
        if key in _EVALUATORS:
            _EVALUATORS.move_to_end(key)
            return _EVALUATORS[key]
    spec = json.loads(body)
    lists = _id_list_sets(environment_id) if spec.get("id_lists") else {}
    value = (spec, Evaluator(spec, lists))
    with _lock:
        _EVALUATORS[key] = value
        while len(_EVALUATORS) > _EVALUATORS_MAX:
            _EVALUATORS.popitem(last=False)
    return value


@dataclass(frozen=True)
class EnvironmentStatus:
    environment: Environment
    spec: ConfigSpec | None  # the newest (bodies deferred)
    pushed: ConfigSpec | None  # the newest pushed


def publish_status(project: Project) -> list[EnvironmentStatus]:
    """Per environment: its newest spec (any state) and newest pushed spec. Three queries."""
    environments = list(Environment.objects.filter(project=project).order_by("position", "pk"))
    ids = [e.pk for e in environments]
    base = (
        ConfigSpec.objects.filter(environment_id__in=ids)
        .select_related("ruleset_version__created_by")
        .defer("v1_chunks", "v2_chunks")
        .order_by("environment_id", "-time_ms")
        .distinct("environment_id")
    )
    newest = {s.environment_id: s for s in base}
    pushed = {s.environment_id: s for s in base.filter(state="pushed")}
    return [EnvironmentStatus(e, newest.get(e.pk), pushed.get(e.pk)) for e in environments]
