"""Experiments API: experiments, layers and holdouts in the Statsig Console API v1 shape,
mounted at /console/v1/. The URL names an entity by its name, as Statsig does.

Each view resolves the project and the caller's role (console.api.permissions), checks the
body's shape and proposes one change as a change set (reviews.api.documents).
Applied at once (no touched environment requires review), it answers as the service did:
the entity's document. Waiting for review, it answers 202 with the change set
(reviews.shortcuts.api_pending). The services hold every rule and re-check the role; the
change set's dry run raises their DomainError/Conflict (with a field path such as
"groups[1].parameterValues.color"), which become {"message", "code", "field"} responses in
console.api.exceptions. A lifecycle step the experiment's status does not allow is a 409.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework.response import Response

from console.api import schema
from console.api.base import ConsoleAPIView, ok, valid
from console.api.documents import DocumentAPIView, with_metadata
from console.api.permissions import resolve_project
from console.exceptions import Conflict, DomainError, NotFound
from console.models import Project, Role
from experiments import selectors
from experiments.api import serializers as s
from experiments.api.projectcode import OwnFormat
from experiments.documents import (
    experiment_to_document,
    holdout_to_document,
    layer_to_document,
)
from experiments.models import Experiment, Holdout, Layer, WarehouseExport
from experiments.results import export, present
from experiments.results.breakdowns import compute_breakdown, parse_breakdown
from experiments.results.selectors import Latest, latest_results
from experiments.results.services import results_request
from experiments.results.warehouse import warehouse_export_set
from experiments.selectors import LayerShare
from experiments.types import ExperimentDocument, HoldoutDocument, LayerDocument
from metrics import selectors as metrics_selectors
from metrics.api import EXPOSURES, api_environment, exposures_document
from metrics.models import ExposureKind
from metrics.warehouse.selectors import connection_list
from reviews.api.documents import (
    ProposedDetailView,
    ProposedListView,
    applied_or_pending,
    propose,
)
from reviews.models import ChangeSet
from reviews.services import ChangeInput

EXPERIMENT = schema.component("Experiment", ExperimentDocument, entity=True)
LAYER = schema.component("Layer", LayerDocument, entity=True)
HOLDOUT = schema.component("Holdout", HoldoutDocument, entity=True)
_NUMBER = {**schema.NUMBER, "nullable": True}
_FREE = {"type": "object", "additionalProperties": True, "nullable": True}
_PULSE_ROW = {
    "metricID": schema.STRING,
    "metricName": schema.STRING,
    "role": schema.STRING,
    "group": schema.STRING,
    "controlMean": _NUMBER,
    "testMean": _NUMBER,
    "controlUnits": _NUMBER,
    "testUnits": _NUMBER,
    "absoluteChange": _NUMBER,
    "percentChange": _NUMBER,
    "percentConfidenceInterval": schema.obj({"lower": _NUMBER, "upper": _NUMBER}),
    "pValue": _NUMBER,
    "significant": {**schema.BOOLEAN, "nullable": True},
    "cuped": {**schema.BOOLEAN, "nullable": True},
    "sequential": {**schema.BOOLEAN, "nullable": True},
    "message": schema.NULLABLE_STRING,
}
RESULTS = schema.component(
    "Results",
    schema.obj(
        {
            "state": schema.NULLABLE_STRING,
            "error": schema.NULLABLE_STRING,
            "computedAt": schema.NULLABLE_STRING,
            "range": _FREE,
            "refreshing": schema.NULLABLE_STRING,
            "exposures": {"nullable": True},
            "srm": _FREE,
            "metrics": schema.array(schema.obj(_PULSE_ROW)),
            "raw": _FREE,
            "breakdown": {
                "type": "object",
                "description": "With ?breakdown=: the metrics by that breakdown's segments.",
                "additionalProperties": True,
                "properties": {
                    "exploratory": schema.BOOLEAN,
                    "metrics": schema.array(
                        schema.obj(
                            {
                                "metricID": schema.STRING,
                                "metricName": schema.STRING,
                                "role": schema.STRING,
                                "message": schema.NULLABLE_STRING,
                                "rows": schema.array(
                                    schema.obj({"segment": schema.STRING, **_PULSE_ROW})
                                ),
                            }
                        )
                    ),
                },
            },
        },
        optional=("breakdown",),
    ),
)
COMPUTING = schema.envelope(schema.obj({"state": schema.STRING, "requestedAt": schema.STRING}))
BREAKDOWN = OpenApiParameter(
    "breakdown",
    str,
    description=(
        "Adds the results by segment, computed now: country, browser, os, custom.<key>, "
        "value or metadata.<key>."
    ),
)


def _lifecycle(step: Callable[[], ChangeSet]) -> ChangeSet:
    """Propose a lifecycle step; a step the status does not allow collides with the
    experiment's state, so it is a Conflict (409), not a bad input."""
    try:
        return step()
    except DomainError as exc:
        if exc.code == "illegal_transition":
            raise Conflict(exc.message, code=exc.code, field=exc.field) from exc
        raise


# ---------------------------------------------------------------- experiments


def _experiment(project: Project, name: str) -> Experiment:
    experiment = selectors.experiment_get(project=project, name=name)
    if experiment is None:
        raise NotFound(f"This project has no experiment named '{name}'.")
    return experiment


def _layer_filter(project: Project, name: str) -> Layer | None:
    if not name:
        return None
    layer = selectors.layer_get(project=project, name=name)
    if layer is None:
        raise DomainError(
            f"This project has no layer named '{name}'.", code="unknown_layer", field="layer"
        )
    return layer


@extend_schema_view(
    **schema.documents("experiments", EXPERIMENT, noun="experiment", query=s.ExperimentListQuery)
)
class ExperimentListView(ProposedListView):
    kind = "experiment"
    noun = "Experiment"

    def render(self, entity) -> dict:
        return experiment_to_document(entity)

    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(s.ExperimentListQuery, request.query_params)
        experiments = selectors.experiment_list(
            project=project,
            search=query.get("search", ""),
            status=query.get("status", ""),
            tag=query.get("tag", ""),
            layer=_layer_filter(project, query.get("layer", "")),
        )
        return self.documents(experiments, experiment_to_document)


@extend_schema_view(**schema.document("experiments", EXPERIMENT, noun="experiment"))
class ExperimentDetailView(ProposedDetailView):
    kind = "experiment"
    noun = "Experiment"

    def lookup(self, project, name):
        return _experiment(project, name)

    def render(self, entity):
        return experiment_to_document(entity)

    def propose(self, request, project, change):
        return _lifecycle(lambda: propose(request, project, change))


class ExperimentExposuresView(ConsoleAPIView):
    """GET .../exposures: the units exposed to each group in one environment (metrics)."""

    @extend_schema(
        summary="An experiment's exposures",
        parameters=[schema.ENVIRONMENT],
        responses={200: schema.envelope(EXPOSURES)},
    )
    def get(self, request, name: str):
        project, _ = resolve_project(request)
        experiment = _experiment(project, name)
        environment = api_environment(request, project)
        data = metrics_selectors.exposures(
            environment=environment,
            kind=ExposureKind.CONFIG,
            name=experiment.name,
            groups=[group["name"] for group in experiment.groups],
        )
        return ok("Exposures of the experiment.", exposures_document(environment, data))


def _pulse_row(r: present.Row) -> dict[str, Any]:
    """One metric and test group in Statsig's Pulse field names."""
    return {
        "metricID": f"{r.metric}::{r.metric_type}",
        "metricName": r.metric,
        "role": r.role,
        "group": r.group,
        "controlMean": r.control_mean,
        "testMean": r.treatment_mean,
        "controlUnits": r.control_units,
        "testUnits": r.treatment_units,
        "absoluteChange": r.absolute,
        "percentChange": None if r.relative is None else r.relative * 100,
        "percentConfidenceInterval": {
            "lower": None if r.low is None else r.low * 100,
            "upper": None if r.high is None else r.high * 100,
        },
        "pValue": r.p_value,
        "significant": r.significant,
        "cuped": r.cuped,
        "sequential": r.sequential,
        "message": r.message,
    }


def _breakdown_document(breakdown: dict[str, Any]) -> dict[str, Any]:
    """A breakdown in the API's shape: per metric, its rows (a Pulse row per segment and
    test group, with the segment), or the reason it has none."""
    return {
        **breakdown["breakdown"],
        "computedAt": breakdown.get("computedAt"),
        "range": breakdown.get("range"),
        "exploratory": breakdown["exploratory"],
        "message": breakdown.get("message"),
        "metrics": [
            {
                "metricID": f"{t.metric}::{t.metric_type}",
                "metricName": t.metric,
                "role": t.role,
                "message": t.message,
                "rows": [{"segment": r.segment, **_pulse_row(r)} for r in t.rows],
            }
            for t in present.breakdown_tables(breakdown)
        ],
    }


def _results_document(latest: Latest) -> dict[str, Any]:
    """The newest results in the API's shape: per metric and test group Statsig's Pulse
    field names (metricID, percentChange, confidenceInterval, pValue, ...), with the
    exposures, the SRM check, a newer refresh that failed and the one waiting or running."""
    payload = latest.payload
    rows = [_pulse_row(r) for section in present.sections(payload) for r in section.rows]
    return {
        "state": latest.done.state if latest.done is not None else None,
        "error": latest.failed.error if latest.failed is not None else None,
        "computedAt": payload.get("computedAt"),
        "range": payload.get("range"),
        "refreshing": latest.pending.state if latest.pending is not None else None,
        "exposures": payload.get("exposures"),
        "srm": payload.get("srm"),
        "metrics": rows,
        "raw": payload or None,
    }


class ExperimentResultsView(ConsoleAPIView):
    """GET .../results?environment=: the newest computed results (docs/results.md);
    `&breakdown=country` (browser, os, custom.<key>, value, metadata.<key>) adds that
    breakdown, computed now."""

    @extend_schema(
        summary="An experiment's results",
        parameters=[schema.ENVIRONMENT, BREAKDOWN],
        responses={200: schema.envelope(RESULTS)},
    )
    def get(self, request, name: str):
        project, _ = resolve_project(request)
        experiment = _experiment(project, name)
        environment = api_environment(request, project)
        choice = parse_breakdown(request.query_params.get("breakdown", ""))
        latest = latest_results(environment, experiment=experiment)
        document = _results_document(latest)
        if choice is not None and environment is not None:
            breakdown = compute_breakdown(experiment, environment, choice, now=timezone.now())
            document["breakdown"] = _breakdown_document(breakdown)
        return ok("Results of the experiment.", document)


def _computing(results) -> Response:
    """202: the worker computes `results` (an ExperimentResults row just requested)."""
    return ok(
        "Results are being computed.",
        {"state": results.state, "requestedAt": results.requested_at.isoformat()},
        code=202,
    )


class ExperimentResultsRefreshView(ConsoleAPIView):
    """POST .../results/refresh?environment= ({"full": true} to recompute every day): 202,
    the worker computes them; GET .../results shows them when done."""

    @extend_schema(
        summary="Recompute an experiment's results",
        parameters=[schema.ENVIRONMENT],
        request=s.ResultsRefreshInput,
        responses={202: COMPUTING, **schema.errors(409)},
    )
    def post(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        experiment = _experiment(project, name)
        environment = api_environment(request, project)
        data = valid(s.ResultsRefreshInput, request.data)
        results = results_request(
            actor=request.user, experiment=experiment, environment=environment, full=data["full"]
        )
        return _computing(results)


def _step(summary: str, request=None):
    """extend_schema_view of a lifecycle step (PUT, or POST as an alias)."""
    step = extend_schema(
        summary=summary,
        request=request,
        responses={200: schema.envelope(EXPERIMENT), **schema.pending(), **schema.errors(409)},
    )
    return extend_schema_view(put=step, post=step)


class ExperimentActionView(DocumentAPIView):
    """PUT or POST .../<step>: one lifecycle step, nothing else."""

    action = ""
    message = ""

    def payload(self, request) -> dict[str, Any]:
        """The step's arguments, from the checked body."""
        return {}

    def put(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        experiment = _experiment(project, name)
        change = ChangeInput("experiment", self.action, experiment.name, self.payload(request))
        change_set = _lifecycle(lambda: propose(request, project, change))
        return applied_or_pending(
            change_set,
            self.message,
            lambda entity: with_metadata(experiment_to_document(entity), entity),
        )

    post = put


@_step("Start an experiment")
class ExperimentStartView(ExperimentActionView):
    action = "start"
    message = "Experiment started."


@_step("Ship a group of an experiment", s.ExperimentShipInput)
class ExperimentShipView(ExperimentActionView):
    """Statsig's "make decision": {"group": <name or id>} (or {"id": ...}) ships a group."""

    action = "ship"
    message = "Experiment shipped."

    def payload(self, request) -> dict[str, Any]:
        return {"group": valid(s.ExperimentShipInput, request.data)["group"]}


@_step("Abandon an experiment")
class ExperimentAbandonView(ExperimentActionView):
    action = "abandon"
    message = "Experiment abandoned."


@_step("Reset an experiment to a draft", s.ExperimentResetInput)
class ExperimentResetView(ExperimentActionView):
    """Back to draft with new salts: every unit is re-randomised, so {"confirm": true}."""

    action = "reset"
    message = "Experiment reset: it is a draft again, and every unit will be re-randomised."

    def payload(self, request) -> dict[str, Any]:
        valid(s.ExperimentResetInput, request.data)
        return {}


# ---------------------------------------------------------------- layers


def _layer(project: Project, name: str) -> Layer:
    layer = selectors.layer_get(project=project, name=name)
    if layer is None:
        raise NotFound(f"This project has no layer named '{name}'.")
    return layer


@extend_schema_view(**schema.documents("layers", LAYER, noun="layer"))
class LayerListView(ProposedListView):
    kind = "layer"
    noun = "Layer"

    def render(self, entity) -> dict:
        return layer_to_document(entity)

    def get(self, request):
        project, _ = resolve_project(request)
        return self.documents(selectors.layer_list(project=project), layer_to_document)


@extend_schema_view(**schema.document("layers", LAYER, noun="layer"))
class LayerDetailView(ProposedDetailView):
    kind = "layer"
    noun = "Layer"

    def lookup(self, project, name):
        return _layer(project, name)

    def render(self, entity):
        return layer_to_document(entity)


SHARE = schema.obj(
    {
        "experimentID": schema.STRING,
        "status": schema.STRING,
        "buckets": schema.INTEGER,
        "percent": schema.NUMBER,
    }
)


def _share(share: LayerShare) -> dict:
    return {
        "experimentID": share.experiment,
        "status": share.status,
        "buckets": share.buckets,
        "percent": share.percent,
    }


class LayerAllocationView(ConsoleAPIView):
    """Who owns the layer's 1,000 buckets: running experiments, the free rest, and what
    draft experiments will ask for when they start (not yet owned)."""

    @extend_schema(
        summary="Who owns a layer's buckets",
        responses={
            200: schema.envelope(
                schema.obj(
                    {
                        "name": schema.STRING,
                        "usedBuckets": schema.INTEGER,
                        "freeBuckets": schema.INTEGER,
                        "freePercent": schema.NUMBER,
                        "experiments": schema.array(SHARE),
                        "pending": schema.array(SHARE),
                    }
                )
            )
        },
    )
    def get(self, request, name: str):
        project, _ = resolve_project(request)
        allocation = selectors.layer_allocation(layer=_layer(project, name))
        return ok(
            "OK",
            {
                "name": allocation.layer.name,
                "usedBuckets": allocation.used_buckets,
                "freeBuckets": allocation.free_buckets,
                "freePercent": allocation.free_percent,
                "experiments": [_share(share) for share in allocation.shares],
                "pending": [_share(share) for share in allocation.pending],
            },
        )


# ---------------------------------------------------------------- holdouts


def _holdout(project: Project, name: str) -> Holdout:
    holdout = selectors.holdout_get(project=project, name=name)
    if holdout is None:
        raise NotFound(f"This project has no holdout named '{name}'.")
    return holdout


@extend_schema_view(**schema.documents("holdouts", HOLDOUT, noun="holdout"))
class HoldoutListView(ProposedListView):
    kind = "holdout"
    noun = "Holdout"

    def render(self, entity) -> dict:
        return holdout_to_document(entity)

    def get(self, request):
        project, _ = resolve_project(request)
        return self.documents(selectors.holdout_list(project=project), holdout_to_document)


@extend_schema_view(**schema.document("holdouts", HOLDOUT, noun="holdout"))
class HoldoutDetailView(ProposedDetailView):
    kind = "holdout"
    noun = "Holdout"

    def lookup(self, project, name):
        return _holdout(project, name)

    def render(self, entity):
        return holdout_to_document(entity)


class HoldoutResultsView(ConsoleAPIView):
    """GET .../holdouts/<name>/results?environment=: the newest computed results, everyone
    else ("fail") against the held-out units ("pass", the control)."""

    @extend_schema(
        summary="A holdout's results",
        parameters=[schema.ENVIRONMENT],
        responses={200: schema.envelope(RESULTS)},
    )
    def get(self, request, name: str):
        project, _ = resolve_project(request)
        holdout = _holdout(project, name)
        environment = api_environment(request, project)
        latest = latest_results(environment, holdout=holdout)
        return ok("Results of the holdout.", _results_document(latest))


class HoldoutResultsRefreshView(ConsoleAPIView):
    """POST .../holdouts/<name>/results/refresh?environment= ({"full": true} to recompute
    every day): 202, the worker computes them."""

    @extend_schema(
        summary="Recompute a holdout's results",
        parameters=[schema.ENVIRONMENT],
        request=s.ResultsRefreshInput,
        responses={202: COMPUTING, **schema.errors(409)},
    )
    def post(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        holdout = _holdout(project, name)
        environment = api_environment(request, project)
        data = valid(s.ResultsRefreshInput, request.data)
        results = results_request(
            actor=request.user, holdout=holdout, environment=environment, full=data["full"]
        )
        return _computing(results)


# ------------------------------------------------------------------------------ exports

EXPORT_FORMAT = OpenApiParameter(
    "format", str, enum=list(export.FORMATS), description="csv (the default) or parquet."
)
_EXPORT_FILE = {"type": "string", "format": "binary"}
_EXPORT_ANSWERS = {
    (200, "text/csv"): OpenApiResponse(_EXPORT_FILE, description="RFC 4180 CSV with a header."),
    (200, "application/vnd.apache.parquet"): OpenApiResponse(
        _EXPORT_FILE, description="A Parquet file with typed columns."
    ),
}


class ExportView(ConsoleAPIView):
    """GET .../export/<table>?environment=&format=csv|parquet: streamed as it is read
    (docs/export.md). Errors are JSON, as everywhere."""

    content_negotiation_class = OwnFormat
    table = ""

    def subject(self, project: Project, name: str, environment) -> export.Subject:
        raise NotImplementedError

    def get(self, request, name: str):
        project, _ = resolve_project(request)
        fmt = request.query_params.get("format", "csv").strip().lower() or "csv"
        export.check_choice(self.table, fmt)
        subject = self.subject(project, name, api_environment(request, project))
        found = export.download(subject, self.table, fmt)
        response = StreamingHttpResponse(found.chunks, content_type=found.content_type)
        response["Content-Disposition"] = f'attachment; filename="{found.file_name}"'
        return response


def _export_schema(what: str, table: str) -> Callable[[type], type]:
    rows = {
        "assignments": "one row per unit's first exposure (metrics_exposure), oldest first",
        "results": "the newest results, one row per metric and group",
    }[table]
    return extend_schema(
        summary=f"Export {what}'s {table}",
        description=f"CSV or Parquet: {rows}. Streamed.",
        parameters=[schema.ENVIRONMENT, EXPORT_FORMAT],
        responses=_EXPORT_ANSWERS,
    )


class _ExperimentExport(ExportView):
    def subject(self, project, name, environment):
        return export.Subject.of(environment, experiment=_experiment(project, name))


class _HoldoutExport(ExportView):
    def subject(self, project, name, environment):
        return export.Subject.of(environment, holdout=_holdout(project, name))


@_export_schema("an experiment", "assignments")
class ExperimentAssignmentsExportView(_ExperimentExport):
    table = "assignments"


@_export_schema("an experiment", "results")
class ExperimentResultsExportView(_ExperimentExport):
    table = "results"


@_export_schema("a holdout", "assignments")
class HoldoutAssignmentsExportView(_HoldoutExport):
    table = "assignments"


@_export_schema("a holdout", "results")
class HoldoutResultsExportView(_HoldoutExport):
    table = "results"


WAREHOUSE_EXPORT = schema.component(
    "WarehouseExport",
    schema.obj({"connection": schema.NULLABLE_STRING, "schema": schema.NULLABLE_STRING}),
)


def _warehouse_export_document(project: Project) -> dict[str, Any]:
    current = WarehouseExport.objects.filter(project=project).select_related("connection").first()
    connection = current.connection if current is not None else None
    return {
        "connection": connection.name if connection is not None else None,
        "schema": connection.schema if connection is not None else None,
    }


class WarehouseExportView(ConsoleAPIView):
    """GET: the warehouse connection each refresh writes assignments and results into (any
    member); PATCH {"connection": <name> | null} chooses it (admins; docs/export.md)."""

    @extend_schema(
        operation_id="warehouse_export_get",
        summary="Where refreshes export to",
        responses={200: schema.envelope(WAREHOUSE_EXPORT)},
    )
    def get(self, request):
        project, _ = resolve_project(request)
        return ok("OK", _warehouse_export_document(project))

    @extend_schema(
        operation_id="warehouse_export_update",
        summary="Choose where refreshes export to",
        request=s.WarehouseExportInput,
        responses={200: schema.envelope(WAREHOUSE_EXPORT)},
    )
    def patch(self, request):
        project, _ = resolve_project(request, Role.ADMIN)
        name = valid(s.WarehouseExportInput, request.data)["connection"]
        connection = None
        if name is not None:
            connection = connection_list(project=project).filter(name__iexact=name).first()
            if connection is None:
                raise DomainError(
                    f"This project has no warehouse connection named {name!r}.",
                    code="unknown_connection",
                    field="connection",
                )
        warehouse_export_set(actor=request.user, project=project, connection=connection)
        return ok("Warehouse export updated.", _warehouse_export_document(project))
