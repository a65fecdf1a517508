"""Gates API: feature gates, segments and dynamic configs in the Statsig Console API v1
shape, mounted at /console/v1/. The URL names an entity by its name, as Statsig does.

Each view resolves the project and the caller's role (console.api.permissions), checks the
body's shape and proposes the write as a change set (reviews.api.documents). Applied at
once, it answers as Statsig does with the entity's document; waiting for review, it answers
202 with the change set (reviews.shortcuts.api_pending). The change set's dry run runs the
services, which hold every rule and re-check the role; their DomainError/Conflict (with a
field path such as "rules[1].conditions[0].targetValue") become {"message", "code",
"field"} responses in console.api.exceptions.
"""

from __future__ import annotations

from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from console.api.base import ConsoleAPIView, ok, valid
from console.api.documents import DocumentAPIView, merged, with_metadata
from console.api.parsers import SafeJSONParser
from console.api.permissions import resolve_project
from console.exceptions import DomainError, NotFound
from console.models import Project, Role
from gates import idlists, selectors
from gates.api import serializers as s
from gates.documents import (
    dynamic_config_to_document,
    environment_names,
    gate_to_document,
    segment_to_document,
)
from gates.models import DynamicConfig, FeatureGate, Segment, SegmentKind
from gates.services import SegmentIdsChange
from reviews.api.documents import (
    ProposedDetailView,
    ProposedListView,
    applied_or_pending,
    propose,
)
from reviews.services import ChangeInput
from reviews.shortcuts import api_pending, is_applied


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# ---------------------------------------------------------------- feature gates


def _gate(project: Project, name: str) -> FeatureGate:
    gate = selectors.gate_get(project=project, name=name)
    if gate is None:
        raise NotFound(f"This project has no gate named '{name}'.")
    return gate


class GateListView(ProposedListView):
    kind = "gate"
    noun = "Gate"

    def render(self, entity) -> dict:
        return gate_to_document(entity)

    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(s.GateListQuery, request.query_params)
        gates = selectors.gate_list(project=project, filters=selectors.GateFilters(**query))
        return self.documents(gates, gate_to_document, env_names=environment_names(project))


class GateDetailView(ProposedDetailView):
    kind = "gate"
    noun = "Gate"

    def lookup(self, project, name):
        return _gate(project, name)

    def render(self, entity):
        return gate_to_document(entity)


class GateSwitchView(DocumentAPIView):
    """PUT or POST .../enable and .../disable: set isEnabled, nothing else."""

    is_enabled: bool = True

    def put(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        gate = _gate(project, name)
        document = merged(gate_to_document(gate), {"isEnabled": self.is_enabled})
        message = "Gate enabled." if self.is_enabled else "Gate disabled."
        if gate_to_document(gate) == document:
            return ok(message, with_metadata(document, gate))
        change = ChangeInput("gate", "update", gate.name, document, gate.revision)
        return applied_or_pending(
            propose(request, project, change),
            message,
            lambda entity: with_metadata(gate_to_document(entity), entity),
        )

    post = put


# ---------------------------------------------------------------- segments


def _segment(project: Project, name: str) -> Segment:
    segment = selectors.segment_get(project=project, name=name)
    if segment is None:
        raise NotFound(f"This project has no segment named '{name}'.")
    return segment


class SegmentListView(ProposedListView):
    kind = "segment"
    noun = "Segment"

    def render(self, entity) -> dict:
        return segment_to_document(entity)

    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(s.SegmentListQuery, request.query_params)
        segments = selectors.segment_list(project=project, **query)
        return self.documents(segments, segment_to_document, env_names=environment_names(project))


class SegmentDetailView(ProposedDetailView):
    kind = "segment"
    noun = "Segment"

    def lookup(self, project, name):
        return _segment(project, name)

    def render(self, entity):
        return segment_to_document(entity)


def _ids_change(change: SegmentIdsChange) -> dict:
    segment = change.segment
    return {
        "name": segment.name,
        "count": segment.id_count,
        "added": change.added,
        "removed": change.removed,
    }


class SegmentIdListView(ConsoleAPIView):
    """An ID-list segment's IDs: GET pages through them (sorted, keyset paging with
    ?after=<last id>&limit=), POST {"ids": [...]} adds, DELETE {"ids": [...]} removes,
    PUT a multipart CSV `file` replaces them all."""

    parser_classes = [SafeJSONParser, MultiPartParser]

    def get(self, request, name: str):
        project, _ = resolve_project(request)
        segment = _segment(project, name)
        if segment.kind != SegmentKind.ID_LIST:
            raise DomainError(
                "Only ID-list segments hold IDs; this one is rule based.", code="not_an_id_list"
            )
        query = valid(s.SegmentIdsQuery, request.query_params)
        limit = query["limit"]
        ids = selectors.segment_ids_page(
            segment=segment,
            search=query.get("search", ""),
            after=query.get("after", ""),
            limit=limit + 1,
        )
        more, ids = len(ids) > limit, ids[:limit]
        next_page = (
            replace_query_param(request.build_absolute_uri(), "after", ids[-1]) if more else None
        )
        return Response(
            {
                "message": "OK",
                "data": {"name": segment.name, "count": segment.id_count, "ids": ids},
                "pagination": {
                    "itemsPerPage": limit,
                    "totalItems": segment.id_count,
                    "after": query.get("after") or None,
                    "nextPage": next_page,
                },
            }
        )

    def _propose_ids(self, request, name: str, action: str, message):
        """Propose the ID change; applied, answer `message(change)` and the counts."""
        project, _ = resolve_project(request, Role.MEMBER)
        segment = _segment(project, name)
        if action == "ids_replace":  # a CSV upload, parsed here (its errors name the file)
            data = valid(s.SegmentCsvInput, request.data)
            ids = idlists.parse_id_csv(data["file"], id_type=segment.id_type)
        else:
            ids = valid(s.SegmentIdsInput, request.data)["ids"]
        change = ChangeInput("segment", action, segment.name, {"ids": ids})
        change_set = propose(request, project, change)
        if not is_applied(change_set):
            return api_pending(change_set)
        change = change_set.results[0]
        return ok(message(change), _ids_change(change))

    def post(self, request, name: str):
        return self._propose_ids(
            request, name, "ids_add", lambda c: f"Added {_plural(c.added, 'ID')}."
        )

    def delete(self, request, name: str):
        return self._propose_ids(
            request, name, "ids_remove", lambda c: f"Removed {_plural(c.removed, 'ID')}."
        )

    def put(self, request, name: str):
        return self._propose_ids(
            request,
            name,
            "ids_replace",
            lambda c: (
                f"Replaced the IDs: {_plural(c.added, 'ID')} added, "
                f"{_plural(c.removed, 'ID')} removed."
            ),
        )


# ---------------------------------------------------------------- dynamic configs


def _config(project: Project, name: str) -> DynamicConfig:
    config = selectors.dynamic_config_get(project=project, name=name)
    if config is None:
        raise NotFound(f"This project has no dynamic config named '{name}'.")
    return config


class DynamicConfigListView(ProposedListView):
    kind = "dynamic_config"
    noun = "Dynamic config"

    def render(self, entity) -> dict:
        return dynamic_config_to_document(entity)

    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(s.DynamicConfigListQuery, request.query_params)
        configs = selectors.dynamic_config_list(project=project, **query)
        return self.documents(
            configs, dynamic_config_to_document, env_names=environment_names(project)
        )


class DynamicConfigDetailView(ProposedDetailView):
    kind = "dynamic_config"
    noun = "Dynamic config"

    def lookup(self, project, name):
        return _config(project, name)

    def render(self, entity):
        return dynamic_config_to_document(entity)
