"""Members and access: invite, change roles, remove, leave; access requests."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from console import notifications
from console.audit import audit_record
from console.exceptions import Conflict, DomainError
from console.models import (
    AccessRequest,
    AccessRequestStatus,
    Membership,
    Project,
    ProjectAccessMode,
    Role,
)
from console.permissions import ensure_role, forget_roles, project_role
from console.services.common import User

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
