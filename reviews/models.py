"""Change sets, their changes, approvals and comments; review policies and review groups.

A change set stores documents (the Statsig Console API v1 shape of each entity), never
another app's rows: each change names its entity by kind and id, and the kind's handler
(reviews.registry) turns documents into writes through the domain app's own services.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from console.exceptions import ApplicationError
from console.models import Environment, Project, RulesetVersion, TimeStampedModel


class ChangeSetState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    # Being applied by the worker (heavy change sets): nothing changed yet; applied or,
    # when refused, back to approved (or stale) with `apply_error_*` saying why.
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    STALE = "stale", "Stale"


OPEN_STATES = (
    ChangeSetState.DRAFT,
    ChangeSetState.IN_REVIEW,
    ChangeSetState.APPROVED,
    ChangeSetState.STALE,
)
CLOSED_STATES = (ChangeSetState.APPLIED, ChangeSetState.REJECTED, ChangeSetState.CANCELLED)


class ChangeSetSource(models.TextChoices):
    BROWSER = "browser", "Browser"
    API = "api", "Console API"
    COMMAND = "command", "Command"
    ROLLBACK = "rollback", "Rollback"
    FOLLOW_UP = "follow_up", "Break-glass follow-up"


class ChangeSet(TimeStampedModel):
    """One proposed set of entity changes and its review.

    Written only by reviews.services. `content_hash` covers the changes and the revisions
    they were based on: approvals record the hash they saw, and only approvals of the
    current hash count.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="change_sets")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    # PROTECT: the history of who proposed what outlives nothing; accounts are deactivated.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="change_sets"
    )
    state = models.CharField(
        max_length=10, choices=ChangeSetState.choices, default=ChangeSetState.DRAFT
    )
    source = models.CharField(max_length=10, choices=ChangeSetSource.choices)
    content_hash = models.CharField(max_length=64)
    # Names of the environments whose spec the changes alter (computed by a dry run).
    environments = models.JSONField(default=list)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    reject_reason = models.TextField(blank=True, max_length=2000)
    stale_reason = models.TextField(blank=True, max_length=2000)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # PROTECT: the version a change set produced is publishing history.
    ruleset_version = models.OneToOneField(
        RulesetVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="change_set",
    )
    break_glass = models.BooleanField(default=False)
    # While applying: when and by whom the worker was asked, and the state to go back to
    # if applying is refused. After a refusal: why (shown until the next apply).
    apply_queued_at = models.DateTimeField(null=True, blank=True)
    apply_queued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    apply_resume_state = models.CharField(max_length=10, choices=ChangeSetState.choices, blank=True)
    apply_error_message = models.TextField(blank=True, max_length=2000)
    apply_error_code = models.CharField(max_length=60, blank=True)
    # Scheduled: once approved, the worker applies it at `scheduled_for` (beat,
    # reviews.tasks.changeset_apply_scheduled_task), not the approval. Cleared when the
    # schedule is cancelled; kept after the apply as a record of when it was due.
    scheduled_for = models.DateTimeField(null=True, blank=True)
    scheduled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The break-glass change set a follow-up review looks at after the fact.
    follow_up_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="follow_up"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "number"], name="reviews_changeset_number_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "state", "-created_at"], name="reviews_cs_queue"),
            # What beat looks for: approved change sets whose time has come.
            models.Index(
                fields=["scheduled_for"],
                name="reviews_cs_scheduled_due",
                condition=Q(scheduled_for__isnull=False, state__in=("approved", "stale")),
            ),
        ]

    # Not stored: set by the services on the change set they return. `results` holds what
    # each change's service returned when it was applied; `apply_error` why an apply that
    # followed an approval was refused (the approval stands).
    results: list[Any]
    apply_error: ApplicationError | None

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_scheduled(self) -> bool:
        """Waiting for its time: open (not applied, cancelled or refused) with a schedule."""
        return self.scheduled_for is not None and self.state in OPEN_STATES


class Change(models.Model):
    """One entity change of a change set: `action` on entity `kind` #`entity_id`.

    `payload` is what the author asked for (a whole document for create/update, the
    action's arguments otherwise); `before` is the entity's document at `base_revision`,
    `after` the document the dry run produced (what the diff shows).
    """

    change_set = models.ForeignKey(ChangeSet, on_delete=models.CASCADE, related_name="changes")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=30)
    action = models.CharField(max_length=30)
    entity_id = models.BigIntegerField(null=True, blank=True)
    entity_name = models.CharField(max_length=200)
    base_revision = models.PositiveIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    # How much work applying it is: 1, or the length of its action's bulk list (IDs).
    weight = models.PositiveIntegerField(default=1)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["change_set_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_set", "position"], name="reviews_change_position_unique"
            ),
        ]
        indexes = [models.Index(fields=["kind", "entity_id"], name="reviews_change_entity")]

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.entity_name}"


class Approval(models.Model):
    """A reviewer's approval of one exact content of a change set."""

    change_set = models.ForeignKey(ChangeSet, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    content_hash = models.CharField(max_length=64)
    via_key_hint = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when an edit or rebase changed the content after this approval.
    dismissed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["change_set", "user", "content_hash"],
                name="reviews_approval_once_per_content",
            ),
        ]

    def __str__(self) -> str:
        return f"approval of #{self.change_set_id} by user {self.user_id}"


class Comment(models.Model):
    change_set = models.ForeignKey(ChangeSet, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"comment on #{self.change_set_id} by user {self.author_id}"


class ReviewGroup(TimeStampedModel):
    """A named set of project members whose approval a policy or an entity can require."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_groups")
    name = models.CharField(max_length=60)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="review_groups")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="reviews_reviewgroup_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ReviewPolicy(TimeStampedModel):
    """A project's review settings. A project without a row uses the defaults."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="review_policy")
    # Admins may apply their own change without approvals, flagged and followed up.
    allow_break_glass = models.BooleanField(default=False)
    # The approval that meets the policy applies the change set at once.
    apply_on_approval = models.BooleanField(default=True)


class EnvironmentReviewRule(TimeStampedModel):
    """Whether changes to one environment need review, how many approvals, which groups.

    An environment without a row requires one approval when it is production-tier and no
    review otherwise."""

    environment = models.OneToOneField(
        Environment, on_delete=models.CASCADE, related_name="review_rule"
    )
    requires_review = models.BooleanField(default=True)
    approvals_required = models.PositiveSmallIntegerField(default=1)
    groups = models.ManyToManyField(ReviewGroup, blank=True, related_name="environment_rules")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(approvals_required__gte=1) & Q(approvals_required__lte=5),
                name="reviews_rule_approvals_1_to_5",
            ),
        ]


class EntityOwner(TimeStampedModel):
    """An entity's owning review group: its approval is required for changes to it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=30)
    entity_id = models.BigIntegerField()
    group = models.ForeignKey(ReviewGroup, on_delete=models.CASCADE, related_name="owned")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "entity_id"], name="reviews_entityowner_one"),
        ]
