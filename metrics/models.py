"""What the SDKs send us, stored in the shapes metrics and results query (docs/events.md).

`Event` is the raw log: one row per event the SDKs sent, exposures included, in a table
partitioned by the day it was received (metrics.partitions creates the partitions ahead
and drops the expired ones); only metrics.services.events_store writes it, with COPY. The
same transaction keeps the hourly event counts (`EventCount`) and what was set aside or
dropped as a duplicate (`IntakeTally`, `SetAsideEvent`) current, and leaves the batch's
exposures, aggregated, in `PendingExposures`; the worker counts those into the first
exposure of each unit (`Exposure`) and the hourly checks (`ExposureCount`) moments later.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from console.models import Environment, Project, Tag, TimeStampedModel
from metrics.definitions import Direction, MetricType, UserCountMode


class Event(models.Model):
    """One event as stored. The table is created by this app's migration (partitioned,
    which Django cannot declare), so Django only reads it."""

    id = models.BigIntegerField(primary_key=True)
    received_at = models.DateTimeField()
    environment = models.ForeignKey(
        Environment, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    # The SDK's event time, corrected for the skew of its clock (never after received_at).
    time = models.DateTimeField()
    client_time = models.BigIntegerField(null=True)
    event_name = models.TextField()
    user_id = models.TextField()
    stable_id = models.TextField()
    custom_ids = models.JSONField()
    value_text = models.TextField(null=True)  # noqa: DJ001 (no value is not an empty one)
    value_num = models.FloatField(null=True)
    metadata = models.JSONField(null=True)
    user = models.JSONField(null=True)
    secondary_exposures = models.JSONField(null=True)
    sdk_type = models.TextField()
    sdk_version = models.TextField()
    is_bot = models.BooleanField()

    class Meta:
        managed = False
        db_table = "metrics_event"

    def __str__(self) -> str:
        return f"{self.event_name} @ {self.time:%Y-%m-%d %H:%M:%S}"


class EventKey(models.Model):
    """The idempotency keys of the events stored lately: an event whose key is here is a
    resend (GATEHOUSE_EVENT_DEDUPE_HOURS)."""

    key = models.BinaryField(primary_key=True, max_length=16)
    seen_at = models.DateTimeField()

    class Meta:
        # Keys arrive in time order: a block range index finds the old ones for
        # housekeeping and costs the intake nothing per key (a B-tree costs an insert).
        indexes = [BrinIndex(fields=["seen_at"], name="metrics_eventkey_seen_brin")]

    def __str__(self) -> str:
        return bytes(self.key).hex()


class ExposureKind(models.TextChoices):
    GATE = "gate", "Gate"
    CONFIG = "config", "Config or experiment"


class Exposure(models.Model):
    """A unit's exposure to a gate, config or experiment: first seen in which group.
    Written only by the worker, from PendingExposures."""

    # The unique constraint leads with the environment: no index of its own, and no
    # database constraint checked per inserted unit.
    environment = models.ForeignKey(
        Environment,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    kind = models.CharField(max_length=10, choices=ExposureKind.choices)
    name = models.CharField(max_length=200)
    unit_type = models.CharField(max_length=100)
    unit_id = models.CharField(max_length=512)
    # The rule that served the first exposure, and its group: an experiment's group name,
    # "pass" or "fail" for a gate, "" when the rule is no group (targeting, prestart...).
    rule_id = models.CharField(max_length=200)
    group_name = models.CharField(max_length=200)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    count = models.PositiveIntegerField()
    # The unit was later exposed in another group: its data says nothing clean of either.
    crossover = models.BooleanField(default=False)
    is_bot = models.BooleanField(default=False)
    # The user at the first exposure, for results' breakdowns ("" unknown): the country
    # (user.country), the user agent's browser and OS families (the request's User-Agent
    # header when the user has no userAgent, which the stored event does not keep), and
    # user.custom's scalar fields as texts (metrics.intake.user_dimensions bounds them).
    country = models.CharField(max_length=200, default="", db_default="", blank=True)
    browser = models.CharField(max_length=100, default="", db_default="", blank=True)
    os = models.CharField(max_length=100, default="", db_default="", blank=True)
    custom = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "kind", "name", "unit_type", "unit_id"],
                name="metrics_exposure_unit",
            )
        ]
        indexes = [
            models.Index(fields=["environment", "kind", "name", "first_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.unit_type} {self.unit_id} in {self.group_name or self.rule_id}"


class PendingExposures(models.Model):
    """The exposures of one stored batch, aggregated per unit and per hour, until the
    worker counts them into Exposure and ExposureCount (metrics.services.exposures_apply)
    and deletes this row in the same transaction: each batch is counted once."""

    environment = models.ForeignKey(
        Environment,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    # JSON arrays, as the worker's upserts read them (json_to_recordset).
    units = models.TextField()
    checks = models.TextField()

    def __str__(self) -> str:
        return f"pending exposures #{self.pk}"


class EventCount(models.Model):
    """Events of one name received in one hour (exposures included)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    event_name = models.CharField(max_length=128)
    hour = models.DateTimeField()
    count = models.PositiveBigIntegerField()
    last_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "event_name", "hour"], name="metrics_eventcount_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_name} {self.hour:%Y-%m-%d %H}h: {self.count}"


class ExposureCount(models.Model):
    """Exposure events (checks) of one gate or config in one hour, per group; bots apart."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=ExposureKind.choices)
    name = models.CharField(max_length=200)
    group_name = models.CharField(max_length=200)
    hour = models.DateTimeField()
    count = models.PositiveBigIntegerField()
    bots = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "kind", "name", "group_name", "hour"],
                name="metrics_exposurecount_hour",
            )
        ]
        indexes = [models.Index(fields=["environment", "kind", "hour"])]

    def __str__(self) -> str:
        return f"{self.name}/{self.group_name} {self.hour:%Y-%m-%d %H}h: {self.count}"


class IntakeOutcome(models.TextChoices):
    SET_ASIDE = "set_aside", "Set aside"
    DUPLICATE = "duplicate", "Duplicate"


class IntakeTally(models.Model):
    """Events not stored in one hour, by outcome and reason (metrics.intake.REASONS)."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=IntakeOutcome.choices)
    reason = models.CharField(max_length=40)
    count = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "hour", "outcome", "reason"], name="metrics_tally_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} {self.reason} {self.hour:%Y-%m-%d %H}h: {self.count}"


class SetAsideEvent(models.Model):
    """An event set aside, as received (JSON, truncated), so its sender can see why."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=40)
    body = models.TextField()

    def __str__(self) -> str:
        return f"{self.reason} @ {self.received_at:%Y-%m-%d %H:%M:%S}"


# ---------------------------------------------------------------- the metrics catalog


class MetricMetricType(models.TextChoices):
    """The catalog's metric types: metrics.definitions.MetricType, with labels."""

    EVENT_COUNT = MetricType.EVENT_COUNT.value, "Event count"
    USER_COUNT = MetricType.USER_COUNT.value, "User count"
    SUM = MetricType.SUM.value, "Sum"
    MEAN = MetricType.MEAN.value, "Mean"
    RATIO = MetricType.RATIO.value, "Ratio"
    FUNNEL = MetricType.FUNNEL.value, "Funnel"
    COUNT_DISTINCT = MetricType.COUNT_DISTINCT.value, "Count distinct"


class MetricDirection(models.TextChoices):
    INCREASE = Direction.INCREASE.value, "Increase is good"
    DECREASE = Direction.DECREASE.value, "Decrease is good"


class MetricUserCountMode(models.TextChoices):
    PARTICIPATION = UserCountMode.PARTICIPATION.value, "Daily participation rate"
    ONE_TIME = UserCountMode.ONE_TIME.value, "One-time event"


class MetricQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)


class Metric(TimeStampedModel):
    """One metric of a project's catalog: what to measure per unit (docs/metrics.md), handed
    to the query plan as a `metrics.definitions.MetricDefinition`
    (metrics.catalog.selectors.metric_definition). Its ID is `name::type`, as Statsig's.
    Rows change only through metrics.catalog.services."""

    # PROTECT: metrics are archived, never deleted with their project.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    # Immutable after creation, like the type: together they are the metric's ID.
    name = models.CharField(max_length=128)
    metric_type = models.CharField(max_length=20, choices=MetricMetricType.choices)
    description = models.TextField(blank=True, max_length=5000)
    # The events counted (every type but ratio and funnel): a name and filters
    # ([{"field", "operator", "values"}], metrics.definitions.Filter).
    event_name = models.CharField(max_length=128, blank=True)
    filters = models.JSONField(default=list, blank=True)
    # Sum, mean: the number taken from each event; count distinct: the value counted.
    value_field = models.CharField(max_length=200, default="value")
    user_count_mode = models.CharField(
        max_length=20,
        choices=MetricUserCountMode.choices,
        default=MetricUserCountMode.PARTICIPATION,
    )
    # Ratio: two metrics of the same project (neither a ratio nor a funnel). PROTECT: a
    # metric a ratio stands on is archived, never deleted.
    numerator = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    denominator = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A warehouse metric source the metric reads instead of events (docs/warehouse.md):
    # `filters` and `value_field` then name its columns. PROTECT: a source metrics read is
    # not deleted from under them.
    source = models.ForeignKey(
        "metrics.MetricSource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="metrics",
    )
    # Funnel: [{"event_name", "filters"}], two steps or more.
    steps = models.JSONField(default=list, blank=True)
    funnel_window_hours = models.PositiveIntegerField(null=True, blank=True)
    direction = models.CharField(
        max_length=10, choices=MetricDirection.choices, default=MetricDirection.INCREASE
    )
    winsorize_lower = models.FloatField(null=True, blank=True)
    winsorize_upper = models.FloatField(null=True, blank=True, default=0.999)
    cap = models.FloatField(null=True, blank=True)
    dimensions = models.JSONField(default=list, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="metrics")
    # Made by metric_autocreate for an event name (`<event>::event_count`, `::event_user`).
    is_auto = models.BooleanField(default=False)
    revision = models.PositiveIntegerField(default=1)
    # SET_NULL: the metric stays when an account is deleted.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = MetricQuerySet.as_manager()

    class Meta:
        ordering = ["name", "metric_type"]
        constraints = [
            # Not partial: an archived metric keeps its ID (results recorded it), and the
            # hourly auto-creation must not bring back an auto metric someone archived.
            models.UniqueConstraint(
                "project", Lower("name"), "metric_type", name="metrics_metric_name_type"
            ),
            models.CheckConstraint(
                condition=Q(winsorize_lower__isnull=True)
                | Q(winsorize_lower__gt=0, winsorize_lower__lt=1),
                name="metrics_metric_winsorize_lower",
            ),
            models.CheckConstraint(
                condition=Q(winsorize_upper__isnull=True)
                | Q(winsorize_upper__gt=0, winsorize_upper__lt=1),
                name="metrics_metric_winsorize_upper",
            ),
            models.CheckConstraint(
                condition=Q(cap__isnull=True) | Q(cap__gte=0), name="metrics_metric_cap"
            ),
        ]
        indexes = [models.Index(fields=["project", "event_name"])]

    def __str__(self) -> str:
        return self.statsig_id

    @property
    def statsig_id(self) -> str:
        """The Console API's ID of the metric: `name::type`."""
        return f"{self.name}::{self.metric_type}"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class MetricSettings(TimeStampedModel):
    """A project's metrics settings: which event names make a unit active on a day (its
    DAU). No row, or an empty list, means any custom event (not statsig::* exposures)."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="+")
    active_events = models.JSONField(default=list, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"metrics settings of project {self.project_id}"


class UnitDay(models.Model):
    """The per-unit-per-day rollup of one experiment's units for one metric component (an
    event selector and its value field; metrics.plan.rollup): per unit, day of the event
    and day it was received, the matching events before (period "pre", the CUPED window)
    and after (period "post") the unit's first exposure, their count and the sum and count
    of their numeric values. One row per unit with period "unit" records the unit and the
    first exposure its rows were computed from. Written only by metrics.plan.rollup."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    scope = models.TextField()  # metrics.plan.ExperimentScope.key()
    component = models.CharField(max_length=64)
    unit_id = models.CharField(max_length=512)
    period = models.CharField(max_length=4)  # "unit", "pre" or "post"
    day = models.DateField()
    received_day = models.DateField(null=True)
    first_at = models.DateTimeField()
    events = models.BigIntegerField(default=0)
    value_sum = models.FloatField(default=0)
    value_n = models.BigIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(
                fields=["environment", "scope", "component", "unit_id"],
                name="metrics_unitday_unit",
            ),
            models.Index(
                fields=["environment", "scope", "component", "received_day"],
                name="metrics_unitday_received",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} {self.period} {self.day}: {self.events}"


class RollupState(models.Model):
    """How far the UnitDay rows of one (scope, component) are current: every event received
    before `through_day` with a time up to `rolled_end` is in them. `direct`: the rollup did
    not pay for this component (too few events per row when it was built, `events_per_row`)
    and the plan reads events instead until `refreshed_at` is a week old."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    scope = models.TextField()
    component = models.CharField(max_length=64)
    cuped_days = models.PositiveIntegerField()
    rolled_end = models.DateTimeField()
    through_day = models.DateField()
    refreshed_at = models.DateTimeField()
    direct = models.BooleanField(default=False)
    events_per_row = models.FloatField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "scope", "component"], name="metrics_rollupstate_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.component} through {self.through_day}"


# ---------------------------------------------------------------- the customer's warehouse
# Defined in metrics.warehouse.models; imported here so Django registers them with the app.

from metrics.warehouse.models import AssignmentSource as AssignmentSource  # noqa: E402
from metrics.warehouse.models import MetricSource as MetricSource  # noqa: E402
from metrics.warehouse.models import WarehouseConnection as WarehouseConnection  # noqa: E402
