"""The project as code over the console API (docs/project-as-code.md): GET /export gives
the project document; POST /import proposes a document as one change set (?dry_run=true
shows the plan and keeps nothing; ?prune=true archives what it leaves out)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser

from console.api import schema
from console.api.base import ConsoleAPIView, ok
from console.api.parsers import BodyTooLarge
from console.api.permissions import resolve_project
from console.exceptions import DomainError
from console.models import Role
from experiments.projectcode import (
    MAX_IMPORT_BYTES,
    dump_document,
    parse_document,
    project_document,
    project_import,
)
from reviews.models import ChangeSetSource
from reviews.shortcuts import change_set_summary, is_applied, pending_message

CONTENT_TYPES = {"yaml": "application/yaml; charset=utf-8", "json": "application/json"}


def _format(request) -> str:
    fmt = request.query_params.get("format", "yaml").strip().lower() or "yaml"
    if fmt not in CONTENT_TYPES:
        raise DomainError("format is yaml or json.", code="invalid", field="format")
    return fmt


def _flag(request, name: str) -> bool:
    value = request.query_params.get(name, "").strip().lower()
    if value not in ("", "true", "false", "1", "0"):
        raise DomainError(f"{name} is true or false.", code="invalid", field=name)
    return value in ("true", "1")


class RawDocumentParser(BaseParser):
    """The body as bytes (a YAML or JSON document), read no further than MAX_IMPORT_BYTES."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):  # -> bytes
        raw = stream.read(MAX_IMPORT_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_IMPORT_BYTES:
            raise BodyTooLarge(f"The document is larger than {MAX_IMPORT_BYTES} bytes.")
        return raw


class OwnFormat(BaseContentNegotiation):
    """`?format=` names the document's format here, not a DRF renderer: the first parser and
    renderer, always (errors are JSON)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


_PROJECT_DOCUMENT = schema.component(
    "ProjectDocument",
    {
        "type": "object",
        "description": (
            "The whole project as one document (docs/project-as-code.md): version, tags, "
            "metrics, reviewPolicy and one list per kind (gates, segments, dynamicConfigs, "
            "experiments, layers, holdouts), each entity its document plus `identity`."
        ),
        "additionalProperties": True,
    },
)
_ENTITY_PLAN = schema.obj(
    {
        "section": schema.STRING,
        "name": schema.STRING,
        "action": {"type": "string", "enum": ["create", "update", "unchanged", "archive"]},
        "steps": schema.array(schema.STRING),
        "diff": {**schema.STRING, "description": "A unified diff of the entity's document."},
    }
)
_PLAN_FIELDS = {
    "dryRun": schema.BOOLEAN,
    "prune": schema.BOOLEAN,
    "summary": schema.STRING,
    "entities": schema.array(_ENTITY_PLAN),
    "notes": schema.array(schema.STRING),
    "needsReview": schema.array(schema.STRING),
}
IMPORT_PLAN = schema.component("ImportPlan", schema.obj(_PLAN_FIELDS))
IMPORT_PENDING = schema.component(
    "ImportPending",
    schema.envelope(
        schema.obj({**_PLAN_FIELDS, "changeSet": schema.CHANGE_SET_SUMMARY}),
    ),
)
_FLAGS = [
    OpenApiParameter(name, bool, description=text)
    for name, text in (
        ("dry_run", "Show the plan and keep nothing."),
        ("prune", "Archive the entities the document leaves out."),
    )
]


@extend_schema(
    summary="Export the project",
    parameters=[
        OpenApiParameter(
            "format", str, enum=["yaml", "json"], description="The document's format (yaml)."
        )
    ],
    responses={
        (200, "application/yaml"): OpenApiResponse(_PROJECT_DOCUMENT),
        (200, "application/json"): OpenApiResponse(_PROJECT_DOCUMENT),
    },
)
class ProjectExportView(ConsoleAPIView):
    """The project document (?format=yaml, the default, or json), ID lists inline."""

    content_negotiation_class = OwnFormat

    def get(self, request):
        fmt = _format(request)
        project, _ = resolve_project(request)
        text = dump_document(project_document(project), fmt)
        return HttpResponse(text.encode(), content_type=CONTENT_TYPES[fmt])


@extend_schema(
    summary="Import a project document",
    description=(
        "The document becomes one change set (review policy applies): 200 with the plan "
        "when applied at once, a dry run or nothing to change; 202 with the plan and the "
        "change set when it waits for review. A refusal names the document's path at fault "
        "in `field` and keeps nothing."
    ),
    parameters=_FLAGS,
    request={"application/yaml": _PROJECT_DOCUMENT, "application/json": _PROJECT_DOCUMENT},
    responses={
        200: schema.envelope(IMPORT_PLAN),
        202: OpenApiResponse(IMPORT_PENDING, description="Waiting for review."),
        **schema.errors(409, 413, 415),
    },
)
class ProjectImportView(ConsoleAPIView):
    """POST a project document (YAML, or JSON with a JSON content type). 200 with the plan
    (a dry run, nothing to change, or applied at once), 202 with the plan and the change set
    when it waits for review; 400 {"message", "code", "field"} naming the file's path at
    fault, nothing kept."""

    parser_classes = [RawDocumentParser]
    content_negotiation_class = OwnFormat

    def post(self, request):
        project, _ = resolve_project(request, Role.MEMBER)
        dry_run, prune = _flag(request, "dry_run"), _flag(request, "prune")
        body = request.data if isinstance(request.data, bytes) else b""
        fmt = "json" if "json" in (request.content_type or "") else "yaml"
        document = parse_document(body, fmt)
        plan = project_import(
            actor=request.user,
            project=project,
            document=document,
            dry_run=dry_run,
            prune=prune,
            source=ChangeSetSource.API,
        )
        data = plan.as_dict()
        change_set = plan.change_set
        if change_set is None:
            message = "Dry run: nothing was changed." if dry_run else "Nothing to change."
            if not dry_run and plan.changed:
                message = "Tags and metrics imported; no entity to change."
            return ok(message, data)
        data["changeSet"] = change_set_summary(change_set)
        if is_applied(change_set):
            return ok(f"Imported as change set #{change_set.number}.", data)
        return ok(pending_message(change_set), data, status.HTTP_202_ACCEPTED)
