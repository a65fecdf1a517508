"""Metrics in the console API (/console/v1/): the event names an environment received, the
exposures of a gate or experiment per group, in camelCase as the rest of the API, and the
metrics catalog in Statsig's metric shape (/metrics, /metrics/<name::type>,
docs/metrics.md).

`?environment=<name>` picks the environment (any case); without it, the project's first.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers

from console.api import schema
from console.api.base import ConsoleAPIView, ok
from console.api.permissions import resolve_project
from console.exceptions import ApplicationError, DomainError, NotFound
from console.models import Environment, Project, Role
from metrics import selectors
from metrics.catalog import selectors as catalog_selectors
from metrics.catalog import services as catalog_services
from metrics.catalog.documents import api_field, document_to_input, metric_to_document
from metrics.catalog.types import MetricDocument
from metrics.panels import environments_of
from metrics.power.analysis import PowerTable, power_table
from metrics.power.forms import PowerSettingsForm
from metrics.power.selectors import EngineUnsupported, Population, PowerInputs, power_inputs

ENVIRONMENT_PARAM = "environment"


def api_environment(request, project: Project) -> Environment:
    """The environment the request names, else the project's first; a 400 when it names
    none of the project's, or the project has none."""
    wanted = request.query_params.get(ENVIRONMENT_PARAM, "").strip()
    environments, environment = environments_of(project, wanted)
    if environment is None or (wanted and environment.name.lower() != wanted.lower()):
        names = ", ".join(e.name for e in environments) or "none yet"
        raise DomainError(
            f"This project has no environment named '{wanted}' (it has: {names}).",
            code="unknown_environment",
            field=ENVIRONMENT_PARAM,
        )
    return environment


METRIC = schema.component("Metric", MetricDocument)
_COUNTS = schema.array(schema.INTEGER)
EXPOSURES = schema.component(
    "Exposures",
    schema.obj(
        {
            "environment": schema.STRING,
            "units": schema.INTEGER,
            "crossovers": schema.INTEGER,
            "botsExcluded": schema.INTEGER,
            "lastExposure": schema.NULLABLE_STRING,
            "days": schema.array(schema.STRING),
            "groups": schema.array(
                schema.obj(
                    {
                        "name": schema.STRING,
                        "units": schema.INTEGER,
                        "crossovers": schema.INTEGER,
                        "bots": schema.INTEGER,
                        "unitsByDay": _COUNTS,
                    }
                )
            ),
        }
    ),
)


class EventNameOutput(serializers.Serializer):
    name = serializers.CharField()
    count24h = serializers.IntegerField(source="last_24h")
    count7d = serializers.IntegerField(source="last_7d")
    uniqueUnits7d = serializers.IntegerField(source="units_7d")  # noqa: N815 (API shape)
    lastSeen = serializers.DateTimeField(source="last_seen", allow_null=True)  # noqa: N815


def exposures_document(environment: Environment, data: selectors.Exposures) -> dict:
    """An exposures answer: per group its units, crossovers and bots, and its units so far
    at the end of each day of `days` (bots and crossovers left out)."""
    return {
        "environment": environment.name,
        "units": data.units,
        "crossovers": data.crossovers,
        "botsExcluded": data.bots,
        "lastExposure": data.last_exposure.isoformat() if data.last_exposure else None,
        "days": [d.isoformat() for d in data.series.days],
        "groups": [
            {
                "name": g.group,
                "units": g.units,
                "crossovers": g.crossovers,
                "bots": g.bots,
                "unitsByDay": data.series.lines.get(g.group, []),
            }
            for g in data.groups
        ],
    }


class EventListView(ConsoleAPIView):
    """GET /console/v1/events: the event names of an environment with their counts."""

    @extend_schema(
        summary="List event names",
        parameters=[schema.ENVIRONMENT],
        responses={200: EventNameOutput(many=True)},
    )
    def get(self, request):
        project, _ = resolve_project(request)
        environment = api_environment(request, project)
        return self.paginated(selectors.event_names(environment=environment), EventNameOutput)


# ---------------------------------------------------------------- the metrics catalog


class MetricOutput(serializers.BaseSerializer):
    def to_representation(self, instance):
        return metric_to_document(instance)


def _catalog_call(service, /, **kwargs):
    """Call a catalog service; a refusal names the field as the document does."""
    try:
        return service(**kwargs)
    except ApplicationError as exc:
        raise api_field(exc) from exc


def _flag(request, name: str) -> bool:
    return request.query_params.get(name, "").strip().lower() in ("1", "true", "yes")


def _document(project: Project, pk: int) -> dict:
    """The document of a metric just written, read back with its relations."""
    metric = catalog_selectors.metric_get(project=project, pk=pk)
    assert metric is not None
    return metric_to_document(metric)


class MetricListView(ConsoleAPIView):
    """GET /console/v1/metrics: the catalog (?search=, ?tag=, ?type=, ?archived=true);
    POST: create a metric from a document (members and admins)."""

    @extend_schema(
        summary="List metrics",
        parameters=[
            OpenApiParameter("search", str),
            OpenApiParameter("tag", str),
            OpenApiParameter("type", str, description="A metric type."),
            OpenApiParameter("archived", bool, description="true: the archived ones."),
            *schema.PAGE_PARAMETERS,
        ],
        responses={200: schema.paginated(METRIC)},
    )
    def get(self, request):
        project, _ = resolve_project(request)
        params = request.query_params
        filters = catalog_selectors.MetricFilters(
            search=params.get("search", "").strip()[:200],
            tag=params.get("tag", "").strip()[:50],
            metric_type=params.get("type", "").strip()[:20],
            archived=_flag(request, "archived"),
        )
        metrics = catalog_selectors.metric_list(project=project, filters=filters)
        return self.paginated(metrics.select_related("created_by"), MetricOutput)

    @extend_schema(
        summary="Create a metric",
        description="Applied at once: the metrics catalog is not reviewed.",
        request=schema.body(schema.partial(METRIC, required=("name", "type"))),
        responses={201: schema.envelope(METRIC), **schema.errors(409)},
    )
    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        data = _catalog_call(document_to_input, doc=request.data)
        metric = _catalog_call(
            catalog_services.metric_create, actor=request.user, project=project, data=data
        )
        return ok("Metric created successfully.", _document(project, metric.pk), 201)


class MetricDetailView(ConsoleAPIView):
    """GET, PATCH (the fields given replace the current ones; `revision` to refuse a stale
    edit) and DELETE (archives: the ID stays taken) /console/v1/metrics/<name::type>."""

    def _metric(self, request, metric_id: str, needed: str = Role.VIEWER):
        project, _ = resolve_project(request, needed)
        metric = catalog_selectors.metric_get_by_id(project=project, metric_id=metric_id)
        if metric is None:
            raise NotFound(f"This project has no metric '{metric_id[:200]}' (IDs are name::type).")
        return project, metric

    @extend_schema(summary="Get a metric", responses={200: schema.envelope(METRIC)})
    def get(self, request, metric_id: str):
        _, metric = self._metric(request, metric_id)
        return ok("Metric read successfully.", metric_to_document(metric))

    @extend_schema(
        summary="Update part of a metric",
        description="The given keys replace the current ones; revision refuses a stale edit.",
        request=schema.body(schema.partial(METRIC)),
        responses={200: schema.envelope(METRIC), **schema.errors(409)},
    )
    def patch(self, request, metric_id: str):
        project, metric = self._metric(request, metric_id, Role.MEMBER)
        if not isinstance(request.data, dict):
            raise DomainError("The body must be a JSON object.", code="invalid_body")
        revision = request.data.get("revision")
        if revision is not None and (isinstance(revision, bool) or not isinstance(revision, int)):
            raise DomainError("revision is a whole number.", code="invalid_type", field="revision")
        document = metric_to_document(metric) | dict(request.data)
        data = _catalog_call(document_to_input, doc=document)
        _catalog_call(
            catalog_services.metric_update,
            actor=request.user,
            metric=metric,
            data=data,
            expected_revision=revision,
        )
        return ok("Metric updated successfully.", _document(project, metric.pk))

    @extend_schema(
        summary="Archive a metric",
        description="The ID stays taken.",
        responses={200: schema.envelope(METRIC), **schema.errors(409)},
    )
    def delete(self, request, metric_id: str):
        project, metric = self._metric(request, metric_id, Role.MEMBER)
        _catalog_call(catalog_services.metric_archive, actor=request.user, metric=metric)
        return ok("Metric archived successfully.", _document(project, metric.pk))


# ---------------------------------------------------------------- the power calculator

# Query parameter -> the settings form's field, and the default when it is not given.
POWER_PARAMS = {
    "groups": ("groups", "2"),
    "allocation": ("allocation", "100"),
    "confidence": ("confidence", "95"),
    "power": ("power", "80"),
    "sided": ("sided", "two_sided"),
    "targetMde": ("target_mde", ""),
}


_N = {**schema.NUMBER, "nullable": True}
POWER = schema.component(
    "Power",
    schema.obj(
        {
            "metric": schema.STRING,
            "environment": schema.STRING,
            "population": schema.STRING,
            "unitType": schema.STRING,
            "end": schema.STRING,
            "settings": schema.obj(
                {
                    "groups": schema.INTEGER,
                    "allocation": schema.NUMBER,
                    "confidence": schema.NUMBER,
                    "power": schema.NUMBER,
                    "sided": schema.STRING,
                    "targetMde": _N,
                }
            ),
            "weeks": schema.array(
                schema.obj(
                    {
                        "weeks": schema.INTEGER,
                        "start": schema.STRING,
                        "units": schema.INTEGER,
                        "unitsInExperiment": _N,
                        "unitsPerGroup": _N,
                        "unitsInStatistic": _N,
                        "mean": _N,
                        "variance": _N,
                        "relativeMdePercent": _N,
                        "unitsNeededPerGroup": _N,
                        "note": schema.NULLABLE_STRING,
                    }
                )
            ),
            "weeksNeeded": _N,
        }
    ),
)


def power_document(inputs: PowerInputs, table: PowerTable, environment: Environment) -> dict:
    """The power answer: per week of running, the population's units, the units in the
    experiment and per group, the per-unit mean and variance, the relative MDE in %."""
    settings = table.settings
    return {
        "metric": f"{inputs.metric.name}::{inputs.metric.type.value}",
        "environment": environment.name,
        "population": str(inputs.population),
        "unitType": inputs.unit_type,
        "end": inputs.end.isoformat(),
        "settings": {
            "groups": settings.groups,
            "allocation": settings.allocation,
            "confidence": settings.confidence,
            "power": settings.power,
            "sided": settings.sided.value,
            "targetMde": settings.target_mde,
        },
        "weeks": [
            {
                "weeks": row.weeks,
                "start": window.start.isoformat(),
                "units": row.units,
                "unitsInExperiment": row.traffic,
                "unitsPerGroup": row.per_group,
                "unitsInStatistic": window.n,
                "mean": row.mean,
                "variance": row.variance,
                "relativeMdePercent": row.mde,
                "unitsNeededPerGroup": row.units_needed,
                "note": row.note or None,
            }
            for row, window in zip(table.rows, inputs.windows, strict=True)
        ],
        "weeksNeeded": table.weeks_needed,
    }


class MetricPowerView(ConsoleAPIView):
    """GET /console/v1/metrics/<name::type>/power?environment=&population=all|gate:<name>|
    experiment:<name>&groups=&allocation=&confidence=&power=&sided=&targetMde=: the MDE by
    weeks 1 to 4 (docs/metrics.md, "Power")."""

    @extend_schema(
        summary="A metric's power: the MDE by weeks",
        parameters=[
            schema.ENVIRONMENT,
            OpenApiParameter(
                "population", str, description="all, gate:<name> or experiment:<name>"
            ),
            OpenApiParameter("groups", int, description="Default 2."),
            OpenApiParameter("allocation", float, description="Percent; default 100."),
            OpenApiParameter("confidence", float, description="Percent; default 95."),
            OpenApiParameter("power", float, description="Percent; default 80."),
            OpenApiParameter("sided", str, enum=["two_sided", "one_sided"]),
            OpenApiParameter("targetMde", float, description="Percent."),
        ],
        responses={200: schema.envelope(POWER)},
    )
    def get(self, request, metric_id: str):
        project, _ = resolve_project(request)
        metric = catalog_selectors.metric_get_by_id(project=project, metric_id=metric_id)
        if metric is None:
            raise NotFound(f"This project has no metric '{metric_id[:200]}' (IDs are name::type).")
        environment = api_environment(request, project)
        params = request.query_params
        try:
            population = Population.parse(params.get("population", "all"))
        except ValueError as exc:
            raise DomainError(str(exc), code="invalid_population", field="population") from exc
        form = PowerSettingsForm(
            {field: params.get(name, default) for name, (field, default) in POWER_PARAMS.items()}
        )
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            name = next(n for n, (f, _) in POWER_PARAMS.items() if f == field)
            raise DomainError(f"{name}: {errors[0]}", code="invalid_parameter", field=name)
        try:
            inputs = power_inputs(
                definition=catalog_selectors.metric_definition(metric),
                environment=environment,
                population=population,
                active_events=catalog_selectors.active_unit_events(project=project),
            )
        except EngineUnsupported as exc:
            raise DomainError(str(exc), code="engine_unsupported") from exc
        except ValueError as exc:
            raise DomainError(str(exc), code="invalid_metric") from exc
        table = power_table(inputs, form.settings())
        message = (
            "No units in this population in the last 4 weeks."
            if inputs.empty
            else "Power computed successfully."
        )
        return ok(message, power_document(inputs, table, environment))
