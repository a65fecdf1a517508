"""An experiment's Results page (per environment, `?env=`), its refresh and its CSV export
(docs/results.md)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from console.models import Environment, Project, Role
from console.web import call_with_message, can_write, is_partial, project_for
from experiments.results import present
from experiments.results.selectors import latest_results, results_environment
from experiments.results.services import results_request
from experiments.views.common import _experiment
from metrics.panels import ENV_PARAM


def _environment(project: Project, request) -> tuple[list[Environment], Environment | None]:
    return results_environment(project, request.GET.get(ENV_PARAM, ""))


@require_GET
def experiment_results(request, slug: str, pk: int):
    project = project_for(request, slug, Role.VIEWER)
    experiment = _experiment(project, pk)
    environments, environment = _environment(project, request)
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
    payload = latest_results(environment, experiment=experiment).payload
    response = HttpResponse(present.to_csv(payload), content_type="text/csv; charset=utf-8")
    name = f"{experiment.name}-{environment.name if environment else 'none'}-results.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
