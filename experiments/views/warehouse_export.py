"""The Warehouse export tab of Experiments: which of the project's warehouse connections each
refresh writes assignments and results into (admins choose), and the latest exports with
their errors (docs/export.md)."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from console.models import Role
from console.web import call_with_message, can_admin, project_for
from experiments.models import ExperimentResults, WarehouseExport
from experiments.results.warehouse import warehouse_export_set
from metrics.warehouse.selectors import connection_list

RECENT_EXPORTS = 10


@require_http_methods(["GET", "POST"])
def warehouse_export(request, slug: str):
    project = project_for(request, slug, Role.VIEWER)
    connections = list(connection_list(project=project))
    if request.method == "POST":
        project = project_for(request, slug, Role.ADMIN)
        wanted = request.POST.get("connection", "")
        chosen = next((c for c in connections if str(c.pk) == wanted), None)
        if wanted and chosen is None:
            messages.error(request, "Choose one of the project's warehouse connections.")
        else:
            call_with_message(
                request,
                warehouse_export_set,
                actor=request.user,
                project=project,
                connection=chosen,
            )
        return redirect(reverse("warehouse-export", args=[project.slug]))
    current = WarehouseExport.objects.filter(project=project).select_related("connection").first()
    recent = (
        ExperimentResults.objects.filter(
            Q(experiment__project=project) | Q(holdout__project=project)
        )
        .exclude(exported_at=None, export_error="")
        .select_related("experiment", "holdout", "environment")
        .order_by("-finished_at")[:RECENT_EXPORTS]
    )
    return render(
        request,
        "experiments/warehouse_export.html",
        {
            "project": project,
            "tab": "warehouse",
            "connections": connections,
            "current": current.connection if current is not None else None,
            "recent": recent,
            "can_admin": can_admin(request, project),
        },
    )
