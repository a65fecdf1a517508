"""The review policy of a project, its review groups and entity owners."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from console.audit import audit_record
from console.exceptions import Conflict, DomainError, NotFound
from console.models import Environment, Project, Role, User
from console.permissions import ensure_role
from reviews import registry
from reviews.models import (
    EntityOwner,
    EnvironmentReviewRule,
    ReviewGroup,
    ReviewPolicy,
)
from reviews.policy import project_policy

# ---------------------------------------------------------------- policy and groups


def _ensure_admin(actor: User, project: Project) -> None:
    ensure_role(actor, project, Role.ADMIN)


def _groups_named(project: Project, names: Iterable[str]) -> list[ReviewGroup]:
    names = [n.strip() for n in names]
    found = {g.name.lower(): g for g in ReviewGroup.objects.filter(project=project)}
    missing = [n for n in names if n.lower() not in found]
    if missing:
        raise DomainError(
            f"No review group named {', '.join(repr(n) for n in missing)}.",
            code="unknown_group",
            field="groups",
        )
    return [found[n.lower()] for n in names]


@dataclass(frozen=True)
class EnvironmentRuleInput:
    environment: str
    requires_review: bool
    approvals_required: int = 1
    groups: tuple[str, ...] = ()


@transaction.atomic
def review_policy_update(
    *,
    actor: User,
    project: Project,
    environments: list[EnvironmentRuleInput] | None = None,
    allow_break_glass: bool | None = None,
    apply_on_approval: bool | None = None,
) -> ReviewPolicy:
    """Admins set which environments require review, how many approvals (1 to 5) and which
    groups, and the project-wide break-glass and apply-on-approval switches."""
    _ensure_admin(actor, project)
    policy, _ = ReviewPolicy.objects.select_for_update().get_or_create(project=project)
    before = review_policy_document(project)
    if allow_break_glass is not None:
        policy.allow_break_glass = bool(allow_break_glass)
    if apply_on_approval is not None:
        policy.apply_on_approval = bool(apply_on_approval)
    policy.save()
    by_name = {e.name.lower(): e for e in Environment.objects.filter(project=project)}
    for item in environments or []:
        environment = by_name.get(str(item.environment).lower())
        if environment is None:
            raise DomainError(
                f"This project has no environment named '{item.environment}'.",
                code="unknown_environment",
                field="environments",
            )
        count = item.approvals_required
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 5:
            raise DomainError(
                "Approvals required is a whole number from 1 to 5.",
                code="invalid",
                field="approvals_required",
            )
        groups = _groups_named(project, item.groups)
        rule, _ = EnvironmentReviewRule.objects.update_or_create(
            environment=environment,
            defaults={"requires_review": bool(item.requires_review), "approvals_required": count},
        )
        rule.groups.set(groups)
    audit_record(
        actor=actor,
        action="review_policy.updated",
        target=policy,
        project=project,
        before=before,
        after=review_policy_document(project),
    )
    return policy


def review_policy_document(project: Project) -> dict[str, Any]:
    """The policy as the API shows it."""
    from reviews.policy import environment_rules

    policy = project_policy(project)
    return {
        "allowBreakGlass": policy.allow_break_glass,
        "applyOnApproval": policy.apply_on_approval,
        "environments": [
            {
                "environment": rule.environment.name,
                "requiresReview": rule.requires_review,
                "approvalsRequired": rule.approvals_required,
                "groups": [g.name for g in rule.groups],
            }
            for rule in environment_rules(project)
        ],
    }


@transaction.atomic
def review_group_save(
    *,
    actor: User,
    project: Project,
    name: str,
    members: Iterable[User],
    group: ReviewGroup | None = None,
) -> ReviewGroup:
    """Create or update a review group (admins); members must belong to the project."""
    _ensure_admin(actor, project)
    name = (name or "").strip()
    if not name or len(name) > 60 or "<" in name or ">" in name:
        raise DomainError(
            "A group name is 1 to 60 characters, without < or >.", code="invalid", field="name"
        )
    clash = ReviewGroup.objects.filter(project=project, name__iexact=name)
    if group is not None:
        clash = clash.exclude(pk=group.pk)
    if clash.exists():
        raise Conflict(f"A review group named '{name}' exists.", code="duplicate", field="name")
    members = list(members)
    member_ids = set(project.memberships.filter(user__in=members).values_list("user_id", flat=True))
    outsiders = [u for u in members if u.pk not in member_ids]
    if outsiders:
        raise DomainError(
            f"{outsiders[0].email} is not a member of this project.",
            code="not_a_member",
            field="members",
        )
    before = None
    if group is None:
        group = ReviewGroup.objects.create(project=project, name=name)
    else:
        before = {"name": group.name, "members": sorted(u.email for u in group.members.all())}
        group.name = name
        group.save(update_fields=["name", "updated_at"])
    group.members.set(members)
    audit_record(
        actor=actor,
        action="review_group.saved",
        target=group,
        project=project,
        before=before,
        after={"name": name, "members": sorted(u.email for u in members)},
    )
    return group


@transaction.atomic
def review_group_delete(*, actor: User, group: ReviewGroup) -> None:
    _ensure_admin(actor, group.project)
    audit_record(
        actor=actor,
        action="review_group.deleted",
        target=group,
        project=group.project,
        before={"name": group.name},
    )
    group.delete()


@transaction.atomic
def entity_owner_set(
    *, actor: User, project: Project, kind: str, name: str, group: ReviewGroup | None
) -> None:
    """Name (or clear, with None) the review group that owns an entity: its approval is
    then required for changes to it wherever review is required. Admins only."""
    _ensure_admin(actor, project)
    handler = registry.get(kind)
    entity = handler.find(project, name)
    if entity is None:
        raise NotFound(f"This project has no {handler.label} named '{name}'.")
    if group is not None and group.project_id != project.pk:
        raise NotFound("No such review group in this project.")
    EntityOwner.objects.filter(kind=kind, entity_id=entity.pk).delete()
    if group is not None:
        EntityOwner.objects.create(project=project, kind=kind, entity_id=entity.pk, group=group)
    audit_record(
        actor=actor,
        action="entity_owner.set",
        target=entity,
        project=project,
        after={"kind": kind, "name": entity.name, "group": group.name if group else None},
    )
