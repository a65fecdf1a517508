"""The entity kinds change sets can hold, registered by the domain apps in AppConfig.ready().

reviews imports no domain app: a handler tells it how to find an entity, render its
document (the Statsig Console API v1 shape), describe a document for humans, and run each
action through the app's own service.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import Model

from console.exceptions import DomainError
from console.models import Project

# A document (Statsig Console API v1 shape) or a change payload: JSON objects.
Document = Mapping[str, Any]
Payload = dict[str, Any]
M = TypeVar("M", bound=Model)

# (actor, project, entity or None for a create, payload) -> what the service returned. The
# entity is Any: each kind's services take their own model (a FeatureGate, a Layer, ...).
ApplyFn = Callable[[Any, Project, Any, Payload], Any]
# A document as labelled, readable lines: [("Rule 1: Employees", "100% pass when ...")]
DescribeFn = Callable[[Payload], list[tuple[str, str]]]


@dataclass(frozen=True)
class Action:
    label: str  # past tense for humans: "Updated", "Started"
    apply: ApplyFn
    creates: bool = False
    # The payload is a whole document (create/update): rebase merges it key by key.
    takes_document: bool = False
    # The payload key holding a list that may be huge (a million unit IDs): applying
    # streams it from the database instead of loading it, and its length is the
    # change's weight, which decides whether it is applied in the worker.
    bulk_key: str | None = None
    # What a dry run calls instead of `apply`, when applying for real would be needlessly
    # heavy (writing a million IDs only to roll them back): it must leave the entity, its
    # document and the specs as `apply` would, and raise what `apply` would raise.
    preview: ApplyFn | None = None

    def weight(self, payload: Payload) -> int:
        items = payload.get(self.bulk_key) if self.bulk_key else None
        return max(1, len(items)) if isinstance(items, list) else 1


def document_actions(
    *,
    create: Callable[[Any, Project, Payload], Any],
    update: Callable[[Any, Any, Payload], Any],
    archive: Callable[[Any, Any], Any],
) -> dict[str, Action]:
    """The create / update / archive actions of an entity edited as a whole document:
    create(actor, project, document), update(actor, entity, document), archive(actor, entity)."""
    return {
        "create": Action(
            "Created",
            lambda actor, project, _entity, doc: create(actor, project, doc),
            creates=True,
            takes_document=True,
        ),
        "update": Action(
            "Updated",
            lambda actor, _project, entity, doc: update(actor, entity, doc),
            takes_document=True,
        ),
        "archive": Action(
            "Archived", lambda actor, _project, entity, _payload: archive(actor, entity)
        ),
    }


def describe_plainly(document: Payload) -> list[tuple[str, str]]:
    """The fallback description: one line per top-level key."""
    lines: list[tuple[str, str]] = []
    for key, value in document.items():
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        lines.append((key, text))
    return lines


EVERY_ENVIRONMENT = "*"


@dataclass(frozen=True)
class EntityKind(Generic[M]):
    kind: str  # "gate": the change's `kind`, also the API's
    label: str  # "feature gate"
    model: type[M]  # the Django model (reviews reads rows only through `load`)
    find: Callable[[Project, str], M | None]  # live entity by name, or None
    to_document: Callable[[M], Document]
    actions: Mapping[str, Action]
    describe: DescribeFn = describe_plainly
    url: Callable[[M], str] | None = None
    # The editor that creates one (its ?change_set=N&change=P edits a proposed create).
    create_url: Callable[[Project], str] | None = None
    # What the document will change later by itself (a gate rule's rollout schedule, which
    # the worker applies step by step): given the documents before and after a change, the
    # names of the environments whose SDK answers a new or changed schedule will move,
    # EVERY_ENVIRONMENT for all. They need the review they would need today.
    changes_later: Callable[[Document | None, Document | None], Collection[str]] | None = None

    def load(self, project: Project, entity_id: int, *, lock: bool = False) -> M | None:
        rows = self.model._default_manager.filter(project=project, pk=entity_id)
        if lock:
            rows = rows.select_for_update(of=("self",))
        return rows.first()

    def revisions(self, project: Project, entity_ids: list[int]) -> dict[int, int]:
        """{entity id: its current revision} of those that still exist (one query)."""
        rows = self.model._default_manager.filter(project=project, pk__in=entity_ids)
        return dict(rows.values_list("pk", "revision"))

    def action(self, name: str) -> Action:
        try:
            return self.actions[name]
        except KeyError:
            known = ", ".join(sorted(self.actions))
            raise DomainError(
                f"A {self.label} change can be one of: {known} (not '{name}').",
                code="unknown_action",
                field="action",
            ) from None


# Any: reviews handles every kind alike, whatever its model.
_kinds: dict[str, EntityKind[Any]] = {}


# The webhook event a change of each action announces once applied ("gate.updated");
# actions not named here (adding IDs, ...) announce an update.
PAST_TENSE = {
    "create": "created",
    "update": "updated",
    "archive": "archived",
    "start": "started",
    "ship": "shipped",
    "abandon": "abandoned",
    "reset": "reset",
}


def entity_event(kind: str, action: str) -> str:
    return f"{kind}.{PAST_TENSE.get(action, 'updated')}"


def register(kind: EntityKind[Any]) -> None:
    from console.webhooks.events import register_event

    _kinds[kind.kind] = kind
    for action in kind.actions:
        event = entity_event(kind.kind, action)
        verb = event.split(".")[1]
        register_event(event, f"A {kind.label} was {verb} (its change set applied)")


def get(kind: str) -> EntityKind[Any]:
    try:
        return _kinds[kind]
    except KeyError:
        known = ", ".join(sorted(_kinds))
        raise DomainError(
            f"Change sets hold these kinds: {known} (not '{kind}').",
            code="unknown_kind",
            field="kind",
        ) from None


def kinds() -> list[EntityKind[Any]]:
    return list(_kinds.values())


def bulk_keys() -> list[str]:
    """Every payload key some action streams (Action.bulk_key), sorted."""
    return sorted({a.bulk_key for k in _kinds.values() for a in k.actions.values() if a.bulk_key})
