"""The lists of gates, segments and dynamic configs (search, filters, htmx partials)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.utils import timezone

from console import selectors as console_selectors
from console.web import (
    can_write,
    list_response,
    project_for,
)
from gates import hooks, selectors
from gates.forms import (
    GateFilterForm,
    SearchForm,
    SegmentFilterForm,
)
from reviews.selectors import pending_for_list

# ---------------------------------------------------------------- lists


@login_required
def gate_list(request, slug):
    project = project_for(request, slug)
    tags = list(console_selectors.tag_list(project=project).values_list("name", flat=True))
    form = GateFilterForm(request.GET, tags=tags)
    checked = hooks.gates_checked_since(project, timezone.now() - selectors.STALE_USAGE_AFTER)
    if checked is None:
        del form.fields["usage"]
    filters = selectors.GateFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.GateFilters(
            search=data["q"].strip(),
            tag=data["tag"],
            status=data["status"],
            stale={"stale": True, "fresh": False}.get(data["stale"]),
            stale_usage=data.get("usage") == "stale",
        )
    gates = list(selectors.gate_list(project=project, filters=filters, checked=checked))
    proposed = pending_for_list(project=project, kind="gate", entities=gates)
    return list_response(
        request,
        template="gates/gate_list.html",
        partial="gates/partials/_gate_table.html",
        context={
            "project": project,
            "section": "gates",
            "tab": "gates",
            "form": form,
            "gates": gates,
            "proposed": proposed,
            "filtered": filters != selectors.GateFilters(),
            "can_write": can_write(request, project),
        },
    )


@login_required
def segment_list(request, slug):
    project = project_for(request, slug)
    form = SegmentFilterForm(request.GET)
    search = kind = ""
    if form.is_valid():
        search, kind = form.cleaned_data["q"].strip(), form.cleaned_data["kind"]
    segments = list(selectors.segment_list(project=project, search=search, kind=kind))
    proposed = pending_for_list(project=project, kind="segment", entities=segments)
    return list_response(
        request,
        template="gates/segment_list.html",
        partial="gates/partials/_segment_table.html",
        context={
            "project": project,
            "section": "segments",
            "form": form,
            "segments": segments,
            "proposed": proposed,
            "filtered": bool(search or kind),
            "can_write": can_write(request, project),
        },
    )


@login_required
def config_list(request, slug):
    project = project_for(request, slug)
    form = SearchForm(request.GET)
    search = form.cleaned_data["q"].strip() if form.is_valid() else ""
    configs = list(selectors.dynamic_config_list(project=project, search=search))
    proposed = pending_for_list(project=project, kind="dynamic_config", entities=configs)
    return list_response(
        request,
        template="gates/config_list.html",
        partial="gates/partials/_config_table.html",
        context={
            "project": project,
            "section": "gates",
            "tab": "configs",
            "form": form,
            "configs": configs,
            "proposed": proposed,
            "filtered": bool(search),
            "can_write": can_write(request, project),
        },
    )
