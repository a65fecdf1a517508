"""Every write to the core models: permission check, validation, audit, side effects on commit."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from console import notifications
from console.audit import audit_record, snapshot
from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import (
    KEY_PREFIXES,
    AccessRequest,
    AccessRequestStatus,
    ApiKey,
    Environment,
    EnvironmentTier,
    KeyKind,
    Membership,
    Project,
    ProjectAccessMode,
    Role,
    Tag,
    hash_key,
)
from console.permissions import can_create_projects, ensure_role, forget_roles, project_role

User = get_user_model()

DEFAULT_ENVIRONMENTS = [
    ("development", EnvironmentTier.DEVELOPMENT),
    ("staging", EnvironmentTier.STAGING),
    ("production", EnvironmentTier.PRODUCTION),
]
DEFAULT_TAGS = [
    ("core", "Core product behaviour"),
    ("growth", "Growth and onboarding work"),
    ("infra", "Infrastructure and operations"),
    ("mobile", "Mobile apps"),
    ("web", "Web app"),
]

PROJECT_FIELDS = ["name", "slug", "description", "access_mode", "default_role"]
ENVIRONMENT_FIELDS = ["name", "tier", "position"]
TAG_FIELDS = ["name", "description"]
KEY_FIELDS = ["kind", "name", "role", "hint", "environment", "expires_at", "revoked_at"]

_MARKUP = re.compile(r"[<>]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]*$")


# ---------------------------------------------------------------- validation helpers


def _clean_name(value: str, *, what: str, max_length: int, field: str = "name") -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(f"{what} cannot be empty.", code="required", field=field)
    if len(value) > max_length:
        raise DomainError(
            f"{what} can be at most {max_length} characters (this one has {len(value)}).",
            code="too_long",
            field=field,
        )
    if _MARKUP.search(value) or _CONTROL.search(value):
        raise DomainError(
            f"{what} cannot contain '<', '>' or control characters.",
            code="invalid_characters",
            field=field,
        )
    return value


def _validate(obj) -> None:
    """Run the model's own checks; report the first problem as a DomainError/Conflict."""
    try:
        obj.full_clean(validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise DomainError(
            messages[0], code="invalid", field=None if field == "__all__" else field
        ) from exc


def _save_unique(obj, *, update_fields=None, message: str, field: str) -> None:
    """Save, turning a unique-constraint violation into a Conflict with a friendly message."""
    try:
        with transaction.atomic():
            obj.save(update_fields=update_fields)
    except IntegrityError as exc:
        if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
            raise Conflict(message, code="duplicate", field=field) from exc
        raise


# ---------------------------------------------------------------- projects


def _check_access(access_mode: str, default_role: str) -> None:
    if access_mode not in ProjectAccessMode.values:
        raise DomainError(
            "Access is either open or closed.", code="invalid_access_mode", field="access_mode"
        )
    if default_role not in (Role.MEMBER, Role.VIEWER):
        raise DomainError(
            "People who join get the member or viewer role; admins are chosen one by one.",
            code="invalid_default_role",
            field="default_role",
        )


@transaction.atomic
def project_create(
    *,
    actor,
    name: str,
    slug: str = "",
    description: str = "",
    access_mode: str = ProjectAccessMode.CLOSED,
    default_role: str = Role.MEMBER,
    owner=None,
) -> Project:
    """Create a project with the default environments and tags; `owner` (default: the actor)
    becomes its admin. actor=None is the system (management commands)."""
    if actor is not None and not can_create_projects(actor):
        raise NotAllowed("Only site admins can create projects.")
    owner = owner or actor
    _check_access(access_mode, default_role)
    if owner is None:
        raise DomainError("A project needs an owner.", code="owner_required", field="owner")
    name = _clean_name(name, what="Project name", max_length=100)
    slug = (slug or "").strip().lower() or slugify(name)[:50].strip("-")
    if not _SLUG.match(slug):
        raise DomainError(
            "The slug may use lowercase letters, digits and hyphens (1-50 characters), "
            "starting and ending with a letter or digit.",
            code="invalid_slug",
            field="slug",
        )
    project = Project(
        name=name,
        slug=slug,
        description=(description or "").strip(),
        access_mode=access_mode,
        default_role=default_role,
    )
    _validate(project)
    _save_unique(project, message=f"The slug '{slug}' is already taken.", field="slug")
    Environment.objects.bulk_create(
        Environment(project=project, name=env_name, tier=tier, position=i)
        for i, (env_name, tier) in enumerate(DEFAULT_ENVIRONMENTS)
    )
    Tag.objects.bulk_create(
        Tag(project=project, name=tag, description=desc) for tag, desc in DEFAULT_TAGS
    )
    Membership.objects.create(project=project, user=owner, role=Role.ADMIN)
    forget_roles(owner)
    audit_record(
        actor=actor,
        action="project.created",
        target=project,
        project=project,
        after={
            **snapshot(project, PROJECT_FIELDS),
            "environments": [env for env, _ in DEFAULT_ENVIRONMENTS],
            "tags": [tag for tag, _ in DEFAULT_TAGS],
            "owner": owner.email,
        },
    )
    return project


@transaction.atomic
def project_update(
    *,
    actor,
    project: Project,
    name: str,
    description: str,
    access_mode: str,
    default_role: str,
) -> Project:
    ensure_role(actor, project, Role.ADMIN)
    project = Project.objects.select_for_update().get(pk=project.pk)
    before = snapshot(project, PROJECT_FIELDS)
    project.name = _clean_name(name, what="Project name", max_length=100)
    project.description = (description or "").strip()
    _check_access(access_mode, default_role)
    project.access_mode = access_mode
    project.default_role = default_role
    _validate(project)
    project.save(update_fields=["name", "description", "access_mode", "default_role", "updated_at"])
    audit_record(
        actor=actor,
        action="project.updated",
        target=project,
        project=project,
        before=before,
        after=snapshot(project, PROJECT_FIELDS),
    )
    return project


@transaction.atomic
def project_join(*, actor, project: Project) -> Membership:
    """An employee joins an open project with its default role."""
    project = Project.objects.get(pk=project.pk)
    if project.access_mode != ProjectAccessMode.OPEN:
        raise NotAllowed("This project is closed: request access instead.", code="project_closed")
    if project_role(actor, project) is not None:
        raise Conflict("You are already a member of this project.", code="already_member")
    membership = Membership.objects.create(project=project, user=actor, role=project.default_role)
    forget_roles(actor)
    audit_record(
        actor=actor,
        action="member.joined",
        target=membership,
        project=project,
        after={"user": actor.email, "role": membership.role},
    )
    return membership


# ---------------------------------------------------------------- environments


@transaction.atomic
def environment_create(*, actor, project: Project, name: str, tier: str) -> Environment:
    ensure_role(actor, project, Role.ADMIN)
    name = _clean_name(name, what="Environment name", max_length=50)
    if not _ENV_NAME.match(name):
        raise DomainError(
            "Environment names use letters, digits, spaces, '-' and '_'.",
            code="invalid_characters",
            field="name",
        )
    # Lock the project so concurrent creates get distinct positions.
    Project.objects.select_for_update().get(pk=project.pk)
    position = (project.environments.aggregate(m=Max("position"))["m"] or 0) + 1
    environment = Environment(project=project, name=name, tier=tier, position=position)
    _validate(environment)
    _save_unique(
        environment,
        message=f"This project already has an environment named '{name}'.",
        field="name",
    )
    audit_record(
        actor=actor,
        action="environment.created",
        target=environment,
        project=project,
        after=snapshot(environment, ENVIRONMENT_FIELDS),
    )
    return environment


def _is_last_production(environment: Environment) -> bool:
    return (
        environment.tier == EnvironmentTier.PRODUCTION
        and not Environment.objects.filter(
            project_id=environment.project_id, tier=EnvironmentTier.PRODUCTION
        )
        .exclude(pk=environment.pk)
        .exists()
    )


@transaction.atomic
def environment_update(*, actor, environment: Environment, name: str, tier: str) -> Environment:
    ensure_role(actor, environment.project, Role.ADMIN)
    environment = Environment.objects.select_for_update().get(pk=environment.pk)
    before = snapshot(environment, ENVIRONMENT_FIELDS)
    name = _clean_name(name, what="Environment name", max_length=50)
    if not _ENV_NAME.match(name):
        raise DomainError(
            "Environment names use letters, digits, spaces, '-' and '_'.",
            code="invalid_characters",
            field="name",
        )
    if tier != environment.tier and _is_last_production(environment):
        raise DomainError(
            "A project needs a production environment: this is the only one.",
            code="last_production",
            field="tier",
        )
    environment.name, environment.tier = name, tier
    _validate(environment)
    _save_unique(
        environment,
        update_fields=["name", "tier", "updated_at"],
        message=f"This project already has an environment named '{name}'.",
        field="name",
    )
    audit_record(
        actor=actor,
        action="environment.updated",
        target=environment,
        project=environment.project,
        before=before,
        after=snapshot(environment, ENVIRONMENT_FIELDS),
    )
    return environment


@transaction.atomic
def environment_reorder(
    *, actor, project: Project, environment_ids: list[int]
) -> list[Environment]:
    """Put the project's environments in the given order (every environment, once)."""
    ensure_role(actor, project, Role.ADMIN)
    environments = list(
        Environment.objects.select_for_update().filter(project=project).order_by("pk")
    )
    by_id = {env.pk: env for env in environments}
    if sorted(environment_ids) != sorted(by_id) or len(set(environment_ids)) != len(by_id):
        raise DomainError(
            "The new order must list each of the project's environments exactly once.",
            code="invalid_order",
        )
    before = {"order": [e.name for e in sorted(environments, key=lambda e: (e.position, e.pk))]}
    for position, env_id in enumerate(environment_ids):
        by_id[env_id].position = position
    Environment.objects.bulk_update(environments, ["position", "updated_at"])
    ordered = [by_id[i] for i in environment_ids]
    audit_record(
        actor=actor,
        action="environment.reordered",
        target=project,
        project=project,
        before=before,
        after={"order": [e.name for e in ordered]},
    )
    return ordered


@transaction.atomic
def environment_delete(*, actor, environment: Environment) -> None:
    """Delete a non-production environment and its keys (which stop working at once)."""
    ensure_role(actor, environment.project, Role.ADMIN)
    environment = Environment.objects.select_for_update().get(pk=environment.pk)
    if environment.tier == EnvironmentTier.PRODUCTION:
        raise DomainError("Production environments cannot be deleted.", code="production_protected")
    project = environment.project
    keys = list(environment.keys.values_list("hint", flat=True))
    audit_record(
        actor=actor,
        action="environment.deleted",
        target=environment,
        project=project,
        before={**snapshot(environment, ENVIRONMENT_FIELDS), "keys": keys},
    )
    environment.keys.all().delete()
    environment.delete()


# ---------------------------------------------------------------- tags


@transaction.atomic
def tag_create(*, actor, project: Project, name: str, description: str = "") -> Tag:
    ensure_role(actor, project, Role.MEMBER)
    tag = Tag(
        project=project,
        name=_clean_name(name, what="Tag name", max_length=50),
        description=_clean_name(
            description, what="Description", max_length=200, field="description"
        )
        if description and description.strip()
        else "",
    )
    _validate(tag)
    _save_unique(tag, message=f"A tag named '{tag.name}' already exists.", field="name")
    audit_record(
        actor=actor,
        action="tag.created",
        target=tag,
        project=project,
        after=snapshot(tag, TAG_FIELDS),
    )
    return tag


@transaction.atomic
def tag_update(*, actor, tag: Tag, name: str, description: str = "") -> Tag:
    ensure_role(actor, tag.project, Role.MEMBER)
    tag = Tag.objects.select_for_update().get(pk=tag.pk)
    before = snapshot(tag, TAG_FIELDS)
    tag.name = _clean_name(name, what="Tag name", max_length=50)
    tag.description = (
        _clean_name(description, what="Description", max_length=200, field="description")
        if description and description.strip()
        else ""
    )
    _validate(tag)
    _save_unique(
        tag,
        update_fields=["name", "description", "updated_at"],
        message=f"A tag named '{tag.name}' already exists.",
        field="name",
    )
    audit_record(
        actor=actor,
        action="tag.updated",
        target=tag,
        project=tag.project,
        before=before,
        after=snapshot(tag, TAG_FIELDS),
    )
    return tag


@transaction.atomic
def tag_delete(*, actor, tag: Tag) -> None:
    ensure_role(actor, tag.project, Role.ADMIN)
    audit_record(
        actor=actor,
        action="tag.deleted",
        target=tag,
        project=tag.project,
        before=snapshot(tag, TAG_FIELDS),
    )
    tag.delete()


# ---------------------------------------------------------------- members and access


def _admin_count(project: Project) -> int:
    return Membership.objects.filter(project=project, role=Role.ADMIN).count()


@transaction.atomic
def membership_invite(*, actor, project: Project, email: str, role: str) -> Membership:
    """Add a person by email; an account is made for unknown emails (they set a password
    through "forgot password", or sign in with SSO once it is on)."""
    ensure_role(actor, project, Role.ADMIN)
    email = User.objects.normalize_email((email or "").strip()).lower()
    try:
        from django.core.validators import validate_email

        validate_email(email)
    except ValidationError as exc:
        raise DomainError(
            "Enter a valid email address.", code="invalid_email", field="email"
        ) from exc
    if role not in Role.values:
        raise DomainError("Choose admin, member or viewer.", code="invalid_role", field="role")
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User(username=_unique_username(email), email=email)
        user.set_unusable_password()
        user.save()
    if Membership.objects.filter(project=project, user=user).exists():
        raise Conflict(f"{email} is already a member.", code="already_member", field="email")
    membership = Membership.objects.create(project=project, user=user, role=role)
    AccessRequest.objects.filter(
        project=project, user=user, status=AccessRequestStatus.PENDING
    ).update(status=AccessRequestStatus.APPROVED, decided_at=timezone.now(), decided_by=actor)
    audit_record(
        actor=actor,
        action="member.added",
        target=membership,
        project=project,
        after={"user": email, "role": role},
    )
    notifications.enqueue("member_added", membership.pk)
    return membership


def _unique_username(email: str) -> str:
    base = re.sub(r"[^\w.@+-]", "", email)[:140] or "user"
    candidate, n = base, 1
    while User.objects.filter(username=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@transaction.atomic
def membership_update(*, actor, membership: Membership, role: str) -> Membership:
    ensure_role(actor, membership.project, Role.ADMIN)
    # Lock every admin row of the project, so two demotions cannot leave it with none.
    list(
        Membership.objects.select_for_update()
        .filter(project_id=membership.project_id, role=Role.ADMIN)
        .order_by("pk")
    )
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if role not in Role.values:
        raise DomainError("Choose admin, member or viewer.", code="invalid_role", field="role")
    if (
        membership.role == Role.ADMIN
        and role != Role.ADMIN
        and _admin_count(membership.project) == 1
    ):
        raise DomainError(
            "A project needs at least one admin: make someone else admin first.",
            code="last_admin",
            field="role",
        )
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    forget_roles(membership.user)
    forget_roles(actor)
    audit_record(
        actor=actor,
        action="member.role_changed",
        target=membership,
        project=membership.project,
        before={"user": membership.user.email, "role": old},
        after={"user": membership.user.email, "role": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, actor, membership: Membership) -> None:
    """Admins remove anyone; anyone may leave. The last admin can do neither."""
    if membership.user_id != actor.pk:
        ensure_role(actor, membership.project, Role.ADMIN)
    list(
        Membership.objects.select_for_update()
        .filter(project_id=membership.project_id, role=Role.ADMIN)
        .order_by("pk")
    )
    if membership.role == Role.ADMIN and _admin_count(membership.project) == 1:
        raise DomainError(
            "A project needs at least one admin: make someone else admin first.",
            code="last_admin",
        )
    audit_record(
        actor=actor,
        action="member.removed",
        target=membership,
        project=membership.project,
        before={"user": membership.user.email, "role": membership.role},
    )
    # Console keys made by this person stop working with the membership (see authentication).
    membership.delete()
    forget_roles(membership.user)
    forget_roles(actor)


@transaction.atomic
def access_request_create(*, actor, project: Project, message: str = "") -> AccessRequest:
    project = Project.objects.get(pk=project.pk)
    if project_role(actor, project) is not None:
        raise Conflict("You are already a member of this project.", code="already_member")
    if project.access_mode == ProjectAccessMode.OPEN:
        raise DomainError("This project is open: join it directly.", code="project_open")
    message = (message or "").strip()
    if len(message) > 500:
        raise DomainError(
            "The message can be at most 500 characters.", code="too_long", field="message"
        )
    if AccessRequest.objects.filter(
        project=project, user=actor, status=AccessRequestStatus.PENDING
    ).exists():
        raise Conflict("You already asked; an admin will decide.", code="already_requested")
    access_request = AccessRequest.objects.create(project=project, user=actor, message=message)
    audit_record(
        actor=actor,
        action="access_request.created",
        target=access_request,
        project=project,
        after={"user": actor.email, "message": message},
    )
    notifications.enqueue("access_requested", access_request.pk)
    return access_request


def _decide(*, actor, access_request: AccessRequest, status: str) -> AccessRequest:
    ensure_role(actor, access_request.project, Role.ADMIN)
    access_request = AccessRequest.objects.select_for_update().get(pk=access_request.pk)
    if access_request.status != AccessRequestStatus.PENDING:
        raise Conflict(f"This request was already {access_request.status}.", code="already_decided")
    access_request.status = status
    access_request.decided_at = timezone.now()
    access_request.decided_by = actor
    access_request.save(update_fields=["status", "decided_at", "decided_by", "updated_at"])
    return access_request


@transaction.atomic
def access_request_approve(
    *, actor, access_request: AccessRequest, role: str | None = None
) -> AccessRequest:
    project = access_request.project
    role = role or project.default_role
    if role not in Role.values:
        raise DomainError("Choose admin, member or viewer.", code="invalid_role", field="role")
    access_request = _decide(
        actor=actor, access_request=access_request, status=AccessRequestStatus.APPROVED
    )
    Membership.objects.get_or_create(
        project=project, user=access_request.user, defaults={"role": role}
    )
    forget_roles(access_request.user)
    audit_record(
        actor=actor,
        action="access_request.approved",
        target=access_request,
        project=project,
        before={"status": AccessRequestStatus.PENDING},
        after={
            "status": AccessRequestStatus.APPROVED,
            "user": access_request.user.email,
            "role": role,
        },
    )
    notifications.enqueue("access_decided", access_request.pk)
    return access_request


@transaction.atomic
def access_request_deny(*, actor, access_request: AccessRequest) -> AccessRequest:
    access_request = _decide(
        actor=actor, access_request=access_request, status=AccessRequestStatus.DENIED
    )
    audit_record(
        actor=actor,
        action="access_request.denied",
        target=access_request,
        project=access_request.project,
        before={"status": AccessRequestStatus.PENDING},
        after={"status": AccessRequestStatus.DENIED, "user": access_request.user.email},
    )
    notifications.enqueue("access_decided", access_request.pk)
    return access_request


# ---------------------------------------------------------------- keys


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: `secret` is the only copy of the key and is never stored."""

    key: ApiKey
    secret: str


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
    _validate(key)
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
    name = _clean_name(name, what="Key name", max_length=100) if (name or "").strip() else ""
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
