"""Console API support for entities edited as whole documents (Statsig Console API v1
style): the body parser, the answer shape, PATCH's merge. Their writes are proposed as change
sets by reviews.api.documents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.response import Response

from console.api.base import ConsoleAPIView
from console.api.parsers import SafeJSONParser


class DocumentInput(serializers.Serializer):
    """A whole (POST) or partial (PATCH) document: any JSON object, passed on as it is."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {"non_field_errors": ["The body is a JSON object: the entity's document."]},
                code="invalid_document",
            )
        return dict(data)


def merged(current: dict, changes: dict) -> dict:
    """PATCH: the given top-level keys replace the current document's; the rest stay."""
    return {**current, **changes}


class DocumentAPIView(ConsoleAPIView):
    """Bodies are JSON documents (a form post is 415, not a half-parsed document)."""

    parser_classes = [SafeJSONParser]

    def documents(self, queryset, to_document, **render: Any) -> Response:
        """One page of `queryset` as documents, with a constant number of queries (the
        selectors join and prefetch what the documents show)."""
        page = self.paginate_queryset(queryset) or []
        return self.get_paginated_response([to_document(obj, **render) for obj in page])
