"""A gate's scorecard (its passing units against its failing ones on the Core metrics), a
panel of the gate's page and its refresh. Experiments is the floor above gates and metrics,
so it wires them together (docs/results.md)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from console.models import Project, Role
from console.web import call_with_message, can_write, project_for
from experiments.results import present
from experiments.results.selectors import latest_results, results_environment
from experiments.results.services import results_request
from gates.models import FeatureGate
from metrics.panels import ENV_PARAM


def gate_scorecard_panel(request, project: Project, gate) -> SafeString:
    _, environment = results_environment(project, request.GET.get(ENV_PARAM, ""))
    latest = latest_results(environment, gate=gate)
    context = {
        "project": project,
        "gate": gate,
        "environment": environment,
        "latest": latest.done,
        "failed": latest.failed,
        "pending": latest.pending,
        "payload": latest.payload,
        "sections": present.sections(latest.payload),
        "can_write": can_write(request, project),
    }
    return render_to_string("experiments/partials/_gate_scorecard.html", context, request)


@require_POST
def gate_scorecard_refresh(request, slug: str, pk: int):
    project = project_for(request, slug, Role.MEMBER)
    gate = get_object_or_404(FeatureGate, project=project, pk=pk)
    _, environment = results_environment(project, request.GET.get(ENV_PARAM, ""))
    url = reverse("gate-detail", args=[project.slug, gate.pk])
    if environment is None:
        return redirect(url)
    call_with_message(
        request, results_request, actor=request.user, gate=gate, environment=environment
    )
    return redirect(f"{url}?{ENV_PARAM}={environment.name}#gate-scorecard")
