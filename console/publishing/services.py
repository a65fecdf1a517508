"""Publishing writes: spec_publish (versions + specs), the push of one spec to Redis, and
the periodic re-push that retries and heals."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from django.db import transaction
from django.utils import timezone

from console.audit import audit_record
from console.models import (
    ApiKey,
    ConfigSpec,
    ConfigSpecState,
    Environment,
    EnvironmentTier,
    KeyKind,
    Project,
    Role,
    RulesetVersion,
)
from console.permissions import ensure_role
from console.publishing import bodies, idlists, store
from console.specs import incremental
from console.specs.builder import spec_json

logger = logging.getLogger(__name__)

# Re-push backoff: a spec that failed `attempts` times waits min(2**attempts, cap) seconds
# after its last attempt before the periodic task tries again.
REPUSH_BACKOFF_CAP = 300
TODO_STATES = (ConfigSpecState.PENDING, ConfigSpecState.FAILED)


_PUSH_ORDER: dict[str, int] = {EnvironmentTier.PRODUCTION: -2, EnvironmentTier.STAGING: -1}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def spec_publish(
    *, actor, project: Project, reason: str = "", force: bool = False
) -> RulesetVersion:
    """An admin's (or, with `actor` None, a command's) publish of the project's current
    configuration: ruleset_version_create after the role check. Raises NotAllowed,
    SpecError."""
    with transaction.atomic():
        if actor is not None:
            ensure_role(actor, project, Role.ADMIN)
        return ruleset_version_create(actor=actor, project=project, reason=reason, force=force)


def spec_content_checksum(spec: dict) -> str:
    """What tells two specs' content apart, whatever their `time`."""
    return _sha256(spec_json({**spec, "time": 0}))


def ruleset_version_create(
    *, actor, project: Project, reason: str = "", force: bool = False
) -> RulesetVersion:
    """Record a new ruleset version of `project` and, per environment, its immutable v1+v2
    spec (state pending, built incrementally: console.specs.incremental); on commit,
    enqueue config_spec_push_task for each.

    Callers check the permission: spec_publish (admins), reviews' change set apply (the
    review policy). Locks the project row, so concurrent publishes serialise and numbers
    and times stay monotonic (`time_ms` = max(previous + 1, now) per environment). When
    every environment's content equals its latest spec and `force` is false, nothing is
    recorded and the latest version is returned (check `version.was_created`).
    """
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        environments = list(Environment.objects.filter(project=project).order_by("pk"))
        latest = _latest_specs([e.pk for e in environments])
        times = []
        for environment in environments:
            previous = latest.get(environment.pk)
            times.append(max((previous.time_ms + 1) if previous else 1, _now_ms()))
        built = list(
            zip(
                incremental.build_all(project, zip(environments, times, strict=True)),
                [latest.get(environment.pk) for environment in environments],
                strict=True,
            )
        )
        last_version = RulesetVersion.objects.filter(project=project).order_by("-number").first()
        unchanged = all(
            prev is not None and prev.content_checksum == spec.content_checksum
            for spec, prev in built
        )
        if last_version is not None and unchanged and not force:
            last_version.was_created = False
            return last_version
        number = (last_version.number if last_version else 0) + 1
        version = RulesetVersion.objects.create(
            project=project, number=number, created_by=actor, reason=(reason or "")[:2000]
        )
        specs = []
        chunks: dict[str, str] = {}
        for (spec, _prev), environment in zip(built, environments, strict=True):
            v1_chunks, v1_texts = bodies.chunk_rows(spec.v1_chunks)
            v2_chunks, v2_texts = bodies.chunk_rows(spec.v2_chunks)
            chunks |= v1_texts | v2_texts
            specs.append(
                ConfigSpec(
                    environment=environment,
                    ruleset_version=version,
                    time_ms=spec.time_ms,
                    v1_chunks=v1_chunks,
                    v2_chunks=v2_chunks,
                    checksum=spec.checksum,
                    content_checksum=spec.content_checksum,
                    behaviour_checksum=spec.behaviour_checksum,
                )
            )
        bodies.store(project.pk, chunks)
        ConfigSpec.objects.bulk_create(specs)
        audit_record(
            actor=actor,
            action="ruleset.published",
            target=version,
            project=project,
            after={
                "number": number,
                "reason": version.reason,
                "environments": {s.environment.name: s.time_ms for s in specs},
                "forced": bool(force and unchanged),
            },
        )
        # Production's push first: with fewer workers than environments it does not wait
        # behind the others' (each moves a body of megabytes).
        ordered = sorted(specs, key=lambda row: _PUSH_ORDER.get(row.environment.tier, 0))
        spec_ids = [row.pk for row in ordered]
        transaction.on_commit(lambda: _enqueue_pushes(spec_ids))
        version.was_created = True
        return version


def _latest_specs(environment_ids: list[int]) -> dict[int, ConfigSpec]:
    """The newest spec of each environment (one query, bodies deferred)."""
    rows = (
        ConfigSpec.objects.filter(environment_id__in=environment_ids)
        .order_by("environment_id", "-time_ms")
        .distinct("environment_id")
        .defer("v1_chunks", "v2_chunks")
    )
    return {row.environment_id: row for row in rows}


def _enqueue_pushes(spec_ids: list[int]) -> None:
    """Push the first spec (production's) alone, then the others side by side: it does not
    share the workers, the database and Redis with theirs (each moves megabytes). A broker
    outage must not lose the publish: the rows are committed as pending and
    config_spec_repush_task pushes them once Redis is back."""
    from celery import chain, group

    from console.tasks import config_spec_push_task

    first, *rest = spec_ids
    signature = config_spec_push_task.si(first)
    if rest:
        signature = chain(signature, group(config_spec_push_task.si(i) for i in rest))
    try:
        signature.apply_async()
    except Exception:
        logger.warning("spec.enqueue_failed specs=%s (left pending for re-push)", spec_ids)


def config_spec_retry(*, actor, spec: ConfigSpec) -> ConfigSpec:
    """Admin's "Retry": enqueue a push of `spec` now (whatever its backoff)."""
    ensure_role(actor, spec.environment.project, Role.ADMIN)
    _enqueue_pushes([spec.pk])
    return spec


# ---------------------------------------------------------------- push (workers only)


def _server_key_hashes(environment_id: int) -> tuple[list[str], list[str]]:
    keys = ApiKey.objects.filter(environment_id=environment_id, kind=KeyKind.SERVER)
    if Project.objects.filter(environments__pk=environment_id, archived_at__isnull=False).exists():
        return [], sorted(set(keys.values_list("key_hash", flat=True)))
    live = set(keys.usable().values_list("key_hash", flat=True))
    every = set(keys.values_list("key_hash", flat=True))
    return sorted(live), sorted(every - live)


def _epoch_ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def sdk_keys_sync(*, environment_id: int) -> None:
    """Write the Redis records of the environment's usable server and client keys (hash,
    kind, environment, project, expiry) and delete those of revoked or expired keys, or of
    every key when the project is archived, so the SDK endpoints authenticate from Redis
    alone. Raises redis.RedisError."""
    keys = ApiKey.objects.filter(
        environment_id=environment_id, kind__in=(KeyKind.SERVER, KeyKind.CLIENT)
    )
    archived = Project.objects.filter(
        environments__pk=environment_id, archived_at__isnull=False
    ).exists()
    usable = set() if archived else set(keys.usable().values_list("pk", flat=True))
    live, dead = [], []
    for key in keys.only("pk", "key_hash", "kind", "project_id", "expires_at"):
        if key.pk in usable:
            live.append(
                {
                    "hash": key.key_hash,
                    "kind": key.kind,
                    "environment": environment_id,
                    "project": key.project_id,
                    "expires": _epoch_ms(key.expires_at),
                }
            )
        else:
            dead.append(key.key_hash)
    store.write_key_records(live, dead)


def sdk_keys_sync_on_commit(*, environment_id: int, revoked_hash: str | None = None) -> None:
    """After the key service's commit: re-sync the environment's key records (best effort;
    the worker's push re-syncs them too). A revoked key's record goes first and alone, so
    it stops working at once even when the rest of the sync fails."""

    def sync() -> None:
        try:
            if revoked_hash:
                store.write_key_records([], [revoked_hash])
            sdk_keys_sync(environment_id=environment_id)
        except redis.RedisError as exc:
            logger.warning("sdk_keys.sync_failed env=%s error=%s", environment_id, exc)

    transaction.on_commit(sync)


def _id_lists_push(spec: ConfigSpec) -> None:
    """Build the spec's ID-list files once (by file id and size) and store them and the
    manifest in Redis, so get_id_lists and the files are served without the database."""
    environment = Environment.objects.select_related("project").get(pk=spec.environment_id)
    files = idlists.id_list_files(environment.project, environment)
    manifest = [
        {"name": f.name, "file_id": f.file_id, "size": f.size, "creation_time": f.creation_time}
        for f in files
    ]
    store.write_id_lists(
        spec.environment_id,
        spec.time_ms,
        manifest,
        lambda file_id: idlists.id_list_body(environment.project, file_id),
    )


def _record_attempt(spec_id: int, **fields) -> ConfigSpec | None:
    with transaction.atomic():
        spec = (
            ConfigSpec.objects.select_for_update()
            .defer("v1_chunks", "v2_chunks")
            .filter(pk=spec_id)
            .first()
        )
        if spec is None:
            return None
        if spec.state == ConfigSpecState.PUSHED and fields.get("state") != ConfigSpecState.PUSHED:
            return spec  # a concurrent push already succeeded: keep its record
        spec.attempts += 1
        for name, value in fields.items():
            setattr(spec, name, value)
        spec.save(update_fields=["attempts", *fields, "updated_at"])
        return spec


def config_spec_push(*, spec_id: int, final: bool = False) -> ConfigSpec | None:
    """Write spec `spec_id` to Redis for every usable server key of its environment (and
    delete the entries of its revoked or expired keys). Idempotent: a re-run writes the
    same bytes; an older spec never overwrites a newer one (it becomes superseded).

    On a Redis error, records it (state failed when `final`, else still pending) and
    re-raises, so the task's retry can take over."""
    spec = ConfigSpec.objects.filter(pk=spec_id).first()
    if spec is None:
        return None
    live, dead = _server_key_hashes(spec.environment_id)
    try:
        sdk_keys_sync(environment_id=spec.environment_id)
        _id_lists_push(spec)
        v1_json, v2_json = bodies.texts([spec.v1_chunks, spec.v2_chunks])
        written = store.push_spec(
            environment_id=spec.environment_id,
            time_ms=spec.time_ms,
            v1_json=v1_json,
            v2_json=v2_json,
            checksum=spec.checksum,
            live_key_hashes=live,
            dead_key_hashes=dead,
        )
    except redis.RedisError as exc:
        state = ConfigSpecState.FAILED if final else ConfigSpecState.PENDING
        _record_attempt(spec_id, state=state, last_error=f"{type(exc).__name__}: {exc}"[:2000])
        logger.warning("spec.push_failed spec=%s error=%s", spec_id, exc)
        raise
    if written:
        logger.info("spec.pushed spec=%s time=%s", spec_id, spec.time_ms)
        return _record_attempt(
            spec_id, state=ConfigSpecState.PUSHED, last_error="", pushed_at=timezone.now()
        )
    return _record_attempt(
        spec_id,
        state=ConfigSpecState.SUPERSEDED,
        last_error="A newer spec of this environment was already in Redis.",
    )


@dataclass(frozen=True)
class RepushReport:
    pushed: list[int]
    healed: list[int]
    failed: list[int]
    superseded: list[int]


def _due(spec: ConfigSpec, now: datetime) -> bool:
    if spec.attempts == 0:
        return True
    wait = min(2 ** min(spec.attempts, 16), REPUSH_BACKOFF_CAP)
    return spec.updated_at <= now - timedelta(seconds=wait)


def config_spec_repush(*, now: datetime | None = None) -> RepushReport:
    """The periodic safety net (beat): per environment, push its newest spec when it is
    pending or failed (with backoff), mark older unpushed ones superseded, and re-push the
    newest pushed spec when Redis lost it (pointer missing or older, or a server key's
    entries missing, e.g. after a Redis restart without persistence, or a new key).

    Raises redis.RedisError when Redis is unreachable for the heal check."""
    now = now or timezone.now()
    report = RepushReport([], [], [], [])
    todo_envs = set(
        ConfigSpec.objects.filter(state__in=TODO_STATES).values_list("environment_id", flat=True)
    )
    env_ids = sorted(set(ConfigSpec.objects.values_list("environment_id", flat=True).distinct()))
    latest = _latest_specs(env_ids)
    for env_id in sorted(todo_envs):
        newest = latest[env_id]
        older = ConfigSpec.objects.filter(
            environment_id=env_id, state__in=TODO_STATES, time_ms__lt=newest.time_ms
        )
        superseded = list(older.values_list("pk", flat=True))
        older.update(state=ConfigSpecState.SUPERSEDED, updated_at=now)
        report.superseded.extend(superseded)
        if newest.state in TODO_STATES and _due(newest, now):
            try:
                config_spec_push(spec_id=newest.pk)
                report.pushed.append(newest.pk)
            except redis.RedisError:
                report.failed.append(newest.pk)
    pushed = [s for s in latest.values() if s.state == ConfigSpecState.PUSHED]
    if not pushed:
        return report
    conn = store.client()
    times = store.pointer_times([s.environment_id for s in pushed], conn)
    for spec, held in zip(pushed, times, strict=True):
        try:  # expiries, revocations whose on-commit sync failed, archived projects
            sdk_keys_sync(environment_id=spec.environment_id)
        except redis.RedisError:
            report.failed.append(spec.pk)
            continue
        lost = held is None or held < spec.time_ms
        if not lost and held == spec.time_ms:
            live, _dead = _server_key_hashes(spec.environment_id)
            wanted = [store.dcs_key(v, h) for h in live for v in ("v1", "v2")]
            lost = bool(store.missing_keys(wanted, conn))
        if lost:
            try:
                config_spec_push(spec_id=spec.pk)
                report.healed.append(spec.pk)
            except redis.RedisError:
                report.failed.append(spec.pk)
    return report
