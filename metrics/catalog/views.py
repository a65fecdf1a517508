"""Metrics → Catalog: the list (htmx live search), a metric's page (its definition in plain
words, its daily chart, tags and history), the create and edit forms, archiving and the
active-unit setting, under /p/<slug>/metrics/."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console import selectors as console_selectors
from console.exceptions import ApplicationError, NotAllowed
from console.models import Role
from console.web import call_with_message, can_write, form_problems, list_response, project_for
from metrics.catalog import selectors, services, words
from metrics.catalog.forms import ActiveUnitsForm, MetricFilterForm, MetricForm
from metrics.catalog.series import metric_series
from metrics.catalog.validation import CAPPED_TYPES
from metrics.definitions import WINSORIZED, MetricType
from metrics.models import Metric
from metrics.panels import ENV_PARAM, environments_of
from metrics.warehouse.plan import metric_sources
from metrics.warehouse.selectors import metric_source_list


def _tag_names(project) -> list[str]:
    return list(console_selectors.tag_list(project=project).values_list("name", flat=True))


@login_required
@require_GET
def metric_list(request, slug):
    project = project_for(request, slug)
    if selectors.autocreate_pending(project=project):
        # New event names get their metrics now rather than at the next hourly run.
        services.metric_autocreate(project=project)
    form = MetricFilterForm(request.GET, tags=_tag_names(project))
    filters = selectors.MetricFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.MetricFilters(
            search=data["q"].strip(),
            tag=data["tag"],
            metric_type=data["type"],
            archived=data["archived"],
        )
    metrics = list(selectors.metric_list(project=project, filters=filters))
    for metric in metrics:
        metric.is_core = any(t.name.lower() == "core" for t in metric.tags.all())
        metric.summary = words.summary(metric)
    active = selectors.active_unit_events(project=project)
    return list_response(
        request,
        template="metrics/metric_list.html",
        partial="metrics/partials/_metric_table.html",
        context={
            "project": project,
            "section": "metrics",
            "tab": "catalog",
            "form": form,
            "metrics": metrics,
            "filtered": filters != selectors.MetricFilters(),
            "can_write": can_write(request, project),
            "active_events": active,
            "units_form": ActiveUnitsForm(initial={"active_events": ", ".join(active)}),
        },
    )


def _metric_or_404(project, pk) -> Metric:
    metric = selectors.metric_get(project=project, pk=pk)
    if metric is None:
        raise Http404("No such metric.")
    return metric


def _events_of(metric: Metric) -> list[str]:
    if metric.metric_type == MetricType.RATIO:
        parts = [metric.numerator, metric.denominator]
        return [p.event_name for p in parts if p is not None]
    if metric.metric_type == MetricType.FUNNEL:
        return [s["event_name"] for s in metric.steps]
    return [metric.event_name]


@login_required
@require_GET
def metric_detail(request, slug, pk):
    project = project_for(request, slug)
    metric = _metric_or_404(project, pk)
    definition = selectors.metric_definition(metric)
    environments, environment = environments_of(project, request.GET.get(ENV_PARAM, ""))
    # Over a warehouse metric source the values are the warehouse's: no daily chart here.
    source = next((s for s in metric_sources(definition) if s is not None), None)
    series = None
    if environment is not None and source is None:
        series = metric_series(definition=definition, environment=environment)
    names = _events_of(metric) if source is None else []
    seen = selectors.events_seen(project=project, names=names)
    return render(
        request,
        "metrics/metric_detail.html",
        {
            "project": project,
            "section": "metrics",
            "metric": metric,
            "definition": definition,
            "measures": words.what_it_measures(definition),
            "outliers": words.outlier_words(definition),
            "environments": environments,
            "environment": environment,
            "series": series,
            "warehouse_source": source,
            "chart_json": json.dumps(series.as_chart()) if series else "",
            "missing_events": [n for n in dict.fromkeys(names) if n not in seen],
            "history": list(selectors.metric_history(metric=metric)),
            "can_write": can_write(request, project),
            "events_url": reverse("metrics-events", args=[project.slug]),
        },
    )


def _form_context(project, form: MetricForm, metric: Metric | None) -> dict:
    return {
        "project": project,
        "section": "metrics",
        "form": form,
        "metric": metric,
        "problems": form_problems(form) if form.errors else [],
        "event_names": selectors.known_event_names(project=project),
        "capped_types": sorted(CAPPED_TYPES),
        "winsorized_types": sorted(WINSORIZED),
    }


def _save(form: MetricForm, service, /, **kwargs):
    """Call a write service with the form's input: its refusal lands on the field it names."""
    try:
        return service(data=form.to_input(), **kwargs)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except ApplicationError as exc:
        form.add_error(form.field_for(exc.field), exc.message)
        return None


def _ratio_choices(project, metric: Metric | None = None) -> list[str]:
    own = metric.pk if metric else None
    return [m.statsig_id for m in selectors.ratio_candidates(project=project) if m.pk != own]


def _source_names(project) -> list[str]:
    return [s.name for s in metric_source_list(project=project)]


@login_required
def metric_create(request, slug):
    project = project_for(request, slug, needed=Role.MEMBER)
    kwargs = {
        "tags": _tag_names(project),
        "ratio_choices": _ratio_choices(project),
        "sources": _source_names(project),
    }
    if request.method == "POST":
        form = MetricForm(request.POST, **kwargs)
        if form.is_valid():
            metric = _save(form, services.metric_create, actor=request.user, project=project)
            if metric is not None:
                messages.success(request, f"Metric {metric.statsig_id} created.")
                return redirect("metric-detail", project.slug, metric.pk)
    else:
        form = MetricForm(initial={"metric_type": request.GET.get("type", "")}, **kwargs)
    status = 400 if form.errors else 200
    context = _form_context(project, form, None)
    return render(request, "metrics/metric_form.html", context, status=status)


@login_required
def metric_update(request, slug, pk):
    project = project_for(request, slug, needed=Role.MEMBER)
    metric = _metric_or_404(project, pk)
    if metric.is_archived:
        messages.error(request, "This metric is archived and cannot change.")
        return redirect("metric-detail", project.slug, metric.pk)
    kwargs = {
        "tags": _tag_names(project),
        "ratio_choices": _ratio_choices(project, metric),
        "metric": metric,
        "sources": _source_names(project),
    }
    if request.method == "POST":
        form = MetricForm(request.POST, **kwargs)
        if form.is_valid():
            revision = request.POST.get("revision", "")
            updated = _save(
                form,
                services.metric_update,
                actor=request.user,
                metric=metric,
                expected_revision=int(revision) if revision.isdigit() else None,
            )
            if updated is not None:
                messages.success(request, f"Metric {updated.statsig_id} saved.")
                return redirect("metric-detail", project.slug, metric.pk)
    else:
        form = MetricForm(**kwargs)
    status = 400 if form.errors else 200
    context = _form_context(project, form, metric)
    return render(request, "metrics/metric_form.html", context, status=status)


@login_required
@require_POST
def metric_archive(request, slug, pk):
    project = project_for(request, slug, needed=Role.MEMBER)
    metric = _metric_or_404(project, pk)
    if call_with_message(request, services.metric_archive, actor=request.user, metric=metric):
        messages.success(request, f"Metric {metric.statsig_id} archived.")
    return redirect("metric-detail", project.slug, metric.pk)


@login_required
@require_POST
def metric_settings(request, slug):
    project = project_for(request, slug, needed=Role.MEMBER)
    form = ActiveUnitsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Name the events as text, separated by commas.")
    elif call_with_message(
        request,
        services.metric_settings_update,
        actor=request.user,
        project=project,
        active_events=form.names(),
    ):
        messages.success(request, "Active units saved.")
    return redirect("metric-list", project.slug)
