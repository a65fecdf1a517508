"""Console API views for entities edited as whole documents (Statsig Console API v1 style).

The URL names an entity by its name. GET renders its document; POST to the list creates one;
POST to the entity replaces its document (a missing key means its default); PATCH replaces the
given top-level keys and is refused (409 stale_revision) if the entity changed since it was
read; DELETE archives. Domain apps subclass these views with their own selectors, documents
and services, so console imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from console.api.permissions import resolve_project
from console.api.views import ConsoleAPIView
from console.models import Project, Role


class DocumentInput(serializers.Serializer):
    """A whole (POST) or partial (PATCH) document: any JSON object, passed on as it is."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {"non_field_errors": ["The body is a JSON object: the entity's document."]},
                code="invalid_document",
            )
        return dict(data)


def ok(message: str, data, code: int = status.HTTP_200_OK) -> Response:
    return Response({"message": message, "data": data}, status=code)


def valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def merged(current: dict, changes: dict) -> dict:
    """PATCH: the given top-level keys replace the current document's; the rest stay."""
    return {**current, **changes}


class DocumentAPIView(ConsoleAPIView):
    """Bodies are JSON documents (a form post is 415, not a half-parsed document)."""

    parser_classes = [JSONParser]

    def documents(self, queryset, to_document, **render: Any) -> Response:
        """One page of `queryset` as documents, with a constant number of queries (the
        selectors join and prefetch what the documents show)."""
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response([to_document(obj, **render) for obj in page])


class DocumentDetailView(DocumentAPIView):
    """GET, POST (replace), PATCH (merge) and DELETE (archive) one entity by name."""

    noun = "Entity"

    def lookup(self, project: Project, name: str):
        """The live entity, or raise console.exceptions.NotFound."""
        raise NotImplementedError

    def render(self, entity) -> dict:
        raise NotImplementedError

    def update(self, request, entity, document: dict, expected_revision: int | None = None):
        raise NotImplementedError

    def archive(self, request, entity):
        raise NotImplementedError

    def get(self, request, name: str):
        project, _ = resolve_project(request)
        return ok("OK", self.render(self.lookup(project, name)))

    def post(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        entity = self.lookup(project, name)
        entity = self.update(request, entity, valid(DocumentInput, request.data))
        return ok(f"{self.noun} updated.", self.render(entity))

    def patch(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        entity = self.lookup(project, name)
        changes = valid(DocumentInput, request.data)
        entity = self.update(
            request,
            entity,
            merged(self.render(entity), changes),
            expected_revision=entity.revision,
        )
        return ok(f"{self.noun} updated.", self.render(entity))

    def delete(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        entity = self.archive(request, self.lookup(project, name))
        return ok(f"{self.noun} archived.", self.render(entity))
