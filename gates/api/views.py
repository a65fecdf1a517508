"""Gates API: feature gates, segments and dynamic configs in the Statsig Console API v1
shape, mounted at /console/v1/. The URL names an entity by its name, as Statsig does.

Each view resolves the project and the caller's role (console.api.permissions), checks the
body's shape, makes one service call and renders the entity's document. The services hold
every rule and re-check the role; their DomainError/Conflict (with a field path such as
"rules[1].conditions[0].targetValue") become {"message", "code", "field"} responses in
console.api.exceptions.
"""

from __future__ import annotations

from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from console.api.documents import (
    DocumentAPIView,
    DocumentDetailView,
    DocumentInput,
    merged,
    ok,
    valid,
)
from console.api.permissions import resolve_project
from console.api.views import ConsoleAPIView
from console.exceptions import DomainError, NotFound
from console.models import Project, Role
from gates import selectors, services
from gates.api import serializers as s
from gates.documents import (
    dynamic_config_to_document,
    environment_names,
    gate_to_document,
    segment_to_document,
)
from gates.models import DynamicConfig, FeatureGate, Segment, SegmentKind


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# ---------------------------------------------------------------- feature gates


def _gate(project: Project, name: str) -> FeatureGate:
    gate = selectors.gate_get(project=project, name=name)
    if gate is None:
        raise NotFound(f"This project has no gate named '{name}'.")
    return gate


class GateListView(DocumentAPIView):
    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(s.GateListQuery, request.query_params)
        gates = selectors.gate_list(project=project, filters=selectors.GateFilters(**query))
        return self.documents(gates, gate_to_document, env_names=environment_names(project))

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        document = valid(DocumentInput, request.data)
        gate = services.gate_create(actor=request.user, project=project, document=document)
        return ok("Gate created.", gate_to_document(gate), status.HTTP_201_CREATED)


class GateDetailView(DocumentDetailView):
    noun = "Gate"

    def lookup(self, project, name):
        return _gate(project, name)

    def render(self, entity):
        return gate_to_document(entity)

    def update(self, request, entity, document, expected_revision=None):
        return services.gate_update(
            actor=request.user,
            gate=entity,
            document=document,
            expected_revision=expected_revision,
        )

    def archive(self, request, entity):
        return services.gate_archive(actor=request.user, gate=entity)


class GateSwitchView(DocumentAPIView):
    """PUT or POST .../enable and .../disable: set isEnabled, nothing else."""

    is_enabled: bool = True

    def put(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        gate = _gate(project, name)
        gate = services.gate_update(
            actor=request.user,
            gate=gate,
            document=merged(gate_to_document(gate), {"isEnabled": self.is_enabled}),
            expected_revision=gate.revision,
        )
        message = "Gate enabled." if self.is_enabled else "Gate disabled."
        return ok(message, gate_to_document(gate))

    post = put


# ---------------------------------------------------------------- segments


def _segment(project: Project, name: str) -> Segment:
    segment = selectors.segment_get(project=project, name=name)
    if segment is None:
        raise NotFound(f"This project has no segment named '{name}'.")
    return segment


class SegmentListView(DocumentAPIView):
    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(s.SegmentListQuery, request.query_params)
        segments = selectors.segment_list(project=project, **query)
        return self.documents(segments, segment_to_document, env_names=environment_names(project))

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        document = valid(DocumentInput, request.data)
        segment = services.segment_create(actor=request.user, project=project, document=document)
        return ok("Segment created.", segment_to_document(segment), status.HTTP_201_CREATED)


class SegmentDetailView(DocumentDetailView):
    noun = "Segment"

    def lookup(self, project, name):
        return _segment(project, name)

    def render(self, entity):
        return segment_to_document(entity)

    def update(self, request, entity, document, expected_revision=None):
        return services.segment_update(
            actor=request.user,
            segment=entity,
            document=document,
            expected_revision=expected_revision,
        )

    def archive(self, request, entity):
        return services.segment_archive(actor=request.user, segment=entity)


def _ids_change(change: services.SegmentIdsChange) -> dict:
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

    parser_classes = [JSONParser, MultiPartParser]

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

    def post(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        segment = _segment(project, name)
        data = valid(s.SegmentIdsInput, request.data)
        change = services.segment_ids_add(actor=request.user, segment=segment, ids=data["ids"])
        return ok(f"Added {_plural(change.added, 'ID')}.", _ids_change(change))

    def delete(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        segment = _segment(project, name)
        data = valid(s.SegmentIdsInput, request.data)
        change = services.segment_ids_remove(actor=request.user, segment=segment, ids=data["ids"])
        return ok(f"Removed {_plural(change.removed, 'ID')}.", _ids_change(change))

    def put(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        segment = _segment(project, name)
        data = valid(s.SegmentCsvInput, request.data)
        change = services.segment_ids_replace_from_csv(
            actor=request.user, segment=segment, file=data["file"]
        )
        message = (
            f"Replaced the IDs: {_plural(change.added, 'ID')} added, "
            f"{_plural(change.removed, 'ID')} removed."
        )
        return ok(message, _ids_change(change))


# ---------------------------------------------------------------- dynamic configs


def _config(project: Project, name: str) -> DynamicConfig:
    config = selectors.dynamic_config_get(project=project, name=name)
    if config is None:
        raise NotFound(f"This project has no dynamic config named '{name}'.")
    return config


class DynamicConfigListView(DocumentAPIView):
    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(s.DynamicConfigListQuery, request.query_params)
        configs = selectors.dynamic_config_list(project=project, **query)
        return self.documents(
            configs, dynamic_config_to_document, env_names=environment_names(project)
        )

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        document = valid(DocumentInput, request.data)
        config = services.dynamic_config_create(
            actor=request.user, project=project, document=document
        )
        return ok(
            "Dynamic config created.", dynamic_config_to_document(config), status.HTTP_201_CREATED
        )


class DynamicConfigDetailView(DocumentDetailView):
    noun = "Dynamic config"

    def lookup(self, project, name):
        return _config(project, name)

    def render(self, entity):
        return dynamic_config_to_document(entity)

    def update(self, request, entity, document, expected_revision=None):
        return services.dynamic_config_update(
            actor=request.user,
            config=entity,
            document=document,
            expected_revision=expected_revision,
        )

    def archive(self, request, entity):
        return services.dynamic_config_archive(actor=request.user, config=entity)
