"""Experiments API: experiments, layers and holdouts in the Statsig Console API v1 shape,
mounted at /console/v1/. The URL names an entity by its name, as Statsig does.

Each view resolves the project and the caller's role (console.api.permissions), checks the
body's shape, makes one service call and renders the entity's document. The services hold
every rule and re-check the role; their DomainError/Conflict (with a field path such as
"groups[1].parameterValues.color") become {"message", "code", "field"} responses in
console.api.exceptions. A lifecycle step the experiment's status does not allow is a 409.
"""

from __future__ import annotations

from collections.abc import Callable

from rest_framework import status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from console.api.permissions import resolve_project
from console.api.views import ConsoleAPIView
from console.exceptions import Conflict, DomainError, NotFound
from console.models import Project, Role
from experiments import selectors, services
from experiments.api import serializers as s
from experiments.documents import (
    experiment_to_document,
    holdout_to_document,
    layer_to_document,
)
from experiments.models import Experiment, Holdout, Layer
from experiments.selectors import LayerShare


def _ok(message: str, data, code: int = status.HTTP_200_OK) -> Response:
    return Response({"message": message, "data": data}, status=code)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _merged(current: dict, changes: dict) -> dict:
    """PATCH: the given top-level keys replace the current document's; the rest stay."""
    return {**current, **changes}


def _lifecycle(step: Callable[[], Experiment]) -> Experiment:
    """Run a lifecycle service; a step the status does not allow collides with the
    experiment's state, so it is a Conflict (409), not a bad input."""
    try:
        return step()
    except DomainError as exc:
        if exc.code == "illegal_transition":
            raise Conflict(exc.message, code=exc.code, field=exc.field) from exc
        raise


class DocumentAPIView(ConsoleAPIView):
    """Bodies are JSON documents (a form post is 415, not a half-parsed document)."""

    parser_classes = [JSONParser]

    def documents(self, queryset, to_document) -> Response:
        """One page of `queryset` as documents, with a constant number of queries (the
        selectors join and prefetch what the documents show)."""
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([to_document(obj) for obj in page])


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


class ExperimentListView(DocumentAPIView):
    def get(self, request):
        project, _ = resolve_project(request)
        query = _valid(s.ExperimentListQuery, request.query_params)
        experiments = selectors.experiment_list(
            project=project,
            search=query.get("search", ""),
            status=query.get("status", ""),
            tag=query.get("tag", ""),
            layer=_layer_filter(project, query.get("layer", "")),
        )
        return self.documents(experiments, experiment_to_document)

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        document = _valid(s.DocumentInput, request.data)
        experiment = services.experiment_create(
            actor=request.user, project=project, document=document
        )
        return _ok(
            "Experiment created.", experiment_to_document(experiment), status.HTTP_201_CREATED
        )


class ExperimentDetailView(DocumentAPIView):
    def get(self, request, name: str):
        project, _ = resolve_project(request)
        return _ok("OK", experiment_to_document(_experiment(project, name)))

    def post(self, request, name: str):
        """Full update: the body is the whole document (a missing key means its default)."""
        project, _ = resolve_project(request, Role.MEMBER)
        experiment = _experiment(project, name)
        document = _valid(s.DocumentInput, request.data)
        experiment = services.experiment_update(
            actor=request.user, experiment=experiment, document=document
        )
        return _ok("Experiment updated.", experiment_to_document(experiment))

    def patch(self, request, name: str):
        """Partial update: the given top-level keys replace the current ones. Refused
        (409 stale_revision) if the experiment changes between our read and the write."""
        project, _ = resolve_project(request, Role.MEMBER)
        experiment = _experiment(project, name)
        changes = _valid(s.DocumentInput, request.data)
        experiment = services.experiment_update(
            actor=request.user,
            experiment=experiment,
            document=_merged(experiment_to_document(experiment), changes),
            expected_revision=experiment.revision,
        )
        return _ok("Experiment updated.", experiment_to_document(experiment))

    def delete(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        experiment = _experiment(project, name)
        experiment = _lifecycle(
            lambda: services.experiment_archive(actor=request.user, experiment=experiment)
        )
        return _ok("Experiment archived.", experiment_to_document(experiment))


class ExperimentActionView(DocumentAPIView):
    """PUT or POST .../<step>: one lifecycle step, nothing else."""

    message = ""

    def act(self, request, experiment: Experiment) -> Experiment:
        raise NotImplementedError

    def put(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        experiment = _experiment(project, name)
        experiment = _lifecycle(lambda: self.act(request, experiment))
        return _ok(self.message, experiment_to_document(experiment))

    post = put


class ExperimentStartView(ExperimentActionView):
    message = "Experiment started."

    def act(self, request, experiment: Experiment) -> Experiment:
        return services.experiment_start(actor=request.user, experiment=experiment)


class ExperimentShipView(ExperimentActionView):
    """Statsig's "make decision": {"group": <name or id>} (or {"id": ...}) ships a group."""

    message = "Experiment shipped."

    def act(self, request, experiment: Experiment) -> Experiment:
        data = _valid(s.ExperimentShipInput, request.data)
        return services.experiment_ship(
            actor=request.user, experiment=experiment, group=data["group"]
        )


class ExperimentAbandonView(ExperimentActionView):
    message = "Experiment abandoned."

    def act(self, request, experiment: Experiment) -> Experiment:
        return services.experiment_abandon(actor=request.user, experiment=experiment)


class ExperimentResetView(ExperimentActionView):
    """Back to draft with new salts: every unit is re-randomised, so {"confirm": true}."""

    message = "Experiment reset: it is a draft again, and every unit will be re-randomised."

    def act(self, request, experiment: Experiment) -> Experiment:
        _valid(s.ExperimentResetInput, request.data)
        return services.experiment_reset(actor=request.user, experiment=experiment)


# ---------------------------------------------------------------- layers


def _layer(project: Project, name: str) -> Layer:
    layer = selectors.layer_get(project=project, name=name)
    if layer is None:
        raise NotFound(f"This project has no layer named '{name}'.")
    return layer


class LayerListView(DocumentAPIView):
    def get(self, request):
        project, _ = resolve_project(request)
        return self.documents(selectors.layer_list(project=project), layer_to_document)

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        document = _valid(s.DocumentInput, request.data)
        layer = services.layer_create(actor=request.user, project=project, document=document)
        return _ok("Layer created.", layer_to_document(layer), status.HTTP_201_CREATED)


class LayerDetailView(DocumentAPIView):
    def get(self, request, name: str):
        project, _ = resolve_project(request)
        return _ok("OK", layer_to_document(_layer(project, name)))

    def post(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        layer = _layer(project, name)
        document = _valid(s.DocumentInput, request.data)
        layer = services.layer_update(actor=request.user, layer=layer, document=document)
        return _ok("Layer updated.", layer_to_document(layer))

    def patch(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        layer = _layer(project, name)
        changes = _valid(s.DocumentInput, request.data)
        layer = services.layer_update(
            actor=request.user,
            layer=layer,
            document=_merged(layer_to_document(layer), changes),
            expected_revision=layer.revision,
        )
        return _ok("Layer updated.", layer_to_document(layer))

    def delete(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        layer = services.layer_archive(actor=request.user, layer=_layer(project, name))
        return _ok("Layer archived.", layer_to_document(layer))


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

    def get(self, request, name: str):
        project, _ = resolve_project(request)
        allocation = selectors.layer_allocation(layer=_layer(project, name))
        return _ok(
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


class HoldoutListView(DocumentAPIView):
    def get(self, request):
        project, _ = resolve_project(request)
        return self.documents(selectors.holdout_list(project=project), holdout_to_document)

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        document = _valid(s.DocumentInput, request.data)
        holdout = services.holdout_create(actor=request.user, project=project, document=document)
        return _ok("Holdout created.", holdout_to_document(holdout), status.HTTP_201_CREATED)


class HoldoutDetailView(DocumentAPIView):
    def get(self, request, name: str):
        project, _ = resolve_project(request)
        return _ok("OK", holdout_to_document(_holdout(project, name)))

    def post(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        holdout = _holdout(project, name)
        document = _valid(s.DocumentInput, request.data)
        holdout = services.holdout_update(actor=request.user, holdout=holdout, document=document)
        return _ok("Holdout updated.", holdout_to_document(holdout))

    def patch(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        holdout = _holdout(project, name)
        changes = _valid(s.DocumentInput, request.data)
        holdout = services.holdout_update(
            actor=request.user,
            holdout=holdout,
            document=_merged(holdout_to_document(holdout), changes),
            expected_revision=holdout.revision,
        )
        return _ok("Holdout updated.", holdout_to_document(holdout))

    def delete(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        holdout = services.holdout_archive(actor=request.user, holdout=_holdout(project, name))
        return _ok("Holdout archived.", holdout_to_document(holdout))
