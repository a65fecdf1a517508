"""Console API support for entities edited as whole documents (Statsig Console API v1
style): the body parser, the answer shape, PATCH's merge. Their writes are proposed as change
sets by reviews.api.documents."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.response import Response

from console.api.base import ConsoleAPIView
from console.api.parsers import SafeJSONParser

# An entity's read-only metadata as Statsig's Console API names it. Answers carry it
# (with_metadata); document inputs accept and ignore it, so a GET → edit → POST round trip
# works. The canonical documents (<entity>_to_document: reviews' diffs, the "unchanged"
# check, the forms, the project export) never hold it: it changes without the entity changing.
READ_ONLY_KEYS = frozenset(
    {
        "createdTime",  # epoch milliseconds
        "creatorID",
        "creatorName",
        "creatorEmail",
        "lastModifiedTime",  # epoch milliseconds
        "lastModifierID",
        "lastModifierName",
        "lastModifierEmail",
    }
)


def epoch_ms(value) -> int | None:
    """A datetime as Statsig's timestamps: integer milliseconds since the epoch."""
    return int(value.timestamp() * 1000) if value is not None else None


def with_metadata(document: Mapping[str, Any], entity: Any) -> dict[str, Any]:
    """An entity's document as the API answers it: Statsig's `id` (the name) first, then
    the document, then the READ_ONLY_KEYS we know (creator, creation and last change)."""
    creator = getattr(entity, "created_by", None)
    return {
        "id": entity.name,
        **document,
        "createdTime": epoch_ms(entity.created_at),
        "creatorID": str(creator.pk) if creator is not None else None,
        "creatorName": (creator.get_full_name() or creator.email) if creator else None,
        "creatorEmail": creator.email if creator is not None else None,
        "lastModifiedTime": epoch_ms(entity.updated_at),
    }


class DocumentInput(serializers.Serializer):
    """A whole (POST) or partial (PATCH) document: any JSON object, passed on without the
    READ_ONLY_KEYS (accepted and ignored)."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {"non_field_errors": ["The body is a JSON object: the entity's document."]},
                code="invalid_document",
            )
        return {key: value for key, value in data.items() if key not in READ_ONLY_KEYS}


def merged(current: dict, changes: dict) -> dict:
    """PATCH: the given top-level keys replace the current document's; the rest stay."""
    return {**current, **changes}


class DocumentAPIView(ConsoleAPIView):
    """Bodies are JSON documents (a form post is 415, not a half-parsed document)."""

    parser_classes = [SafeJSONParser]

    def documents(
        self, queryset, to_document, *, answer: Callable = with_metadata, **render: Any
    ) -> Response:
        """One page of `queryset` as documents with their metadata (`answer(document,
        entity)`), with a constant number of queries (the selectors join and prefetch what
        the documents show)."""
        if isinstance(queryset, QuerySet):
            queryset = queryset.select_related("created_by")
        page = self.paginate_queryset(queryset) or []
        return self.get_paginated_response(
            [answer(to_document(obj, **render), obj) for obj in page]
        )
