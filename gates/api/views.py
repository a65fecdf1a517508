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

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from console.api import schema
from console.api.base import ConsoleAPIView, ok, valid
from console.api.documents import DocumentAPIView, merged, with_metadata
from console.api.parsers import SafeJSONParser
from console.api.permissions import resolve_project
from console.exceptions import DomainError, NotFound
from console.models import Project, Role
from gates import idlists, selectors
from gates.api import serializers as s
from gates.documents import (
    STATSIG_GATE_STATUS,
    STATSIG_GATE_TYPE,
    dynamic_config_to_document,
    environment_names,
    gate_to_document,
    segment_to_document,
)
from gates.models import DynamicConfig, FeatureGate, GateStatus, Segment, SegmentKind
from gates.services import SegmentIdsChange
from gates.types import DynamicConfigDocument, GateDocument, SegmentDocument
from reviews.api.documents import (
    ProposedDetailView,
    ProposedListView,
    applied_or_pending,
    propose,
)
from reviews.services import ChangeInput
from reviews.shortcuts import api_pending, is_applied

_GATE_STATUS = {
    "type": "string",
    "enum": list(STATSIG_GATE_STATUS.values()),
    "description": "As Statsig names it.",
}
_GATE_TYPE = {
    "type": "string",
    "enum": list(STATSIG_GATE_TYPE.values()),
    "description": "Statsig's name for isPermanent.",
}
GATE = schema.component(
    "Gate",
    GateDocument,
    entity=True,
    answers={"status": _GATE_STATUS, "type": _GATE_TYPE},
    inputs={
        "status": {
            "type": "string",
            "enum": [*GateStatus.values, *STATSIG_GATE_STATUS.values()],
            "description": "Ours or Statsig's name (an alias).",
        },
        "type": {**_GATE_TYPE, "description": "An alias of isPermanent; both must agree."},
    },
)
SEGMENT = schema.component("Segment", SegmentDocument, entity=True)
DYNAMIC_CONFIG = schema.component("DynamicConfig", DynamicConfigDocument, entity=True)
ID_CHANGE = schema.obj(
    {
        "name": schema.STRING,
        "count": schema.INTEGER,
        "added": schema.INTEGER,
        "removed": schema.INTEGER,
    }
)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# ---------------------------------------------------------------- feature gates


def _gate(project: Project, name: str) -> FeatureGate:
    gate = selectors.gate_get(project=project, name=name)
    if gate is None:
        raise NotFound(f"This project has no gate named '{name}'.")
    return gate


def _gate_answer(document: dict, gate: FeatureGate) -> dict:
    """A gate as the API answers it: its document and metadata, the status as Statsig names
    it ("In Progress", "Launched", ...) and Statsig's `type` beside isPermanent."""
    return {
        **with_metadata(document, gate),
        "status": STATSIG_GATE_STATUS[document["status"]],
        "type": STATSIG_GATE_TYPE[document["isPermanent"]],
    }


@extend_schema_view(**schema.documents("gates", GATE, noun="gate", query=s.GateListQuery))
class GateListView(ProposedListView):
    kind = "gate"
    noun = "Gate"

    def render(self, entity) -> dict:
        return gate_to_document(entity)

    def answer(self, entity) -> dict:
        return _gate_answer(self.render(entity), entity)

    def get(self, request):
        project, _ = resolve_project(request)
        query = valid(s.GateListQuery, request.query_params)
        gates = selectors.gate_list(project=project, filters=selectors.GateFilters(**query))
        return self.documents(
            gates, gate_to_document, answer=_gate_answer, env_names=environment_names(project)
        )


@extend_schema_view(**schema.document("gates", GATE, noun="gate"))
class GateDetailView(ProposedDetailView):
    kind = "gate"
    noun = "Gate"

    def lookup(self, project, name):
        return _gate(project, name)

    def render(self, entity):
        return gate_to_document(entity)

    def answer(self, entity) -> dict:
        return _gate_answer(self.render(entity), entity)

    def merge(self, current: dict, changes: dict) -> dict:
        """Statsig's `type` alone stands for isPermanent: it replaces the current one."""
        if "type" in changes and "isPermanent" not in changes:
            current = {k: v for k, v in current.items() if k != "isPermanent"}
        return merged(current, changes)


class GateSwitchView(DocumentAPIView):
    """PUT or POST .../enable and .../disable: set isEnabled, nothing else."""

    is_enabled: bool = True

    @extend_schema(
        summary="Enable or disable a gate",
        description="Sets isEnabled and nothing else; the body is ignored.",
        request=None,
        responses={200: schema.envelope(GATE), **schema.pending(), **schema.errors(409)},
    )
    def put(self, request, name: str):
        project, _ = resolve_project(request, Role.MEMBER)
        gate = _gate(project, name)
        document = merged(gate_to_document(gate), {"isEnabled": self.is_enabled})
        message = "Gate enabled." if self.is_enabled else "Gate disabled."
        if gate_to_document(gate) == document:
            return ok(message, _gate_answer(document, gate))
        change = ChangeInput("gate", "update", gate.name, document, gate.revision)
        return applied_or_pending(
            propose(request, project, change),
            message,
            lambda entity: _gate_answer(gate_to_document(entity), entity),
        )

    post = put


# ---------------------------------------------------------------- segments


def _segment(project: Project, name: str) -> Segment:
    segment = selectors.segment_get(project=project, name=name)
    if segment is None:
        raise NotFound(f"This project has no segment named '{name}'.")
    return segment


@extend_schema_view(
    **schema.documents("segments", SEGMENT, noun="segment", query=s.SegmentListQuery)
)
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


@extend_schema_view(**schema.document("segments", SEGMENT, noun="segment"))
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

    @extend_schema(
        operation_id="segments_id_list_get",
        summary="List an ID-list segment's IDs",
        parameters=[s.SegmentIdsQuery],
        responses={
            200: schema.obj(
                {
                    "message": schema.STRING,
                    "data": schema.obj(
                        {
                            "name": schema.STRING,
                            "count": schema.INTEGER,
                            "ids": schema.array(schema.STRING),
                        }
                    ),
                    "pagination": schema.obj(
                        {
                            "itemsPerPage": schema.INTEGER,
                            "totalItems": schema.INTEGER,
                            "after": schema.NULLABLE_STRING,
                            "nextPage": {**schema.NULLABLE_STRING, "format": "uri"},
                        }
                    ),
                }
            )
        },
    )
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

    @extend_schema(
        operation_id="segments_id_list_add",
        summary="Add IDs to an ID-list segment",
        request=s.SegmentIdsInput,
        responses={200: schema.envelope(ID_CHANGE), **schema.pending(), **schema.errors(409)},
    )
    def post(self, request, name: str):
        return self._propose_ids(
            request, name, "ids_add", lambda c: f"Added {_plural(c.added, 'ID')}."
        )

    @extend_schema(
        operation_id="segments_id_list_remove",
        summary="Remove IDs from an ID-list segment",
        request=s.SegmentIdsInput,
        responses={200: schema.envelope(ID_CHANGE), **schema.pending(), **schema.errors(409)},
    )
    def delete(self, request, name: str):
        return self._propose_ids(
            request, name, "ids_remove", lambda c: f"Removed {_plural(c.removed, 'ID')}."
        )

    @extend_schema(
        operation_id="segments_id_list_replace",
        summary="Replace an ID-list segment's IDs with a CSV file",
        request={"multipart/form-data": s.SegmentCsvInput},
        responses={200: schema.envelope(ID_CHANGE), **schema.pending(), **schema.errors(409)},
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


@extend_schema_view(
    **schema.documents(
        "dynamic configs", DYNAMIC_CONFIG, noun="dynamic config", query=s.DynamicConfigListQuery
    )
)
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


@extend_schema_view(
    **schema.document(
        "dynamic configs",
        DYNAMIC_CONFIG,
        noun="dynamic config",
    )
)
class DynamicConfigDetailView(ProposedDetailView):
    kind = "dynamic_config"
    noun = "Dynamic config"

    def lookup(self, project, name):
        return _config(project, name)

    def render(self, entity):
        return dynamic_config_to_document(entity)
