"""Settings → Warehouse (docs/warehouse.md): the project's warehouse connections (admins add,
edit, test and delete them; the password is never shown back, only its hint) and the
assignment and metric sources on them (members add, edit, preview and delete them)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from console.models import Role
from console.web import (
    call_on_form,
    call_with_message,
    can_admin,
    can_write,
    form_status,
    project_for,
)
from metrics.warehouse import selectors, services
from metrics.warehouse.forms import AssignmentSourceForm, ConnectionForm, MetricSourceForm
from metrics.warehouse.models import AssignmentSource, MetricSource, WarehouseConnection


def _context(request, project, **extra) -> dict[str, Any]:
    return {
        "project": project,
        "section": "settings",
        "tab": "warehouse",
        "can_admin": can_admin(request, project),
        "can_write": can_write(request, project),
        **extra,
    }


def _page(request, project, *, create_form=None, status=200):
    context = _context(
        request,
        project,
        connections=list(selectors.connection_list(project=project)),
        assignment_sources=list(selectors.assignment_source_list(project=project)),
        metric_sources=list(selectors.metric_source_list(project=project)),
        create_form=create_form or ConnectionForm(),
    )
    return render(request, "metrics/warehouse.html", context, status=status)


@login_required
def warehouse(request, slug):
    project = project_for(request, slug, Role.VIEWER)
    return _page(request, project)


def _connection(project, pk) -> WarehouseConnection:
    connection = selectors.connection_get(project=project, pk=pk)
    if connection is None:
        raise Http404("No such connection.")
    connection.project = project
    return connection


@login_required
@require_POST
def connection_create(request, slug):
    project = project_for(request, slug, Role.ADMIN)
    form = ConnectionForm(request.POST)
    if form.is_valid():
        ok, connection = call_on_form(
            form,
            services.warehouse_connection_create,
            actor=request.user,
            project=project,
            data=form.connection_input(),
        )
        if ok:
            messages.success(request, f"Connection {connection.name} added: test it below.")
            return redirect("warehouse", project.slug)
    return _page(request, project, create_form=form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def connection_update(request, slug, pk):
    project = project_for(request, slug, Role.ADMIN)
    connection = _connection(project, pk)
    hint = connection.password_hint
    if request.method == "POST":
        form = ConnectionForm(request.POST, editing=True, password_hint=hint)
        if form.is_valid():
            ok, saved = call_on_form(
                form,
                services.warehouse_connection_update,
                actor=request.user,
                connection=connection,
                data=form.connection_input(),
            )
            if ok:
                messages.success(request, f"Connection {saved.name} saved.")
                return redirect("warehouse", project.slug)
    else:
        fields = ["name", "host", "port", "database", "user", "schema", "sslmode"]
        initial = {f: getattr(connection, f) for f in fields}
        initial["engine"] = connection.kind
        initial["statement_timeout_seconds"] = connection.statement_timeout_seconds
        form = ConnectionForm(initial=initial, editing=True, password_hint=hint)
    context = _context(request, project, connection=connection, form=form)
    return render(
        request, "metrics/warehouse_connection_form.html", context, status=form_status(form)
    )


@login_required
@require_POST
def connection_test(request, slug, pk):
    project = project_for(request, slug, Role.ADMIN)
    connection = _connection(project, pk)
    outcome = services.warehouse_connection_test(actor=request.user, connection=connection)
    if outcome.ok:
        messages.success(request, f"{connection.name}: {outcome.message}")
    else:
        messages.error(request, f"{connection.name}: {outcome.message}")
    return redirect("warehouse", project.slug)


@login_required
@require_POST
def connection_delete(request, slug, pk):
    project = project_for(request, slug, Role.ADMIN)
    connection = _connection(project, pk)
    if call_with_message(
        request, services.warehouse_connection_delete, actor=request.user, connection=connection
    ):
        messages.success(request, f"Connection {connection.name} deleted.")
    return redirect("warehouse", project.slug)


# ---------------------------------------------------------------- sources

_KINDS = {
    "assignment": (
        AssignmentSourceForm,
        selectors.assignment_source_get,
        services.assignment_source_create,
        services.assignment_source_update,
        services.assignment_source_delete,
        services.assignment_source_preview,
        "Assignment source",
    ),
    "metric": (
        MetricSourceForm,
        selectors.metric_source_get,
        services.metric_source_create,
        services.metric_source_update,
        services.metric_source_delete,
        services.metric_source_preview,
        "Metric source",
    ),
}


def _initial(source: AssignmentSource | MetricSource) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "name": source.name,
        "connection": source.connection_id,
        "description": source.description,
        "sql": source.sql,
        "unit_id_column": source.unit_id_column,
        "timestamp_column": source.timestamp_column,
    }
    if isinstance(source, AssignmentSource):
        initial.update(
            unit_type=source.unit_type,
            experiment_column=source.experiment_column,
            group_column=source.group_column,
        )
    else:
        initial.update(
            table=source.table,
            value_columns=", ".join(source.value_columns),
            filter_columns=", ".join(source.filter_columns),
        )
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def source_edit(request, slug, kind, pk=None):
    """Add (no pk) or edit a source. "Preview" (the `preview` button) checks the source
    against the warehouse and shows its first rows without saving; "Save" checks it the
    same way and saves it."""
    if kind not in _KINDS:
        raise Http404("No such kind of source.")
    form_class, getter, create, update, _delete, preview_service, label = _KINDS[kind]
    project = project_for(request, slug, Role.VIEWER if request.method == "GET" else Role.MEMBER)
    source = None
    if pk is not None:
        source = getter(project=project, pk=pk)
        if source is None:
            raise Http404("No such source.")
    connections = list(selectors.connection_list(project=project))
    preview = None
    if request.method == "POST":
        form = form_class(request.POST, connections=connections)
        if form.is_valid():
            data = form.source_input()
            if "preview" in request.POST:
                ok, preview = call_on_form(
                    form, preview_service, actor=request.user, project=project, data=data
                )
            else:
                ok, saved = (
                    call_on_form(form, create, actor=request.user, project=project, data=data)
                    if source is None
                    else call_on_form(form, update, actor=request.user, source=source, data=data)
                )
                if ok:
                    messages.success(request, f"{label} {saved.name} saved.")
                    return redirect("warehouse", project.slug)
    else:
        form = form_class(
            initial=_initial(source) if source is not None else None, connections=connections
        )
    context = _context(
        request,
        project,
        kind=kind,
        label=label,
        source=source,
        form=form,
        preview=preview,
        has_connections=bool(connections),
    )
    return render(request, "metrics/warehouse_source_form.html", context, status=form_status(form))


@login_required
@require_POST
def source_delete(request, slug, kind, pk):
    if kind not in _KINDS:
        raise Http404("No such kind of source.")
    _form, getter, _create, _update, delete, _preview, label = _KINDS[kind]
    project = project_for(request, slug, Role.MEMBER)
    source = getter(project=project, pk=pk)
    if source is None:
        raise Http404("No such source.")
    if call_with_message(request, delete, actor=request.user, source=source):
        messages.success(request, f"{label} {source.name} deleted.")
    return redirect("warehouse", project.slug)
