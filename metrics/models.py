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

from django.contrib.postgres.indexes import BrinIndex
from django.db import models

from console.models import Environment


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
    before `through_day` with a time up to `rolled_end` is in them."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    scope = models.TextField()
    component = models.CharField(max_length=64)
    cuped_days = models.PositiveIntegerField()
    rolled_end = models.DateTimeField()
    through_day = models.DateField()
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "scope", "component"], name="metrics_rollupstate_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.component} through {self.through_day}"
