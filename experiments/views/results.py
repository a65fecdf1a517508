"""An experiment's Results page (per environment, `?env=`), its refresh and its CSV export
(docs/results.md)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console.models import Environment, Project, Role
from console.web import call_with_message, can_write, is_partial, project_for
from experiments.models import Experiment, ExperimentResults, ResultsState
from experiments.results import present
from experiments.results.services import PENDING, results_request
from experiments.views.common import _experiment
from metrics.panels import ENV_PARAM, environments_of

DEFAULT_ENVIRONMENT = "production"


def _environment(project: Project, request) -> tuple[list[Environment], Environment | None]:
    return environments_of(project, request.GET.get(ENV_PARAM) or DEFAULT_ENVIRONMENT)


def _latest(experiment: Experiment, environment: Environment | None):
    """The newest finished results and the refresh waiting or running, if any."""
    if environment is None:
        return None, None
    rows = ExperimentResults.objects.filter(experiment=experiment, environment=environment)
    done = rows.filter(state__in=(ResultsState.DONE, ResultsState.FAILED)).order_by("-requested_at")
    return done.first(), rows.filter(state__in=PENDING).order_by("-requested_at").first()


def _exposure_chart(payload: dict[str, Any]) -> str | None:
    exposures = payload.get("exposures") or {}
    daily = exposures.get("daily") or []
    if not daily:
        return None
    names = [g["name"] for g in exposures.get("groups", [])]
    totals = dict.fromkeys(names, 0)
    series: dict[str, list[int]] = {n: [] for n in names}
    for day in daily:
        for name in names:
            totals[name] += day["groups"].get(name, 0)
            series[name].append(totals[name])
    return json.dumps(
        {
            "type": "line",
            "labels": [d["day"] for d in daily],
            "series": [{"label": n, "data": series[n]} for n in names],
        }
    )


def _lift_charts(payload: dict[str, Any]) -> list[dict[str, str]]:
    """Per primary metric, each test group's relative lift by day with its interval."""
    charts = []
    for metric in payload.get("metrics", []):
        days = _from_first_data(metric.get("series") or [])
        if metric["role"] != "primary" or len(days) < 2:
            continue
        groups = [g["group"] for g in days[-1]["groups"]]
        series = []
        for at, name in enumerate(groups):
            points = [next((g for g in d["groups"] if g["group"] == name), {}) for d in days]
            estimates = [_pct(p.get("estimate")) for p in points]
            series.append({"label": f"{name} vs control", "data": estimates, "color": at})
            for side, label in ((0, "low"), (1, "high")):
                bound = [_pct((p.get("interval") or [None, None])[side]) for p in points]
                series.append(
                    {"label": f"{name} {label}", "data": bound, "color": at, "dashed": True}
                )
        labels = [d["day"] for d in days]
        chart = {"type": "line", "labels": labels, "series": series, "percent": True}
        charts.append(
            {"metric": metric["name"], "type": metric["type"], "chart": json.dumps(chart)}
        )
    return charts


def _from_first_data(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The days from the first with a lift: an experiment started long before its first
    exposures (or its metric's first events) would draw months of nothing."""
    for i, day in enumerate(days):
        if any(g.get("estimate") is not None for g in day["groups"]):
            return days[i:]
    return []


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 3)


@require_GET
def experiment_results(request, slug: str, pk: int):
    project = project_for(request, slug, Role.VIEWER)
    experiment = _experiment(project, pk)
    environments, environment = _environment(project, request)
    latest, pending = _latest(experiment, environment)
    payload = latest.payload if latest is not None and latest.state == ResultsState.DONE else {}
    context = {
        "project": project,
        "obj": experiment,
        "environments": environments,
        "environment": environment,
        "latest": latest,
        "pending": pending,
        "payload": payload,
        "sections": present.sections(payload),
        "srm": present.srm_banner(payload),
        "no_units": not any(g["units"] for g in payload.get("exposures", {}).get("groups", [])),
        "exposure_chart": _exposure_chart(payload),
        "lift_charts": _lift_charts(payload),
        "can_write": can_write(request, project),
    }
    if is_partial(request):
        return render(request, "experiments/partials/_results_body.html", context)
    return render(request, "experiments/experiment_results.html", context)


@require_POST
def experiment_results_refresh(request, slug: str, pk: int):
    project = project_for(request, slug, Role.MEMBER)
    experiment = _experiment(project, pk)
    _, environment = _environment(project, request)
    url = reverse("experiment-results", args=[project.slug, experiment.pk])
    if environment is None:
        return redirect(url)
    call_with_message(
        request,
        results_request,
        actor=request.user,
        experiment=experiment,
        environment=environment,
        full=request.POST.get("full") == "1",
    )
    return redirect(f"{url}?{ENV_PARAM}={environment.name}")


@require_GET
def experiment_results_csv(request, slug: str, pk: int):
    project = project_for(request, slug, Role.VIEWER)
    experiment = _experiment(project, pk)
    _, environment = _environment(project, request)
    latest, _ = _latest(experiment, environment)
    payload = latest.payload if latest is not None and latest.state == ResultsState.DONE else {}
    response = HttpResponse(present.to_csv(payload), content_type="text/csv; charset=utf-8")
    name = f"{experiment.name}-{environment.name if environment else 'none'}-results.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
