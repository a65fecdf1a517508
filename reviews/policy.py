"""What a change set needs before it may be applied: the project's review policy read for
the environments the change set touches and the entities it changes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from console.models import Environment, EnvironmentTier, Project
from reviews.models import (
    Approval,
    Change,
    ChangeSet,
    ChangeSetSource,
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


def requirements_for(project: Project, change_sets: list[ChangeSet]) -> dict[int, Requirements]:
    """What the policy asks of each change set of `project` (by pk), in a fixed number of
    queries: the touched environments that require review (the most approvals any of them
    asks, the union of their groups), the changed entities' owning groups, and the
    approvals that count (of the current content, not dismissed, not the author's). A
    break-glass follow-up needs one approval by someone else, after the fact."""
    result: dict[int, Requirements] = {}
    if not change_sets:
        return result
    ids = [cs.pk for cs in change_sets]
    rules = [r for r in environment_rules(project) if r.requires_review]
    keys: dict[int, set[tuple[str, int]]] = defaultdict(set)
    for cs_id, kind, entity_id in Change.objects.filter(
        change_set_id__in=ids, entity_id__isnull=False
    ).values_list("change_set_id", "kind", "entity_id"):
        if entity_id is not None:  # always, given the filter: narrows the nullable column
            keys[cs_id].add((kind, entity_id))
    # The owners of the changed entities only: a project may own thousands.
    changed = set().union(*keys.values())
    owners: dict[tuple[str, int], ReviewGroup] = {
        (o.kind, o.entity_id): o.group
        for o in EntityOwner.objects.filter(
            project=project,
            kind__in={kind for kind, _ in changed},
            entity_id__in={entity_id for _, entity_id in changed},
        ).select_related("group")
    }
    approvals: dict[int, list[Approval]] = defaultdict(list)
    for approval in (
        Approval.objects.filter(change_set_id__in=ids, dismissed_at=None)
        .select_related("user")
        .order_by("created_at", "pk")
    ):
        approvals[approval.change_set_id].append(approval)

    for cs in change_sets:
        given = [a for a in approvals[cs.pk] if a.user_id != cs.author_id]
        if cs.source == ChangeSetSource.FOLLOW_UP:
            result[cs.pk] = Requirements(["(after the fact)"], 1, [], approvals=given)
            continue
        touched = set(cs.environments or [])
        needed = [r for r in rules if r.environment.name in touched]
        if not needed:
            result[cs.pk] = Requirements([], 0, [])
            continue
        groups = {g.pk: g for rule in needed for g in rule.groups}
        for key in keys[cs.pk]:
            if key in owners:
                groups[owners[key].pk] = owners[key]
        result[cs.pk] = Requirements(
            environments=[r.environment.name for r in needed],
            approvals_required=max(r.approvals_required for r in needed),
            groups=sorted(groups.values(), key=lambda g: g.name),
            approvals=[a for a in given if a.content_hash == cs.content_hash],
        )

    members = group_member_ids([g for needs in result.values() for g in needs.groups])
    for needs in result.values():
        approvers = {a.user_id for a in needs.approvals}
        needs.groups_missing = [g for g in needs.groups if not members[g.pk] & approvers]
    return result


def group_member_ids(groups: list[ReviewGroup]) -> dict[int, set[int]]:
    """{group id: its members' user ids}."""
    members: dict[int, set[int]] = defaultdict(set)
    for group_id, user_id in ReviewGroup.members.through.objects.filter(
        reviewgroup_id__in={g.pk for g in groups}
    ).values_list("reviewgroup_id", "user_id"):
        members[group_id].add(user_id)
    return members
