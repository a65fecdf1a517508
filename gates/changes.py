"""How the gates app's pages, API and demo change gates, segments and dynamic configs: each
edit is proposed as a change set (reviews.services.changeset_submit), which the policy
applies at once or sends for review. The services in gates.services are the change
kinds' apply functions (gates/reviews.py); no adapter calls them for an entity write."""

from __future__ import annotations

from typing import Any

from console.models import Project
from gates.documents import dynamic_config_to_document, gate_to_document, segment_to_document
from gates.models import DynamicConfig, FeatureGate, Segment
from reviews.models import ChangeSet
from reviews.services import ChangeInput, changeset_submit

TO_DOCUMENT = {
    FeatureGate: gate_to_document,
    Segment: segment_to_document,
    DynamicConfig: dynamic_config_to_document,
}


def propose(
    *,
    actor,
    project: Project,
    kind: str,
    action: str,
    name: str = "",
    payload: dict[str, Any] | None = None,
    base_revision: int | None = None,
    source: str,
    title: str = "",
) -> ChangeSet:
    """One change as its own change set: applied (`results[0]` is what the service
    returned) or waiting for review. Raises the domain services' errors, saving nothing."""
    change = ChangeInput(kind, action, name, payload or {}, base_revision)
    return changeset_submit(
        actor=actor, project=project, changes=[change], title=title, source=source
    )


def unchanged(entity, document: dict[str, Any]) -> bool:
    """`document` is exactly the entity's own (a fetched document posted back, enabling an
    enabled gate): there is nothing to propose."""
    return TO_DOCUMENT[type(entity)](entity) == document
