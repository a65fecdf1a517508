"""The gates app's entity kinds for change sets (registered in GatesConfig.ready()):
how reviews finds, renders and applies feature gates, segments and dynamic configs."""

from __future__ import annotations

from django.urls import reverse

from gates import selectors, services
from gates.documents import dynamic_config_to_document, gate_to_document, segment_to_document
from gates.models import DynamicConfig, FeatureGate, Segment
from reviews.registry import Action, EntityKind, document_actions, register


def _url(name: str):
    return lambda entity: reverse(name, args=[entity.project.slug, entity.pk])


def _ids(payload: dict) -> list:
    ids = payload.get("ids")
    return ids if isinstance(ids, list) else []


def register_kinds() -> None:
    register(
        EntityKind(
            kind="gate",
            label="feature gate",
            model=FeatureGate,
            find=lambda project, name: selectors.gate_get(project=project, name=name),
            to_document=gate_to_document,
            url=_url("gate-detail"),
            actions=document_actions(
                create=lambda a, p, doc: services.gate_create(actor=a, project=p, document=doc),
                update=lambda a, e, doc: services.gate_update(actor=a, gate=e, document=doc),
                archive=lambda a, e: services.gate_archive(actor=a, gate=e),
            ),
        )
    )
    register(
        EntityKind(
            kind="segment",
            label="segment",
            model=Segment,
            find=lambda project, name: selectors.segment_get(project=project, name=name),
            to_document=segment_to_document,
            url=_url("segment-detail"),
            actions={
                **document_actions(
                    create=lambda a, p, doc: services.segment_create(
                        actor=a, project=p, document=doc
                    ),
                    update=lambda a, e, doc: services.segment_update(
                        actor=a, segment=e, document=doc
                    ),
                    archive=lambda a, e: services.segment_archive(actor=a, segment=e),
                ),
                "ids_add": Action(
                    "Added IDs to",
                    lambda a, _p, e, payload: services.segment_ids_add(
                        actor=a, segment=e, ids=_ids(payload)
                    ),
                ),
                "ids_remove": Action(
                    "Removed IDs from",
                    lambda a, _p, e, payload: services.segment_ids_remove(
                        actor=a, segment=e, ids=_ids(payload)
                    ),
                ),
                "ids_replace": Action(
                    "Replaced the IDs of",
                    lambda a, _p, e, payload: services.segment_ids_replace(
                        actor=a, segment=e, ids=_ids(payload)
                    ),
                ),
            },
        )
    )
    register(
        EntityKind(
            kind="dynamic_config",
            label="dynamic config",
            model=DynamicConfig,
            find=lambda project, name: selectors.dynamic_config_get(project=project, name=name),
            to_document=dynamic_config_to_document,
            url=_url("config-detail"),
            actions=document_actions(
                create=lambda a, p, doc: services.dynamic_config_create(
                    actor=a, project=p, document=doc
                ),
                update=lambda a, e, doc: services.dynamic_config_update(
                    actor=a, config=e, document=doc
                ),
                archive=lambda a, e: services.dynamic_config_archive(actor=a, config=e),
            ),
        )
    )
