"""The experiments app's entity kinds for change sets (registered in
ExperimentsConfig.ready()): experiments with their lifecycle actions, layers, holdouts."""

from __future__ import annotations

from django.urls import reverse

from experiments import selectors, services
from experiments.documents import (
    experiment_to_document,
    holdout_to_document,
    layer_to_document,
)
from experiments.models import Experiment, Holdout, Layer
from reviews.registry import Action, EntityKind, document_actions, register


def _url(name: str):
    return lambda entity: reverse(name, args=[entity.project.slug, entity.pk])


def _lifecycle(label: str, service) -> Action:
    return Action(label, lambda actor, _p, experiment, _payload: service(actor, experiment))


def register_kinds() -> None:
    register(
        EntityKind(
            kind="experiment",
            label="experiment",
            model=Experiment,
            find=lambda project, name: selectors.experiment_get(project=project, name=name),
            to_document=experiment_to_document,
            url=_url("experiment-detail"),
            actions={
                **document_actions(
                    create=lambda a, p, doc: services.experiment_create(
                        actor=a, project=p, document=doc
                    ),
                    update=lambda a, e, doc: services.experiment_update(
                        actor=a, experiment=e, document=doc
                    ),
                    archive=lambda a, e: services.experiment_archive(actor=a, experiment=e),
                ),
                "start": _lifecycle(
                    "Started", lambda a, e: services.experiment_start(actor=a, experiment=e)
                ),
                "ship": Action(
                    "Shipped",
                    lambda a, _p, e, payload: services.experiment_ship(
                        actor=a, experiment=e, group=str(payload.get("group") or "")
                    ),
                ),
                "abandon": _lifecycle(
                    "Abandoned", lambda a, e: services.experiment_abandon(actor=a, experiment=e)
                ),
                "reset": _lifecycle(
                    "Reset", lambda a, e: services.experiment_reset(actor=a, experiment=e)
                ),
            },
        )
    )
    register(
        EntityKind(
            kind="layer",
            label="layer",
            model=Layer,
            find=lambda project, name: selectors.layer_get(project=project, name=name),
            to_document=layer_to_document,
            url=_url("layer-detail"),
            actions=document_actions(
                create=lambda a, p, doc: services.layer_create(actor=a, project=p, document=doc),
                update=lambda a, e, doc: services.layer_update(actor=a, layer=e, document=doc),
                archive=lambda a, e: services.layer_archive(actor=a, layer=e),
            ),
        )
    )
    register(
        EntityKind(
            kind="holdout",
            label="holdout",
            model=Holdout,
            find=lambda project, name: selectors.holdout_get(project=project, name=name),
            to_document=holdout_to_document,
            url=_url("holdout-detail"),
            actions=document_actions(
                create=lambda a, p, doc: services.holdout_create(actor=a, project=p, document=doc),
                update=lambda a, e, doc: services.holdout_update(actor=a, holdout=e, document=doc),
                archive=lambda a, e: services.holdout_archive(actor=a, holdout=e),
            ),
        )
    )
