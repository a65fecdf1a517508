"""An experiment's results in one environment (docs/results.md).

Experiments knows which units are in which group and what the scorecard asks for; metrics
knows how to measure. So: the scorecard's metrics are looked up in the catalog, the query
plan computes each one's per-group sufficient statistics in the database, the statistics
module turns those into comparisons, and everything lands in one JSON payload that the
page, the API and the CSV export read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console import progress
from console.exceptions import DomainError
from console.models import Environment, Project
from experiments.documents.scorecard import ASSIGNMENT_SOURCE, metric_id, stored_scorecard
from experiments.models import Experiment, Holdout
from experiments.results.payload import plain
from gates.models import FeatureGate
from metrics import stats
from metrics.catalog.selectors import metric_definitions, tagged_metric_ids
from metrics.definitions import MetricDefinition, MetricType, UserCountMode
from metrics.plan import ExperimentScope, GroupStatistics, PlanResult, group_statistics
from metrics.selectors import exposure_tally
from metrics.warehouse import plan as warehouse_plan
from metrics.warehouse.models import AssignmentSource
from metrics.warehouse.selectors import assignment_source_named, metric_sources_by_name

PRIMARY, SECONDARY, GUARDRAIL = "primary", "secondary", "guardrail"
CORE_TAG = "Core"
PAYLOAD_VERSION = 1

# How a metric is measured in a scope: its plan result for a definition (the daily series
# too when asked), or Unmeasured.
Measure = Callable[[MetricDefinition, bool], PlanResult]


class Unmeasured(Exception):
    """The metric cannot be measured where the experiment's units are: its entry says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def ingested(environment: Environment, scope: ExperimentScope, *, now: dt.datetime, full: bool):
    """Measuring over the ingested exposures and events (metrics.plan)."""

    def measure(definition: MetricDefinition, series: bool) -> PlanResult:
        if warehouse_plan.metric_sources(definition) != {None}:
            raise Unmeasured(
                "This metric reads a warehouse metric source: it is measured in experiments "
                "whose exposures come from an assignment source of that warehouse."
            )
        return group_statistics(
            environment.pk, scope, definition, now=now, full=full, series=series
        )

    return measure


def in_warehouse(assignment: AssignmentSource, scope: ExperimentScope, *, now: dt.datetime):
    """Measuring in the customer's warehouse, over the assignment source's units and the
    metric sources of the same connection (metrics.warehouse.plan)."""
    sources = metric_sources_by_name(project=assignment.project)

    def measure(definition: MetricDefinition, series: bool) -> PlanResult:
        names = warehouse_plan.metric_sources(definition)
        usable = {n for n in names if n in sources}
        if (
            len(names) != 1
            or usable != names
            or sources[next(iter(usable))].connection_id != assignment.connection_id
        ):
            raise Unmeasured(
                "The experiment's exposures come from the warehouse assignment source "
                f"{assignment.name}: only metrics over metric sources of the warehouse "
                f"{assignment.connection.name} are measured (this one reads "
                + ("ingested events" if None in names else "another source")
                + ")."
            )
        return warehouse_plan.group_statistics(
            assignment, sources, scope, definition, now=now, series=series
        )

    return measure


@dataclass(frozen=True)
class ScorecardMetric:
    id: str
    role: str
    # None: the scorecard names a metric the catalog no longer has.
    definition: MetricDefinition | None


def scorecard_metrics(experiment: Experiment) -> list[ScorecardMetric]:
    """Primary metrics (named and by tag), then secondary ones, then the project's Core
    metrics as guardrails; a metric counts once, in its first role."""
    card = stored_scorecard(experiment.scorecard)
    project = experiment.project
    roles: dict[str, str] = {}
    for role, refs, tags in (
        (PRIMARY, card["primaryMetrics"], card["primaryMetricTags"]),
        (SECONDARY, card["secondaryMetrics"], card["secondaryMetricTags"]),
        (GUARDRAIL, [], [CORE_TAG]),
    ):
        for ref in refs:
            roles.setdefault(metric_id(ref), role)
        for found in tagged_metric_ids(project=project, tags=tags):
            roles.setdefault(found, role)
    definitions = metric_definitions(project=project, ids=list(roles))
    return [ScorecardMetric(i, role, definitions.get(i)) for i, role in roles.items()]


def scope_of(experiment: Experiment, now: dt.datetime) -> ExperimentScope | None:
    """Whose exposures count: the experiment's groups, from its start to its decision (or
    now). None before it started."""
    if experiment.started_at is None:
        return None
    return ExperimentScope(
        kind="config",
        name=experiment.name,
        unit_type=experiment.id_type,
        groups=tuple(g["name"] for g in experiment.groups),
        start=experiment.started_at,
        end=min(experiment.decided_at or now, now),
    )


def settings_of(experiment: Experiment, scope: ExperimentScope, primaries: int) -> stats.Settings:
    card = stored_scorecard(experiment.scorecard)
    correction = stats.Correction.NONE
    if card["bonferroniCorrection"]:
        correction = stats.Correction.BONFERRONI
    elif card["benjaminiHochbergCorrection"]:
        correction = stats.Correction.BENJAMINI_HOCHBERG
    target = scope.start + dt.timedelta(days=card["duration"])
    return stats.Settings(
        confidence_level=int(card["defaultConfidenceInterval"]) / 100,
        correction=correction,
        bonferroni_over=stats.BonferroniOver.BOTH,
        primary_metrics=max(1, primaries),
        sequential=card["sequentialTesting"],
        target_date_passed=scope.end >= target,
        cuped=card["cuped"],
        bayesian=True,
    )


def exposure_summary(environment: Environment, scope: ExperimentScope) -> dict[str, Any]:
    """Units per group (crossovers and bots left out, and counted), and first exposures per
    day and group, from the exposures the worker counted (in the events engine)."""
    tally = exposure_tally(
        environment_id=environment.pk,
        kind=scope.kind,
        name=scope.name,
        unit_type=scope.unit_type,
        start=scope.start,
        end=scope.end,
    )
    return _exposure_summary_of(scope, tally)


def _exposure_summary_of(
    scope: ExperimentScope, tally: list[tuple[str, dt.date, bool, bool, int]]
) -> dict[str, Any]:
    """exposure_summary from the first exposures counted by (group, day, crossover, bot)."""
    counts: dict[str, int] = {}
    daily: dict[str, dict[str, int]] = {}
    crossovers = bots = 0
    for group_name, day, crossover, is_bot, n in sorted(tally, key=lambda row: row[1]):
        if crossover:
            crossovers += n
        elif is_bot:
            bots += n
        elif group_name in scope.groups:
            counts[group_name] = counts.get(group_name, 0) + n
            by_group = daily.setdefault(day.isoformat(), {})
            by_group[group_name] = by_group.get(group_name, 0) + n
    return {
        "groups": [{"name": g, "units": counts.get(g, 0)} for g in scope.groups],
        "crossovers": crossovers,
        "bots": bots,
        "daily": [{"day": day, "groups": groups} for day, groups in daily.items()],
    }


def statistic(
    definition: MetricDefinition, g: GroupStatistics, *, cuped: bool
) -> stats.GroupStatistic:
    """A group's sufficient statistics as the statistics module's input for the metric's
    type: ratios (mean, ratio, funnel) by the delta method, one-time user counts as
    proportions, the rest as sample means; with the pre-exposure covariate for CUPED."""
    if definition.type in (MetricType.RATIO, MetricType.MEAN, MetricType.FUNNEL):
        return stats.Ratio(
            n=g.n,
            sum=g.sum,
            sum_squares=g.sum_squares,
            den_sum=g.den_sum or 0.0,
            den_sum_squares=g.den_sum_squares or 0.0,
            main_den_sum_product=g.main_den_sum_product or 0.0,
            covariate=_ratio_covariate(g) if cuped else None,
        )
    covariate = _covariate(g) if cuped else None
    one_time = definition.user_count_mode is UserCountMode.ONE_TIME
    if definition.type is MetricType.USER_COUNT and one_time:
        return stats.Proportion(n=g.n, sum=g.sum, covariate=covariate)
    return stats.SampleMean(n=g.n, sum=g.sum, sum_squares=g.sum_squares, covariate=covariate)


def _covariate(g: GroupStatistics) -> stats.Covariate | None:
    if g.covariate_sum is None:
        return None
    return stats.Covariate(
        sum=g.covariate_sum,
        sum_squares=g.covariate_sum_squares or 0.0,
        main_sum_product=g.main_covariate_sum_product or 0.0,
        units_with_data=g.units_with_pre_data,
    )


def _ratio_covariate(g: GroupStatistics) -> stats.RatioCovariate | None:
    if g.covariate_sum is None or g.den_pre_sum is None:
        return None
    return stats.RatioCovariate(
        sum=g.covariate_sum,
        sum_squares=g.covariate_sum_squares or 0.0,
        den_sum=g.den_pre_sum,
        den_sum_squares=g.den_pre_sum_squares or 0.0,
        main_sum_product=g.main_covariate_sum_product or 0.0,
        den_sum_product=g.den_post_den_pre_sum_product or 0.0,
        main_den_pre_sum_product=g.main_post_den_pre_sum_product or 0.0,
        pre_den_sum_product=g.main_pre_den_post_sum_product or 0.0,
        pre_pre_sum_product=g.main_pre_den_pre_sum_product or 0.0,
        units_with_data=g.units_with_pre_data,
    )


def direction_of(definition: MetricDefinition) -> stats.Direction:
    return stats.Direction(definition.direction.value)


def _lift_series(
    definition: MetricDefinition, plan: PlanResult, settings: stats.Settings
) -> list[dict[str, Any]]:
    """The relative lift of each test group by day, from the cumulative daily statistics
    (no CUPED, no correction: what the picture shows is the trend)."""
    series = []
    daily_settings = stats.Settings(
        confidence_level=settings.confidence_level,
        sequential=settings.sequential,
        target_date_passed=settings.target_date_passed,
        cuped=False,
    )
    for days in zip(*(g.daily for g in plan.groups), strict=False):
        groups = [
            statistic(definition, _as_group(plan.groups[i], day), cuped=False)
            for i, day in enumerate(days)
        ]
        comparisons = stats.analyze_metric(
            groups, daily_settings, direction=direction_of(definition), primary=False
        )
        series.append(
            {
                "day": days[0].day.isoformat(),
                "groups": [
                    {
                        "group": plan.groups[c.treatment].group,
                        "estimate": c.relative.estimate if c.relative else None,
                        "interval": list(c.relative.interval) if c.relative else None,
                    }
                    for c in comparisons
                ],
            }
        )
    return plain(series)


def _as_group(group: GroupStatistics, day: Any) -> GroupStatistics:
    return GroupStatistics(
        group=group.group,
        units=day.n,
        n=day.n,
        sum=day.sum,
        sum_squares=day.sum_squares,
        den_sum=day.den_sum,
        den_sum_squares=day.den_sum_squares,
        main_den_sum_product=day.main_den_sum_product,
    )


def metric_entry(item: ScorecardMetric) -> dict[str, Any]:
    name, _, kind = item.id.rpartition("::")
    definition = item.definition
    return {
        "id": item.id,
        "name": name,
        "type": kind,
        "role": item.role,
        "direction": definition.direction.value if definition else "increase",
        "definition": definition.as_dict() if definition else None,
        "groups": [],
        "comparisons": [],
        "series": [],
        "message": None if definition else "This metric is no longer in the catalog.",
    }


# A gate's scorecard looks back this far: its passing units against its failing ones.
GATE_WINDOW = dt.timedelta(days=28)
GATE_GROUPS = ("fail", "pass")  # control first
# A holdout's results: the held-out units ("pass") are the control, everyone else the test
# group, as in Statsig's holdout Pulse: a positive lift is what the shipped features added.
HOLDOUT_GROUPS = ("pass", "fail")
HOLDOUT_LABELS = {"pass": "Held out", "fail": "Everyone else"}


def compute_gate(
    gate: FeatureGate, environment: Environment, *, now: dt.datetime, full: bool = False
) -> dict[str, Any]:
    """A gate's scorecard as of `now`: units first checked in the last four weeks, those
    that failed it as control against those that passed, on the project's Core metrics
    (Statsig's rollout Pulse). No SRM: a gate's pass rate is whatever its rules make it."""
    scope = ExperimentScope(
        kind="gate",
        name=gate.name,
        unit_type=gate.id_type,
        groups=GATE_GROUPS,
        start=now - GATE_WINDOW,
        end=now,
    )
    metrics = _metrics_by_role(gate.project, {})
    return _compare_checks(environment, scope, metrics, None, now=now, full=full)


def compute_holdout(
    holdout: Holdout, environment: Environment, *, now: dt.datetime, full: bool = False
) -> dict[str, Any]:
    """A holdout's results as of `now`: the units checked since it was created, held out
    (control) against everyone else, on the project's Core metrics and the primary and
    secondary metrics of the experiments it names; the split is checked against its
    percentage (SRM)."""
    scope = ExperimentScope(
        kind="gate",
        name=holdout.name,
        unit_type=holdout.id_type,
        groups=HOLDOUT_GROUPS,
        start=holdout.created_at,
        end=now,
    )
    secondary: dict[str, str] = {}
    for experiment in holdout.experiments.all():
        card = stored_scorecard(experiment.scorecard)
        for refs, tags in (
            (card["primaryMetrics"], card["primaryMetricTags"]),
            (card["secondaryMetrics"], card["secondaryMetricTags"]),
        ):
            for ref in refs:
                secondary.setdefault(metric_id(ref), SECONDARY)
            for found in tagged_metric_ids(project=holdout.project, tags=tags):
                secondary.setdefault(found, SECONDARY)
    metrics = _metrics_by_role(holdout.project, secondary)
    held_out = float(holdout.percentage)
    payload = _compare_checks(
        environment, scope, metrics, [held_out, 100 - held_out], now=now, full=full
    )
    payload["groupLabels"] = HOLDOUT_LABELS
    return payload


def _metrics_by_role(project: Project, roles: dict[str, str]) -> list[ScorecardMetric]:
    """The metrics of `roles` (id -> role), then the project's Core metrics as guardrails;
    a metric counts once, in its first role."""
    roles = dict(roles)
    for found in tagged_metric_ids(project=project, tags=[CORE_TAG]):
        roles.setdefault(found, GUARDRAIL)
    definitions = metric_definitions(project=project, ids=list(roles))
    return [ScorecardMetric(i, role, definitions.get(i)) for i, role in roles.items()]


def _compare_checks(
    environment: Environment,
    scope: ExperimentScope,
    metrics: list[ScorecardMetric],
    weights: list[float] | None,
    *,
    now: dt.datetime,
    full: bool,
) -> dict[str, Any]:
    """The payload of a gate-like comparison (a gate's or a holdout's checks, "pass" and
    "fail"): default settings, the Bayesian view, and with `weights` (one per group) each
    group's expected share and the SRM check against them."""
    settings = stats.Settings(bayesian=True)
    exposures = exposure_summary(environment, scope)
    srm = None
    if weights is not None:
        for group, weight in zip(exposures["groups"], weights, strict=True):
            group["expectedShare"] = weight / (sum(weights) or 1)
        srm = stats.srm_check([g["units"] for g in exposures["groups"]], weights)
    measure = ingested(environment, scope, now=now, full=full)
    return _payload(environment, scope, metrics, settings, exposures, srm, now=now, measure=measure)


def _payload(
    environment: Environment,
    scope: ExperimentScope,
    metrics: list[ScorecardMetric],
    settings: stats.Settings,
    exposures: dict[str, Any],
    srm: stats.SrmResult | None,
    *,
    now: dt.datetime,
    measure: Measure,
) -> dict[str, Any]:
    return {
        "version": PAYLOAD_VERSION,
        "computedAt": now.isoformat(),
        "range": {"start": scope.start.isoformat(), "end": scope.end.isoformat()},
        "environment": environment.name,
        "settings": plain(settings),
        "exposures": exposures,
        "srm": plain(srm),
        "metrics": _analysed(metrics, settings, measure),
    }


def _analysed(
    metrics: list[ScorecardMetric], settings: stats.Settings, measure: Measure
) -> list[dict[str, Any]]:
    """Each metric's entry: its groups' statistics from the plan, its comparisons from the
    statistics module (corrections pooled over the primary ones), its cumulative lift."""
    entries = [metric_entry(m) for m in metrics]
    inputs: list[tuple[dict[str, Any], stats.MetricInput]] = []
    for i, (item, entry) in enumerate(zip(metrics, entries, strict=True)):
        progress.report("Metrics computed", i, len(metrics))
        if item.definition is None:
            continue
        # Only a primary metric's cumulative lift is drawn: the others skip the series.
        try:
            plan = measure(item.definition, item.role == PRIMARY)
        except Unmeasured as exc:
            entry["message"] = exc.message
            continue
        groups = [statistic(item.definition, g, cuped=settings.cuped) for g in plan.groups]
        entry["groups"] = [
            {"name": g.group, "units": g.units, "n": g.n, "mean": s.mean, "statistics": plain(g)}
            for g, s in zip(plan.groups, groups, strict=True)
        ]
        entry["caps"] = plain(plan.caps)
        entry["notes"] = list(plan.notes)
        if item.role == PRIMARY:
            entry["series"] = _lift_series(item.definition, plan, settings)
        metric_input = stats.MetricInput(
            groups, direction_of(item.definition), primary=item.role == PRIMARY
        )
        inputs.append((entry, metric_input))
    progress.report("Metrics computed", len(metrics), len(metrics))
    analysed = stats.analyze_experiment([m for _, m in inputs], settings)
    for (entry, _), comparisons in zip(inputs, analysed, strict=True):
        names = [g["name"] for g in entry["groups"]]
        entry["comparisons"] = [{"group": names[c.treatment], **plain(c)} for c in comparisons]
    return entries


def compute(
    experiment: Experiment, environment: Environment, *, now: dt.datetime, full: bool = False
) -> dict[str, Any]:
    """The results payload of `experiment` in `environment` as of `now`."""
    scope = scope_of(experiment, now)
    if scope is None:
        return {"version": PAYLOAD_VERSION, "message": "The experiment has not started yet."}
    metrics = scorecard_metrics(experiment)
    primaries = sum(1 for m in metrics if m.role == PRIMARY)
    settings = settings_of(experiment, scope, primaries)
    source_name = str(experiment.scorecard.get(ASSIGNMENT_SOURCE) or "")
    if source_name:
        assignment = assignment_source_named(project=experiment.project, name=source_name)
        if assignment is None:
            raise DomainError(
                f"The assignment source {source_name!r} no longer exists: choose another one "
                "on the experiment's Setup tab.",
                code="unknown_assignment_source",
            )
        exposures = _exposure_summary_of(scope, warehouse_plan.exposure_tally(assignment, scope))
        exposures["source"] = {
            "assignmentSource": assignment.name,
            "connection": assignment.connection.name,
        }
        measure = in_warehouse(assignment, scope, now=now)
    else:
        exposures = exposure_summary(environment, scope)
        measure = ingested(environment, scope, now=now, full=full)
    weights = [float(g["size"]) for g in experiment.groups]
    for group, weight in zip(exposures["groups"], weights, strict=True):
        group["expectedShare"] = weight / (sum(weights) or 1)
    srm = stats.srm_check([g["units"] for g in exposures["groups"]], weights)
    return _payload(environment, scope, metrics, settings, exposures, srm, now=now, measure=measure)
