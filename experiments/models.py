"""Experiments, layers, the buckets experiments own in layers, and holdouts.

Groups, parameters, overrides and inline targeting are JSON (shapes in experiments/types.py,
validated by experiments/documents.py); what is filtered or joined on is a column. Rows
change only through experiments.services.

Bucketing (docs/statsig-spec.md §6): every layer, named or implicit, has 1,000 buckets hashed
on its salt. A running experiment owns `allocation × 10` of them: LayerBucket rows in a
named layer (unique per layer, so two experiments can never share one), the prefix
0..n-1 of its own implicit layer otherwise. Groups are bucket ranges hashed on the
experiment's salt.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from console.entities import VersionedEntity, new_salt
from console.models import Project, Tag, TimeStampedModel
from gates.models import FeatureGate
from metrics.models import WarehouseConnection

LAYER_BUCKETS = 1_000


class Layer(VersionedEntity):
    """A layer: parameters with defaults and 1,000 buckets that its experiments share
    without overlap (mutual exclusion)."""

    # list[StoredParameter] (experiments/types.py), the defaults of every layer parameter.
    parameters = models.JSONField(default=list, blank=True)

    class Meta(VersionedEntity.Meta):
        constraints = [
            models.UniqueConstraint(
                "project",
                Lower("name"),
                condition=Q(archived_at__isnull=True),
                name="experiments_layer_name_unique",
            ),
        ]


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUNNING = "running", "Running"
    SHIPPED = "shipped", "Decision made: shipped"
    ABANDONED = "abandoned", "Decision made: abandoned"
    ARCHIVED = "archived", "Archived"


# The statuses as Statsig's Console API names them: what documents and answers say. Ours are
# accepted as aliases on input (status_from_document).
STATSIG_STATUS: dict[str, str] = {
    ExperimentStatus.DRAFT: "setup",
    ExperimentStatus.RUNNING: "active",
    ExperimentStatus.SHIPPED: "decision_made",
    ExperimentStatus.ABANDONED: "abandoned",
    ExperimentStatus.ARCHIVED: "archived",
}
_STATUS_OF = {name: ours for ours, name in STATSIG_STATUS.items()} | {
    str(ours): str(ours) for ours in ExperimentStatus
}


def status_from_document(value: object) -> str | None:
    """Our ExperimentStatus for a document's status (Statsig's name or ours), else None."""
    return _STATUS_OF.get(value) if isinstance(value, str) else None


# Allowed status changes, each made by one service (experiment_<verb>); reset re-randomises.
EXPERIMENT_TRANSITIONS: dict[str, set[str]] = {
    ExperimentStatus.DRAFT: {ExperimentStatus.RUNNING, ExperimentStatus.ARCHIVED},
    ExperimentStatus.RUNNING: {
        ExperimentStatus.SHIPPED,
        ExperimentStatus.ABANDONED,
        ExperimentStatus.DRAFT,  # reset
    },
    ExperimentStatus.SHIPPED: {ExperimentStatus.ARCHIVED, ExperimentStatus.DRAFT},
    ExperimentStatus.ABANDONED: {ExperimentStatus.ARCHIVED, ExperimentStatus.DRAFT},
    ExperimentStatus.ARCHIVED: set(),
}
# The lifecycle steps and the status each leads to. EXPERIMENT_TRANSITIONS says which a
# status allows: the services refuse the others, and the page offers exactly these.
LIFECYCLE_STEPS: dict[str, str] = {
    "start": ExperimentStatus.RUNNING,
    "ship": ExperimentStatus.SHIPPED,
    "abandon": ExperimentStatus.ABANDONED,
    "reset": ExperimentStatus.DRAFT,
    "archive": ExperimentStatus.ARCHIVED,
}


def lifecycle_steps(status: str) -> set[str]:
    """The lifecycle steps an experiment in `status` can take."""
    return {
        step for step, target in LIFECYCLE_STEPS.items() if target in EXPERIMENT_TRANSITIONS[status]
    }


class Experiment(VersionedEntity):
    """An A/B/n experiment: groups of the allocated units get their group's parameter
    values, everyone else the defaults. `salt` (groups) and `layer_salt` (allocation in the
    implicit layer) change only through experiment_reset."""

    hypothesis = models.TextField(blank=True, max_length=5000)
    # ScorecardDocument (experiments/types.py): metrics and analysis settings.
    scorecard = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="experiments")
    # SET_NULL: the experiment stays when its owner's account is deleted.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=20, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT
    )
    # PROTECT: a layer with experiments is archived only after them (layer_archive checks).
    layer = models.ForeignKey(
        Layer, null=True, blank=True, on_delete=models.PROTECT, related_name="experiments"
    )
    # Salt of the implicit layer an experiment without a named layer is allocated in.
    layer_salt = models.CharField(max_length=64, default=new_salt)
    # Percent of the layer's units (one decimal: a bucket is 0.1%).
    allocation = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=Decimal(100),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    # PROTECT: gates are archived, not deleted; experiments_* checks they are live.
    targeting_gate = models.ForeignKey(
        FeatureGate, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # list[ConditionDoc] (gates/types.py), AND-ed; exclusive with targeting_gate.
    targeting_conditions = models.JSONField(default=list, blank=True)
    # list[StoredParameter] and list[StoredGroup] and list[StoredOverride] (types.py).
    parameters = models.JSONField(default=list, blank=True)
    groups = models.JSONField(default=list, blank=True)
    overrides = models.JSONField(default=list, blank=True)
    # Id of the shipped group (status shipped, or archived after shipping).
    launched_group_id = models.CharField(max_length=40, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(VersionedEntity.Meta):
        constraints = [
            models.UniqueConstraint(
                "project",
                Lower("name"),
                condition=Q(archived_at__isnull=True),
                name="experiments_experiment_name_unique",
            ),
            models.CheckConstraint(
                condition=Q(archived_at__isnull=True) & ~Q(status="archived")
                | Q(archived_at__isnull=False, status="archived"),
                name="experiments_experiment_archived_status",
            ),
            models.CheckConstraint(
                condition=Q(allocation__gte=0, allocation__lte=100),
                name="experiments_experiment_allocation_range",
            ),
            models.CheckConstraint(
                condition=~Q(status="shipped") | ~Q(launched_group_id=""),
                name="experiments_experiment_shipped_group",
            ),
            models.CheckConstraint(
                condition=Q(targeting_gate__isnull=True) | Q(targeting_conditions=[]),
                name="experiments_experiment_one_targeting",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status"], name="experiments_exp_project_status"),
        ]

    @property
    def bucket_count(self) -> int:
        """Buckets of its layer the experiment holds while running."""
        return int(self.allocation * LAYER_BUCKETS / 100)


class LayerBucket(models.Model):
    """One of a named layer's 1,000 buckets, owned by one running experiment. Rows are
    added when an experiment starts or its allocation grows and removed when it stops, so
    the buckets of the others never move."""

    id = models.BigAutoField(primary_key=True)
    # CASCADE: bucket rows have no audit value of their own; PROTECT on the layer and the
    # experiment already keeps both rows around.
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="buckets")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="buckets")
    bucket = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            # Mutual exclusion: a bucket of a layer belongs to at most one experiment.
            models.UniqueConstraint(fields=["layer", "bucket"], name="experiments_bucket_unique"),
            models.CheckConstraint(
                condition=Q(bucket__lt=LAYER_BUCKETS), name="experiments_bucket_range"
            ),
        ]
        indexes = [models.Index(fields=["experiment"], name="experiments_bucket_exp_idx")]

    def __str__(self) -> str:
        return f"{self.layer_id}:{self.bucket}"


class Holdout(VersionedEntity):
    """A share of units kept out of some experiments (or all: global), who get the defaults
    wherever it applies. Published as a gate with entity `holdout`."""

    # Salt of its one rule (the gate's salt is `salt`): stable, so raising the percentage
    # keeps everyone already held out.
    rule_salt = models.CharField(max_length=64, default=new_salt, editable=False)
    percentage = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    is_global = models.BooleanField(default=False)
    experiments = models.ManyToManyField(Experiment, blank=True, related_name="holdouts")

    class Meta(VersionedEntity.Meta):
        constraints = [
            models.UniqueConstraint(
                "project",
                Lower("name"),
                condition=Q(archived_at__isnull=True),
                name="experiments_holdout_name_unique",
            ),
            models.CheckConstraint(
                condition=Q(percentage__gte=0, percentage__lte=100),
                name="experiments_holdout_percentage_range",
            ),
        ]


class ResultsState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Computing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ExperimentResults(models.Model):
    """One computation of results in one environment: an experiment's scorecard, a gate's
    (its passing units against its failing ones on the Core metrics, as Statsig does for
    rollouts), or a holdout's (everyone else against the held-out units). The data range it
    covers, the settings and metric definitions it used, and what came out (payload:
    experiments/results/payload.py). Kept, newest shown: a refresh adds a row."""

    experiment = models.ForeignKey(
        Experiment, null=True, blank=True, on_delete=models.CASCADE, related_name="results"
    )
    gate = models.ForeignKey(
        FeatureGate, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    holdout = models.ForeignKey(
        Holdout, null=True, blank=True, on_delete=models.CASCADE, related_name="results"
    )
    environment = models.ForeignKey(
        "console.Environment", on_delete=models.CASCADE, related_name="+"
    )
    state = models.CharField(
        max_length=10, choices=ResultsState.choices, default=ResultsState.QUEUED
    )
    # Full: every per-unit value recomputed from the events (not the daily rollups).
    full = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    range_start = models.DateTimeField(null=True, blank=True)
    range_end = models.DateTimeField(null=True, blank=True)
    # {"step", "done", "total"} while computing: the page polls it.
    progress = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # The warehouse export after the results were stored (docs/export.md): when it was
    # written, or why it failed; both empty when the project exports nowhere.
    exported_at = models.DateTimeField(null=True, blank=True)
    export_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(experiment__isnull=False, gate__isnull=True, holdout__isnull=True)
                | Q(experiment__isnull=True, gate__isnull=False, holdout__isnull=True)
                | Q(experiment__isnull=True, gate__isnull=True, holdout__isnull=False),
                name="experiments_results_one_subject",
            )
        ]
        indexes = [
            models.Index(
                fields=["experiment", "environment", "-requested_at"],
                name="experiments_results_latest",
            ),
            models.Index(
                fields=["gate", "environment", "-requested_at"],
                name="experiments_results_gate",
            ),
            models.Index(
                fields=["holdout", "environment", "-requested_at"],
                name="experiments_results_holdout",
            ),
        ]

    def __str__(self) -> str:
        if self.experiment_id:
            subject = f"experiment {self.experiment_id}"
        elif self.gate_id:
            subject = f"gate {self.gate_id}"
        else:
            subject = f"holdout {self.holdout_id}"
        return f"results of {subject} in {self.environment_id} ({self.state})"


class WarehouseExport(TimeStampedModel):
    """A project's choice to write its experiments' and holdouts' assignments and results
    into a warehouse connection's export schema on each refresh (docs/export.md). Changed
    only by experiments.results.warehouse.warehouse_export_set."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="warehouse_export"
    )
    # CASCADE: a deleted connection exports nothing more.
    connection = models.ForeignKey(WarehouseConnection, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.project} exports to {self.connection.name}"
