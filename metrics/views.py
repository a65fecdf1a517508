"""Metrics → Events: what an environment received (event names and counts, the live tail,
what was set aside or dropped as a resend), under /p/<slug>/metrics/."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from console.web import is_partial, project_for
from metrics import selectors
from metrics.panels import ENV_PARAM, environments_of

CHARTED_NAMES = 5


@login_required
@require_GET
def events(request, slug):
    project = project_for(request, slug)
    environments, environment = environments_of(project, request.GET.get(ENV_PARAM, ""))
    log_event_url = request.build_absolute_uri(reverse("sdk-log-event"))
    context = {
        "project": project,
        "section": "metrics",
        "tab": "events",
        "environments": environments,
        "environment": environment,
        "log_event_url": log_event_url,
        "api_base": log_event_url.rsplit("/", 1)[0],
        "rgstr_url": request.build_absolute_uri(reverse("sdk-rgstr")),
    }
    if environment is not None:
        names = selectors.event_names(environment=environment)
        charted = [row.name for row in names[:CHARTED_NAMES]]
        series = selectors.event_series(environment=environment, names=charted)
        context.update(
            names=names,
            chart_json=json.dumps(series.as_chart("bar") | {"stacked": True}),
            tail=selectors.event_tail(environment=environment),
            tallies=selectors.intake_tallies(environment=environment),
            examples=selectors.set_aside_examples(environment=environment),
        )
    return render(request, "metrics/events.html", context)


@login_required
@require_GET
def events_tail(request, slug):
    """The live tail, polled by the events page; opened by hand, the page itself."""
    project = project_for(request, slug)
    environments, environment = environments_of(project, request.GET.get(ENV_PARAM, ""))
    if not is_partial(request) or environment is None:
        url = reverse("metrics-events", args=[project.slug])
        return redirect(f"{url}?{ENV_PARAM}={environment.name}" if environment else url)
    context = {
        "project": project,
        "environment": environment,
        "tail": selectors.event_tail(environment=environment),
    }
    return render(request, "metrics/partials/_event_tail.html", context)
