"""Pausing, resuming and stopping a gate rule's rollout schedule from the gate's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from console.exceptions import ApplicationError
from console.models import Role
from console.web import project_for
from gates import services
from gates.models import GateRollout

_ACTIONS = {
    "pause": (services.gate_rollout_pause, "Rollout paused: no step is applied until resumed."),
    "resume": (services.gate_rollout_resume, "Rollout resumed."),
    "stop": (services.gate_rollout_stop, "Rollout stopped: the rule keeps its percentage."),
}


@login_required
@require_POST
def gate_rollout_action(request, slug, pk, rollout_id, action):
    project = project_for(request, slug, Role.MEMBER)
    rollout = get_object_or_404(
        GateRollout.objects.select_related("gate__project"),
        pk=rollout_id,
        gate_id=pk,
        gate__project=project,
    )
    if action not in _ACTIONS:
        messages.error(request, "Unknown rollout action.")
        return redirect("gate-detail", project.slug, pk)
    service, done = _ACTIONS[action]
    try:
        service(actor=request.user, rollout=rollout)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("gate-detail", project.slug, pk)
