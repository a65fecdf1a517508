"""The project as code over the console API (docs/project-as-code.md): GET /export gives
the project document; POST /import proposes a document as one change set (?dry_run=true
shows the plan and keeps nothing; ?prune=true archives what it leaves out)."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser

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


class ProjectExportView(ConsoleAPIView):
    """The project document (?format=yaml, the default, or json), ID lists inline."""

    content_negotiation_class = OwnFormat

    def get(self, request):
        fmt = _format(request)
        project, _ = resolve_project(request)
        text = dump_document(project_document(project), fmt)
        return HttpResponse(text.encode(), content_type=CONTENT_TYPES[fmt])


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
