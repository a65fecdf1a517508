"""Projects: create, update settings, archive; the defaults a new project starts with."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from console.audit import audit_record, snapshot
from console.exceptions import Conflict, DomainError, NotAllowed
from console.models import (
    Environment,
    Membership,
    Project,
    ProjectAccessMode,
    Role,
    Tag,
)
from console.permissions import can_create_projects, ensure_role, forget_roles, project_role
from console.services.common import (
    DEFAULT_ENVIRONMENTS,
    DEFAULT_TAGS,
    PROJECT_FIELDS,
    SLUG,
    clean_name,
    save_unique,
    validate_model,
)

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
    name = clean_name(name, what="Project name", max_length=100)
    slug = (slug or "").strip().lower() or slugify(name)[:50].strip("-")
    if not SLUG.match(slug):
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
    validate_model(project)
    save_unique(project, message=f"The slug '{slug}' is already taken.", field="slug")
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
    project.name = clean_name(name, what="Project name", max_length=100)
    project.description = (description or "").strip()
    _check_access(access_mode, default_role)
    project.access_mode = access_mode
    project.default_role = default_role
    validate_model(project)
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
