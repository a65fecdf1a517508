"""API keys (server, client, console): create, rotate, revoke, authenticate."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.audit import audit_record, snapshot
from console.exceptions import Conflict, DomainError
from console.models import (
    KEY_PREFIXES,
    ApiKey,
    Environment,
    KeyKind,
    Project,
    Role,
    hash_key,
)
from console.permissions import ensure_role
from console.services.common import KEY_FIELDS, clean_name, validate_model
from console.webhooks import slack
from console.webhooks.events import register_event
from console.webhooks.services import webhook_emit

# ---------------------------------------------------------------- keys


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: `secret` is the only copy of the key and is never stored."""

    key: ApiKey
    secret: str


KEY_WEBHOOK_EVENTS = {
    "key.created": "An SDK or console API key was created",
    "key.rotated": "A key was rotated (a successor issued; the old one expires)",
    "key.revoked": "A key was revoked (it stops working now)",
}


def register_webhook_events() -> None:
    for event, description in KEY_WEBHOOK_EVENTS.items():
        register_event(event, description)


def _announce(event: str, key: ApiKey, actor, **extra) -> None:
    """The webhooks of a key event (recorded in the caller's transaction, sent after commit);
    never the secret, only its hint."""
    environment = key.environment.name if key.environment else None
    where = environment or f"role {key.role}"
    who = getattr(actor, "email", "") or "the system"
    verb = event.split(".")[1]
    text = (
        f"*{slack.escape(key.project.name)}* {slack.escape(key.get_kind_display().lower())} "
        f"key {slack.escape(key.name or key.hint)} ({slack.escape(where)}) {verb} by "
        f"{slack.escape(who)}"
    )
    data = {
        "key": {
            "kind": key.kind,
            "name": key.name,
            "hint": key.hint,
            "environment": environment,
            "role": key.role or None,
            "expiresAt": key.expires_at,
            "revokedAt": key.revoked_at,
        },
        "actor": getattr(actor, "email", None),
        **extra,
    }
    webhook_emit(project=key.project, event=event, text=text, data=data)


def _new_secret(kind: str) -> str:
    return KEY_PREFIXES[KeyKind(kind)] + secrets.token_urlsafe(32)


def _issue(*, actor, project, kind, environment, name, role, rotated_from=None) -> IssuedKey:
    secret = _new_secret(kind)
    key = ApiKey(
        project=project,
        environment=environment,
        kind=kind,
        name=name,
        role=role,
        key_hash=hash_key(secret),
        hint=secret[: len(KEY_PREFIXES[KeyKind(kind)]) + 6],
        created_by=actor,
        rotated_from=rotated_from,
    )
    validate_model(key)
    key.save()
    return IssuedKey(key=key, secret=secret)


@transaction.atomic
def key_create(
    *,
    actor,
    project: Project,
    kind: str,
    environment: Environment | None = None,
    name: str = "",
    role: str = "",
    owner=None,
) -> IssuedKey:
    """Make a server or client key for an environment, or a console API key with a role.

    actor=None is the system (management commands); the key is then credited to `owner`."""
    if actor is not None:
        ensure_role(actor, project, Role.ADMIN)
    if kind not in KeyKind.values:
        raise DomainError("Choose server, client or console.", code="invalid_kind", field="kind")
    name = clean_name(name, what="Key name", max_length=100) if (name or "").strip() else ""
    if kind == KeyKind.CONSOLE:
        if role not in Role.values:
            raise DomainError(
                "Console API keys need a role: admin, member or viewer.",
                code="invalid_role",
                field="role",
            )
        environment = None
    else:
        if environment is None or environment.project_id != project.pk:
            raise DomainError(
                "Server and client keys belong to one of the project's environments.",
                code="invalid_environment",
                field="environment",
            )
        role = ""
    issued = _issue(
        actor=actor or owner,
        project=project,
        kind=kind,
        environment=environment,
        name=name,
        role=role,
    )
    if issued.key.environment_id:
        _sdk_keys_sync(issued.key.environment_id)
    audit_record(
        actor=actor,
        action="key.created",
        target=issued.key,
        project=project,
        after=snapshot(issued.key, KEY_FIELDS),
    )
    _announce("key.created", issued.key, actor or owner)
    return issued


@transaction.atomic
def key_rotate(*, actor, key: ApiKey, overlap_hours: int | None = None) -> IssuedKey:
    """Issue a successor; the old key keeps working for `overlap_hours` (0: stops now)."""
    ensure_role(actor, key.project, Role.ADMIN)
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at or (key.expires_at and key.expires_at <= timezone.now()):
        raise Conflict("Only an active key can be rotated.", code="key_inactive")
    if hasattr(key, "rotated_to"):
        raise Conflict("This key was already rotated.", code="already_rotated")
    if overlap_hours is None:
        overlap_hours = settings.GATEHOUSE_KEY_ROTATION_OVERLAP_HOURS
    if not 0 <= overlap_hours <= 24 * 30:
        raise DomainError(
            "The overlap is between 0 and 720 hours.", code="invalid_overlap", field="overlap_hours"
        )
    before = snapshot(key, KEY_FIELDS)
    key.expires_at = timezone.now() + timedelta(hours=overlap_hours)
    key.save(update_fields=["expires_at", "updated_at"])
    issued = _issue(
        actor=actor,
        project=key.project,
        kind=key.kind,
        environment=key.environment,
        name=key.name,
        role=key.role,
        rotated_from=key,
    )
    if key.environment_id:
        _sdk_keys_sync(key.environment_id)
    audit_record(
        actor=actor,
        action="key.rotated",
        target=key,
        project=key.project,
        before=before,
        after={**snapshot(key, KEY_FIELDS), "successor": issued.key.hint},
    )
    _announce("key.rotated", key, actor, successor=issued.key.hint)
    return issued


@transaction.atomic
def key_revoke(*, actor, key: ApiKey) -> ApiKey:
    ensure_role(actor, key.project, Role.ADMIN)
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at:
        raise Conflict("This key is already revoked.", code="already_revoked")
    before = snapshot(key, KEY_FIELDS)
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at", "updated_at"])
    if key.environment_id:
        _sdk_keys_sync(key.environment_id, revoked_hash=key.key_hash)
    audit_record(
        actor=actor,
        action="key.revoked",
        target=key,
        project=key.project,
        before=before,
        after=snapshot(key, KEY_FIELDS),
    )
    _announce("key.revoked", key, actor)
    return key


def _sdk_keys_sync(environment_id: int, revoked_hash: str | None = None) -> None:
    # SDK endpoints authenticate from Redis (they must work with the database down).
    from console.publishing.services import sdk_keys_sync_on_commit

    sdk_keys_sync_on_commit(environment_id=environment_id, revoked_hash=revoked_hash)


# last_used_at is a hint, not a ledger: write it at most once a minute per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_authenticate(secret: str, *, kinds: tuple[str, ...]) -> ApiKey | None:
    """The usable key of one of `kinds` matching `secret`, or None. Records last use."""
    if not secret or not any(secret.startswith(KEY_PREFIXES[KeyKind(k)]) for k in kinds):
        return None
    now = timezone.now()
    key = (
        ApiKey.objects.usable(now)
        .select_related("project", "environment", "created_by")
        .filter(key_hash=hash_key(secret), kind__in=kinds, project__archived_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
