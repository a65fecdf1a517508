"""Feature gates, segments, dynamic configs, the project's unit types and the graph of
which entity's conditions use which gate or segment.

Rules, conditions and overrides are JSON (their shapes are in gates/types.py and are
validated by gates/documents.py); everything that is filtered or joined on is a column.
Rows change only through gates.services.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from console.entities import VersionedEntity
from console.models import Project, Tag, TimeStampedModel

# Unit types every project has; custom ones (companyID, ...) are UnitType rows.
BUILTIN_UNIT_TYPES = ("userID", "stableID")

# Stale rules (selectors.gate_list(stale=True)).
STALE_DECIDED_AFTER = timedelta(days=30)
STALE_TEMPORARY_AFTER = timedelta(days=90)


class UnitType(TimeStampedModel):
    """A custom unit of randomisation of one project (companyID, deviceID, ...), beside the
    built-in userID and stableID. SDK users pass it in `customIDs`."""

    # PROTECT: gates and segments name unit types; projects are archived, not deleted.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="unit_types")
    name = models.CharField(max_length=50)
    description = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("project", Lower("name"), name="gates_unittype_name_unique"),
        ]

    def __str__(self) -> str:
        return self.name


class ConfigEntity(VersionedEntity):
    """What gates, segments and dynamic configs add to the kernel: rules and an owner (tags
    are on each model)."""

    # SET_NULL: the entity stays when its owner's account is deleted.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # list[StoredRule] (gates/types.py): document rules plus salts and environment ids.
    rules = models.JSONField(default=list, blank=True)
    # Kept by a PostgreSQL trigger on every write (gates.specs.digest_trigger_sql; what
    # Python assigns is overwritten): a SHA-256 of the columns the row's spec is built from,
    # and whether its rules or overrides are environment-scoped. The incremental spec
    # build keys each row's fragment by them instead of reading and hashing every row.
    spec_digest = models.CharField(max_length=64, default="", editable=False)
    spec_scoped = models.BooleanField(default=False, editable=False)

    class Meta(VersionedEntity.Meta):
        abstract = True


class GateStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    LAUNCHED = "launched", "Launched: everyone passes"
    DISABLED = "disabled", "Disabled: no one passes"
    ARCHIVED = "archived", "Archived"


class FeatureGate(ConfigEntity):
    """A feature gate: rules decide who passes, overrides force unit IDs either way."""

    tags = models.ManyToManyField(Tag, blank=True, related_name="feature_gates")
    is_enabled = models.BooleanField(default=True)
    status = models.CharField(
        max_length=20, choices=GateStatus.choices, default=GateStatus.IN_PROGRESS
    )
    # When the status last changed; stale detection counts from here.
    status_changed_at = models.DateTimeField(default=timezone.now)
    is_permanent = models.BooleanField(default=False)
    # list[StoredOverride] (gates/types.py).
    overrides = models.JSONField(default=list, blank=True)

    class Meta(ConfigEntity.Meta):
        constraints = [
            models.UniqueConstraint(
                "project",
                Lower("name"),
                condition=Q(archived_at__isnull=True),
                name="gates_featuregate_name_unique",
            ),
            models.CheckConstraint(
                condition=Q(
                    archived_at__isnull=True,
                    status__in=["in_progress", "launched", "disabled"],
                )
                | Q(archived_at__isnull=False, status=GateStatus.ARCHIVED),
                name="gates_featuregate_archived_status",
            ),
        ]
        indexes = [models.Index(fields=["project", "status"], name="gates_gate_project_status")]

    def is_stale(self, now: datetime | None = None) -> bool:
        """The Python twin of selectors.stale_gate_q, for a single row."""
        now = now or timezone.now()
        if self.archived_at:
            return False
        if self.status in (GateStatus.LAUNCHED, GateStatus.DISABLED):
            return self.status_changed_at <= now - STALE_DECIDED_AFTER
        return not self.is_permanent and self.updated_at <= now - STALE_TEMPORARY_AFTER


class SegmentKind(models.TextChoices):
    RULE_BASED = "rule_based", "Rule based"
    ID_LIST = "id_list", "ID list"


class Segment(ConfigEntity):
    """A reusable group of units: rule based (rules like a gate's) or an ID list
    (SegmentID rows). Gates, configs and other segments use it in conditions."""

    tags = models.ManyToManyField(Tag, blank=True, related_name="segments")
    kind = models.CharField(max_length=20, choices=SegmentKind.choices)
    # Denormalised count of SegmentID rows (kept by the ID services): the builder picks
    # inline vs ID-list publication from it without counting a million rows.
    id_count = models.PositiveIntegerField(default=0)
    # Bumped when IDs are removed or replaced: ID-list files are append-only for SDKs, so a
    # removal starts a new file (a later issue serves it).
    id_list_generation = models.PositiveIntegerField(default=1)

    class Meta(ConfigEntity.Meta):
        constraints = [
            models.UniqueConstraint(
                "project",
                Lower("name"),
                condition=Q(archived_at__isnull=True),
                name="gates_segment_name_unique",
            ),
            models.CheckConstraint(
                condition=Q(kind="id_list") | Q(id_count=0), name="gates_segment_ids_only_in_list"
            ),
        ]


class SegmentID(models.Model):
    """One unit ID in an ID-list segment. Lists reach millions of rows: written in bulk
    (COPY) by the segment ID services, never one by one."""

    id = models.BigAutoField(primary_key=True)
    # CASCADE: IDs have no audit value of their own (the audit log keeps counts).
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="ids")
    unit_id = models.CharField(max_length=256)

    class Meta:
        constraints = [
            # Also the index the builder and the ID-list file use (segment first).
            models.UniqueConstraint(fields=["segment", "unit_id"], name="gates_segmentid_unique"),
        ]

    def __str__(self) -> str:
        return self.unit_id


class DynamicConfig(ConfigEntity):
    """A dynamic config: the first matching rule's JSON object, else the default value."""

    tags = models.ManyToManyField(Tag, blank=True, related_name="dynamic_configs")
    is_enabled = models.BooleanField(default=True)
    default_value = models.JSONField(default=dict, blank=True)
    # A JSON Schema (Draft 2020-12) the default and every rule's value must satisfy.
    schema = models.JSONField(null=True, blank=True)

    class Meta(ConfigEntity.Meta):
        constraints = [
            models.UniqueConstraint(
                "project",
                Lower("name"),
                condition=Q(archived_at__isnull=True),
                name="gates_dynamicconfig_name_unique",
            ),
        ]


class ReferenceKind(models.TextChoices):
    GATE = "gate", "Feature gate"
    SEGMENT = "segment", "Segment"
    DYNAMIC_CONFIG = "dynamic_config", "Dynamic config"


class Reference(models.Model):
    """One edge of a project's dependency graph: a condition of `source` passes or fails
    the gate or segment `target`. Rewritten by each save of the source, dropped when the
    source is archived. Used for cycle detection and in-use protection."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    source_kind = models.CharField(max_length=20, choices=ReferenceKind.choices)
    source_id = models.BigIntegerField()
    target_kind = models.CharField(max_length=20, choices=ReferenceKind.choices)
    target_id = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source_kind", "source_id", "target_kind", "target_id"],
                name="gates_reference_unique",
            ),
            models.CheckConstraint(
                condition=Q(target_kind__in=["gate", "segment"]), name="gates_reference_target"
            ),
        ]
        indexes = [
            models.Index(fields=["target_kind", "target_id"], name="gates_reference_target_idx"),
            models.Index(fields=["project"], name="gates_reference_project_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source_kind}:{self.source_id} → {self.target_kind}:{self.target_id}"


class RolloutState(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"
    DONE = "done", "Done"


class GateRollout(TimeStampedModel):
    """Where the rollout schedule of one gate rule stands (the schedule itself is part of
    the gate's document, reviewed with it): which step comes next and when.

    Written only by gates.services.rollouts: synced when a gate is written (a new or changed
    schedule starts over), advanced by the worker, paused, resumed or stopped from the
    gate's page."""

    gate = models.ForeignKey(FeatureGate, on_delete=models.CASCADE, related_name="rollouts")
    rule_id = models.CharField(max_length=40)
    # The schedule as approved (list[RolloutStepDoc]): a changed one starts over.
    steps = models.JSONField(default=list)
    state = models.CharField(
        max_length=10, choices=RolloutState.choices, default=RolloutState.ACTIVE
    )
    next_step = models.PositiveSmallIntegerField(default=0)
    # When the next step is due (None once done or stopped); what beat looks for.
    next_at = models.DateTimeField(null=True, blank=True)
    # When each applied step was applied, in order (ISO strings).
    applied = models.JSONField(default=list)
    # SET_NULL: the rollout keeps going when its author's account goes.
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gate", "rule_id"], name="gates_gaterollout_one"),
        ]
        indexes = [
            models.Index(
                fields=["next_at"],
                name="gates_rollout_due",
                condition=Q(state="active"),
            ),
        ]

    def __str__(self) -> str:
        return f"rollout of {self.gate_id}/{self.rule_id}"
