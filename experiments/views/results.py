"""An experiment's Results page (per environment, `?env=`), its refresh, its breakdown's CSV
and its exports (docs/results.md, docs/export.md)."""

from __future__ import annotations

import re
from typing import Any

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from console.exceptions import DomainError
from console.models import Environment, Project, Role
from console.web import call_with_message, can_write, is_partial, project_for
from experiments.models import Experiment
from experiments.results import export, present
from experiments.results.breakdowns import (
    UNIT_CHOICES,
    compute_breakdown,
    metric_dimensions,
    parse_breakdown,
)
from experiments.results.selectors import latest_results, results_environment
from experiments.results.services import results_request
from experiments.views.common import _experiment
from metrics.panels import ENV_PARAM


def _environment(project: Project, request) -> tuple[list[Environment], Environment | None]:
    return results_environment(project, request.GET.get(ENV_PARAM, ""))


def _breakdown(request, experiment: Experiment, environment: Environment | None) -> dict[str, Any]:
    """The Breakdown card's context: the choices, the one asked for (`?breakdown=`), and
    its tables computed now, or why there are none."""
    wanted = request.GET.get("breakdown", "")
    if wanted == "custom":  # the page's select, with the key in its own field
        wanted = "custom." + request.GET.get("custom_key", "").strip()
    custom = wanted.startswith("custom.")
    context: dict[str, Any] = {
        "breakdown_select": "custom" if custom else wanted,
        "custom_key": wanted[len("custom.") :][:100] if custom else "",
        "unit_choices": UNIT_CHOICES,
        "dimension_choices": metric_dimensions(experiment),
        "breakdown": None,
        "breakdown_tables": [],
        "breakdown_error": None,
    }
    try:
        choice = parse_breakdown(wanted)
    except DomainError as exc:
        context["breakdown_error"] = exc.message
        return context
    if choice is None or environment is None:
        return context
    breakdown = compute_breakdown(experiment, environment, choice, now=timezone.now())
    context["breakdown"] = breakdown
    context["breakdown_tables"] = present.breakdown_tables(breakdown)
    return context


@require_GET
def experiment_results(request, slug: str, pk: int):
    project = project_for(request, slug, Role.VIEWER)
    experiment = _experiment(project, pk)
    environments, environment = _environment(project, request)
    if is_partial(request) and request.htmx.target == "breakdown":
        breakdown = _breakdown(request, experiment, environment)
        context = {"project": project, "obj": experiment, "environment": environment, **breakdown}
        # 200 even for a bad name: htmx swaps only successful answers, and the card says why.
        return render(request, "experiments/partials/_results_breakdown.html", context)
    latest = latest_results(environment, experiment=experiment)
    payload = latest.payload
    context = {
        "project": project,
        "obj": experiment,
        "environments": environments,
        "environment": environment,
        "latest": latest.done,
        "failed": latest.failed,
        "pending": latest.pending,
        "payload": payload,
        "sections": present.sections(payload),
        "srm": present.srm_banner(payload),
        "no_units": not any(g["units"] for g in payload.get("exposures", {}).get("groups", [])),
        "exposure_chart": present.exposure_chart(payload),
        "lift_charts": present.lift_charts(payload),
        "can_write": can_write(request, project),
    }
    if is_partial(request):  # the body's own refresh: the Breakdown card is beside it
        return render(request, "experiments/partials/_results_body.html", context)
    breakdown = _breakdown(request, experiment, environment)
    status = 400 if breakdown["breakdown_error"] else 200
    return render(
        request, "experiments/experiment_results.html", {**context, **breakdown}, status=status
    )


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
    breakdown = _breakdown(request, experiment, environment)
    if breakdown["breakdown_error"]:
        return HttpResponse(breakdown["breakdown_error"], status=400, content_type="text/plain")
    if breakdown["breakdown"] is None:  # the scorecard's CSV is the results export
        if environment is None:
            raise Http404("This project has no environment.")
        return export_response(
            export.Subject.of(environment, experiment=experiment), "results", "csv"
        )
    text = present.breakdown_csv(breakdown["breakdown"])
    name = breakdown["breakdown"]["breakdown"]["name"]
    suffix = "breakdown-" + re.sub(r"[^A-Za-z0-9._-]", "_", name)[:60]
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    name = f"{experiment.name}-{environment.name if environment else 'none'}-{suffix}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def export_response(subject: export.Subject, table: str, fmt: str) -> StreamingHttpResponse:
    """The export streamed as it is read (assignments can be millions of rows)."""
    try:
        found = export.download(subject, table, fmt)
    except DomainError as exc:
        raise Http404(exc.message) from exc
    response = StreamingHttpResponse(found.chunks, content_type=found.content_type)
    response["Content-Disposition"] = f'attachment; filename="{found.file_name}"'
    return response


@require_GET
def experiment_export(request, slug: str, pk: int, table: str, fmt: str):
    """Assignments or results as CSV or Parquet, in the environment of `?env=`."""
    project = project_for(request, slug, Role.VIEWER)
    experiment = _experiment(project, pk)
    _, environment = _environment(project, request)
    if environment is None:
        raise Http404("This project has no environment.")
    return export_response(export.Subject.of(environment, experiment=experiment), table, fmt)
