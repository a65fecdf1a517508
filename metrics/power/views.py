"""Metrics → Power: a metric's minimum detectable effect by weeks of running, for a
population of units, under /p/<slug>/metrics/power/ (docs/metrics.md, "Power")."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from console.web import project_for
from metrics.catalog import selectors as catalog
from metrics.panels import environments_of
from metrics.power.analysis import power_table
from metrics.power.forms import PowerForm
from metrics.power.selectors import NOT_ON_CLICKHOUSE, population_names, power_inputs


@login_required
@require_GET
def power(request, slug):
    project = project_for(request, slug)
    environments, environment = environments_of(project, request.GET.get("env", ""))
    names = population_names(environment=environment) if environment else {}
    kwargs = {
        "environments": [e.name for e in environments],
        "metrics": catalog.live_metric_ids(project=project),
        "populations": names,
    }
    asked = "metric" in request.GET
    initial = {"env": environment.name} if environment else {}
    form = PowerForm(request.GET if asked else None, initial=initial, **kwargs)
    context = {
        "project": project,
        "section": "metrics",
        "tab": "power",
        "environment": environment,
        "form": form,
        "has_metrics": bool(kwargs["metrics"]),
        "not_on_clickhouse": NOT_ON_CLICKHOUSE
        if settings.GATEHOUSE_EVENTS_ENGINE == "clickhouse"
        else "",
    }
    status = 200
    if asked and form.is_valid() and environment is not None:
        metric = catalog.metric_get_by_id(project=project, metric_id=form.cleaned_data["metric"])
        try:
            if metric is None:
                raise ValueError("This metric is not in the catalog.")
            inputs = power_inputs(
                definition=catalog.metric_definition(metric),
                environment=environment,
                population=form.chosen_population(),
                active_events=catalog.active_unit_events(project=project),
            )
        except ValueError as exc:
            form.add_error("metric", str(exc))
        else:
            table = power_table(inputs, form.settings())
            context.update(
                inputs=inputs,
                table=table,
                chart_json=json.dumps(table.as_chart()),
            )
    if form.errors:
        status = 400
    return render(request, "metrics/power.html", context, status=status)
