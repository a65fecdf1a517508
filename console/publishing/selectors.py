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

from console.models import ConfigSpec, Environment, Project
from console.publishing import idlists, store
from console.specs.evaluator import Evaluator

logger = logging.getLogger(__name__)


def _latest_db(environment_id: int, version: str) -> tuple[int, bytes] | None:
    body_field = "v1_json" if version == "v1" else "v2_json"
    row = (
        ConfigSpec.objects.filter(environment_id=environment_id)
        .order_by("-time_ms")
        .values_list("time_ms", body_field)
        .first()
    )
    return (row[0], row[1].encode()) if row else None


def dcs_for_key(version: str, key_hash: str, environment_id: int) -> tuple[int, bytes] | None:
    """(time, JSON body) of the spec this server key's SDK should get, or None before the
    first publish."""
    try:
        found = store.read_dcs(version, key_hash, environment_id)
    except redis.RedisError as exc:
        logger.warning("spec.redis_unavailable env=%s error=%s", environment_id, exc)
        found = None
    return found or _latest_db(environment_id, version)


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


def initialize_source(environment: Environment) -> tuple[dict[str, Any], Evaluator] | None:
    """(v1 spec, evaluator with the environment's ID lists) for client initialize."""
    try:
        found = store.read_versioned(environment.pk, "v1")
    except redis.RedisError:
        found = None
    found = found or _latest_db(environment.pk, "v1")
    if found is None:
        return None
    time_ms, body = found
    key = (environment.pk, time_ms)
    with _lock:
        if key in _EVALUATORS:
            _EVALUATORS.move_to_end(key)
            return _EVALUATORS[key]
    spec = json.loads(body)
    lists = idlists.id_list_sets(environment.project, environment) if spec.get("id_lists") else {}
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
        .defer("v1_json", "v2_json")
        .order_by("environment_id", "-time_ms")
        .distinct("environment_id")
    )
    newest = {s.environment_id: s for s in base}
    pushed = {s.environment_id: s for s in base.filter(state="pushed")}
    return [EnvironmentStatus(e, newest.get(e.pk), pushed.get(e.pk)) for e in environments]
