"""A holdout's results (everyone else against the held-out units on the Core metrics), a
panel of the holdout's page and its refresh (docs/results-computation.md)."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST

from console.models import Project, Role
from console.web import call_with_message, can_write, project_for
from experiments.models import Holdout
from experiments.results import export, present
from experiments.results.selectors import latest_results, results_environment
from experiments.results.services import results_request
from experiments.views.common import _holdout
from experiments.views.results import export_response
from metrics.models import ExposureCount, ExposureKind
from metrics.panels import ENV_PARAM


def holdout_results_panel(request, project: Project, holdout: Holdout) -> SafeString:
    environments, environment = results_environment(project, request.GET.get(ENV_PARAM, ""))
    latest = latest_results(environment, holdout=holdout)
    payload = latest.payload
    checked = environment is not None and (
        latest.done is not None
        or ExposureCount.objects.filter(
            environment=environment, kind=ExposureKind.GATE, name=holdout.name
        ).exists()
    )
    context = {
        "project": project,
        "holdout": holdout,
        "environments": environments,
        "environment": environment,
        "latest": latest.done,
        "failed": latest.failed,
        "pending": latest.pending,
        "payload": payload,
        "groups": _groups(payload),
        "sections": present.sections(payload),
        "srm": present.srm_banner(payload),
        "checked": checked,
        "can_write": can_write(request, project) and not holdout.is_archived,
    }
    return render_to_string("experiments/partials/_holdout_results.html", context, request)


def _groups(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Held out, then everyone else: units, their share and the share expected."""
    groups = (payload.get("exposures") or {}).get("groups") or []
    total = sum(g["units"] for g in groups)
    return [
        {
            "label": present.group_label(payload, g["name"]),
            "units": g["units"],
            "share": g["units"] / total if total else None,
            "expected": g.get("expectedShare"),
        }
        for g in groups
    ]


@require_POST
def holdout_results_refresh(request, slug: str, pk: int):
    project = project_for(request, slug, Role.MEMBER)
    holdout = _holdout(project, pk)
    _, environment = results_environment(project, request.GET.get(ENV_PARAM, ""))
    url = reverse("holdout-detail", args=[project.slug, holdout.pk])
    if environment is None:
        return redirect(url)
    call_with_message(
        request, results_request, actor=request.user, holdout=holdout, environment=environment
    )
    return redirect(f"{url}?{ENV_PARAM}={environment.name}#holdout-results")


@require_GET
def holdout_export(request, slug: str, pk: int, table: str, fmt: str):
    """A holdout's assignments (its checks) or results as CSV or Parquet, in `?env=`."""
    project = project_for(request, slug, Role.VIEWER)
    holdout = _holdout(project, pk)
    _, environment = results_environment(project, request.GET.get(ENV_PARAM, ""))
    if environment is None:
        raise Http404("This project has no environment.")
    return export_response(export.Subject.of(environment, holdout=holdout), table, fmt)
