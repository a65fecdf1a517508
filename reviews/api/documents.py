"""Console API views of entities edited as whole documents, each write proposed as a change
set (Statsig Console API v1 paths: the URL names an entity by its name).

GET renders the document; POST to the list proposes a create; POST to the entity proposes a
replacement (a missing key means its default); PATCH proposes the current document with the
given top-level keys replaced, based on the revision read (409 stale_revision if it moved);
DELETE proposes archiving. Applied at once: 201/200 with the document; waiting for review:
202 with the change set. A document equal to the entity's own proposes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from rest_framework import status
from rest_framework.response import Response

from console.api.base import ok, valid
from console.api.documents import DocumentAPIView, DocumentInput, merged, with_metadata
from console.api.permissions import resolve_project
from console.exceptions import ApplicationError
from console.models import Project, Role
from reviews import shortcuts
from reviews.models import ChangeSet, ChangeSetSource
from reviews.services import ChangeInput
from reviews.shortcuts import api_pending, is_applied


def propose(request, project: Project, change: ChangeInput) -> ChangeSet:
    """One change from the API as its own change set: applied at once or waiting."""
    return shortcuts.propose(request, project, change, source=ChangeSetSource.API)


def applied_or_pending(
    change_set: ChangeSet, message: str, render: Callable, code: int = status.HTTP_200_OK
) -> Response:
    """Applied: `message` with `render(what the service returned)`; else 202 pending."""
    if not is_applied(change_set):
        return api_pending(change_set)
    return ok(message, render(change_set.results[0]), code)


class ProposedListView(DocumentAPIView):
    """POST proposes creating one entity of `kind` (subclasses add GET, the list)."""

    kind = ""
    noun = "Entity"

    def render(self, entity) -> dict:
        raise NotImplementedError

    def answer(self, entity) -> dict:
        """The entity as answers show it: its document with its read-only metadata."""
        return with_metadata(self.render(entity), entity)

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        document = valid(DocumentInput, request.data)
        change_set = propose(request, project, ChangeInput(self.kind, "create", "", document))
        return applied_or_pending(
            change_set, f"{self.noun} created.", self.answer, status.HTTP_201_CREATED
        )


class ProposedDetailView(DocumentAPIView):
    """GET one entity by name; POST, PATCH and DELETE propose its change."""

    kind = ""
    noun = "Entity"

    def lookup(self, project: Project, name: str):
        """The live entity, or raise console.exceptions.NotFound."""
        raise NotImplementedError

    def render(self, entity) -> dict:
        raise NotImplementedError

    def answer(self, entity) -> dict:
        """The entity as answers show it: its document with its read-only metadata."""
        return with_metadata(self.render(entity), entity)

    def merge(self, current: dict, changes: dict) -> dict:
        """PATCH: the current document with the given top-level keys replaced (subclasses
        drop what an input alias stands for)."""
        return merged(current, changes)

    def propose(self, request, project: Project, change: ChangeInput) -> ChangeSet:
        """Subclasses may translate the domain's refusals (e.g. a lifecycle step)."""
        return propose(request, project, change)

    def get(self, request, name: str):
        project, _ = resolve_project(request)
        return ok("OK", self.answer(self.lookup(project, name)))

    def _replace(self, request, project, entity, document: dict, base_revision: int | None):
        change = ChangeInput(self.kind, "update", entity.name, document, base_revision)
        try:
            change_set = self.propose(request, project, change)
        except ApplicationError as exc:
            if exc.code != "unchanged":
                raise
            # The same document (as the dry run renders it): nothing proposed, nothing saved.
            return ok(f"{self.noun} unchanged.", self.answer(entity))
        return applied_or_pending(change_set, f"{self.noun} updated.", self.answer)

    def post(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        entity = self.lookup(project, name)
        return self._replace(request, project, entity, valid(DocumentInput, request.data), None)

    def patch(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        entity = self.lookup(project, name)
        document = self.merge(self.render(entity), valid(DocumentInput, request.data))
        return self._replace(request, project, entity, document, entity.revision)

    def delete(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        entity = self.lookup(project, name)
        change = ChangeInput(self.kind, "archive", entity.name)
        change_set = self.propose(request, project, change)
        return applied_or_pending(change_set, f"{self.noun} archived.", self.answer)
