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

from console.api.documents import (
    DocumentAPIView,
    DocumentDetailView,
    DocumentInput,
    ok,
    valid,
)
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


def _lifecycle(step: Callable[[], Experiment]) -> Experiment:
    """Run a lifecycle service; a step the status does not allow collides with the
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


class ExperimentListView(DocumentAPIView):
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

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        document = valid(DocumentInput, request.data)
        experiment = services.experiment_create(
            actor=request.user, project=project, document=document
        )
        return ok(
            "Experiment created.", experiment_to_document(experiment), status.HTTP_201_CREATED
        )


class ExperimentDetailView(DocumentDetailView):
    noun = "Experiment"

    def lookup(self, project, name):
        return _experiment(project, name)

    def render(self, entity):
        return experiment_to_document(entity)

    def update(self, request, entity, document, expected_revision=None):
        return services.experiment_update(
            actor=request.user,
            experiment=entity,
            document=document,
            expected_revision=expected_revision,
        )

    def archive(self, request, entity):
        return _lifecycle(
            lambda: services.experiment_archive(actor=request.user, experiment=entity)
        )


class ExperimentActionView(DocumentAPIView):
    """PUT or POST .../<step>: one lifecycle step, nothing else."""

    message = ""

    def act(self, request, experiment: Experiment) -> Experiment:
        raise NotImplementedError

    def put(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        experiment = _experiment(project, name)
        experiment = _lifecycle(lambda: self.act(request, experiment))
        return ok(self.message, experiment_to_document(experiment))

    post = put


class ExperimentStartView(ExperimentActionView):
    message = "Experiment started."

    def act(self, request, experiment: Experiment) -> Experiment:
        return services.experiment_start(actor=request.user, experiment=experiment)


class ExperimentShipView(ExperimentActionView):
    """Statsig's "make decision": {"group": <name or id>} (or {"id": ...}) ships a group."""

    message = "Experiment shipped."

    def act(self, request, experiment: Experiment) -> Experiment:
        data = valid(s.ExperimentShipInput, request.data)
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
        valid(s.ExperimentResetInput, request.data)
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
        document = valid(DocumentInput, request.data)
        layer = services.layer_create(actor=request.user, project=project, document=document)
        return ok("Layer created.", layer_to_document(layer), status.HTTP_201_CREATED)


class LayerDetailView(DocumentDetailView):
    noun = "Layer"

    def lookup(self, project, name):
        return _layer(project, name)

    def render(self, entity):
        return layer_to_document(entity)

    def update(self, request, entity, document, expected_revision=None):
        return services.layer_update(
            actor=request.user,
            layer=entity,
            document=document,
            expected_revision=expected_revision,
        )

    def archive(self, request, entity):
        return services.layer_archive(actor=request.user, layer=entity)


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


class HoldoutListView(DocumentAPIView):
    def get(self, request):
        project, _ = resolve_project(request)
        return self.documents(selectors.holdout_list(project=project), holdout_to_document)

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        document = valid(DocumentInput, request.data)
        holdout = services.holdout_create(actor=request.user, project=project, document=document)
        return ok("Holdout created.", holdout_to_document(holdout), status.HTTP_201_CREATED)


class HoldoutDetailView(DocumentDetailView):
    noun = "Holdout"

    def lookup(self, project, name):
        return _holdout(project, name)

    def render(self, entity):
        return holdout_to_document(entity)

    def update(self, request, entity, document, expected_revision=None):
        return services.holdout_update(
            actor=request.user,
            holdout=entity,
            document=document,
            expected_revision=expected_revision,
        )

    def archive(self, request, entity):
        return services.holdout_archive(actor=request.user, holdout=entity)
