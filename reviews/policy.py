"""What a change set needs before it may be applied: the project's review policy read for
the environments the change set touches and the entities it changes."""

from __future__ import annotations

from dataclasses import dataclass, field

from console.models import Environment, EnvironmentTier, Project
from reviews.models import (
    Approval,
    ChangeSet,
    EntityOwner,
    EnvironmentReviewRule,
    ReviewGroup,
    ReviewPolicy,
)

DEFAULT_PRODUCTION_APPROVALS = 1


@dataclass(frozen=True)
class EnvironmentRule:
    environment: Environment
    requires_review: bool
    approvals_required: int
    groups: tuple[ReviewGroup, ...]


def project_policy(project: Project) -> ReviewPolicy:
    """The project's settings row, or the defaults (unsaved) when it has none."""
    policy = ReviewPolicy.objects.filter(project=project).first()
    return policy or ReviewPolicy(project=project)


def environment_rules(project: Project) -> list[EnvironmentRule]:
    """Every environment's rule, defaults filled in (production: one approval)."""
    environments = list(
        Environment.objects.filter(project=project)
        .select_related("review_rule")
        .order_by("position", "pk")
    )
    rule_ids = [
        env.review_rule.pk
        for env in environments
        if getattr(env, "review_rule", None) is not None  # reverse one-to-one may be absent
    ]
    groups: dict[int, list[ReviewGroup]] = {}
    for through in EnvironmentReviewRule.groups.through.objects.filter(
        environmentreviewrule_id__in=rule_ids
    ).select_related("reviewgroup"):
        groups.setdefault(through.environmentreviewrule_id, []).append(through.reviewgroup)
    rules = []
    for env in environments:
        row = getattr(env, "review_rule", None)
        if row is None:
            production = env.tier == EnvironmentTier.PRODUCTION
            rules.append(EnvironmentRule(env, production, DEFAULT_PRODUCTION_APPROVALS, ()))
        else:
            chosen = tuple(sorted(groups.get(row.pk, []), key=lambda g: g.name))
            rules.append(EnvironmentRule(env, row.requires_review, row.approvals_required, chosen))
    return rules


@dataclass
class Requirements:
    """What the policy asks of one change set, and how far its approvals go."""

    environments: list[str]  # the touched environments that require review
    approvals_required: int
    groups: list[ReviewGroup]
    approvals: list[Approval] = field(default_factory=list)  # valid ones
    groups_missing: list[ReviewGroup] = field(default_factory=list)

    @property
    def needs_review(self) -> bool:
        return bool(self.environments)

    @property
    def approvals_missing(self) -> int:
        return max(self.approvals_required - len(self.approvals), 0)

    @property
    def met(self) -> bool:
        return not self.needs_review or (self.approvals_missing == 0 and not self.groups_missing)

    def summary(self) -> str:
        if not self.needs_review:
            return "No review needed: it touches no environment that requires review."
        parts = [
            f"{len(self.approvals)} of {self.approvals_required} approval"
            f"{'s' if self.approvals_required != 1 else ''}"
        ]
        if self.groups_missing:
            parts.append("still needs " + ", ".join(g.name for g in self.groups_missing))
        return "; ".join(parts)


def requirements(change_set: ChangeSet, *, entity_keys: list[tuple[str, int]]) -> Requirements:
    """The policy read for `change_set` (its stored environments and the given entities),
    with the approvals that count: of the current content, not dismissed, not the author's."""
    rules = [r for r in environment_rules(change_set.project) if r.requires_review]
    touched = set(change_set.environments)
    needed = [r for r in rules if r.environment.name in touched]
    if not needed:
        return Requirements([], 0, [])
    groups: dict[int, ReviewGroup] = {}
    for rule in needed:
        for group in rule.groups:
            groups[group.pk] = group
    owners = EntityOwner.objects.filter(project=change_set.project).select_related("group")
    for owner in owners:
        if (owner.kind, owner.entity_id) in entity_keys:
            groups[owner.group.pk] = owner.group
    result = Requirements(
        environments=[r.environment.name for r in needed],
        approvals_required=max(r.approvals_required for r in needed),
        groups=sorted(groups.values(), key=lambda g: g.name),
    )
    if change_set.pk is None:
        return result
    result.approvals = list(
        Approval.objects.filter(
            change_set=change_set, content_hash=change_set.content_hash, dismissed_at=None
        )
        .exclude(user_id=change_set.author_id)
        .select_related("user")
    )
    approvers = {a.user_id for a in result.approvals}
    if result.groups:
        member_ids: dict[int, set[int]] = {}
        for through in ReviewGroup.members.through.objects.filter(
            reviewgroup_id__in=[g.pk for g in result.groups]
        ):
            member_ids.setdefault(through.reviewgroup_id, set()).add(through.user_id)
        result.groups_missing = [
            g for g in result.groups if not (member_ids.get(g.pk, set()) & approvers)
        ]
    return result
